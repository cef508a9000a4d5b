// Runtime-first: the server-only changes of a snapshot reach HAProxy in milliseconds. Only the
// services the snapshot names as changed are modeled and rendered, and only those whose backend
// keeps its definition, routes and frontends (and that the mass-removal guard lets through); their
// backend sections are spliced into the running config, which is written first, and the server
// operations go to the Runtime API. The full render that follows in the same sync checks the result
// and takes everything else the usual way.
import type { CatalogSnapshot } from '../catalog/source.js';
import type { HealthEntry } from '../consul/schemas.js';
import { buildModel, type Backend, type Model } from '../model/model.js';
import { entriesOfServices } from '../model/incremental.js';
import { render, serverLines as renderedServerLines, type RenderPaths } from '../config/render.js';
import type { BuildResult } from '../config/build.js';
import type { TemplateSet } from '../config/templates.js';
import { JoinedLines } from '../config/backend-pieces.js';
import type { ByteRope } from '../util/byte-rope.js';
import type { GlobalSettings } from '../settings.js';
import type { Applied } from './applied-state.js';
import { tripsGuard } from './guard.js';

export interface ServerOnlyChange {
  config: string;
  /**
   * `config` in UTF-8, spliced from the running config's bytes (the running config and the new
   * sections all ASCII); undefined when those bytes are not at hand or not ASCII.
   */
  bytes: ByteRope | undefined;
  model: Model;
  serverLines: ReadonlyMap<string, string>;
  /** The services whose servers changed. */
  services: string[];
  /** Their backends, as in `model`. */
  backends: Backend[];
}

const SECTION = /^(global|defaults|frontend|backend|listen|peers|resolvers|userlist|program|http-errors|ring|mailers|cache)(\s|$)/;

/** Whether the header line `<kind> <name>` starts at `at` (at a line start, the name whole). */
function headerIsAt(config: string, header: string, at: number): boolean {
  if (at < 0 || (at > 0 && config[at - 1] !== '\n') || !config.startsWith(header, at)) return false;
  const lineEnd = config.indexOf('\n', at);
  const rest = config.slice(at + header.length, lineEnd < 0 ? config.length : lineEnd);
  return rest.trimEnd() === '' || rest.startsWith(' ');
}

/**
 * Where the header line `<kind> <name>` starts, or -1: the first one from `hint` when there is one
 * there (a valid config names a section once), else the first in the config, found with indexOf (no
 * split of the whole config).
 */
function headerAt(config: string, kind: string, name: string, hint?: number): number {
  const header = `${kind} ${name}`;
  if (hint !== undefined && hint >= 0) {
    const at = config.indexOf(header, hint);
    if (headerIsAt(config, header, at)) return at;
  }
  for (let at = config.indexOf(header); at >= 0; at = config.indexOf(header, at + 1)) if (headerIsAt(config, header, at)) return at;
  return -1;
}

/**
 * Character offsets of a section (its header to its last line that is neither blank nor a comment,
 * newline included), or undefined. `hint`: where its header probably starts.
 */
export function sectionSpan(config: string, kind: string, name: string, hint?: number): { start: number; end: number } | undefined {
  const start = headerAt(config, kind, name, hint);
  if (start < 0) return undefined;
  let offset = config.indexOf('\n', start);
  let end = offset < 0 ? config.length : offset + 1;
  while (offset >= 0 && offset + 1 < config.length) {
    const from = offset + 1;
    const lineEnd = config.indexOf('\n', from);
    const line = config.slice(from, lineEnd < 0 ? config.length : lineEnd);
    if (SECTION.test(line)) break;
    // Blank and comment lines after a section's last line belong between sections.
    const t = line.trim();
    if (t !== '' && !t.startsWith('#')) end = lineEnd < 0 ? config.length : lineEnd + 1;
    offset = lineEnd;
  }
  return { start, end };
}

const definition = (b: Backend) => JSON.stringify({ ...b, servers: undefined });

