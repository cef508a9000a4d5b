// The pool decisions the reconciler keeps, per backend, and what each was made from: the engine's
// catalog and model and the pool records decided by the pure rules (rules.ts), changed in place so
// that a change costs the backends it touches. The reconciler (reconciler.ts) feeds it the pool
// records it watches in KV and hands HAProxy what moved since it was last applied.
import type { HealthEntry } from '../consul/schemas.js';
import type { Backend, Model } from '../model/model.js';
import type { PoolInstance } from './instances.js';
import type { DockerWeights } from './docker-weights.js';
import { backendInstances, poolInstancesFor, withBackendDecisions, withPoolDecisions } from './model-adapter.js';
import { cmp, decideBackend, decisionKey, invalidOf, poolLookups, type ApplyPoolInput, type BackendPoolSummary, type PoolDecisions, type PoolLookups, type ServerDecision } from './rules.js';
import type { PoolTable } from './table.js';
import type { PoolSnapshot } from './watch.js';

export interface DecisionStateOptions {
  defaultThreshold: number;
  includeWarning: boolean;
  /** The backend's own threshold; default: its HAPROXY.BACKEND.DEPOOL_THRESHOLD tag (`Backend.depoolThreshold`). */
  thresholdOf?: ((backend: Backend) => number | undefined) | undefined;
}

/** The part of a decision that shows in the config (the rest is admin state, applied at runtime). */
function sameInConfig(a: readonly ServerDecision[] | undefined, b: readonly ServerDecision[] | undefined): boolean {
  if (a === b) return true;
  if (!a || !b || a.length !== b.length) return false;
  return a.every((x, i) => {
    const y = b[i] as ServerDecision;
    return x.backend === y.backend && x.server === y.server && x.inConfig === y.inConfig && x.weight === y.weight && x.keptByThreshold === y.keptByThreshold;
  });
}

/** Whether the config's part of the decisions moved (every backend's, in order). */
function configChanged(before: ReadonlyMap<string, BackendState>, after: ReadonlyMap<string, BackendState>): boolean {
  const listed = (m: ReadonlyMap<string, BackendState>) => [...m].filter(([, st]) => st.decisions.length > 0);
  const a = listed(before);
  const b = listed(after);
  if (a.length !== b.length) return true;
  const bm = new Map(b);
  return a.some(([name, st]) => !sameInConfig(st.decisions, bm.get(name)?.decisions));
}

/** Every field of two decision lists equal (then the older objects are kept: unchanged backends compare by identity). */
function sameDecisions(a: readonly ServerDecision[], b: readonly ServerDecision[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i] as ServerDecision;
    const y = b[i] as ServerDecision;
    for (const k of Object.keys(x) as Array<keyof ServerDecision>) if (x[k] !== y[k]) return false;
    if (Object.keys(x).length !== Object.keys(y).length) return false;
  }
  return true;
}

function sameSummary(a: BackendPoolSummary | undefined, b: BackendPoolSummary | undefined): boolean {
  return a === b || (a !== undefined && b !== undefined && JSON.stringify(a) === JSON.stringify(b));
}

/**
 * What the reconciler keeps per backend, and what each part was computed from: a change costs the
 * backends it touches (a backend whose entries, model, pool table, threshold and previous decisions
 * are the same objects keeps its decisions and its adjusted backend).
 */
interface BackendState {
  /** Its service's entries and its quarantined service IDs, as the instances were made from them. */
  entries: readonly HealthEntry[];
  quarantined: string;
  /** The quarantined service IDs themselves. */
  ids: ReadonlySet<string> | undefined;
  /** What `decisions` were decided from (undefined: not decided for these entries yet). */
  inputs: { entries: readonly HealthEntry[]; quarantined: string; table: PoolTable; dockerWeights: DockerWeights | undefined; threshold: number | undefined; previous: readonly ServerDecision[] } | undefined;
  /** Sorted by server; empty for a backend without instances (and before the first decision). */
  decisions: readonly ServerDecision[];
  /** How many of them are inactive (left out of the config). */
  inactive: number;
  summary: BackendPoolSummary | undefined;
  /** The model's backend and the one `withPoolDecisions` makes of it with these decisions. */
  adjusted?: { from: Backend; decisions: readonly ServerDecision[]; entries: readonly HealthEntry[]; quarantined: string; out: Backend };
}

