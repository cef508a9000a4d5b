// The candidate config: the latest snapshot as a model, through the mass-removal guard, without the
// services bisection found guilty, rendered. Also the server-only part of a candidate: the running
// structure with the candidate's servers, which the Runtime API applies without waiting.
import type { Backend, Model } from '../model/model.js';
import type { HealthEntry } from '../consul/schemas.js';
import { IncrementalModel } from '../model/incremental.js';
import { IncrementalRenderer } from '../config/incremental-render.js';
import type { GlobalSettings } from '../settings.js';
import { finishConfig, type BuildResult } from '../config/build.js';
import type { RenderPaths } from '../config/render.js';
import type { TemplateSet } from '../config/templates.js';
import type { CatalogSnapshot } from '../catalog/source.js';
import type { PoolReconciler } from '../pool/reconciler.js';
import { withoutServers } from '../pool/model-adapter.js';
import { applyGuard, type GuardOptions, type Hold } from './guard.js';

export interface Candidate {
  /** The guarded model, guilty services left out. */
  model: Model;
  built: BuildResult;
  holds: Hold[];
  released: Hold[];
}

/** The model with only the services in `keep`, with their routes and frontends. */
export function onlyServices(model: Model, keep: ReadonlySet<string>): Model {
  return {
    ...model,
    backends: model.backends.filter((b) => keep.has(b.name)),
    httpRoutes: model.httpRoutes.filter((r) => keep.has(r.backend)),
    portFrontends: model.portFrontends.filter((f) => keep.has(f.backend)),
  };
}

export function withoutServices(model: Model, drop: ReadonlySet<string>): Model {
  if (drop.size === 0) return model;
  return onlyServices(model, new Set(model.backends.map((b) => b.name).filter((n) => !drop.has(n))));
}

/**
 * Whether two models differ only in servers (settings, frontends, routes and every backend's
 * definition equal). Backends are compared by identity first: the incremental model hands an
 * unchanged service's backend on as the same object, so at 10,000 services a change compares the
 * few it rebuilt, not 10,000 serializations.
 */
export function sameStructure(a: Model, b: Model): boolean {
  if (a.backends.length !== b.backends.length) return false;
  for (let i = 0; i < a.backends.length; i++) {
    const x = a.backends[i] as Backend;
    const y = b.backends[i] as Backend;
    if (x !== y && backendStructure(x) !== backendStructure(y)) return false;
  }
  const rest = (m: Model) => JSON.stringify({ settings: m.settings, httpRoutes: m.httpRoutes, portFrontends: m.portFrontends });
  return (a.settings === b.settings && a.httpRoutes === b.httpRoutes && a.portFrontends === b.portFrontends) || rest(a) === rest(b);
}

/** Each backend's definition without its servers, kept per backend object (models are never changed in place). */
const structures = new WeakMap<Backend, string>();

function backendStructure(b: Backend): string {
  let s = structures.get(b);
  if (s === undefined) {
    // The depool threshold is read by the pool rules, not written in the config.
    s = JSON.stringify({ ...b, servers: undefined, depoolThreshold: undefined });
    structures.set(b, s);
  }
  return s;
}

/**
 * The part of `next` that needs no reload: `applied`'s structure (settings, frontends, routes,
 * backends) with `next`'s servers in every backend whose definition is unchanged. Equal to `next`
 * when only servers changed.
 */
export function serverOnlyPart(applied: Model, next: Model): Model {
  const nextByName = new Map(next.backends.map((b) => [b.name, b]));
  const backends = applied.backends.map((b) => {
    const n = nextByName.get(b.name);
    // The same definition: `next`'s backend itself (its servers, and the object the renderer kept the text of).
    return n && (n === b || backendStructure(n) === backendStructure(b)) ? n : b;
  });
  return { ...applied, backends, quarantined: next.quarantined, warnings: next.warnings };
}

export class CandidateBuilder {
  templates: TemplateSet;
  /** Bumped whenever the templates change (part of the quarantine key). */
  templatesGeneration = 0;
  readonly #o: { settings: GlobalSettings; paths: RenderPaths; fdLimit: number | undefined; guard: GuardOptions; now: () => number; pool?: PoolReconciler | undefined };
  readonly #guardSince = new Map<string, number>();
  // Per-service model parts and per-backend texts kept between builds: a change costs what it
  // touches, and both are property-tested equal to a full buildModel and render.
  readonly #model = new IncrementalModel();
  readonly #renderer = new IncrementalRenderer();

  constructor(o: { settings: GlobalSettings; templates: TemplateSet; paths: RenderPaths; fdLimit: number | undefined; guard: GuardOptions; now: () => number; pool?: PoolReconciler | undefined }) {
    this.#o = o;
    this.templates = o.templates;
  }

  /** The entries of `services` in a snapshot's `entries`, found from the entries the last build kept (IncrementalModel.pick). */
  pick(entries: readonly HealthEntry[], services: ReadonlySet<string>): HealthEntry[] {
    return this.#model.pick(entries, services);
  }

  setTemplates(templates: TemplateSet): void {
    this.templates = templates;
    this.templatesGeneration += 1;
  }

  render(model: Model): BuildResult {
    return finishConfig({ model, templates: this.templates, paths: this.#o.paths, fdLimit: this.#o.fdLimit, renderer: this.#renderer });
  }

  build({ snapshot, applied, guilty }: { snapshot: CatalogSnapshot; applied: Model | undefined; guilty: ReadonlySet<string> }): Candidate {
    let model = withoutServices(this.#model.build({ entries: snapshot.entries, settings: this.#o.settings }), guilty);
    let previous = applied;
    const pool = this.#o.pool;
    if (pool) {
      // Pool states: decommissioned servers out, servers the depool threshold keeps back in, pool weights.
      model = pool.adjust(snapshot.entries, model, (service) => this.#model.entriesOf(service));
      // A decommission is an operator's decision, not a mass removal: the guard compares without those servers.
      if (previous) previous = withoutServers(previous, pool.decommissioned());
    }
    const g = applyGuard({ previous, next: model, nowMs: this.#o.now(), since: this.#guardSince, options: this.#o.guard });
    return { model: g.model, built: this.render(g.model), holds: g.holds, released: g.released };
  }
}