/** The server-only part of `snapshot` for the services it names as changed, against what HAProxy runs; undefined when there is none. */
export function serverOnlyChange({ applied, snapshot, settings, templates, paths, maxRemovalRatio, pick = (services) => entriesOfServices(snapshot.entries, services), renderer }: {
  applied: Applied;
  snapshot: CatalogSnapshot;
  settings: GlobalSettings;
  templates: TemplateSet;
  paths: RenderPaths;
  maxRemovalRatio: number;
  /** The snapshot's entries of some services (default: from its runs). */
  pick?: (services: ReadonlySet<string>) => HealthEntry[];
  /**
   * The daemon's incremental renderer (CandidateBuilder.render), which rendered the running config:
   * the change is then that renderer's render of the new model, and its bytes the running ones with
   * the changed backends' texts replaced; without it, or when that does not hold, the changed
   * sections are rendered alone and spliced into the running text.
   */
  renderer?: (model: Model) => BuildResult;
}): ServerOnlyChange | undefined {
  const running = applied.model;
  if (!running || !snapshot.changed?.length) return undefined;
  const changed = new Set(snapshot.changed);
  const sub = buildModel({ entries: pick(changed), settings });
  // The running backends and routes of these services: one scan each, no map of every backend.
  const names = new Set(sub.backends.map((b) => b.name));
  const before = new Map<string, Backend>();
  const indexOf = new Map<string, number>();
  // Found through the running lines' index of backends when they are the renderer's; else one scan.
  const runningLines = applied.serverLines instanceof JoinedLines ? applied.serverLines : undefined;
  for (const name of names) {
    const i = runningLines?.indexOf(name);
    const b = i === undefined ? undefined : running.backends[i];
    if (b?.name === name && i !== undefined) {
      before.set(name, b);
      indexOf.set(name, i);
    }
  }
  // A name not found that way (a new service, other lines): one scan.
  if (before.size < names.size) {
    running.backends.forEach((b, i) => {
      if (!names.has(b.name)) return;
      before.set(b.name, b);
      indexOf.set(b.name, i);
    });
  }
  // Only services HAProxy already runs can change by their servers alone: a new service (a
  // structural change, a reload) is not looked at further; at 10,000 services indexing the running
  // routes for it cost 25-50 ms before the validation it waits for.
  if (before.size === 0) return undefined;
  const runningRoutes = routesOf(running, names);
  const subRoutes = routesOf(sub, names);
  const taken = new Map<string, Backend>();
  for (const next of sub.backends) {
    const prev = before.get(next.name);
    if (!prev || definition(prev) !== definition(next)) continue;
    if (runningRoutes.get(prev.name) !== subRoutes.get(next.name)) continue;
    if (tripsGuard(prev.servers.length, next.servers.length, maxRemovalRatio)) continue;
    if (JSON.stringify(prev.servers) === JSON.stringify(next.servers)) continue;
    taken.set(prev.name, { ...prev, servers: next.servers });
  }
  if (taken.size === 0) return undefined;
  const model: Model = { ...running, backends: running.backends.map((b) => taken.get(b.name) ?? b) };
  const through = renderer && throughRenderer({ applied, model, taken, indexOf, renderer });
  if (through) return { ...through, services: [...taken.keys()], backends: [...taken.values()] };
  // The changed backends rendered on their own, with the running settings: the same partials, the same lines.
  const mini = render({ model: { ...model, backends: [...taken.values()], httpRoutes: [], portFrontends: [] }, templates, paths });
  const spans: Array<{ into: { start: number; end: number }; section: string }> = [];
  for (const name of taken.keys()) {
    const from = sectionSpan(mini.config, 'backend', name);
    // Where the renderer put it, when the running lines are the renderer's (no search of 9 MB).
    const at = indexOf.get(name);
    const hint = at === undefined ? undefined : runningLines?.textStart(at, name);
    const into = sectionSpan(applied.config, 'backend', name, hint);
    if (!from || !into) return undefined;
    spans.push({ into, section: mini.config.slice(from.start, from.end) });
  }
  const { config, bytes } = splice(applied, spans);
  // The running lines with the changed backends' own: an overlay, not a copy of 100,000 lines.
  const known = !(applied.serverLines instanceof Map) || applied.serverLines.size > 0;
  const lines = new OverlayLines(known ? applied.serverLines : renderedServerLines(applied.config), new Set(taken.keys()), mini.serverLines);
  return { config, bytes, model, serverLines: lines, services: [...taken.keys()], backends: [...taken.values()] };
}

