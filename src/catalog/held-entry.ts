// What the daemon keeps of each health entry: the fields the model (servers, tags, health), the pool
// (maintenance reasons) and the quarantine memory read, nothing else. A Consul answer carries ~1 KB
// per instance (TaggedAddresses, Meta, Proxy, Connect, check definitions…); at 100,000 instances
// keeping it whole costs hundreds of MB. `hapilot snapshot` does not go through here: it writes what
// Consul said.
import type { HealthCheck, HealthEntry } from '../consul/schemas.js';

/** The fields of one entry hapilot uses; strings repeated across entries (node names) are shared. */
export function heldEntry(e: HealthEntry, previous?: HealthEntry): HealthEntry {
  const node = e.Node.Node;
  const s = e.Service;
  // Instances of one service usually carry the same tags: keep one array for them.
  const tags = s.Tags ?? [];
  const prevTags = previous?.Service.Tags;
  const sharedTags = prevTags && prevTags.length === tags.length && prevTags.every((t, i) => t === tags[i]) ? prevTags : tags;
  const service: HealthEntry['Service'] = { ID: s.ID, Service: s.Service, Tags: sharedTags, Address: s.Address ?? '', Port: s.Port };
  if (s.Weights) service.Weights = { Passing: s.Weights.Passing, Warning: s.Weights.Warning };
  if (s.ModifyIndex !== undefined) service.ModifyIndex = s.ModifyIndex;
  const checks: HealthCheck[] = [];
  for (const c of e.Checks ?? []) {
    const held: HealthCheck = { Node: c.Node === node || c.Node == null ? node : c.Node, CheckID: c.CheckID, Status: c.Status, ServiceID: c.ServiceID ? (c.ServiceID === s.ID ? s.ID : c.ServiceID) : '' };
    // Notes carry the reason of `consul maint` (the pool shows it); other checks' notes are unused.
    if (c.Notes) held.Notes = c.Notes;
    checks.push(held);
  }
  // In one order whichever answer they came from (a service's own read, the node dump).
  checks.sort((a, b) => cmp(a.CheckID, b.CheckID));
  return { Node: { Node: node, Address: e.Node.Address }, Service: service, Checks: checks };
}

const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** Entries by node name, then instance ID (byte order): one order whichever answer they came from. */
export const byNodeAndId = (a: HealthEntry, b: HealthEntry) => cmp(a.Node.Node, b.Node.Node) || cmp(a.Service.ID, b.Service.ID);

/** The entries of one service as held (see heldEntry), by node and instance ID. */
export function heldEntries(entries: readonly HealthEntry[]): HealthEntry[] {
  const out: HealthEntry[] = [];
  for (const e of entries) out.push(heldEntry(e, out[out.length - 1]));
  return out.sort(byNodeAndId);
}
