// The model, rebuilt per service: a change to one service re-reads that service's entries only.
// Each service's part is `buildModel` of that service alone, kept while its entries are the same
// objects (a catalog source replaces the entries of the services it re-read, and only those); the
// parts are then merged the way `buildModel` hands out names, hosts and ports across services: in
// service-name order, a later claimant is left out. The merged model equals `buildModel` of the
// whole catalog (property test in test/config/incremental.property.test.ts), and unchanged services
// keep their backend objects, so the incremental renderer reuses their text.
//
// model.ts stays the one definition of every rule: a service's part is its own `buildModel`, and
// the record of a service left out for a claim is `buildModel` of the two services concerned.
import type { HealthEntry } from '../consul/schemas.js';
import type { GlobalSettings } from '../settings.js';
import { buildModel, type Backend, type HttpRoute, type Model, type PortFrontend, type Quarantined } from './model.js';

interface Part {
  entries: readonly HealthEntry[];
  model: Model;
}

export interface IncrementalStats {
  /** Services whose part was built again. */
  rebuilt: number;
  reused: number;
  /** The merge was patched (changed services kept their claims) rather than redone. */
  patched: boolean;
}

export class IncrementalModel {
  #settings: GlobalSettings | undefined;
  #parts = new Map<string, Part>();
  /** Service names in order, kept while no service comes or goes. */
  #order: string[] = [];
  /** The last merged model, and where each service's backend sits in it. */
  #merged: { model: Model; index: Map<string, number> } | undefined;
  lastStats: IncrementalStats = { rebuilt: 0, reused: 0, patched: false };

  /** `buildModel({ entries, settings })`, rebuilding only the services whose entries changed. */
  build({ entries, settings }: { entries: readonly HealthEntry[]; settings: GlobalSettings }): Model {
    const byService = new Map<string, HealthEntry[]>();
    for (const e of entries) {
      const list = byService.get(e.Service.Service);
      if (list) list.push(e);
      else byService.set(e.Service.Service, [e]);
    }
    return this.buildByService({ services: byService, settings });
  }