/**
 * The change as the renderer of the running config renders it: only the changed backends' texts
 * are new, so the new config is the running one with those texts replaced, and so are its bytes
 * (views of the running ones and the new texts: no 9 MB copy, no 9 MB text read). Undefined when
 * the running config is not that renderer's (its lines are not the renderer's, its bytes are not
 * kept or not ASCII), or when anything else came out different (the text around the backends, a
 * text that is not ASCII): the caller then splices the text.
 */
function throughRenderer({ applied, model, taken, indexOf, renderer }: {
  applied: Applied;
  model: Model;
  taken: ReadonlyMap<string, Backend>;
  indexOf: ReadonlyMap<string, number>;
  renderer: (model: Model) => BuildResult;
}): Omit<ServerOnlyChange, 'services' | 'backends'> | undefined {
  const running = applied.serverLines;
  const bytes = applied.bytes;
  // As many bytes as characters: ASCII, so offsets in the text are offsets in the bytes.
  if (!(running instanceof JoinedLines) || !bytes || bytes.length !== applied.config.length) return undefined;
  const built = renderer(model);
  const next = built.serverLines;
  if (!(next instanceof JoinedLines) || next.backendCount !== running.backendCount || !next.sameAround(running)) return undefined;
  const edits: Array<{ from: number; to: number; bytes: Buffer }> = [];
  const at = new Set<number>();
  for (const name of taken.keys()) {
    const i = indexOf.get(name);
    if (i !== undefined) at.add(i);
    const before = i === undefined ? undefined : running.pieceAt(i, name);
    const after = i === undefined ? undefined : next.pieceAt(i, name);
    const from = i === undefined ? undefined : running.textStart(i, name);
    if (!before || !after || from === undefined) return undefined;
    const own = Buffer.from(after.text);
    if (own.length !== after.text.length) return undefined;
    edits.push({ from, to: from + before.text.length, bytes: own });
  }
  // Every other backend's text is the very one the running config was made of.
  if (!next.samePiecesExcept(running, at)) return undefined;
  edits.sort((a, b) => a.from - b.from);
  const spliced = bytes.splice(edits);
  if (spliced.length !== built.config.length) return undefined;
  // The model as the splice gives it: the running one with these servers (its settings are those
  // the render used: the text around the backends is the running one).
  return { config: built.config, bytes: spliced, model, serverLines: next };
}

/** Each backend's HTTP routes and port frontends as JSON, per pair of lists (kept across server-only changes: indexed once). */
const routeIndex = new WeakMap<Model['httpRoutes'], WeakMap<Model['portFrontends'], Map<string, string>>>();

const NO_ROUTES = JSON.stringify([[], []]);

/** The HTTP routes and port frontends of each of `names` in `m`, as JSON, in the model's order. */
function routesOf(m: Model, names: ReadonlySet<string>): Map<string, string> {
  let byFrontends = routeIndex.get(m.httpRoutes);
  if (!byFrontends) routeIndex.set(m.httpRoutes, (byFrontends = new WeakMap()));
  let index = byFrontends.get(m.portFrontends);
  if (!index) byFrontends.set(m.portFrontends, (index = indexRoutes(m)));
  const all = index;
  return new Map([...names].map((name) => [name, all.get(name) ?? NO_ROUTES]));
}

