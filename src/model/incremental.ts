// The model, rebuilt per service: a change to one service re-reads that service's entries only.
// Each service's part (`buildServicePart`) is kept while its entries are the same objects (a catalog
// source replaces the entries of the services it re-read, and only those); the parts are merged by
// `mergeParts`, the one definition of the claims across services that `buildModel` uses too. The
// merged model equals `buildModel` of the whole catalog (property test in
// test/config/incremental.property.test.ts), and unchanged services keep their backend objects, so
// the incremental renderer reuses their text.
import type { HealthEntry } from '../consul/schemas.js';
import type { GlobalSettings } from '../settings.js';
import { buildServicePart, mergeParts, type Backend, type Model, type ServicePart } from './model.js';
import { spliceOf } from './spliced-lists.js';

interface Part {
  entries: readonly HealthEntry[];
  part: ServicePart;
  /** What the part brings to the merge besides its servers (see `claims`), computed when first compared. */
  claims?: string;
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
  /** Each service's kept entries, in `#order` (the walk of `runs` reads them without a lookup per service). */
  #keptList: Array<readonly HealthEntry[]> = [];
  #orderIndex = new Map<string, number>();
  /** Bumped whenever `#keptList` changes (the moved runs found against it are then looked for again). */
  #keptGen = 0;
  /** The last merged model, and where each service's backend sits in it. */
  #merged: { model: Model; index: Map<string, number> } | undefined;
  /** How many parts with a backend ask for each host and port (see `#insert`). */
  #asked = new Map<string, number>();
  lastStats: IncrementalStats = { rebuilt: 0, reused: 0, patched: false };
  /** The entries array the kept entries are the runs of (set by `build`), while nothing else changed them. */
  #builtFrom: { entries: readonly HealthEntry[]; gen: number } | undefined;
  /** How many times the moved runs were taken from a source's splice rather than walked (for tests). */
  splicesTaken = 0;

  /** `buildModel({ entries, settings })`, rebuilding only the services whose entries changed. */
  build({ entries, settings }: { entries: readonly HealthEntry[]; settings: GlobalSettings }): Model {
    const model = this.#build(entries, settings);
    // The kept entries are now `entries`' runs, service by service.
    this.#builtFrom = { entries, gen: this.#keptGen };
    return model;
  }

