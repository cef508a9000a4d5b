// The model's shapes: what buildModel (model.ts) makes of the catalog and templates render. Types
// only, so that model.ts and the modules it uses (claims.ts, instance.ts) share them without
// importing each other.
import type { GlobalSettings } from '../settings.js';
import type { CheckTiming, Protocol } from './tags.js';

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
  host: { name: string; own: boolean; tagged: boolean; route: HttpRoute } | undefined;
  port: PortFrontend | undefined;
  /** Its own records and warnings (tags, addresses, duplicates, nowhere to route). */
  quarantined: Quarantined[];
  warnings: string[];
}
