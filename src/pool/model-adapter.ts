// How the engine joins the pool rules to its model, both ways, without the model knowing the pool:
//   withoutServers(model, keys)        → the model without some `backend/server`s (the mass-removal
//                                         guard compares without decommissioned servers)
//   poolInstancesFor(entries, model)   → the instances the rules decide about, named as the config
//                                         names them (backend name, server name)
//   withPoolDecisions(model, decisions) → the model with inactive servers left out, servers the
//                                         depool threshold keeps put back (buildModel drops
//                                         instances failing their checks), and pool weights
// The admin state (ready/drain/maint) is then applied with poolRuntimeCommands (runtime.ts).
import { isIP } from 'node:net';
import type { HealthEntry } from '../consul/schemas.js';
import type { Backend, Model, Server } from '../model/model.js';
import { sortShort } from '../util/sorted.js';
import { poolInstance, type PoolInstance } from './instances.js';
import type { PoolDecisions, ServerDecision } from './rules.js';

/** Every registered instance of the model's backends, except instances quarantined for their data. */
export function poolInstancesFor(entries: readonly HealthEntry[], model: Model): PoolInstance[] {
  const backendOf = new Map(model.backends.map((b) => [b.service, b.name]));
  const quarantined = new Set(model.quarantined.map((q) => `${q.service}\0${q.instance}`));
  const out: PoolInstance[] = [];
  for (const e of entries) {
    const backend = backendOf.get(e.Service.Service);
    if (backend === undefined || quarantined.has(`${e.Service.Service}\0${e.Service.ID}`)) continue;
    out.push(poolInstance(e, backend));
  }
  return out;
}

function serverOf(i: PoolInstance, weight: number): Server {
  const family = isIP(i.address);
  return { name: i.server, address: family === 6 ? `[${i.address}]` : i.address, port: i.port, weight, hostname: family === 0, node: i.node, serviceId: i.serviceId };
}

/** The instances of one backend (`entries`: its service's), quarantined ones left out (`quarantined`: their service IDs). */
export function backendInstances(backend: string, entries: readonly HealthEntry[], quarantined?: ReadonlySet<string>): PoolInstance[] {
  const out: PoolInstance[] = [];
  for (const e of entries) if (!quarantined?.has(e.Service.ID)) out.push(poolInstance(e, backend));
  return out;
}

const byName = (x: Server, y: Server) => (x.name < y.name ? -1 : x.name > y.name ? 1 : 0);

/**
 * One backend with its decisions (`ds`: by server name; `inst`: its instances by server name): the
 * backend itself when nothing changes (the incremental renderer compares by identity).
 */
export function withBackendDecisions(b: Backend, ds: ReadonlyMap<string, ServerDecision> | undefined, inst: (server: string) => PoolInstance | undefined): Backend {
  const sorted = b.servers.every((s, k) => k === 0 || byName(b.servers[k - 1]!, s) <= 0);
  // A backend no decision changes is handed on as it is.
  if (!ds && sorted) return b;
  let changed = !sorted;
  const servers: Server[] = [];
  const present = new Set<string>();
  for (const s of b.servers) {
    const d = ds?.get(s.name);
    present.add(s.name);
    if (d && !d.inConfig) {
      changed = true;
      continue;
    }
    if (d && d.weight !== s.weight) {
      servers.push({ ...s, weight: d.weight });
      changed = true;
    } else servers.push(s);
  }
  for (const d of ds?.values() ?? []) {
    if (!d.keptByThreshold || present.has(d.server)) continue;
    const i = inst(d.server);
    if (!i) continue;
    servers.push(serverOf(i, d.weight));
    changed = true;
  }
  if (!changed) return b;
  sortShort(servers, byName);
  return { ...b, servers };
}

export function withPoolDecisions(model: Model, decisions: PoolDecisions, instances: readonly PoolInstance[]): Model {
  // Decisions by backend: the work is per decision, not per backend × decision (100,000 servers).
  const byBackend = new Map<string, Map<string, ServerDecision>>();
  for (const d of decisions.servers) {
    let m = byBackend.get(d.backend);
    if (!m) byBackend.set(d.backend, (m = new Map()));
    m.set(d.server, d);
  }
  const inst = new Map(instances.map((i) => [`${i.backend}/${i.server}`, i]));
  const backends = model.backends.map((b) => withBackendDecisions(b, byBackend.get(b.name), (server) => inst.get(`${b.name}/${server}`)));
  return { ...model, backends };
}

/** `model` without the servers whose `backend/server` is in `keys`. */
export function withoutServers(model: Model, keys: ReadonlySet<string>): Model {
  if (keys.size === 0) return model;
  return { ...model, backends: model.backends.map((b) => ({ ...b, servers: b.servers.filter((s) => !keys.has(`${b.name}/${s.name}`)) })) };
}
