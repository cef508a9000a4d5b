// Consul health entries → the typed model templates render. Knows Consul's data shapes, but no
// network, no files, no processes. Everything is validated here and sorted, so an unchanged catalog
// gives an identical model and identical bytes.
import { createHash } from 'node:crypto';
import { isIP } from 'node:net';
import type { GlobalSettings } from '../settings.js';
import type { HealthEntry } from '../consul/schemas.js';
import { isHostName, parseTags, showTag, type CheckTiming, type ParsedTags, type Protocol, type ServiceOptions } from './tags.js';

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
  /** The HAProxy backend name: the service name, or a safe mapped form of it (see `backendName`). */
  name: string;
  /** The Consul service name, as registered. */
  service: string;
  mode: Protocol;
  balance: string;
  maxconn: number | undefined;
  sticky: 'src' | undefined;
  check: CheckTiming;
  httpchk: string | undefined;
  /**
   * HAPROXY.BACKEND.DEPOOL_THRESHOLD: the pool rules never take this backend below this share of its
   * servers in rotation; undefined: the daemon's default. Not in the config: the pool path reads it.
   */
  depoolThreshold?: number | undefined;
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
/** Service names used as backend names unchanged. No `:`, so a mapped name (which has one) never equals one. */
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

/**
 * The HAProxy backend name of a service: the name itself when HAProxy can use it, else its safe
 * characters (at most 64; `svc_` first when it would start with hapilot's prefix or not with a letter
 * or digit) then `:` and a hash of the whole name. Valid names have no `:`, so a mapped
 * name never equals a service's own name, and two mapped names differ unless their names hash alike.
 */
export function backendName(service: string): string {
  if (SERVICE_NAME_RE.test(service) && !service.startsWith(RESERVED_PREFIX)) return service;
  const hash = createHash('sha256').update(service).digest('hex').slice(0, 12);
  const safe = service.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 64);
  const prefix = /^[A-Za-z0-9]/.test(safe) && !safe.startsWith(RESERVED_PREFIX) ? '' : 'svc_';
  return `${prefix}${safe}:${hash}`;
}

