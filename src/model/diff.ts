// What changed between two models, for the log line of every reload and for /status.
import type { Backend, Model } from './model.js';

export interface ModelChanges {
  servicesAdded: string[];
  servicesRemoved: string[];
  /** `backend/server` names. */
  serversAdded: string[];
  serversRemoved: string[];
  /** Servers whose address, port or weight changed. */
  serversChanged: string[];
  /** Names left out of a list cut by `capChanges`, by list (absent when none was cut). */
  omitted?: Partial<Record<'servicesAdded' | 'servicesRemoved' | 'serversAdded' | 'serversRemoved' | 'serversChanged', number>>;
}

/** Names kept per list of a change in logs and /status (the first config adds 100,000 servers). */
export const CHANGES_SHOWN = 1000;

/** `c` with each list cut to its first `max` names, and how many were left out of each. */
export function capChanges(c: ModelChanges, max = CHANGES_SHOWN): ModelChanges {
  const keys = ['servicesAdded', 'servicesRemoved', 'serversAdded', 'serversRemoved', 'serversChanged'] as const;
  if (keys.every((k) => c[k].length <= max)) return c;
  const out: ModelChanges = { ...c, omitted: {} };
  for (const k of keys) {
    if (c[k].length <= max) continue;
    out[k] = c[k].slice(0, max);
    (out.omitted as Record<string, number>)[k] = c[k].length - max;
  }
  return out;
}

export function diffModels(previous: Model | undefined, next: Model): ModelChanges {
  const changes: ModelChanges = { servicesAdded: [], servicesRemoved: [], serversAdded: [], serversRemoved: [], serversChanged: [] };
  const x = previous?.backends ?? [];
  const y = next.backends;
  // The same backends in the same order (a server change): pairwise, no map of every backend.
  if (x.length === y.length && x.every((b, i) => b.name === y[i]?.name)) {
    for (const [i, b] of x.entries()) diffServers(b.name, b, y[i], changes);
  } else {
    const before = new Map(x.map((b) => [b.name, b]));
    const after = new Map(y.map((b) => [b.name, b]));
    for (const name of after.keys()) if (!before.has(name)) changes.servicesAdded.push(name);
    for (const name of before.keys()) if (!after.has(name)) changes.servicesRemoved.push(name);
    for (const name of new Set([...before.keys(), ...after.keys()])) diffServers(name, before.get(name), after.get(name), changes);
  }
  for (const list of [changes.servicesAdded, changes.servicesRemoved, changes.serversAdded, changes.serversRemoved, changes.serversChanged]) list.sort();
  return changes;
}

function diffServers(name: string, x: Backend | undefined, y: Backend | undefined, changes: ModelChanges): void {
  // Models share the backends a change did not touch (they are never mutated): nothing to compare.
  if (x !== undefined && (x === y || x.servers === y?.servers)) return;
  const a = new Map((x?.servers ?? []).map((s) => [s.name, s]));
  const b = new Map((y?.servers ?? []).map((s) => [s.name, s]));
  for (const [s, srv] of b) {
    const old = a.get(s);
    if (!old) changes.serversAdded.push(`${name}/${s}`);
    else if (old.address !== srv.address || old.port !== srv.port || old.weight !== srv.weight) changes.serversChanged.push(`${name}/${s}`);
  }
  for (const s of a.keys()) if (!b.has(s)) changes.serversRemoved.push(`${name}/${s}`);
}

export function isEmptyChange(c: ModelChanges): boolean {
  return [c.servicesAdded, c.servicesRemoved, c.serversAdded, c.serversRemoved, c.serversChanged].every((l) => l.length === 0);
}
