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

type ListName = 'servicesAdded' | 'servicesRemoved' | 'serversAdded' | 'serversRemoved' | 'serversChanged';
const LISTS: readonly ListName[] = ['servicesAdded', 'servicesRemoved', 'serversAdded', 'serversRemoved', 'serversChanged'];

/**
 * The first `max` names in sorted order of all those added, and how many there were, holding at
 * most 2 × `max` at a time: the first config's 100,000 servers are counted, not listed (a list of
 * every name, then sorted and cut, was 40 MB at 10,000 services, alive with the new worker's stats).
 */
class FirstNames {
  #names: string[] = [];
  count = 0;

  constructor(readonly max: number) {}

  add(name: string): void {
    this.count++;
    this.#names.push(name);
    if (this.#names.length >= 2 * this.max + 64) this.#names = this.#names.sort().slice(0, this.max);
  }

  first(): string[] {
    return this.#names.sort().slice(0, this.max);
  }
}

/** What changed from `previous` to `next`, each list sorted and cut to its first `max` names (with how many were left out). */
export function diffModels(previous: Model | undefined, next: Model, max = Infinity): ModelChanges {
  const lists = Object.fromEntries(LISTS.map((k) => [k, new FirstNames(max)])) as Record<ListName, FirstNames>;
  const x = previous?.backends ?? [];
  const y = next.backends;
  // The same backends in the same order (a server change): pairwise, no map of every backend.
  // (A backend that is the same object has the same name: only the others are read.)
  if (x.length === y.length && x.every((b, i) => b === y[i] || b.name === y[i]?.name)) {
    for (let i = 0; i < x.length; i++) {
      const b = x[i] as Backend;
      if (b !== y[i]) diffServers(b.name, b, y[i], lists);
    }
  } else {
    const before = new Map(x.map((b) => [b.name, b]));
    const after = new Map(y.map((b) => [b.name, b]));
    for (const name of after.keys()) if (!before.has(name)) lists.servicesAdded.add(name);
    for (const name of before.keys()) if (!after.has(name)) lists.servicesRemoved.add(name);
    for (const name of new Set([...before.keys(), ...after.keys()])) diffServers(name, before.get(name), after.get(name), lists);
  }
  const changes: ModelChanges = {
    servicesAdded: lists.servicesAdded.first(), servicesRemoved: lists.servicesRemoved.first(),
    serversAdded: lists.serversAdded.first(), serversRemoved: lists.serversRemoved.first(), serversChanged: lists.serversChanged.first(),
  };
  const cut = LISTS.filter((k) => lists[k].count > max);
  if (cut.length > 0) changes.omitted = Object.fromEntries(cut.map((k) => [k, lists[k].count - max]));
  return changes;
}

function diffServers(name: string, x: Backend | undefined, y: Backend | undefined, lists: Record<ListName, FirstNames>): void {
  // Models share the backends a change did not touch (they are never mutated): nothing to compare.
  if (x !== undefined && (x === y || x.servers === y?.servers)) return;
  // A backend added or removed whole: its servers, without a map of them.
  if (x === undefined || y === undefined) {
    const list = x ? lists.serversRemoved : lists.serversAdded;
    for (const s of (x ?? y)?.servers ?? []) list.add(`${name}/${s.name}`);
    return;
  }
  const a = new Map(x.servers.map((s) => [s.name, s]));
  const b = new Map(y.servers.map((s) => [s.name, s]));
  for (const [s, srv] of b) {
    const old = a.get(s);
    if (!old) lists.serversAdded.add(`${name}/${s}`);
    else if (old.address !== srv.address || old.port !== srv.port || old.weight !== srv.weight) lists.serversChanged.add(`${name}/${s}`);
  }
  for (const s of a.keys()) if (!b.has(s)) lists.serversRemoved.add(`${name}/${s}`);
}

export function isEmptyChange(c: ModelChanges): boolean {
  return [c.servicesAdded, c.servicesRemoved, c.serversAdded, c.serversRemoved, c.serversChanged].every((l) => l.length === 0);
}
