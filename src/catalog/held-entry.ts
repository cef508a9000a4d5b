// What the daemon keeps of each health entry: the fields the model (servers, tags, health), the pool
// (maintenance reasons) and the quarantine memory read, nothing else. A Consul answer carries ~1 KB
// per instance (TaggedAddresses, Meta, Proxy, Connect, check definitions…); at 100,000 instances
// keeping it whole costs hundreds of MB. `hapilot snapshot` does not go through here: it writes what
// Consul said.
import type { HealthCheck, HealthEntry } from '../consul/schemas.js';
import { sortShort } from '../util/sorted.js';

/**
 * One copy of each string, tag list, node and node check among the entries of one read (held
 * entries are never changed, so they can share). JSON.parse gives every
 * string longer than about ten characters its own copy: at 10,000 services × 10 a tag such as
 * "HAPROXY.ENABLE=true" existed 100,000 times, in 100,000 arrays, because in the node dump each
 * instance of a service comes from another node.
 */
export class Interner {
  readonly #strings = new Map<string, string>();
  readonly #tags = new Map<string, string[]>();
  readonly #nodes = new Map<string, HealthEntry['Node']>();
  readonly #nodeChecks = new Map<string, HealthCheck>();
  readonly #weights = new Map<string, { Passing: number; Warning: number }>();

  string(s: string): string {
    const had = this.#strings.get(s);
    if (had !== undefined) return had;
    this.#strings.set(s, s);
    return s;
  }

  /** One array per tag list (by content, in order); callers never change a held entry's tags. */
  tags(tags: readonly string[]): string[] {
    const key = JSON.stringify(tags);
    const had = this.#tags.get(key);
    if (had) return had;
    const mine = tags.map((t) => this.string(t));
    this.#tags.set(key, mine);
    return mine;
  }

  /** One node object per node name and address: every instance on a node has the same. */
  node(name: string, address: string): HealthEntry['Node'] {
    const key = `${name}\u0000${address}`;
    let had = this.#nodes.get(key);
    if (!had) this.#nodes.set(key, (had = { Node: this.string(name), Address: this.string(address) }));
    return had;
  }

  /** One weights object per pair of values (nearly every instance has Consul's default, 1 and 1). */
  weights(passing: number, warning: number): { Passing: number; Warning: number } {
    const key = `${passing}/${warning}`;
    let had = this.#weights.get(key);
    if (!had) this.#weights.set(key, (had = { Passing: passing, Warning: warning }));
    return had;
  }

  /**
   * One object per node-level check (serfHealth, node maintenance) as held: every instance on a node
   * carries its node's checks (100,000 copies of serfHealth at 10,000 services × 10 on 10 nodes).
   */
  nodeCheck(c: HealthCheck): HealthCheck {
    const key = `${c.Node}\u0000${c.CheckID}\u0000${c.Status}\u0000${c.Notes ?? ''}`;
    let had = this.#nodeChecks.get(key);
    if (!had) this.#nodeChecks.set(key, (had = c));
    return had;
  }
}

/** The fields of one entry hapilot uses; strings repeated across the entries of one read (`strings`) are shared. */
export function heldEntry(e: HealthEntry, strings: Interner): HealthEntry {
  const node = strings.string(e.Node.Node);
  const s = e.Service;
  // Each object made whole by one literal: a field added afterwards moves the fields to an array of
  // their own (40 bytes more per instance, 4 MB at 100,000; heap snapshot, 10,000 services).
  // (A spread copies the shape of what it spreads and adds the rest the same way.)
  const { ID, Port, ModifyIndex: at } = s;
  const name = strings.string(s.Service);
  const Tags = strings.tags(s.Tags ?? []);
  const Address = s.Address ?? '';
  const Weights = s.Weights && strings.weights(s.Weights.Passing, s.Weights.Warning);
  const service: HealthEntry['Service'] = Weights
    ? at !== undefined ? { ID, Service: name, Tags, Address, Port, Weights, ModifyIndex: at } : { ID, Service: name, Tags, Address, Port, Weights }
    : at !== undefined ? { ID, Service: name, Tags, Address, Port, ModifyIndex: at } : { ID, Service: name, Tags, Address, Port };
  // Built by map, not push: an array grown by push from empty reserves 17 slots (152 bytes) for
  // the one or two checks an instance has, 13 MB over 100,000 instances (heap snapshot, 10,000
  // services); map allocates the length it needs.
  const checks = (e.Checks ?? []).map((c): HealthCheck => {
    const held: HealthCheck = { Node: c.Node === e.Node.Node || c.Node == null ? node : strings.string(c.Node), CheckID: c.CheckID, Status: c.Status, ServiceID: c.ServiceID ? (c.ServiceID === s.ID ? s.ID : c.ServiceID) : '' };
    // Notes carry the reason of `consul maint` (the pool shows it); other checks' notes are unused.
    if (c.Notes) held.Notes = c.Notes;
    return held.ServiceID === '' ? strings.nodeCheck(held) : held;
  });
  // In one order whichever answer they came from (a service's own read, the node dump).
  sortShort(checks, (a, b) => cmp(a.CheckID, b.CheckID));
  return { Node: strings.node(node, e.Node.Address), Service: service, Checks: checks };
}

const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** Entries by node name, then instance ID (byte order): one order whichever answer they came from. */
export const byNodeAndId = (a: HealthEntry, b: HealthEntry) => cmp(a.Node.Node, b.Node.Node) || cmp(a.Service.ID, b.Service.ID);

/** The entries of one service as held (see heldEntry), by node and instance ID. */
export function heldEntries(entries: readonly HealthEntry[]): HealthEntry[] {
  const strings = new Interner();
  return sortShort(entries.map((e) => heldEntry(e, strings)), byNodeAndId);
}
