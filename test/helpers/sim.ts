// A started Consul simulator seeded from a catalog file's entries.
import { ConsulSim } from '../sim/consul-sim.js';
import type { HealthEntry } from '../../src/consul/schemas.js';

export async function startSim(entries: readonly HealthEntry[] = []): Promise<ConsulSim> {
  const sim = new ConsulSim();
  sim.jitter = false;
  for (const e of entries) seed(sim, e);
  await sim.start();
  return sim;
}

export function seed(sim: ConsulSim, e: HealthEntry): void {
  const worst = (e.Checks ?? []).reduce<'passing' | 'warning' | 'critical'>((w, c) =>
    c.Status === 'critical' || c.Status === 'maintenance' ? 'critical' : c.Status === 'warning' && w === 'passing' ? 'warning' : w, 'passing');
  sim.register({
    node: { Node: e.Node.Node, Address: e.Node.Address },
    service: {
      ID: e.Service.ID, Service: e.Service.Service, Tags: e.Service.Tags ?? [], Address: e.Service.Address ?? '', Port: e.Service.Port,
      ...(e.Service.Weights ? { Weights: e.Service.Weights } : {}),
    },
    status: worst,
  });
}
