// What changed between two models, for the log line of every reload and for /status.
import type { Model } from './model.js';

export interface ModelChanges {
  servicesAdded: string[];
  servicesRemoved: string[];
  /** `backend/server` names. */
  serversAdded: string[];
  serversRemoved: string[];
  /** Servers whose address, port or weight changed. */
  serversChanged: string[];
}

export function diffModels(previous: Model | undefined, next: Model): ModelChanges {
  const before = new Map((previous?.backends ?? []).map((b) => [b.name, b]));
  const after = new Map(next.backends.map((b) => [b.name, b]));
  const changes: ModelChanges = { servicesAdded: [], servicesRemoved: [], serversAdded: [], serversRemoved: [], serversChanged: [] };
  for (const name of after.keys()) if (!before.has(name)) changes.servicesAdded.push(name);
  for (const name of before.keys()) if (!after.has(name)) changes.servicesRemoved.push(name);
  for (const name of new Set([...before.keys(), ...after.keys()])) {
    // Models share the backends a change did not touch (they are never mutated): nothing to compare.
    const x = before.get(name);
    const y = after.get(name);
    if (x !== undefined && (x === y || x.servers === y?.servers)) continue;
    const a = new Map((x?.servers ?? []).map((s) => [s.name, s]));
    const b = new Map((after.get(name)?.servers ?? []).map((s) => [s.name, s]));
    for (const [s, srv] of b) {
      const old = a.get(s);
      if (!old) changes.serversAdded.push(`${name}/${s}`);
      else if (old.address !== srv.address || old.port !== srv.port || old.weight !== srv.weight) changes.serversChanged.push(`${name}/${s}`);
    }
    for (const s of a.keys()) if (!b.has(s)) changes.serversRemoved.push(`${name}/${s}`);
  }
  for (const list of Object.values(changes)) list.sort();
  return changes;
}

export function isEmptyChange(c: ModelChanges): boolean {
  return Object.values(c).every((l) => l.length === 0);
}