  #build(entries: readonly HealthEntry[], settings: GlobalSettings): Model {
    // The kept services in the same order, some with other entries: only those are looked at.
    const moved = settings === this.#settings ? this.#movedRuns(entries) : undefined;
    if (moved) {
      const services = new Map([...moved].map(([service, [i, j]]) => [service, entries.slice(i, j)] as const));
      return this.buildByService({ services, settings, changed: services.keys() });
    }
    // Sources list entries service by service: a run equal to the entries kept for its service is
    // taken as they are (no array per service per change); entries in any other order are grouped.
    const at = this.runs(entries);
    if (!at) return this.#grouped(entries, settings);
    const runs = new Map<string, readonly HealthEntry[]>();
    for (const [service, [i, j]] of at) {
      const kept = this.#parts.get(service)?.entries;
      runs.set(service, kept && sameRun(kept, entries, i, j) ? kept : entries.slice(i, j));
    }
    return this.buildByService({ services: runs, settings });
  }

  #grouped(entries: readonly HealthEntry[], settings: GlobalSettings): Model {
    const byService = new Map<string, HealthEntry[]>();
    for (const e of entries) {
      const list = byService.get(e.Service.Service);
      if (list) list.push(e);
      else byService.set(e.Service.Service, [e]);
    }
    return this.buildByService({ services: byService, settings });
  }

  /** `serviceRuns(entries)` (cached per array). */
  runs(entries: readonly HealthEntry[]): ReadonlyMap<string, readonly [number, number]> | undefined {
    return serviceRuns(entries);
  }

  /**
   * The entries of `services` in `entries` (in the entries' order): the kept arrays for services
   * whose entries did not move, the runs of the others, when `entries` lists the kept services in
   * the same order (see `#movedRuns`); else picked from a scan of the runs (`entriesOfServices`).
   */
  pick(entries: readonly HealthEntry[], services: ReadonlySet<string>): HealthEntry[] {
    const moved = this.#movedRuns(entries);
    if (!moved) return entriesOfServices(entries, services);
    const wanted = [...services].filter((s) => moved.has(s) || this.#orderIndex.has(s)).sort((a, b) => (this.#orderIndex.get(a) as number) - (this.#orderIndex.get(b) as number));
    const out: HealthEntry[] = [];
    for (const service of wanted) {
      const run = moved.get(service);
      if (run) for (let i = run[0]; i < run[1]; i++) out.push(entries[i] as HealthEntry);
      else for (const e of this.#keptList[this.#orderIndex.get(service) as number] ?? []) out.push(e);
    }
    return out;
  }

  /**
   * When `entries` lists exactly the services kept by the last build, in the same order, each in
   * one run: the services whose run is not their kept entries, with where the run lies (the others'
   * entries are the kept arrays, entry for entry). Found with a pointer comparison per entry and a
   * property read only along the moved runs (and at a run's end when the next service moved);
   * undefined for anything else (a service added or gone, another order). Cached per array.
   */
  #movedRuns(entries: readonly HealthEntry[]): ReadonlyMap<string, readonly [number, number]> | undefined {
    const cached = movedOf.get(entries);
    if (cached?.length === entries.length && cached.gen === this.#keptGen) return cached.moved ?? undefined;
    const moved = this.#fromSplice(entries) ?? this.#walk(entries);
    movedOf.set(entries, { length: entries.length, gen: this.#keptGen, moved: moved ?? null });
    return moved;
  }

  /**
   * The moved runs of a list its source made from the list of the last build (see spliced-lists.ts):
   * only the services it put in again are looked at. Undefined when that does not hold, or when one
   * of them is new to the model or has no entries left (the walk then decides).
   */
  #fromSplice(entries: readonly HealthEntry[]): Map<string, readonly [number, number]> | undefined {
    const splice = spliceOf(entries);
    const built = this.#builtFrom;
    if (!splice || !built || splice.base !== built.entries || built.gen !== this.#keptGen) return undefined;
    const moved = new Map<string, readonly [number, number]>();
    for (const [service, [i, j]] of splice.runs) {
      const k = this.#orderIndex.get(service);
      if (k === undefined || i >= j) return undefined;
      const kept = this.#keptList[k] as readonly HealthEntry[];
      if (kept.length !== j - i || !sameRun(kept, entries, i, j)) moved.set(service, [i, j]);
    }
    this.splicesTaken++;
    return moved;
  }

  #walk(entries: readonly HealthEntry[]): Map<string, readonly [number, number]> | undefined {
    const order = this.#order;
    const keptList = this.#keptList;
    if (order.length === 0) return undefined;
    const n = entries.length;
    const moved = new Map<string, readonly [number, number]>();
    let pos = 0;
    for (let k = 0; k < order.length; k++) {
      const kept = keptList[k] as readonly HealthEntry[];
      let end = pos;
      const same = kept.length > 0 && pos + kept.length <= n && sameRun(kept, entries, pos, pos + kept.length);
      if (same) end = pos + kept.length;
      // The next service's first kept entry ends this run without a look inside it; anything else is read.
      const nextFirst = keptList[k + 1]?.[0];
      const service = order[k] as string;
      while (end < n && entries[end] !== nextFirst && (entries[end] as HealthEntry).Service.Service === service) end++;
      if (end === pos) return undefined;
      if (!same || end !== pos + kept.length) moved.set(service, [pos, end]);
      pos = end;
    }
    return pos === n ? moved : undefined;
  }

  /** The entries of `service` as of the last build: the same array while they are unchanged. */
  entriesOf(service: string): readonly HealthEntry[] | undefined {
    return this.#parts.get(service)?.entries;
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
      this.#keptList = [];
      this.#orderIndex = new Map();
      this.#keptGen++;
      this.#merged = undefined;
      this.#asked = new Map();
      this.#settings = settings;
    }
    const replaced: Array<{ service: string; before: Part }> = [];
    const addedServices: string[] = [];
    let rebuilt = 0;
    let removed = false;
    const visit = (service: string, entries: readonly HealthEntry[] | undefined): void => {
      const kept = this.#parts.get(service);
      if (entries === undefined) {
        if (kept) {
          this.#parts.delete(service);
          this.#ask(kept.part, -1);
          removed = true;
        }
        return;
      }
      if (kept && sameEntries(kept.entries, entries)) return;
      if (kept) {
        replaced.push({ service, before: kept });
        this.#ask(kept.part, -1);
      } else addedServices.push(service);
      const part = buildServicePart(service, entries, settings);
      this.#parts.set(service, { entries, part });
      this.#ask(part, 1);
      rebuilt++;
    };
    if (changed !== undefined) {
      for (const service of new Set(changed)) visit(service, services.get(service));
    } else {
      for (const [service, entries] of services) visit(service, entries);
      if (this.#parts.size > services.size) for (const service of [...this.#parts.keys()]) if (!services.has(service)) visit(service, undefined);
    }
    const added = addedServices.length > 0;
    if (added || removed || replaced.length) this.#keptGen++;
    if (added || removed) {
      this.#order = [...this.#parts.keys()].sort(cmp);
      this.#orderIndex = new Map(this.#order.map((service, i) => [service, i]));
      this.#keptList = this.#order.map((service) => (this.#parts.get(service) as Part).entries);
    } else {
      for (const { service } of replaced) this.#keptList[this.#orderIndex.get(service) as number] = (this.#parts.get(service) as Part).entries;
    }
    const patched = removed ? undefined : !added ? this.#patch(replaced) : replaced.length === 0 ? this.#insert(addedServices, settings) : undefined;
    this.lastStats = { rebuilt, reused: this.#parts.size - rebuilt, patched: patched !== undefined };
    if (patched) return patched;
    const model = mergeParts(this.#order.map((service) => (this.#parts.get(service) as Part).part), settings);
    this.#merged = { model, index: new Map(model.backends.map((b, i) => [b.service, i])) };
    return model;
  }

  /** Counts the host and port `part` asks the merge for (a part without a backend asks for nothing). */
  #ask(part: ServicePart, by: 1 | -1): void {
    if (!part.backend) return;
    const keys: string[] = [];
    if (part.host) keys.push(`host ${part.host.name}`);
    if (part.port) keys.push(`port ${part.port.port}`);
    for (const key of keys) {
      const n = (this.#asked.get(key) ?? 0) + by;
      if (n === 0) this.#asked.delete(key);
      else this.#asked.set(key, n);
    }
  }

  /**
   * The last merged model with the added services' backends, routes and ports put in their places,
   * when each of them stands alone: a backend named after its service (no other service's backend
   * can have that name: a name changed to fit haproxy.cfg gets a `:`, which a service name used as
   * is never has), no records or warnings of its own, a port that is not hapilot's, and no other
   * service asking for its host or port. Then the merge settles no claim differently, for them or for
   * any other service. A new service at 10,000 services otherwise merges every part again (64 ms of a
   * structural change). Undefined when it has to be merged again.
   */
  #insert(added: readonly string[], settings: GlobalSettings): Model | undefined {
    const merged = this.#merged;
    if (!merged) return undefined;
    const alone = (key: string) => this.#asked.get(key) === 1;
    const parts: ServicePart[] = [];
    for (const service of added) {
      const { part } = this.#parts.get(service) as Part;
      const { backend, host, port } = part;
      if (!backend || backend.name !== service || part.quarantined.length > 0 || part.warnings.length > 0) return undefined;
      if (host && !alone(`host ${host.name}`)) return undefined;
      if (port && (port.port === settings.httpPort || port.port === settings.statsPort || !alone(`port ${port.port}`))) return undefined;
      parts.push(part);
    }
    const { backends, httpRoutes, portFrontends } = merged.model;
    const next = { backends: [...backends], httpRoutes: [...httpRoutes], portFrontends: [...portFrontends] };
    for (const { service, backend, host, port } of parts) {
      insertSorted(next.backends, backend as Backend, (b) => cmp(b.service, service) < 0);
      if (host) insertSorted(next.httpRoutes, host.route, (r) => cmp(r.host, host.route.host) < 0);
      if (port) insertSorted(next.portFrontends, port, (f) => f.port < port.port);
    }
    const model = { ...merged.model, ...next };
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
      const after = this.#parts.get(service) as Part;
      if (claims(before) !== claims(after)) return undefined;
      const at = merged.index.get(service);
      const backend = after.part.backend;
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

/** The moved runs of an entries array, for the kept list they were found against. */
const movedOf = new WeakMap<readonly HealthEntry[], { length: number; gen: number; moved: ReadonlyMap<string, readonly [number, number]> | null }>();

/** Per entries array (a snapshot's are never changed once handed over; the length is checked all the same). */
const runsOf = new WeakMap<readonly HealthEntry[], { length: number; runs: ReadonlyMap<string, readonly [number, number]> | null }>();

/**
 * Where each service's entries lie in `entries` (`[from, to)`, in the order the services come), when
 * every service's entries are one run (sources list them service by service); undefined otherwise.
 * Found once per array (a snapshot's entries are looked up by the runtime-first path, the pool check
 * and the model build of the same sync).
 */
export function serviceRuns(entries: readonly HealthEntry[]): ReadonlyMap<string, readonly [number, number]> | undefined {
  const cached = runsOf.get(entries);
  let runs = cached?.length === entries.length ? cached.runs : undefined;
  if (runs === undefined) {
    const found = new Map<string, readonly [number, number]>();
    runs = found;
    for (let i = 0; i < entries.length;) {
      const service = (entries[i] as HealthEntry).Service.Service;
      let j = i + 1;
      while (j < entries.length && (entries[j] as HealthEntry).Service.Service === service) j++;
      if (found.has(service)) {
        runs = null;
        break;
      }
      found.set(service, [i, j]);
      i = j;
    }
    runsOf.set(entries, { length: entries.length, runs });
  }
  return runs ?? undefined;
}

/** The entries of `services` (in `entries`' order): from their runs when the entries come service by service. */
export function entriesOfServices(entries: readonly HealthEntry[], services: ReadonlySet<string>): HealthEntry[] {
  const runs = serviceRuns(entries);
  if (!runs) return entries.filter((e) => services.has(e.Service.Service));
  const spans: Array<readonly [number, number]> = [];
  for (const s of services) {
    const span = runs.get(s);
    if (span) spans.push(span);
  }
  spans.sort((a, b) => a[0] - b[0]);
  const out: HealthEntry[] = [];
  for (const [from, to] of spans) for (let i = from; i < to; i++) out.push(entries[i] as HealthEntry);
  return out;
}

/** What a service's part brings to the merge besides its servers. */
function claims(p: Part): string {
  const { backend, host, port, quarantined, warnings } = p.part;
  p.claims ??= JSON.stringify([backend?.name, host, port, quarantined, warnings]);
  return p.claims;
}

/** `kept` is `entries[from..to)`, entry for entry. */
function sameRun(kept: readonly HealthEntry[], entries: readonly HealthEntry[], from: number, to: number): boolean {
  if (kept.length !== to - from) return false;
  for (let i = from; i < to; i++) if (kept[i - from] !== entries[i]) return false;
  return true;
}

function sameEntries(a: readonly HealthEntry[], b: readonly HealthEntry[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Puts `x` into the sorted `xs` after every element `before` holds for (they come first). */
function insertSorted<T>(xs: T[], x: T, before: (y: T) => boolean): void {
  let lo = 0;
  let hi = xs.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (before(xs[mid] as T)) lo = mid + 1; else hi = mid;
  }
  xs.splice(lo, 0, x);
}
