// Consul health entries → the instances the pool rules decide about: every registered instance of an
// enabled service, healthy or not (the depool threshold counts the unhealthy ones too), with its
// Consul maintenance mode read from the synthetic checks the agent adds:
// `_service_maintenance:<service ID>` and `_node_maintenance`.
// https://developer.hashicorp.com/consul/commands/maint
import type { HealthCheck, HealthEntry } from '../consul/schemas.js';
import { serverName } from '../model/model.js';

export type ConsulHealth = 'passing' | 'warning' | 'critical';

export interface ConsulMaintenance {
  scope: 'service' | 'node';
  /** The reason given to `consul maint -reason` (the check's Notes), or "". */
  reason: string;
}

/** One instance as the pool rules see it; `backend`/`server` are the names in haproxy.cfg. */
export interface PoolInstance {
  backend: string;
  /** `<node>:<service ID>` as model.ts `serverName` makes it. */
  server: string;
  service: string;
  node: string;
  serviceId: string;
  /** Address as Consul has it (no IPv6 brackets): the docker-haproxy weight key uses it. */
  address: string;
  port: number;
  /** The instance's own weight (Consul Weights, capped at 256): used when no record sets one. */
  weight: number;
  /** Worst status of the instance's checks other than the maintenance ones. */
  health: ConsulHealth;
  maintenance: ConsulMaintenance | undefined;
}

export const SERVICE_MAINTENANCE_PREFIX = '_service_maintenance:';
export const NODE_MAINTENANCE = '_node_maintenance';

/** Consul maintenance mode of an instance, node maintenance first (it covers every service on it). */
export function consulMaintenance(checks: readonly HealthCheck[]): ConsulMaintenance | undefined {
  const node = checks.find((c) => c.CheckID === NODE_MAINTENANCE);
  if (node) return { scope: 'node', reason: node.Notes ?? '' };
  const svc = checks.find((c) => c.CheckID.startsWith(SERVICE_MAINTENANCE_PREFIX));
  if (svc) return { scope: 'service', reason: svc.Notes ?? '' };
  return undefined;
}

/** Worst status of the checks, maintenance checks left out (they are reported as maintenance). */
export function healthWithoutMaintenance(checks: readonly HealthCheck[]): ConsulHealth {
  let worst: ConsulHealth = 'passing';
  for (const c of checks) {
    if (c.CheckID === NODE_MAINTENANCE || c.CheckID.startsWith(SERVICE_MAINTENANCE_PREFIX)) continue;
    if (c.Status === 'critical' || c.Status === 'maintenance') return 'critical';
    if (c.Status === 'warning') worst = 'warning';
  }
  return worst;
}

/** The instance of a health entry, in `backend` (by default named after the service, as the model names it). */
export function poolInstance(entry: HealthEntry, backend: string = entry.Service.Service): PoolInstance {
  const checks = entry.Checks ?? [];
  const weights = entry.Service.Weights ?? { Passing: 1, Warning: 1 };
  const health = healthWithoutMaintenance(checks);
  return {
    backend,
    server: serverName(entry.Node.Node, entry.Service.ID),
    service: entry.Service.Service,
    node: entry.Node.Node,
    serviceId: entry.Service.ID,
    address: entry.Service.Address || entry.Node.Address,
    port: entry.Service.Port,
    weight: Math.min(256, health === 'warning' ? weights.Warning : weights.Passing),
    health,
    maintenance: consulMaintenance(checks),
  };
}
