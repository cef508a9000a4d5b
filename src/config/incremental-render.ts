// Incremental rendering: the bytes `render` would produce, re-rendering only the backends that
// changed. Each backend's text (one pass of the templates' `{{#each backends}}` body) is kept,
// keyed by its model; the rest of the config (global, defaults, frontends: everything around the
// backends) is rendered again every time, which costs the same whatever the number of services.
//
// It works from the template set's one entry point (`TemplateSet.render`), for any template set:
// - a full render is cut into backend sections at their `backend <name>` lines, and the cut is
//   proven on the first and last backend by rendering each alone (same text around, same text
//   inside); a template set whose backends cannot be cut that way (a loop over backends elsewhere,
//   `@index`, text shared between iterations) is rendered in full every time, as `render` does;
// - a changed backend is rendered alone (the view with only that backend) and its text is what
//   lies between the unchanged text around the backends;
// - a backend's text can depend on the rest of the view only through `../`, `@root` or block
//   parameters; when no template uses them, a change elsewhere (a host, a port frontend, settings)
//   keeps every backend's text; otherwise such a change renders everything again.
// The config, the referenced files and the server lines are equal to `render`'s (property test in
// test/config/incremental.property.test.ts).
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import Handlebars from 'handlebars';
import type { Backend, Model } from '../model/model.js';
import { configText, renderView, scanServerLines, SECTION, serverLines, type RenderPaths, type RenderResult } from './render.js';
import { MAIN_TEMPLATE, PARTIALS_DIR, type TemplateSet } from './templates.js';

export interface RenderStats {
  /** `incremental`: changed backends only; `full`: everything, then cut; `plain`: everything, uncuttable templates. */
  mode: 'incremental' | 'full' | 'plain';
  /** Backends rendered (alone, or all of them in a full render). */
  rendered: number;
  /** Backends whose kept text was used. */
  reused: number;
  /** Why the last render was not incremental. */
  reason: string | undefined;
}

/**
 * A backend's rendered text. Its server lines are scanned when first asked for (a change asks for
 * the changed backends' only), and its key when a backend object it was not made from is compared.
 */
class Piece {
  #lines: Map<string, string> | undefined;
  #key: string | undefined;
  constructor(readonly backend: Backend, readonly text: string, readonly defaults: readonly string[], lines?: Map<string, string>) {
    this.#lines = lines;
  }

  /** The backend's model as JSON: equal JSON, equal text (models are never mutated). */
  get key(): string {
    this.#key ??= JSON.stringify(this.backend);
    return this.#key;
  }

  get lines(): Map<string, string> {
    this.#lines ??= scanServerLines(this.text, this.defaults).lines;
    return this.#lines;
  }
}

/** A render with more changed backends than this share of all renders everything at once. */
const FULL_RENDER_SHARE = 0.1;

export class IncrementalRenderer {
  #templates: TemplateSet | undefined;
  /** Backend texts depend on their backend only (no `../`, `@root`, block parameters in any template). */
  #isolated = false;
  /** Why this template set cannot be cut into backends (then every render is plain). */
  #uncuttable: string | undefined;
  /** The rest of the view, for templates whose backend texts may read it. */
  #rootKey = '';
  #prefix = '';
  #suffix = '';
  #prefixLines = new Map<string, string>();
  #suffixLines = new Map<string, string>();
  /** `default-server` keywords of `defaults` sections before the backends. */
  #defaults: string[] = [];
  #pieces = new Map<string, Piece>();
  #byObject = new WeakMap<Backend, Piece>();
  /** The last host map, with the routes and paths it was rendered for. */
  #hostMap: { routes: Model['httpRoutes']; filesDir: string; file: RenderResult['files'][number] } | undefined;
  lastStats: RenderStats = { mode: 'full', rendered: 0, reused: 0, reason: 'first render' };