export class DecisionState {
  readonly #o: DecisionStateOptions;
  #pool: PoolSnapshot | undefined;
  #model: Model | undefined;
  /** Per backend name, the current instances and decisions (changed in place: a change costs the backends it touches). */
  #state = new Map<string, BackendState>();
  #lookups: { table: PoolTable; lookups: PoolLookups } | undefined;
  /** The decisions by backend (changed in place, with `#unapplied` keeping what HAProxy was given). */
  #byBackend: Map<string, readonly ServerDecision[]> | undefined;
  /** Backends came or went since `#byBackend` was made. */
  #namesMoved = false;
  /** The last model adjusted, under which pool records and quarantine list, and what was made of its backends. */
  #lastAdjust: { pool: PoolSnapshot; quarantined: Model['quarantined']; backends: readonly Backend[]; out: Backend[] } | undefined;
  /** Backends decided with their last decisions as an input, to be decided once more (see `#decide`). */
  readonly #unsettled = new Set<string>();
  /** The decisions as `applyPoolStates` would give them, assembled when asked for. */
  #assembled: PoolDecisions | undefined;
  #instancesList: PoolInstance[] | undefined;
  #decided = false;
  /**
   * The backends whose decisions moved since they were last applied to HAProxy, each with its
   * decisions as applied then (undefined: none): a reconcile asks HAProxy only about those.
   */
  #unapplied = new Map<string, readonly ServerDecision[] | undefined>();

  constructor(o: DecisionStateOptions) {
    this.#o = o;
  }

