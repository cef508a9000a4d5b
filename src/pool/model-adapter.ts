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
import type { Model, Server } from '../model/model.js';
import { poolInstance, type PoolInstance } from './instances.js';
import type { PoolDecisions } from './rules.js';

/** Every registered instance of the model's backends, except instances quarantined for their data. */
export function poolInstancesFor(entries: readonly HealthEntry[], model: Model): PoolInstance[] {
  const backendOf = new Map(model.backends.map((b) => [b.service, b.name]));
  const quarantined = new Set(model.quarantined.map((q) => `${q.service}\0${q.instance}`));
  const out: PoolInstance[] = [];
  for (const e of entries) {
    const backend = backendOf.get(e.Service.Service);
    if (backend === undefined || quarantined.has(`${e.Service.Service}\0${e.Service.ID}`)) continue;
    out.push({ ...poolInstance(e), backend });
  }
  return out;
}

function serverOf(i: PoolInstance, weight: number): Server {
  const family = isIP(i.address);
  return { name: i.server, address: family === 6 ? `[${i.address}]` : i.address, port: i.port, weight, hostname: family === 0, node: i.node, serviceId: i.serviceId };
}

export function withPoolDecisions(model: Model, decisions: PoolDecisions, instances: readonly PoolInstance[]): Model {
  const byKey = new Map(decisions.servers.map((d) => [`${d.backend}/${d.server}`, d]));
  const inst = new Map(instances.map((i) => [`${i.backend}/${i.server}`, i]));
  const backends = model.backends.map((b) => {
    const servers: Server[] = [];
    const present = new Set<string>();
    for (const s of b.servers) {
      const d = byKey.get(`${b.name}/${s.name}`);
      present.add(s.name);
      if (d && !d.inConfig) continue;
      servers.push(d ? { ...s, weight: d.weight } : s);
    }
    for (const d of decisions.servers) {
      if (d.backend !== b.name || !d.keptByThreshold || present.has(d.server)) continue;
      const i = inst.get(`${d.backend}/${d.server}`);
      if (i) servers.push(serverOf(i, d.weight));
    }
    servers.sort((x, y) => (x.name < y.name ? -1 : x.name > y.name ? 1 : 0));
    return { ...b, servers };
  });
  return { ...model, backends };
}

/** `model` without the servers whose `backend/server` is in `keys`. */
export function withoutServers(model: Model, keys: ReadonlySet<string>): Model {
  if (keys.size === 0) return model;
  return { ...model, backends: model.backends.map((b) => ({ ...b, servers: b.servers.filter((s) => !keys.has(`${b.name}/${s.name}`)) })) };
}
