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
// test/config/incremental.property.test.ts). The cut and the template analysis are in
// backend-cut.ts, the kept texts and their server lines in backend-pieces.ts.
import type { Backend, Model } from '../model/model.js';
import { cutBackends, scanTemplates, startsOwnSection } from './backend-cut.js';
import { BackendIndex, JoinedLines, Piece } from './backend-pieces.js';
import { configText, lazyServerLines, renderView, scanServerLines, type RenderPaths, type RenderResult } from './render.js';
import type { TemplateSet } from './templates.js';

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
  /** The last assembly: a render of the same texts gives the same objects back. */
  #assembled: { config: string; lines: JoinedLines; backends: readonly Backend[]; pieces: readonly Piece[] } | undefined;
  /** The backends' texts joined two by two up to the whole, for the assemblies after a full render. */
  #tree: TextTree | undefined;
  #index: BackendIndex | undefined;
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
      return { config, files, serverLines: lazyServerLines(config) };
    }
    const rootKey = this.#isolated ? '' : JSON.stringify({ ...view, backends: undefined });
    if (rootKey !== this.#rootKey) this.#reset();
    this.#rootKey = rootKey;

    // Which backends changed: same object (models are never mutated), or an equal one (a model the
    // pool rules copied), as when their text was made.
    const dirty: number[] = [];
    const pieces: Array<Piece | undefined> = [];
    // The last assembly's backend at the same place is most often this very object (no lookup).
    const last = this.#assembled;
    for (let i = 0; i < model.backends.length; i++) {
      const b = model.backends[i] as Backend;
      let piece = last?.backends[i] === b ? last.pieces[i] : this.#byObject.get(b);
      if (!piece) {
        const kept = this.#pieces.get(b.name);
        if (kept?.fits(b)) {
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
    const probe = view.backends.find((b) => this.#byObject.has(b) || this.#pieces.get(b.name)?.fits(b));
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
      return { config, files, serverLines: lazyServerLines(config) };
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
    const tail = last.endsWith('\n') ? '' : '\n';
    // The same texts as the last assembly: its config and lines, the very objects (the daemon then
    // knows it is the config HAProxy runs without reading 9 MB).
    const kept = this.#assembled;
    if (whole === undefined && kept?.lines.sameAs(this.#prefix, pieces, this.#suffix, tail)) {
      // These backends fit those texts: the next render looks at them first.
      this.#assembled = { ...kept, backends: model.backends };
      return { config: kept.config, files, serverLines: kept.lines };
    }
    // Joined by concatenation: no text is copied until someone reads the config (a reload's write
    // does; a server-only change, which writes the running config's bytes with the changed backends'
    // own, does not), so a change leaves no 9 MB string behind; and through a tree of the texts
    // joined two by two, so a change joins again only the pairs above its own texts.
    let config = whole;
    if (config === undefined) {
      this.#tree = this.#tree?.update(pieces) ?? new TextTree(pieces);
      config = this.#prefix + this.#tree.text + this.#suffix + tail;
    } else this.#tree = undefined;
    // Forget backends gone for good (a subset rendered during bisection keeps the others).
    if (this.#pieces.size > 2 * model.backends.length + 64) {
      const live = new Set(model.backends.map((b) => b.name));
      for (const name of this.#pieces.keys()) if (!live.has(name)) this.#pieces.delete(name);
    }
    // The backends' index of the last assembly when the names are the same (a server-only change).
    if (!this.#index?.fits(model.backends)) this.#index = new BackendIndex(model.backends.map((b) => b.name));
    const lines = new JoinedLines(model.backends, pieces, this.#prefixLines, this.#suffixLines, { prefix: this.#prefix, suffix: this.#suffix, tail }, this.#index, this.#tree?.lengths());
    this.#assembled = { config, lines, backends: model.backends, pieces };
    return { config, files, serverLines: lines };
  }

  #reset(): void {
    this.#prefix = '';
    this.#suffix = '';
    this.#prefixLines = new Map();
    this.#suffixLines = new Map();
    this.#defaults = [];
    this.#pieces = new Map();
    this.#byObject = new WeakMap();
    this.#assembled = undefined;
    this.#tree = undefined;
  }
}

/** Changed texts past this share of all: the tree is made again rather than updated. */
const TREE_REBUILD_SHARE = 0.125;

/**
 * The texts of some pieces joined two by two (a segment tree of V8 concatenations): `text` is all of
 * them in order. An update with a few pieces replaced joins again the pairs above those only (about
 * 14 per piece at 10,000), and keeps the text lengths for finding where each piece starts.
 */
class TextTree {
  readonly #pieces: Piece[];
  /** `nodes[k]` joins `nodes[2k]` and `nodes[2k + 1]`; the leaves start at `#leaves`. */
  readonly #nodes: string[];
  readonly #leaves: number;
  readonly #lengths: Float64Array;

  constructor(pieces: readonly Piece[]) {
    this.#pieces = [...pieces];
    let leaves = 1;
    while (leaves < pieces.length) leaves *= 2;
    this.#leaves = leaves;
    this.#nodes = new Array<string>(2 * leaves).fill('');
    this.#lengths = new Float64Array(pieces.length);
    for (let i = 0; i < pieces.length; i++) {
      const text = (pieces[i] as Piece).text;
      this.#nodes[leaves + i] = text;
      this.#lengths[i] = text.length;
    }
    for (let k = leaves - 1; k >= 1; k--) this.#nodes[k] = (this.#nodes[2 * k] as string) + (this.#nodes[2 * k + 1] as string);
  }

  get text(): string {
    return this.#nodes[1] ?? '';
  }

  /** A copy of each piece's text length (for JoinedLines, whose own they stay). */
  lengths(): Float64Array {
    return this.#lengths.slice();
  }

  /** This tree for `pieces` (changed in place when few of them are other pieces), or undefined when it must be made again. */
  update(pieces: readonly Piece[]): TextTree | undefined {
    if (pieces.length !== this.#pieces.length) return undefined;
    const moved: number[] = [];
    const limit = Math.max(16, pieces.length * TREE_REBUILD_SHARE);
    for (let i = 0; i < pieces.length; i++) {
      if (pieces[i] === this.#pieces[i]) continue;
      moved.push(i);
      if (moved.length > limit) return undefined;
    }
    for (const i of moved) {
      const piece = pieces[i] as Piece;
      this.#pieces[i] = piece;
      this.#lengths[i] = piece.text.length;
      let k = this.#leaves + i;
      this.#nodes[k] = piece.text;
      for (k >>= 1; k >= 1; k >>= 1) this.#nodes[k] = (this.#nodes[2 * k] as string) + (this.#nodes[2 * k + 1] as string);
    }
    return this;
  }
}