  render({ model, templates, paths }: { model: Model; templates: TemplateSet; paths: RenderPaths }): RenderResult {
    const kept = this.#hostMap;
    const sameRoutes = kept !== undefined && kept.filesDir === paths.filesDir && kept.routes.length === model.httpRoutes.length
      && model.httpRoutes.every((r, i) => r === kept.routes[i]);
    const { view, files } = renderView(model, paths, sameRoutes ? kept.file : undefined);
    if (!sameRoutes && files[0]) this.#hostMap = { routes: model.httpRoutes, filesDir: paths.filesDir, file: files[0] };
    if (templates !== this.#templates) {
      this.#reset();
      this.#templates = templates;
      const scan = scanTemplates(templates.dir);
      this.#isolated = scan.isolated;
      this.#uncuttable = scan.uncuttable;
    }
    if (this.#uncuttable !== undefined || model.backends.length === 0) {
      const reason = this.#uncuttable ?? 'no backends';
      const config = configText(templates.render(view));
      this.lastStats = { mode: 'plain', rendered: model.backends.length, reused: 0, reason };
      return { config, files, serverLines: serverLines(config) };
    }
    const rootKey = this.#isolated ? '' : JSON.stringify({ ...view, backends: undefined });
    if (rootKey !== this.#rootKey) this.#reset();
    this.#rootKey = rootKey;

    // Which backends changed: same object (models are never mutated), or same JSON, as when their
    // text was made.
    const dirty: number[] = [];
    const pieces: Array<Piece | undefined> = [];
    for (const [i, b] of model.backends.entries()) {
      let piece = this.#byObject.get(b);
      if (!piece) {
        const kept = this.#pieces.get(b.name);
        if (kept && kept.key === JSON.stringify(b)) {
          piece = kept;
          this.#byObject.set(b, kept);
        }
      }
      if (!piece) dirty.push(i);
      pieces.push(piece);
    }
    const tooMany = dirty.length > Math.max(16, model.backends.length * FULL_RENDER_SHARE);
    const reason = this.#pieces.size === 0 ? 'nothing kept yet' : tooMany ? `${dirty.length} of ${model.backends.length} backends changed` : this.#around(view);
    if (reason !== undefined) return this.#full(model, view, files, reason);

    for (const i of dirty) {
      const b = model.backends[i] as Backend;
      const alone = templates.render({ ...view, backends: [b] });
      if (!alone.startsWith(this.#prefix) || !alone.endsWith(this.#suffix) || alone.length < this.#prefix.length + this.#suffix.length) {
        return this.#full(model, view, files, `backend ${b.name} rendered alone does not fit between the text around the backends`);
      }
      const piece = this.#piece(b, alone.slice(this.#prefix.length, alone.length - this.#suffix.length));
      if (!piece) return this.#full(model, view, files, `backend ${b.name} rendered alone does not start its own section or changes the default-server of later sections`);
      pieces[i] = piece;
    }
    this.lastStats = { mode: 'incremental', rendered: dirty.length, reused: model.backends.length - dirty.length, reason: undefined };
    return this.#assemble(model, pieces as Piece[], files);
  }

  /**
   * Renders the view without backends: the text around the backends must be what was kept, or (for
   * isolated backends) is found again around a kept backend. Returns why a full render is needed.
   */
  #around(view: ReturnType<typeof renderView>['view']): string | undefined {
    const templates = this.#templates;
    if (!templates) return 'no templates';
    const empty = templates.render({ ...view, backends: [] });
    if (empty === this.#prefix + this.#suffix) return undefined;
    if (!this.#isolated) return 'the text around the backends changed';
    // Find where the backends go in the new text, with a kept backend as the probe: the one cut
    // that reproduces the probe rendered alone. More than one possible cut: render everything.
    const probe = view.backends.find((b) => this.#byObject.has(b) || this.#pieces.get(b.name)?.key === JSON.stringify(b));
    const piece = probe && (this.#byObject.get(probe) ?? this.#pieces.get(probe.name));
    if (!probe || !piece) return 'the text around the backends changed';
    const alone = templates.render({ ...view, backends: [probe] });
    if (alone.length !== empty.length + piece.text.length) return 'the text around the backends changed';
    // A cut p works when the text before it and the text after it are both unchanged.
    let common = 0;
    while (common < empty.length && empty.charCodeAt(common) === alone.charCodeAt(common)) common++;
    let commonEnd = 0;
    while (commonEnd < empty.length && empty.charCodeAt(empty.length - 1 - commonEnd) === alone.charCodeAt(alone.length - 1 - commonEnd)) commonEnd++;
    const cuts: number[] = [];
    for (let p = common; p >= empty.length - commonEnd && cuts.length < 2; p--) if (alone.startsWith(piece.text, p)) cuts.push(p);
    if (cuts.length !== 1) return 'the text around the backends changed and cannot be cut unambiguously';
    const cut = cuts[0] ?? 0;
    const prefix = empty.slice(0, cut);
    const before = scanServerLines(prefix, []);
    if (before.defaultsAfter.join(' ') !== this.#defaults.join(' ')) return 'the default-server keywords before the backends changed';
    this.#prefix = prefix;
    this.#suffix = empty.slice(cut);
    this.#prefixLines = before.lines;
    this.#suffixLines = scanServerLines(this.#suffix, this.#defaults).lines;
    return undefined;
  }

  /** Renders everything, cuts it into backends and proves the cut on the first and last one. */
  #full(model: Model, view: ReturnType<typeof renderView>['view'], files: RenderResult['files'], reason: string): RenderResult {
    const templates = this.#templates;
    if (!templates) throw new Error('IncrementalRenderer: no templates');
    this.#reset();
    const raw = templates.render(view);
    const config = configText(raw);
    const plain = (why: string): RenderResult => {
      this.#uncuttable = why;
      this.#reset();
      this.lastStats = { mode: 'plain', rendered: model.backends.length, reused: 0, reason: why };
      return { config, files, serverLines: serverLines(config) };
    };
    const cut = cutBackends(raw, model.backends.map((b) => b.name));
    if (typeof cut === 'string') return plain(cut);
    this.#prefix = raw.slice(0, cut.bounds[0]);
    this.#suffix = raw.slice(cut.bounds[cut.bounds.length - 1]);
    const before = scanServerLines(this.#prefix, []);
    this.#defaults = before.defaultsAfter;
    this.#prefixLines = before.lines;
    this.#suffixLines = scanServerLines(this.#suffix, this.#defaults).lines;
    const pieces: Piece[] = [];
    for (const [i, b] of model.backends.entries()) {
      const piece = this.#piece(b, raw.slice(cut.bounds[i], cut.bounds[i + 1]));
      if (!piece) return plain(`backend ${b.name} does not start its own section or changes the default-server of later sections`);
      pieces.push(piece);
    }
    // The proof of the cut: the first and the last backend rendered alone give the same text.
    for (const i of new Set([0, model.backends.length - 1])) {
      const b = model.backends[i];
      const piece = pieces[i];
      if (b && piece && templates.render({ ...view, backends: [b] }) !== this.#prefix + piece.text + this.#suffix) {
        return plain(`backend ${b.name} rendered alone differs from its text in the whole config (the templates use @index, @first, @last or text shared between backends)`);
      }
    }
    // The pieces are the config cut at increasing bounds: they add up to it (no second 10 MB join).
    const result = this.#assemble(model, pieces, files, config);
    // Scanned apart, the parts give the lines a scan of the whole gives when no part continues the
    // section before it (each backend's text starts its own section, and so does the text after them).
    if (!startsOwnSection(this.#suffix)) return plain('the text after the backends continues the last backend\'s section');
    this.lastStats = { mode: 'full', rendered: model.backends.length, reused: 0, reason };
    return result;
  }

  #piece(b: Backend, text: string): Piece | undefined {
    if (!startsOwnSection(text)) return undefined;
    // Only a `defaults` section can change the default-server keywords of the sections after it.
    let lines: Map<string, string> | undefined;
    if (/^defaults\b/m.test(text)) {
      const scan = scanServerLines(text, this.#defaults);
      if (scan.defaultsAfter.join(' ') !== this.#defaults.join(' ')) return undefined;
      lines = scan.lines;
    }
    const piece = new Piece(b, text, this.#defaults, lines);
    this.#pieces.set(b.name, piece);
    this.#byObject.set(b, piece);
    return piece;
  }

  #assemble(model: Model, pieces: Piece[], files: RenderResult['files'], whole?: string): RenderResult {
    // configText without flattening 10 MB to look at its last character.
    const last = [this.#suffix, ...(pieces.length ? [(pieces[pieces.length - 1] as Piece).text] : []), this.#prefix].find((t) => t.length > 0) ?? '';
    const config = whole ?? this.#prefix + pieces.map((p) => p.text).join('') + this.#suffix + (last.endsWith('\n') ? '' : '\n');
    // Forget backends gone for good (a subset rendered during bisection keeps the others).
    if (this.#pieces.size > 2 * model.backends.length + 64) {
      const live = new Set(model.backends.map((b) => b.name));
      for (const name of this.#pieces.keys()) if (!live.has(name)) this.#pieces.delete(name);
    }
    return { config, files, serverLines: new JoinedLines(model.backends, pieces, this.#prefixLines, this.#suffixLines) };
  }

  #reset(): void {
    this.#prefix = '';
    this.#suffix = '';
    this.#prefixLines = new Map();
    this.#suffixLines = new Map();
    this.#defaults = [];
    this.#pieces = new Map();
    this.#byObject = new WeakMap();
  }
}

/**
 * Where each backend's text starts (and where the last ends) in a rendered config: at the blank and
 * comment lines just before its `backend <name>` line. The backends must follow one another with no
 * other section between them. A string says why the config cannot be cut.
 */
export function cutBackends(text: string, names: readonly string[]): { bounds: number[] } | string {
  const headers: Array<{ kind: string; name: string; start: number }> = [];
  let triviaStart = -1;
  const content = /\S/g;
  // Lines are cut with indexOf; an indented line (most of them) is only looked at for content.
  for (let start = 0; start <= text.length;) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    const first = text.charCodeAt(start);
    if (first === 32 || first === 9) {
      content.lastIndex = start;
      const m = content.exec(text);
      if (m && m.index < end) triviaStart = -1;
      else if (triviaStart < 0) triviaStart = start;
    } else {
      const line = text.slice(start, end);
      const trimmed = line.trim();
      if (trimmed === '' || line.startsWith('#')) {
        if (triviaStart < 0) triviaStart = start;
      } else {
        const header = SECTION.exec(trimmed);
        if (header) headers.push({ kind: header[1] ?? '', name: header[2] ?? '', start: triviaStart < 0 ? start : triviaStart });
        triviaStart = -1;
      }
    }
    start = end + 1;
  }
  const first = headers.findIndex((h) => h.kind === 'backend' && h.name === names[0]);
  if (first < 0) return `backend ${names[0]} not found in the rendered config`;
  const bounds: number[] = [];
  for (const [i, name] of names.entries()) {
    const h = headers[first + i];
    if (!h || h.kind !== 'backend' || h.name !== name) return `the backends are not one run of sections in model order (expected backend ${name})`;
    bounds.push(h.start);
  }
  const next = headers[first + names.length];
  bounds.push(next ? next.start : text.length);
  return { bounds };
}

/** The first line that is neither blank nor a comment opens a section (or there is none). */
function startsOwnSection(text: string): boolean {
  for (let start = 0, n = 0; start <= text.length && n < 64; n++) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    const line = text.slice(start, end);
    start = end + 1;
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith('#')) continue;
    return !line.startsWith(' ') && !line.startsWith('\t') && SECTION.test(trimmed);
  }
  return !/\n[ \t]+[^\s#]/.test(text);
}

/**
 * What the body of the templates' `{{#each backends}}` reads (with the partials it calls): anything
 * but its backend (`../`, `@root`, block parameters: not isolated), or its position (`@index`,
 * `@first`, `@last`, `@key`: not cuttable). No such loop: not isolated.
 */
function scanTemplates(dir: string): { isolated: boolean; uncuttable: string | undefined } {
  const files = new Map<string, string>([['', path.join(dir, MAIN_TEMPLATE)]]);
  try {
    for (const f of readdirSync(path.join(dir, PARTIALS_DIR)).filter((x) => x.endsWith('.hbs')).sort()) files.set(f.slice(0, -'.hbs'.length), path.join(dir, PARTIALS_DIR, f));
  } catch {
    // no partials
  }
  const asts = new Map<string, unknown>();
  for (const [name, file] of files) {
    try {
      asts.set(name, Handlebars.parse(readFileSync(file, 'utf8')));
    } catch {
      return { isolated: false, uncuttable: undefined }; // loadTemplates parsed them already; a file changed since
    }
  }
  type Node = { type?: string; depth?: number; data?: boolean; parts?: unknown[]; original?: unknown; blockParams?: unknown[]; path?: Node; params?: Node[]; name?: Node; program?: Node; inverse?: Node };
  let isolated = true;
  let loops = 0;
  let uncuttable: string | undefined;
  const seenPartials = new Set<string>();
  // Inside a backends loop: everything it reads, partials included.
  const inside = (node: unknown, where: string): void => {
    if (node === null || typeof node !== 'object') return;
    const n = node as Node;
    if (n.type === 'PathExpression') {
      if ((n.depth ?? 0) > 0 || (n.data && n.parts?.[0] === 'root')) isolated = false;
      if (n.data && ['index', 'first', 'last', 'key'].includes(String(n.parts?.[0]))) uncuttable ??= `${where} uses @${String(n.parts?.[0])} in the backends loop`;
    }
    if (Array.isArray(n.blockParams) && n.blockParams.length) isolated = false;
    if ((n.type === 'PartialStatement' || n.type === 'PartialBlockStatement') && n.name?.type === 'PathExpression' && typeof n.name.original === 'string' && !seenPartials.has(n.name.original)) {
      seenPartials.add(n.name.original);
      const ast = asts.get(n.name.original);
      if (ast) inside(ast, `partial ${n.name.original}`);
      else isolated = false;
    }
    for (const v of Object.values(node)) {
      if (Array.isArray(v)) for (const x of v) inside(x, where);
      else if (v !== null && typeof v === 'object') inside(v, where);
    }
  };
  // Everywhere: find the backends loops.
  const find = (node: unknown, where: string): void => {
    if (node === null || typeof node !== 'object') return;
    const n = node as Node;
    const param = n.params?.[0];
    if (n.type === 'BlockStatement' && n.path?.original === 'each' && param?.type === 'PathExpression' && param.parts?.join('.') === 'backends' && ((param.depth ?? 0) === 0 || param.data)) {
      loops++;
      inside(n.program, where);
      inside(n.inverse, where);
      if (Array.isArray(n.program?.blockParams) && n.program.blockParams.length) isolated = false;
      return;
    }
    for (const v of Object.values(node)) {
      if (Array.isArray(v)) for (const x of v) find(x, where);
      else if (v !== null && typeof v === 'object') find(v, where);
    }
  };
  for (const [name, ast] of asts) find(ast, name === '' ? MAIN_TEMPLATE : `partial ${name}`);
  return { isolated: isolated && loops > 0, uncuttable };
}

/** Server lines kept per backend, read as one map without copying 100,000 entries per render. */
class JoinedLines implements ReadonlyMap<string, string> {
  readonly #backends: readonly Backend[];
  readonly #pieces: readonly Piece[];
  readonly #prefix: ReadonlyMap<string, string>;
  readonly #suffix: ReadonlyMap<string, string>;
  #byBackend: Map<string, Piece> | undefined;
  #size: number | undefined;

  /** `pieces[i]`: the text of `backends[i]`; `prefix`, `suffix`: the lines of the text around them. */
  constructor(backends: readonly Backend[], pieces: readonly Piece[], prefix: ReadonlyMap<string, string>, suffix: ReadonlyMap<string, string>) {
    this.#backends = backends;
    this.#pieces = pieces;
    this.#prefix = prefix;
    this.#suffix = suffix;
  }

  /** Every part, in config order (scanning every backend's text not scanned yet). */
  *#parts(): Generator<ReadonlyMap<string, string>> {
    yield this.#prefix;
    for (const p of this.#pieces) yield p.lines;
    yield this.#suffix;
  }

  #partOf(key: string): ReadonlyMap<string, string> | undefined {
    // Indexed on first use only: most renders are never asked for a line, and a change asks for the
    // lines of its own backends (only their texts are scanned).
    this.#byBackend ??= new Map(this.#backends.map((b, i) => [b.name, this.#pieces[i] as Piece]));
    const own = this.#byBackend.get(key.slice(0, key.indexOf('/')))?.lines;
    if (own?.has(key)) return own;
    if (this.#prefix.has(key)) return this.#prefix;
    if (this.#suffix.has(key)) return this.#suffix;
    for (const p of this.#parts()) if (p.has(key)) return p; // a template that puts sections of its own in a backend's text
    return undefined;
  }

  get size(): number {
    if (this.#size === undefined) {
      let n = 0;
      for (const p of this.#parts()) n += p.size;
      this.#size = n;
    }
    return this.#size;
  }

  get(key: string): string | undefined {
    return this.#partOf(key)?.get(key);
  }

  has(key: string): boolean {
    return this.#partOf(key) !== undefined;
  }

  forEach(fn: (value: string, key: string, map: ReadonlyMap<string, string>) => void): void {
    for (const [k, v] of this) fn(v, k, this);
  }

  *entries(): MapIterator<[string, string]> {
    for (const p of this.#parts()) yield* p.entries();
  }

  *keys(): MapIterator<string> {
    for (const p of this.#parts()) yield* p.keys();
  }

  *values(): MapIterator<string> {
    for (const p of this.#parts()) yield* p.values();
  }

  [Symbol.iterator](): MapIterator<[string, string]> {
    return this.entries();
  }
}
