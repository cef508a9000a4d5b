// What the incremental renderer keeps per backend: its rendered text, with its server lines scanned
// when first asked for, and all of them read as one map of server lines without copying.
import type { Backend } from '../model/model.js';
import { scanServerLines } from './render.js';

/**
 * A backend's rendered text, with the backend it was rendered from. Its server lines are scanned
 * when first asked for (a change asks for the changed backends' only).
 */
export class Piece {
  readonly #text: string;
  #lines: Map<string, string> | undefined;
  constructor(readonly backend: Backend, text: string, readonly defaults: readonly string[], lines?: Map<string, string>) {
    this.#text = text;
    this.#lines = lines;
  }

  get text(): string {
    return this.#text;
  }

  /** This text is `b`'s too: `b` is the backend it was rendered from, or equal to it (models are never mutated). */
  fits(b: Backend): boolean {
    return b === this.backend || sameValue(b, this.backend);
  }

  get lines(): Map<string, string> {
    this.#lines ??= scanServerLines(this.text, this.defaults).lines;
    return this.#lines;
  }
}

/**
 * Deep equality of plain data (what a model is made of), without serializing it: a model rebuilt
 * elsewhere (the pool rules copy backends) is compared field by field, stopping at the first difference.
 */
export function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object') return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!sameValue(a[i], b[i])) return false;
    return true;
  }
  if (Array.isArray(b)) return false;
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  for (const k of ka) {
    if (!Object.hasOwn(b, k) || !sameValue((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k])) return false;
  }
  return true;
}

/**
 * Where each backend is in a list of backends, by name, made on first use and shared by the renders
 * of backends with the same names in the same order (a server-only change): not a map of 10,000
 * names per render.
 */
export class BackendIndex {
  readonly names: readonly string[];
  #map: Map<string, number> | undefined;

  constructor(names: readonly string[]) {
    this.names = names;
  }

  /** Whether `backends` has these names, in this order. */
  fits(backends: readonly Backend[]): boolean {
    if (backends.length !== this.names.length) return false;
    for (let i = 0; i < backends.length; i++) if ((backends[i] as Backend).name !== this.names[i]) return false;
    return true;
  }

  indexOf(name: string): number | undefined {
    this.#map ??= new Map(this.names.map((n, i) => [n, i]));
    return this.#map.get(name);
  }
}

/** The text of a config around its backends' texts. */
export interface Around {
  readonly prefix: string;
  readonly suffix: string;
  /** A newline added at the end, or nothing. */
  readonly tail: string;
}

/** Server lines kept per backend, read as one map without copying 100,000 entries per render. */
export class JoinedLines implements ReadonlyMap<string, string> {
  readonly #backends: readonly Backend[];
  readonly #pieces: readonly Piece[];
  readonly #prefix: ReadonlyMap<string, string>;
  readonly #suffix: ReadonlyMap<string, string>;
  readonly #around: Around;
  readonly #index: BackendIndex;
  #size: number | undefined;
  /** `#starts[i]`: where `pieces[i]` starts in the config, once asked for. */
  #starts: Float64Array | undefined;
  /** The pieces' text lengths, when the renderer kept them (else read from the pieces). */
  readonly #lengths: Float64Array | undefined;

  /**
   * `pieces[i]`: the text of `backends[i]`; `prefix`, `suffix`: the lines of the text around them;
   * `around`: that text, and what ends the config (a newline, or nothing), when the config is
   * exactly `around.prefix`, the pieces' texts, `around.suffix` and `around.tail`.
   */
  constructor(backends: readonly Backend[], pieces: readonly Piece[], prefix: ReadonlyMap<string, string>, suffix: ReadonlyMap<string, string>, around: Around = { prefix: '', suffix: '', tail: '' }, index?: BackendIndex, lengths?: Float64Array) {
    this.#lengths = lengths?.length === pieces.length ? lengths : undefined;
    this.#backends = backends;
    this.#pieces = pieces;
    this.#prefix = prefix;
    this.#suffix = suffix;
    this.#around = around;
    this.#index = index ?? new BackendIndex(backends.map((b) => b.name));
  }

  /** Where the backend `name` is in these lines' backends. */
  indexOf(name: string): number | undefined {
    const i = this.#index.indexOf(name);
    return i !== undefined && this.#backends[i]?.name === name ? i : undefined;
  }

  /** The same pieces as `other`'s, in the same places, except at the indexes `except`. */
  samePiecesExcept(other: JoinedLines, except: ReadonlySet<number>): boolean {
    const a = this.#pieces;
    const b = other.#pieces;
    if (a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i] && !except.has(i)) return false;
    return true;
  }

  /** The text of the backend at `index`, when it is named `name`. */
  pieceAt(index: number, name: string): Piece | undefined {
    return this.#backends[index]?.name === name ? this.#pieces[index] : undefined;
  }

  /**
   * Where the text of the backend at `index` starts in the config assembled from these pieces, when
   * that backend is named `name`; else undefined.
   */
  textStart(index: number, name: string): number | undefined {
    if (this.#backends[index]?.name !== name) return undefined;
    if (!this.#starts) {
      // Once per render asked (the lengths of 10,000 texts added: microseconds, no search of the config).
      const starts = new Float64Array(this.#pieces.length);
      const lengths = this.#lengths;
      let at = this.#around.prefix.length;
      for (let i = 0; i < this.#pieces.length; i++) {
        starts[i] = at;
        at += lengths ? (lengths[i] as number) : (this.#pieces[i] as Piece).text.length;
      }
      this.#starts = starts;
    }
    return this.#starts[index];
  }

  /** These lines are of the config assembled from exactly these texts (the same pieces, in order). */
  sameAs(prefix: string, pieces: readonly Piece[], suffix: string, tail: string): boolean {
    const a = this.#around;
    if (pieces.length !== this.#pieces.length || a.tail !== tail || a.prefix !== prefix || a.suffix !== suffix) return false;
    for (let i = 0; i < pieces.length; i++) if (pieces[i] !== this.#pieces[i]) return false;
    return true;
  }

  /** The same text around the pieces as `other`'s (the same prefix, suffix and tail). */
  sameAround(other: JoinedLines): boolean {
    const a = this.#around;
    const b = other.#around;
    return a === b || (a.tail === b.tail && a.prefix === b.prefix && a.suffix === b.suffix);
  }

  /** How many backends (pieces) these lines hold. */
  get backendCount(): number {
    return this.#pieces.length;
  }

  /** Every part, in config order (scanning every backend's text not scanned yet). */
  *#parts(): Generator<ReadonlyMap<string, string>> {
    yield this.#prefix;
    for (const p of this.#pieces) yield p.lines;
    yield this.#suffix;
  }

  #partOf(key: string): ReadonlyMap<string, string> | undefined {
    // Most renders are never asked for a line, and a change asks for the lines of its own backends
    // (only their texts are scanned).
    const at = this.indexOf(key.slice(0, key.indexOf('/')));
    const own = at === undefined ? undefined : this.#pieces[at]?.lines;
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
