// One Consul instance as a server: its health (checks, node checks included), its address and port
// (an unusable one quarantines the instance, naming the field and the value), its weight and name.
import { isIP } from 'node:net';
import type { HealthEntry } from '../consul/schemas.js';
import type { GlobalSettings } from '../settings.js';
import type { Quarantined, Server } from './types.js';
import { serverName } from './names.js';
import { showTag } from './tags.js';

const HOSTNAME_RE = /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
const MAX_WEIGHT = 256;

export type Health = 'passing' | 'warning' | 'critical';

/** The worst status of an entry's checks, node checks included, as Consul's `?passing` filter sees it. */
export function entryHealth(entry: HealthEntry): Health {
  let worst: Health = 'passing';
  for (const check of entry.Checks ?? []) {
    if (check.Status === 'critical' || check.Status === 'maintenance') return 'critical';
    if (check.Status === 'warning') worst = 'warning';
  }
  return worst;
}

/**
 * Why an address cannot be a server's, or undefined when it can. HAProxy reads `0.0.0.0` and `::` as
 * "the address the client connected to", which would let a registration send traffic anywhere.
 */
export function addressProblem(raw: string, family: number = isIP(raw)): string | undefined {
  if (family === 4) {
    const first = Number(raw.slice(0, raw.indexOf('.')));
    if (first === 0) return 'an unspecified ("this network") address';
    if (first >= 224) return 'a multicast, reserved or broadcast address';
    return undefined;
  }
  if (family === 6) {
    if (raw.includes('%')) return 'an IPv6 address with a zone index, which HAProxy cannot use';
    const lower = raw.toLowerCase();
    if (/^[0:]+$/.test(lower)) return 'the unspecified address';
    if (lower.startsWith('ff')) return 'a multicast address';
    if (/^::ffff:/.test(lower)) return addressProblem(lower.slice('::ffff:'.length));
    return undefined;
  }
  if (!HOSTNAME_RE.test(raw)) return 'not an address';
  // A name whose last label is all digits is a mistyped IPv4 address (999.1.1.1), never a host.
  if (/(^|\.)[0-9]+$/.test(raw)) return 'not an IPv4 address (an octet is out of range) and not a host name';
  return undefined;
}

/** The instance as a server, or undefined when it is not healthy enough or its data is unusable. */
export function toServer(service: string, entry: HealthEntry, settings: GlobalSettings, quarantined: Quarantined[]): Server | undefined {
  const health = entryHealth(entry);
  if (health === 'critical' || (health === 'warning' && !settings.includeWarning)) return undefined;
  const id = entry.Service.ID;
  const raw = entry.Service.Address || entry.Node.Address;
  const family = isIP(raw);
  const problem = addressProblem(raw, family);
  if (problem !== undefined) {
    const which = entry.Service.Address ? 'Service.Address' : 'Node.Address';
    quarantined.push({ service, instance: id, tag: undefined, reason: `${which} ${showTag(raw)} is ${problem}: expected an IPv4 or IPv6 address or a host name` });
    return undefined;
  }
  const port = entry.Service.Port;
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    quarantined.push({ service, instance: id, tag: undefined, reason: `Service.Port ${port} is invalid: expected an integer from 1 to 65535` });
    return undefined;
  }
  const weights = entry.Service.Weights ?? { Passing: 1, Warning: 1 };
  const weight = Math.min(MAX_WEIGHT, health === 'warning' ? weights.Warning : weights.Passing);
  return {
    name: serverName(entry.Node.Node, id),
    address: family === 6 ? `[${raw}]` : raw,
    port,
    weight,
    hostname: family === 0,
    node: entry.Node.Node,
    serviceId: id,
  };
}
