// Consul health entries → the typed model templates render: each service's part from its own entries
// (tags, instances as servers: instance.ts, names: names.ts), then the claims across services
// (claims.ts). Knows Consul's data shapes, but no network, no files, no processes. Everything is
// validated here and sorted, so an unchanged catalog gives an identical model and identical bytes.
import type { GlobalSettings } from '../settings.js';
import type { HealthEntry } from '../consul/schemas.js';
import { defaultHost, mergeParts } from './claims.js';
import { toServer } from './instance.js';
import { backendName, showName } from './names.js';
import { parseTags, showTag, type ParsedTags, type ServiceOptions } from './tags.js';
import type { Model, Quarantined, Server, ServicePart } from './types.js';
import { sortShort } from '../util/sorted.js';

export { defaultHost, mergeParts } from './claims.js';
export { addressProblem, entryHealth, type Health } from './instance.js';
export { backendName, RESERVED_PREFIX, serverName, showName } from './names.js';
export type { Backend, HttpRoute, Model, PortFrontend, Quarantined, Server, ServicePart } from './types.js';

interface Instance {
  entry: HealthEntry;
  options: ServiceOptions;
  server: Server | undefined;
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
  // The route object is the part's: a merge that keeps it keeps the host map unchanged (identity).
  if (hostName !== undefined) part.host = { name: hostName, own: hostName === own, tagged: options.host !== undefined, route: { host: hostName, backend: name } };
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
  const ordered = sortShort([...entries], (a, b) =>
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
  const newest = sortShort([...instances], (a, b) =>
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
  const servers = sortShort([...byName.values()], (a, b) => cmp(a.name, b.name));
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

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
