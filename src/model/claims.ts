// Claims across services: which service gets a backend name, a host, a port, when several ask for
// one. The one definition of these rules: `buildModel` and the incremental model both merge through
// `mergeParts`.
import type { GlobalSettings } from '../settings.js';
import type { Backend, HttpRoute, Model, PortFrontend, Quarantined, ServicePart } from './types.js';
import { showName } from './names.js';
import { isHostName } from './tags.js';

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
    if (host) httpRoutes.push(host.route);
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

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
