// Consul health entries → the typed model templates render. Knows Consul's data shapes, but no
// network, no files, no processes. Everything is validated here and sorted, so an unchanged catalog
// gives an identical model and identical bytes.
import { createHash } from 'node:crypto';
import { isIP } from 'node:net';
import type { GlobalSettings } from '../settings.js';
import type { HealthEntry } from '../consul/schemas.js';
import { parseTags, type CheckTiming, type Protocol, type ServiceOptions } from './tags.js';

export interface Server {
  /** Stable name from Consul's node and service ID: the key of runtime operations and server state. */
  name: string;
  /** Address as written in haproxy.cfg (IPv6 in brackets). */
  address: string;
  port: number;
  weight: number;
  /** The address is a host name: resolve at start, but never fail the config if it does not resolve. */
  hostname: boolean;
  node: string;
  serviceId: string;
}

export interface Backend {
  name: string;
  service: string;
  mode: Protocol;
  balance: string;
  maxconn: number | undefined;
  sticky: 'src' | undefined;
  check: CheckTiming;
  httpchk: string | undefined;
  servers: Server[];
}

export interface HttpRoute {
  host: string;
  backend: string;
}

export interface PortFrontend {
  name: string;
  port: number;
  mode: Protocol;
  backend: string;
}

export interface Quarantined {
  service: string;
  /** Consul service ID of the instance, or `*` when the whole service is left out. */
  instance: string;
  tag: string | undefined;
  reason: string;
}

export interface Model {
  settings: GlobalSettings;
  backends: Backend[];
  httpRoutes: HttpRoute[];
  portFrontends: PortFrontend[];
  quarantined: Quarantined[];
  warnings: string[];
}

/** Names HAProxy accepts for proxies and servers: letters, digits, `.`, `-`, `_`, `:`. */
const NAME_RE = /^[A-Za-z0-9._:-]+$/;
const SERVICE_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const HOSTNAME_RE = /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
/** Section names hapilot uses itself. */
export const RESERVED_PREFIX = 'hapilot_';
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

/** A server name that is stable, unique and safe; a hash marks names that had to be changed. */
export function serverName(node: string, serviceId: string): string {
  const raw = `${node}:${serviceId}`;
  if (NAME_RE.test(raw) && raw.length <= 96) return raw;
  const hash = createHash('sha1').update(raw).digest('hex').slice(0, 8);
  return `${raw.replace(/[^A-Za-z0-9._:-]/g, '_').slice(0, 80)}-${hash}`;
}

interface Instance {
  entry: HealthEntry;
  options: ServiceOptions;
  server: Server | undefined;
}

interface Candidate {
  service: string;
  options: ServiceOptions;
  servers: Server[];
}

export interface BuildModelInput {
  entries: readonly HealthEntry[];
  settings: GlobalSettings;
}

export function buildModel({ entries, settings }: BuildModelInput): Model {
  const quarantined: Quarantined[] = [];
  const warnings: string[] = [];
  const byService = new Map<string, HealthEntry[]>();
  for (const entry of entries) {
    const list = byService.get(entry.Service.Service) ?? [];
    list.push(entry);
    byService.set(entry.Service.Service, list);
  }

  const candidates: Candidate[] = [];
  for (const service of [...byService.keys()].sort()) {
    const candidate = buildService(service, byService.get(service) ?? [], settings, quarantined, warnings);
    if (candidate) candidates.push(candidate);
  }

  // Frontend claims (hosts, ports) are given out in service-name order; a later claimant is left out.
  const hostOwner = new Map<string, string>();
  const portOwner = new Map<number, string>([
    [settings.httpPort, 'HAPROXY_HTTP_PORT'],
    [settings.statsPort, 'HAPROXY_STATS_PORT'],
  ]);
  const backends: Backend[] = [];
  const httpRoutes: HttpRoute[] = [];
  const portFrontends: PortFrontend[] = [];
  for (const { service, options, servers } of candidates) {
    const host = options.protocol === 'http'
      ? options.host ?? (settings.domain ? `${service.toLowerCase()}.${settings.domain}` : undefined)
      : undefined;
    if (options.protocol === 'http' && host === undefined && options.port === undefined) {
      quarantined.push({ service, instance: '*', tag: undefined, reason: 'an HTTP service needs HAPROXY.FRONTEND.HOST=<host>, HAPROXY.FRONTEND.PORT=<port> or the HAPROXY_DOM environment variable' });
      continue;
    }
    if (host !== undefined && hostOwner.has(host)) {
      quarantined.push({ service, instance: '*', tag: `HAPROXY.FRONTEND.HOST=${host}`, reason: `host ${host} is already routed to service ${hostOwner.get(host)}` });
      continue;
    }
    if (options.port !== undefined && portOwner.has(options.port)) {
      quarantined.push({ service, instance: '*', tag: `HAPROXY.FRONTEND.PORT=${options.port}`, reason: `port ${options.port} is already used by ${portOwner.get(options.port)}` });
      continue;
    }
    if (host !== undefined) {
      hostOwner.set(host, service);
      httpRoutes.push({ host, backend: service });
    }
    if (options.port !== undefined) {
      portOwner.set(options.port, `service ${service}`);
      portFrontends.push({ name: `port_${options.port}`, port: options.port, mode: options.protocol, backend: service });
    }
    backends.push({
      name: service,
      service,
      mode: options.protocol,
      balance: options.balance,
      maxconn: options.maxconn,
      sticky: options.sticky,
      check: options.check,
      httpchk: options.httpchk,
      servers,
    });
  }

  httpRoutes.sort((a, b) => cmp(a.host, b.host));
  portFrontends.sort((a, b) => a.port - b.port);
  quarantined.sort((a, b) => cmp(a.service, b.service) || cmp(a.instance, b.instance) || cmp(a.tag ?? '', b.tag ?? ''));
  return { settings, backends, httpRoutes, portFrontends, quarantined, warnings };
}