  /**
   * The same, from entries already grouped by service name (no grouping of every entry). `changed`:
   * the services whose entries may differ from the last call (a source knows which it re-read); the
   * others are not even compared. Without it, every service's entries are compared (by identity).
   */
  buildByService({ services, settings, changed }: { services: ReadonlyMap<string, readonly HealthEntry[]>; settings: GlobalSettings; changed?: Iterable<string> }): Model {
    if (settings !== this.#settings) {
      this.#parts = new Map();
      this.#order = [];
      this.#merged = undefined;
      this.#settings = settings;
    }
    const replaced: Array<{ service: string; before: Part }> = [];
    let rebuilt = 0;
    let added = false;
    let removed = false;
    const visit = (service: string, entries: readonly HealthEntry[] | undefined): void => {
      const kept = this.#parts.get(service);
      if (entries === undefined) {
        if (kept) {
          this.#parts.delete(service);
          removed = true;
        }
        return;
      }
      if (kept && sameEntries(kept.entries, entries)) return;
      if (kept) replaced.push({ service, before: kept });
      else added = true;
      this.#parts.set(service, { entries, model: buildModel({ entries, settings: partSettings(settings) }) });
      rebuilt++;
    };
    if (changed !== undefined) {
      for (const service of new Set(changed)) visit(service, services.get(service));
    } else {
      for (const [service, entries] of services) visit(service, entries);
      if (this.#parts.size > services.size) for (const service of [...this.#parts.keys()]) if (!services.has(service)) visit(service, undefined);
    }
    if (added || removed) this.#order = [...this.#parts.keys()].sort();
    const patched = !added && !removed ? this.#patch(replaced) : undefined;
    this.lastStats = { rebuilt, reused: this.#parts.size - rebuilt, patched: patched !== undefined };
    if (patched) return patched;
    const model = merge(this.#order, this.#parts, settings);
    this.#merged = { model, index: new Map(model.backends.map((b, i) => [b.service, i])) };
    return model;
  }

  /**
   * The last merged model with the replaced services' new backends, when every one of them kept
   * its claims (backend name, host, port), its quarantine records and its warnings: then nothing
   * else in the merge can differ. Undefined when it has to be merged again.
   */
  #patch(replaced: ReadonlyArray<{ service: string; before: Part }>): Model | undefined {
    const merged = this.#merged;
    if (!merged) return undefined;
    if (replaced.length === 0) return merged.model;
    const backends = [...merged.model.backends];
    for (const { service, before } of replaced) {
      const after = (this.#parts.get(service) as Part).model;
      if (claims(before.model) !== claims(after)) return undefined;
      const at = merged.index.get(service);
      const backend = after.backends[0];
      if (backend === undefined) {
        if (at !== undefined) return undefined;
        continue;
      }
      if (at === undefined) return undefined; // left out for a claim before: merge again
      backends[at] = backend;
    }
    const model = { ...merged.model, backends };
    this.#merged = { model, index: merged.index };
    return model;
  }
}

/** What a service's part brings to the merge besides its servers. */
function claims(m: Model): string {
  const b = m.backends[0];
  return JSON.stringify([b?.name, m.httpRoutes, m.portFrontends, m.quarantined, m.warnings]);
}

/**
 * Settings for a service's own part: the ports hapilot's own frontends hold are claimed in the
 * merge, after the claims of earlier services (a service can lose its host to an earlier one
 * before its port is looked at). Port 0 is never a service's (tags take 1–65535).
 */
function partSettings(settings: GlobalSettings): GlobalSettings {
  return { ...settings, httpPort: 0, statsPort: 0 };
}

function sameEntries(a: readonly HealthEntry[], b: readonly HealthEntry[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** The parts as one model: `buildModel`'s claims across services, in service-name order. */
function merge(order: readonly string[], parts: ReadonlyMap<string, Part>, settings: GlobalSettings): Model {
  const quarantined: Quarantined[] = [];
  const warnings: string[] = [];
  const claimWarnings: string[] = [];
  const candidates: Array<{ service: string; backend: Backend; route: HttpRoute | undefined; port: PortFrontend | undefined; ownWarnings: number }> = [];
  for (const service of order) {
    const { model } = parts.get(service) as Part;
    for (const q of model.quarantined) quarantined.push(q);
    const backend = model.backends[0];
    // A service's own part ends with the claim-time warning about its backend name, which
    // buildModel gives after every service's own warnings.
    const named = backend !== undefined && backend.name !== backend.service;
    const own = named ? model.warnings.length - 1 : model.warnings.length;
    for (let i = 0; i < own; i++) warnings.push(model.warnings[i] as string);
    if (backend) candidates.push({ service, backend, route: model.httpRoutes[0], port: model.portFrontends[0], ownWarnings: own });
  }

  const nameOwner = new Map<string, string>();
  const hostOwner = new Map<string, string>();
  const portOwner = new Map<number, string>([[settings.httpPort, ''], [settings.statsPort, '']]);
  const backends: Backend[] = [];
  const httpRoutes: HttpRoute[] = [];
  const portFrontends: PortFrontend[] = [];
  for (const c of candidates) {
    const owner = nameOwner.get(c.backend.name) ?? (c.route && hostOwner.get(c.route.host)) ?? (c.port && portOwner.get(c.port.port));
    if (owner !== undefined) {
      // Left out for a claim: the record is buildModel's own, from the two services concerned (or
      // the service alone, for a port of hapilot's own frontends).
      const ownerEntries = owner === '' ? [] : (parts.get(owner) as Part).entries;
      const pair = buildModel({ entries: [...ownerEntries, ...(parts.get(c.service) as Part).entries], settings });
      quarantined.push(...pair.quarantined.filter((q) => q.service === c.service && q.instance === '*'));
      continue;
    }
    nameOwner.set(c.backend.name, c.service);
    const model = (parts.get(c.service) as Part).model;
    if (c.backend.name !== c.service) claimWarnings.push(...model.warnings.slice(c.ownWarnings));
    if (c.route) {
      hostOwner.set(c.route.host, c.service);
      httpRoutes.push(c.route);
    }
    if (c.port) {
      portOwner.set(c.port.port, c.service);
      portFrontends.push(c.port);
    }
    backends.push(c.backend);
  }
  httpRoutes.sort((a, b) => cmp(a.host, b.host));
  portFrontends.sort((a, b) => a.port - b.port);
  quarantined.sort((a, b) => cmp(a.service, b.service) || cmp(a.instance, b.instance) || cmp(a.tag ?? '', b.tag ?? ''));
  return { settings, backends, httpRoutes, portFrontends, quarantined, warnings: [...warnings, ...claimWarnings] };
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