function indexRoutes(m: Model): Map<string, string> {
  const by = new Map<string, [Model['httpRoutes'][number][], Model['portFrontends'][number][]]>();
  const of = (name: string) => {
    let lists = by.get(name);
    if (!lists) by.set(name, (lists = [[], []]));
    return lists;
  };
  for (const r of m.httpRoutes) of(r.backend)[0].push(r);
  for (const f of m.portFrontends) of(f.backend)[1].push(f);
  return new Map([...by].map(([name, lists]) => [name, JSON.stringify(lists)]));
}

/**
 * The running config with some sections replaced (spans of distinct sections, in any order), as
 * text and, when the running bytes are known and everything is ASCII (one byte per character, so
 * character offsets are byte offsets), as bytes copied from the running ones: writing the result
 * then encodes no 9 MB text, and the text itself is left a concatenation no one needs to flatten.
 */
function splice(applied: Applied, spans: Array<{ into: { start: number; end: number }; section: string }>): { config: string; bytes: ByteRope | undefined } {
  const base = applied.config;
  const ascii = applied.bytes !== undefined && applied.bytes.length === base.length ? applied.bytes : undefined;
  spans.sort((a, b) => a.into.start - b.into.start);
  let config = '';
  let edits: Array<{ from: number; to: number; bytes: Buffer }> | undefined = ascii ? [] : undefined;
  let at = 0;
  for (const { into, section } of spans) {
    config += base.slice(at, into.start) + section;
    const own = edits && Buffer.from(section);
    // A section that is not ASCII: the text alone (its writer encodes it).
    if (edits && own?.length === section.length) edits.push({ from: into.start, to: into.end, bytes: own });
    else edits = undefined;
    at = into.end;
  }
  config += base.slice(at);
  return { config, bytes: ascii && edits ? ascii.splice(edits) : undefined };
}

/** How many overlays may stack before one is read into a map of its own (each lookup walks the stack). */
const MAX_OVERLAY_DEPTH = 8;

/**
 * Server lines keyed `backend/server`: those of `base`, except that the backends in `replaced` have
 * exactly their lines in `own` (a line of another backend in `own` is not taken). Read as one map,
 * without copying `base`.
 */
export class OverlayLines implements ReadonlyMap<string, string> {
  readonly #base: ReadonlyMap<string, string>;
  readonly #replaced: ReadonlySet<string>;
  readonly #own: Map<string, string>;
  readonly depth: number;
  #size: number | undefined;

  constructor(base: ReadonlyMap<string, string>, replaced: ReadonlySet<string>, own: ReadonlyMap<string, string>) {
    this.#own = new Map();
    for (const [key, line] of own) if (replaced.has(backendOf(key))) this.#own.set(key, line);
    const depth = base instanceof OverlayLines ? base.depth + 1 : 0;
    if (depth >= MAX_OVERLAY_DEPTH) {
      this.#base = new Map(base);
      this.depth = 0;
    } else {
      this.#base = base;
      this.depth = depth;
    }
    this.#replaced = replaced;
  }

  get size(): number {
    if (this.#size === undefined) {
      let n = 0;
      for (const _ of this.keys()) n++;
      this.#size = n;
    }
    return this.#size;
  }

  get(key: string): string | undefined {
    return this.#replaced.has(backendOf(key)) ? this.#own.get(key) : this.#base.get(key);
  }

  has(key: string): boolean {
    return this.#replaced.has(backendOf(key)) ? this.#own.has(key) : this.#base.has(key);
  }

  forEach(fn: (value: string, key: string, map: ReadonlyMap<string, string>) => void): void {
    for (const [k, v] of this) fn(v, k, this);
  }

  *entries(): MapIterator<[string, string]> {
    for (const [k, v] of this.#base) if (!this.#replaced.has(backendOf(k))) yield [k, v];
    yield* this.#own;
  }

  *keys(): MapIterator<string> {
    for (const [k] of this.entries()) yield k;
  }

  *values(): MapIterator<string> {
    for (const [, v] of this.entries()) yield v;
  }

  [Symbol.iterator](): MapIterator<[string, string]> {
    return this.entries();
  }
}

function backendOf(key: string): string {
  return key.slice(0, key.indexOf('/'));
}