function buildService(
  service: string,
  entries: HealthEntry[],
  settings: GlobalSettings,
  quarantined: Quarantined[],
  warnings: string[],
): Candidate | undefined {
  const instances: Instance[] = [];
  let anyEnabled = false;
  for (const entry of entries) {
    const parsed = parseTags(entry.Service.Tags ?? []);
    if (!parsed.enabled) continue;
    anyEnabled = true;
    const firstError = parsed.errors[0];
    if (firstError) {
      quarantined.push({ service, instance: entry.Service.ID, tag: firstError.tag, reason: firstError.message });
      continue;
    }
    if (parsed.deprecated.length) {
      warnings.push(`service ${service} instance ${entry.Service.ID}: deprecated tag(s) ${parsed.deprecated.map((t) => JSON.stringify(t)).join(', ')}; see the README tag reference`);
    }
    const server = toServer(service, entry, settings, quarantined);
    instances.push({ entry, options: parsed.options, server });
  }
  if (!anyEnabled) return undefined;
  if (!SERVICE_NAME_RE.test(service) || service.startsWith(RESERVED_PREFIX)) {
    quarantined.push({ service, instance: '*', tag: undefined, reason: `service name ${JSON.stringify(service)} is not usable as a backend name: expected letters, digits, ".", "-", "_" (not starting with ${RESERVED_PREFIX})` });
    return undefined;
  }
  if (instances.length === 0) return undefined; // every enabled instance was quarantined

  // Service-level options come from the most recently modified instance, so a rolling change of
  // tags takes effect with the first new instance, deterministically.
  const newest = [...instances].sort((a, b) =>
    (b.entry.Service.ModifyIndex ?? 0) - (a.entry.Service.ModifyIndex ?? 0) || cmp(a.entry.Service.ID, b.entry.Service.ID))[0];
  if (!newest) return undefined;
  const key = JSON.stringify(newest.options);
  if (instances.some((i) => JSON.stringify(i.options) !== key)) {
    warnings.push(`service ${service}: instances disagree on HAPROXY tags; using those of instance ${newest.entry.Service.ID} (most recently modified)`);
  }

  const byName = new Map<string, Server>();
  for (const { server } of instances) {
    if (!server) continue;
    if (byName.has(server.name)) {
      warnings.push(`service ${service}: duplicate instance ${server.name} ignored`);
      continue;
    }
    byName.set(server.name, server);
  }
  const servers = [...byName.values()].sort((a, b) => cmp(a.name, b.name));
  return { service, options: newest.options, servers };
}

/** The instance as a server, or undefined when it is not healthy enough or its data is unusable. */
function toServer(service: string, entry: HealthEntry, settings: GlobalSettings, quarantined: Quarantined[]): Server | undefined {
  const health = entryHealth(entry);
  if (health === 'critical' || (health === 'warning' && !settings.includeWarning)) return undefined;
  const id = entry.Service.ID;
  const raw = entry.Service.Address || entry.Node.Address;
  const family = isIP(raw);
  if (family === 0 && !HOSTNAME_RE.test(raw)) {
    quarantined.push({ service, instance: id, tag: undefined, reason: `address ${JSON.stringify(raw)} is invalid: expected an IPv4 or IPv6 address or a host name` });
    return undefined;
  }
  const port = entry.Service.Port;
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    quarantined.push({ service, instance: id, tag: undefined, reason: `port ${port} is invalid: expected 1 to 65535` });
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

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