  /**
   * New pool records: decided at once for the model last adjusted (`decided` false before there is
   * one). `configMoved`: the config's part of the decisions moved, when there were decisions before.
   */
  takePool(snap: PoolSnapshot): { decided: boolean; configMoved: boolean } {
    const hadDecisions = this.#decided;
    // A copy: `#decide` changes the map in place (a KV change is rare; a catalog change is not).
    const before = new Map(this.#state);
    this.#pool = snap;
    const model = this.#model;
    if (!model) return { decided: false, configMoved: false };
    this.#decide(model.backends);
    return { decided: true, configMoved: hadDecisions && configChanged(before, this.#state) };
  }

  /** `backend/server` of every decommissioned server (pool state inactive): left out of the config on purpose. */
  decommissioned(): Set<string> {
    const out = new Set<string>();
    if (!this.#decided) return out;
    for (const st of this.#state.values()) if (st.inactive) for (const d of st.decisions) if (!d.inConfig) out.add(decisionKey(d.backend, d.server));
    return out;
  }

  /**
   * The engine's candidate build: decides for this catalog and model, and returns the model with
   * inactive servers left out, threshold-kept servers put back and pool weights. `entriesOf` gives a
   * service's entries (the same array while they are unchanged: then its instances are kept);
   * without it, `entries` are grouped by service.
   */
  adjust(entries: readonly HealthEntry[], model: Model, entriesOf?: (service: string) => readonly HealthEntry[] | undefined): Model {
    const few = entriesOf && this.#adjustChanged(model, entriesOf);
    if (few) return few;
    this.#lastAdjust = undefined;
    this.#model = model;
    this.#instances(model, entriesOf ?? grouped(entries));
    const pool = this.#pool;
    if (!pool) return model;
    this.#decide(model.backends);
    const backends = model.backends.map((b) => this.#adjusted(b));
    this.#lastAdjust = { pool, quarantined: model.quarantined, backends: model.backends, out: backends };
    return { ...model, backends };
  }

  /**
   * `adjust` when the model shares all but a few backend objects with the last one adjusted, under
   * the same pool records and quarantine list, and no backend waits for a decision made again with
   * its last decisions as the previous ones: only the other backends are looked at (a backend that
   * is the same object has the same entries, quarantine and threshold, so its inputs did not move).
   */
  #adjustChanged(model: Model, entriesOf: (service: string) => readonly HealthEntry[] | undefined): Model | undefined {
    const last = this.#lastAdjust;
    const pool = this.#pool;
    if (!last || !pool || last.pool !== pool || last.quarantined !== model.quarantined || last.backends.length !== model.backends.length || this.#unsettled.size > 0) return undefined;
    const changed: number[] = [];
    for (let i = 0; i < model.backends.length; i++) {
      const b = model.backends[i] as Backend;
      const was = last.backends[i] as Backend;
      if (b === was) continue;
      if (b.name !== was.name || !this.#state.has(b.name) || changed.length >= 64) return undefined;
      changed.push(i);
    }
    this.#model = model;
    const backends = changed.map((i) => model.backends[i] as Backend);
    this.#instancesOf(backends, model.quarantined, entriesOf);
    this.#decide(backends);
    const out = last.out.slice();
    for (const i of changed) out[i] = this.#adjusted(model.backends[i] as Backend);
    this.#lastAdjust = { pool, quarantined: model.quarantined, backends: model.backends, out };
    return { ...model, backends: out };
  }

  /** `#instances` for some backends whose names the state holds already. */
  #instancesOf(backends: readonly Backend[], quarantinedList: Model['quarantined'], entriesOf: (service: string) => readonly HealthEntry[] | undefined): void {
    const quarantined = quarantinedByService(quarantinedList);
    for (const b of backends) {
      const st = this.#movedInstances(b, quarantined, entriesOf);
      if (st) this.#state.set(b.name, st);
    }
    this.#assembled = undefined;
    this.#instancesList = undefined;
  }

  /**
   * What `adjust` would make of a part of the catalog (some services' entries and a model of their
   * backends), without taking it as the engine's state: for a fast path that renders a few services
   * alone and must agree with the full build.
   */
  preview(entries: readonly HealthEntry[], model: Model): Model {
    if (!this.#pool) return model;
    const instances = poolInstancesFor(entries, model);
    const byBackend = new Map<string, PoolInstance[]>();
    for (const i of instances) {
      const list = byBackend.get(i.backend);
      if (list) list.push(i);
      else byBackend.set(i.backend, [i]);
    }
    const input = this.#input(model);
    const servers: ServerDecision[] = [];
    for (const [backend, list] of byBackend) {
      const previous = this.#decided ? this.#state.get(backend)?.decisions : undefined;
      servers.push(...decideBackend(backend, list, { ...input, previous: previousMap(previous) }, this.#poolLookups()).servers);
    }
    return withPoolDecisions(model, { servers, backends: [], invalid: [] }, instances);
  }

  /** The rules' inputs besides instances and previous decisions. */
  #input(model: Model): Omit<ApplyPoolInput, 'instances'> {
    const pool = this.#pool;
    if (!pool) throw new Error('pool records not read yet');
    return {
      table: pool.table, dockerWeights: pool.dockerWeights, defaultThreshold: this.#o.defaultThreshold,
      includeWarning: this.#o.includeWarning,
      thresholds: new Map(model.backends.flatMap((b) => {
        const t = this.#threshold(b);
        return t === undefined ? [] : [[b.name, t] as const];
      })),
    };
  }

  #threshold(b: Backend): number | undefined {
    return this.#o.thresholdOf ? this.#o.thresholdOf(b) : b.depoolThreshold;
  }

  #poolLookups(): PoolLookups {
    const table = (this.#pool as PoolSnapshot).table;
    if (this.#lookups?.table !== table) this.#lookups = { table, lookups: poolLookups(table) };
    return this.#lookups.lookups;
  }

  /** Each backend's instances, kept while its service's entries and quarantined IDs are the same. */
  #instances(model: Model, entriesOf: (service: string) => readonly HealthEntry[] | undefined): void {
    const quarantined = quarantinedByService(model.quarantined);
    const changed = new Map<string, BackendState>();
    let sameNames = model.backends.length === this.#state.size;
    for (const b of model.backends) {
      if (!this.#state.has(b.name)) sameNames = false;
      const st = this.#movedInstances(b, quarantined, entriesOf);
      if (st) changed.set(b.name, st);
    }
    if (!sameNames) {
      // Backends came or went: a map of the model's backends only.
      this.#state = new Map(model.backends.map((b) => [b.name, changed.get(b.name) ?? (this.#state.get(b.name) as BackendState)]));
      this.#namesMoved = true;
      for (const name of this.#unsettled) if (!this.#state.has(name)) this.#unsettled.delete(name);
    } else for (const [name, st] of changed) this.#state.set(name, st);
    this.#assembled = undefined;
    this.#instancesList = undefined;
  }

  /**
   * `b`'s state with its service's current entries and quarantined IDs, not decided for them yet
   * (`#decide` does it, the previous decisions its input); undefined while both are the kept ones.
   */
  #movedInstances(b: Backend, quarantined: ReadonlyMap<string, Set<string>>, entriesOf: (service: string) => readonly HealthEntry[] | undefined): BackendState | undefined {
    const entries = entriesOf(b.service) ?? [];
    const ids = quarantined.get(b.service);
    const key = ids ? JSON.stringify([...ids]) : '';
    const kept = this.#state.get(b.name);
    if (kept && kept.entries === entries && kept.quarantined === key) return undefined;
    return { entries, quarantined: key, ids, inputs: undefined, decisions: kept?.decisions ?? [], inactive: kept?.inactive ?? 0, summary: kept?.summary };
  }

  /** Decides every one of `backends` whose inputs moved; the others keep their decisions (the same objects). */
  #decide(backends: readonly Backend[]): void {
    const pool = this.#pool;
    if (!pool) return;
    const lookups = this.#poolLookups();
    const includeWarning = this.#o.includeWarning;
    // The backends whose decisions are made again; the maps are copied only when there are some.
    const next = new Map<string, BackendState>();
    for (const b of backends) {
      const st = this.#state.get(b.name);
      if (!st) continue;
      // The previous decisions of this backend (none before its first decision: the same as no previous).
      const previous = st.decisions;
      const threshold = this.#threshold(b);
      const i = st.inputs;
      if (i && i.entries === st.entries && i.quarantined === st.quarantined && i.table === pool.table && i.dockerWeights === pool.dockerWeights && i.threshold === threshold && i.previous === previous) continue;
      let decisions: readonly ServerDecision[] = [];
      let summary: BackendPoolSummary | undefined;
      // The instances are made again when decided (a PoolInstance per server is not kept between changes).
      const instances = backendInstances(b.name, st.entries, st.ids);
      if (instances.length) {
        const input: Omit<ApplyPoolInput, 'instances'> = {
          table: pool.table, dockerWeights: pool.dockerWeights, defaultThreshold: this.#o.defaultThreshold, includeWarning,
          thresholds: threshold === undefined ? undefined : new Map([[b.name, threshold]]), previous: previousMap(previous),
        };
        const one = decideBackend(b.name, instances, input, lookups);
        decisions = one.servers;
        summary = one.summary;
      }
      // Equal to the previous ones: the same objects, so that the next build finds nothing moved.
      if (sameDecisions(previous, decisions)) decisions = previous;
      if (sameSummary(st.summary, summary)) summary = st.summary;
      // Kept while the inputs stay the same objects. The previous decisions are an input only through
      // an unreadable record (kept as it was) or the threshold keeping servers (the ones in rotation
      // before first): otherwise these decisions are what they would give as the previous ones too.
      // When they are an input, the next decision runs once more with these as the previous ones.
      const prevFree = (summary === undefined || summary.kept.length === 0) && !decisions.some((d) => d.poolSource === 'unreadable');
      const inputs = { entries: st.entries, quarantined: st.quarantined, table: pool.table, dockerWeights: pool.dockerWeights, threshold, previous: prevFree ? decisions : previous };
      if (inputs.previous !== decisions) this.#unsettled.add(b.name);
      else this.#unsettled.delete(b.name);
      next.set(b.name, { entries: st.entries, quarantined: st.quarantined, ids: st.ids, inputs, decisions, inactive: decisions.filter((d) => !d.inConfig).length, summary, adjusted: st.adjusted });
    }
    // (`#state` holds exactly the model's backends: `#instances` made it from this model.)
    for (const [name, st] of next) this.#state.set(name, st);
    const before = this.#byBackend;
    if (this.#namesMoved || !before) {
      const now = new Map([...this.#state].map(([name, st]) => [name, st.decisions] as const));
      for (const [name, ds] of now) if (before?.get(name) !== ds) this.#moved(name, before?.get(name));
      if (before) for (const [name, ds] of before) if (!now.has(name)) this.#moved(name, ds);
      this.#byBackend = now;
      this.#namesMoved = false;
    } else {
      for (const [name, st] of next) {
        if (before.get(name) !== st.decisions) this.#moved(name, before.get(name));
        before.set(name, st.decisions);
      }
    }
    this.#decided = true;
    this.#assembled = undefined;
  }

  /** Notes that `backend`'s decisions moved from `applied` (the first move since HAProxy was given them counts). */
  #moved(backend: string, applied: readonly ServerDecision[] | undefined): void {
    if (!this.#unapplied.has(backend)) this.#unapplied.set(backend, applied);
  }

  /** `b` with its decisions (withPoolDecisions for one backend), kept while both are the same objects. */
  #adjusted(b: Backend): Backend {
    const st = this.#state.get(b.name);
    if (!st) return b;
    if (st.adjusted?.from === b && st.adjusted.decisions === st.decisions && st.adjusted.entries === st.entries && st.adjusted.quarantined === st.quarantined) return st.adjusted.out;
    let ds: Map<string, ServerDecision> | undefined;
    if (st.decisions.length) ds = new Map(st.decisions.map((d) => [d.server, d]));
    // Instances only for servers the threshold puts back (the others come from the model).
    const inst = st.decisions.some((d) => d.keptByThreshold) ? new Map(backendInstances(b.name, st.entries, st.ids).map((i) => [i.server, i])) : new Map<string, PoolInstance>();
    const out = withBackendDecisions(b, ds, (server) => inst.get(server));
    st.adjusted = { from: b, decisions: st.decisions, entries: st.entries, quarantined: st.quarantined, out };
    return out;
  }

  /** The decisions, as `applyPoolStates` gives them for every instance (assembled once per decision). */
  decisions(): PoolDecisions | undefined {
    if (!this.#decided || !this.#pool) return undefined;
    if (!this.#assembled) {
      const names = [...this.#state.keys()].sort(cmp);
      const servers: ServerDecision[] = [];
      const backends: BackendPoolSummary[] = [];
      for (const name of names) {
        const st = this.#state.get(name) as BackendState;
        for (const d of st.decisions) servers.push(d);
        if (st.summary) backends.push(st.summary);
      }
      this.#assembled = { servers, backends, invalid: invalidOf(this.#pool.table, this.#pool.dockerWeights) };
    }
    return this.#assembled;
  }

  /**
   * The instances of every backend, or of `only`'s: a status of one backend (what `pool --wait` polls)
   * makes that backend's, not the 100,000 of a 10,000-service catalog.
   */
  instances(only?: ReadonlySet<string>): readonly PoolInstance[] {
    if (only) {
      return [...only].flatMap((name) => {
        const st = this.#state.get(name);
        return st ? backendInstances(name, st.entries, st.ids) : [];
      });
    }
    this.#instancesList ??= [...this.#state].flatMap(([name, st]) => backendInstances(name, st.entries, st.ids));
    return this.#instancesList;
  }

  /**
   * The decisions by backend, with those that moved since last taken and what HAProxy was given for
   * them then (given back with `giveBack` when HAProxy could not take them); undefined before any decision.
   */
  takeUnapplied(): { byBackend: ReadonlyMap<string, readonly ServerDecision[]>; unapplied: ReadonlyMap<string, readonly ServerDecision[] | undefined> } | undefined {
    const byBackend = this.#byBackend;
    if (!this.#decided || !byBackend) return undefined;
    const unapplied = this.#unapplied;
    this.#unapplied = new Map();
    return { byBackend, unapplied };
  }

  /** Backends taken with `takeUnapplied` that HAProxy did not get (what moved since stays newer). */
  giveBack(unapplied: ReadonlyMap<string, readonly ServerDecision[] | undefined>): void {
    for (const [name, ds] of unapplied) this.#moved(name, ds);
  }
}

/** The quarantined instance IDs of each service. */
function quarantinedByService(list: Model['quarantined']): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  for (const q of list) {
    const ids = out.get(q.service);
    if (ids) ids.add(q.instance);
    else out.set(q.service, new Set([q.instance]));
  }
  return out;
}

/** Entries grouped by service (arrays kept from call to call are what lets a backend keep its instances). */
function grouped(entries: readonly HealthEntry[]): (service: string) => readonly HealthEntry[] | undefined {
  const by = new Map<string, HealthEntry[]>();
  for (const e of entries) {
    const list = by.get(e.Service.Service);
    if (list) list.push(e);
    else by.set(e.Service.Service, [e]);
  }
  return (service) => by.get(service);
}

function previousMap(previous: readonly ServerDecision[] | undefined): ReadonlyMap<string, ServerDecision> | undefined {
  return previous && new Map(previous.map((d) => [decisionKey(d.backend, d.server), d]));
}