/** A name as it appears in messages: as is when plain, else JSON-quoted (and cut when long). */
export function showName(name: string): string {
  return /^[\x21-\x7e]{1,128}$/.test(name) && !/["'\\]/.test(name) ? name : showTag(name);
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

interface Instance {
  entry: HealthEntry;
  options: ServiceOptions;
  server: Server | undefined;
}

/**
 * One service's share of the model, from its own entries alone: what `buildModel` makes of each
 * service before the claims across services (backend names, hosts, ports) are settled by
 * `mergeParts`. The incremental model (model/incremental.ts) keeps one per service.
 */
export interface ServicePart {
  service: string;
  /** The backend it would have, when it has one; the merge decides whether it gets it. */
  backend: Backend | undefined;
  /**
   * The host it routes: a HAPROXY.FRONTEND.HOST claim, or its default host `<service>.<HAPROXY_DOM>`;
   * `own`: the host is its default host (tagged or not), which belongs to it.
   */
  host: { name: string; own: boolean; tagged: boolean } | undefined;
  port: PortFrontend | undefined;
  /** Its own records and warnings (tags, addresses, duplicates, nowhere to route). */
  quarantined: Quarantined[];
  warnings: string[];
}

export interface BuildModelInput {
  entries: readonly HealthEntry[];
  settings: GlobalSettings;
}

export function buildModel({ entries, settings }: BuildModelInput): Model {
  const byService = new Map<string, HealthEntry[]>();
  for (const entry of entries) {
    const list = byService.get(entry.Service.Service);
    if (list) list.push(entry);
    else byService.set(entry.Service.Service, [entry]);
  }
  const parts = [...byService.keys()].sort(cmp).map((service) => buildServicePart(service, byService.get(service) ?? [], settings));
  return mergeParts(parts, settings);
}

/** The default host of a service under HAPROXY_DOM, when its name makes one. */
export function defaultHost(service: string, settings: GlobalSettings): string | undefined {
  const host = settings.domain ? `${service.toLowerCase()}.${settings.domain}` : undefined;
  return host !== undefined && isHostName(host) ? host : undefined;
}

/**
 * The parts as one model, claims settled across services:
 * - a host goes to the service whose default host it is (`web.<HAPROXY_DOM>` belongs to `web`: another
 *   service's HAPROXY.FRONTEND.HOST cannot take it, whatever the names' order), else to the first
 *   claimant in service-name order;
 * - backend names and ports go to the first claimant in service-name order (hapilot's own frontends
 *   hold HAPROXY_HTTP_PORT and HAPROXY_STATS_PORT);
 * - a service that loses a claim is left out whole, with a quarantine record and a warning naming
 *   the service that holds it.
 * `parts` are in service-name order. The one definition of the claim rules: `buildModel` and the
 * incremental model both merge through here.
 */
export function mergeParts(parts: readonly ServicePart[], settings: GlobalSettings): Model {
  const quarantined: Quarantined[] = [];
  const warnings: string[] = [];
  const claimWarnings: string[] = [];
  for (const part of parts) {
    for (const q of part.quarantined) quarantined.push(q);
    for (const w of part.warnings) warnings.push(w);
  }
  const reserved = new Map<number, string>([
    [settings.httpPort, 'HAPROXY_HTTP_PORT'],
    [settings.statsPort, 'HAPROXY_STATS_PORT'],
  ]);
  // Hosts first: its own service, else the first claimant by name. (A host whose holder is then
  // left out for its backend name or its port stays unrouted: both are rarer than a host claim.)
  const hostHolder = new Map<string, ServicePart>();
  for (const part of parts) {
    if (!part.backend || !part.host || (part.port && reserved.has(part.port.port))) continue;
    const holder = hostHolder.get(part.host.name);
    if (!holder || (part.host.own && !holder.host?.own)) hostHolder.set(part.host.name, part);
  }
  const nameOwner = new Map<string, string>();
  const portOwner = new Map(reserved);
  const backends: Backend[] = [];
  const httpRoutes: HttpRoute[] = [];
  const portFrontends: PortFrontend[] = [];
  for (const part of parts) {
    const { service, backend, host, port } = part;
    if (!backend) continue;
    const leftOut = (tag: string | undefined, reason: string): void => {
      quarantined.push({ service, instance: '*', tag, reason });
    };
    const nameHolder = nameOwner.get(backend.name);
    if (nameHolder !== undefined) {
      leftOut(undefined, `its backend name ${backend.name} is already used by service ${showName(nameHolder)}`);
      continue;
    }
    const holder = host && hostHolder.get(host.name);
    if (host && holder !== part) {
      const by = showName(holder?.service ?? '');
      const reason = holder?.host?.own ? `host ${host.name} is the default host of service ${by}` : `host ${host.name} is already routed to service ${by}`;
      leftOut(host.tagged ? `HAPROXY.FRONTEND.HOST=${host.name}` : undefined, reason);
      claimWarnings.push(`service ${showName(service)} is left out: ${reason}, which keeps it`);
      continue;
    }
    if (port && portOwner.has(port.port)) {
      leftOut(`HAPROXY.FRONTEND.PORT=${port.port}`, `port ${port.port} is already used by ${portOwner.get(port.port)}`);
      continue;
    }
    nameOwner.set(backend.name, service);
    if (backend.name !== service) {
      claimWarnings.push(`service ${showName(service)}: the name is not usable in haproxy.cfg; its backend is named ${backend.name}`);
    }
    if (host) httpRoutes.push({ host: host.name, backend: backend.name });
    if (port) {
      portOwner.set(port.port, `service ${showName(service)}`);
      portFrontends.push(port);
    }
    backends.push(backend);
  }

  httpRoutes.sort((a, b) => cmp(a.host, b.host));
  portFrontends.sort((a, b) => a.port - b.port);
  quarantined.sort((a, b) => cmp(a.service, b.service) || cmp(a.instance, b.instance) || cmp(a.tag ?? '', b.tag ?? ''));
  return { settings, backends, httpRoutes, portFrontends, quarantined, warnings: [...warnings, ...claimWarnings] };
}

/** One service's part, from its entries alone (every entry's `Service.Service` is `service`). */
export function buildServicePart(service: string, entries: readonly HealthEntry[], settings: GlobalSettings): ServicePart {
  const quarantined: Quarantined[] = [];
  const warnings: string[] = [];
  const part: ServicePart = { service, backend: undefined, host: undefined, port: undefined, quarantined, warnings };
  const built = buildService(service, entries, settings, quarantined, warnings);
  if (!built) return part;
  const { options, servers } = built;
  const own = defaultHost(service, settings);
  const hostName = options.protocol === 'http' ? options.host ?? own : undefined;
  if (options.protocol === 'http' && hostName === undefined && options.port === undefined) {
    const reason = settings.domain === undefined
      ? 'an HTTP service needs HAPROXY.FRONTEND.HOST=<host>, HAPROXY.FRONTEND.PORT=<port> or the HAPROXY_DOM environment variable'
      : `the service name is not a DNS label, so it has no default host under HAPROXY_DOM=${settings.domain}: add HAPROXY.FRONTEND.HOST=<host> or HAPROXY.FRONTEND.PORT=<port>`;
    quarantined.push({ service, instance: '*', tag: undefined, reason });
    return part;
  }
  const name = backendName(service);
  part.backend = {
    name,
    service,
    mode: options.protocol,
    balance: options.balance,
    maxconn: options.maxconn,
    sticky: options.sticky,
    check: options.check,
    httpchk: options.httpchk,
    depoolThreshold: options.depoolThreshold,
    servers,
  };
  if (hostName !== undefined) part.host = { name: hostName, own: hostName === own, tagged: options.host !== undefined };
  if (options.port !== undefined) part.port = { name: `port_${options.port}`, port: options.port, mode: options.protocol, backend: name };
  return part;
}

function buildService(
  service: string,
  entries: readonly HealthEntry[],
  settings: GlobalSettings,
  quarantined: Quarantined[],
  warnings: string[],
): { options: ServiceOptions; servers: Server[] } | undefined {
  const instances: Instance[] = [];
  // Ignored tags, once per service and tag however many instances carry them.
  const tagWarnings = new Map<string, { message: string; instance: string; count: number }>();
  let anyEnabled = false;
  // Input order must not matter: instances are taken in (ID, node, modify index) order.
  const ordered = [...entries].sort((a, b) =>
    cmp(a.Service.ID, b.Service.ID) || cmp(a.Node.Node, b.Node.Node) || (b.Service.ModifyIndex ?? 0) - (a.Service.ModifyIndex ?? 0)
    || cmp(JSON.stringify(a), JSON.stringify(b)));
  for (const entry of ordered) {
    const parsed = parsedTags(entry.Service.Tags ?? []);
    for (const w of parsed.warnings) {
      const key = `${w.tag}\0${w.message}`;
      const seen = tagWarnings.get(key);
      if (seen) seen.count++;
      else tagWarnings.set(key, { message: `tag ${showTag(w.tag)}: ${w.message}`, instance: entry.Service.ID, count: 1 });
    }
    if (!parsed.enabled) continue;
    anyEnabled = true;
    const firstError = parsed.errors[0];
    if (firstError) {
      quarantined.push({ service, instance: entry.Service.ID, tag: shownTag(firstError.tag), reason: firstError.message });
      continue;
    }
    if (parsed.deprecated.length) {
      warnings.push(`service ${showName(service)} instance ${showName(entry.Service.ID)}: deprecated tag(s) ${parsed.deprecated.map((t) => JSON.stringify(t)).join(', ')}; see the README tag reference`);
    }
    const server = toServer(service, entry, settings, quarantined);
    instances.push({ entry, options: parsed.options, server });
  }
  for (const w of tagWarnings.values()) {
    const who = w.count === 1 ? `instance ${showName(w.instance)}` : `${w.count} instances (first ${showName(w.instance)})`;
    warnings.push(`service ${showName(service)} ${who}: ${w.message}`);
  }
  if (!anyEnabled) return undefined;
  if (instances.length === 0) return undefined; // every enabled instance was quarantined

  // Service-level options come from the most recently modified instance, so a rolling change of
  // tags takes effect with the first new instance, deterministically.
  const newest = [...instances].sort((a, b) =>
    (b.entry.Service.ModifyIndex ?? 0) - (a.entry.Service.ModifyIndex ?? 0) || cmp(a.entry.Service.ID, b.entry.Service.ID)
    || cmp(a.entry.Node.Node, b.entry.Node.Node))[0];
  if (!newest) return undefined;
  // Instances with the same tags share one parse: compared by identity first.
  let key: string | undefined;
  if (instances.some((i) => i.options !== newest.options && JSON.stringify(i.options) !== (key ??= JSON.stringify(newest.options)))) {
    warnings.push(`service ${showName(service)}: instances disagree on HAPROXY tags; using those of instance ${showName(newest.entry.Service.ID)} (most recently modified)`);
  }

  // One server per node and service ID: of duplicates (a catalog file can hold them), the most
  // recently modified is kept (instances are already in that order).
  const byName = new Map<string, Server>();
  for (const { server } of instances) {
    if (!server) continue;
    const kept = byName.get(server.name);
    if (kept) {
      warnings.push(`service ${showName(service)}: duplicate instance ${server.name} (node ${showName(server.node)}, ID ${showName(server.serviceId)}) at ${server.address}:${server.port} ignored; kept the one at ${kept.address}:${kept.port}`);
      continue;
    }
    byName.set(server.name, server);
  }
  const servers = [...byName.values()].sort((a, b) => cmp(a.name, b.name));
  return { options: newest.options, servers };
}

/**
 * `parseTags`, once per distinct list of tags: the instances of a service, and most services, carry
 * the same tags. Parses are pure and never modified, so they are shared; the cache is cleared when
 * it grows past the number of distinct lists a large catalog has.
 */
const TAG_CACHE = new Map<string, ParsedTags>();
const TAG_CACHE_MAX = 4096;
function parsedTags(tags: readonly string[]): ParsedTags {
  const key = JSON.stringify(tags);
  if (key.length > 4096) return parseTags(tags); // 64 KiB hostile tags are not kept
  let parsed = TAG_CACHE.get(key);
  if (!parsed) {
    if (TAG_CACHE.size >= TAG_CACHE_MAX) TAG_CACHE.clear();
    parsed = parseTags(tags);
    TAG_CACHE.set(key, parsed);
  }
  return parsed;
}

/** A tag as stored in a quarantine record: whole when short, else cut (see `showTag`). */
function shownTag(tag: string): string {
  return tag.length <= 256 ? tag : `${tag.slice(0, 200)}…(${tag.length} characters)`;
}

/** The instance as a server, or undefined when it is not healthy enough or its data is unusable. */
function toServer(service: string, entry: HealthEntry, settings: GlobalSettings, quarantined: Quarantined[]): Server | undefined {
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

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
