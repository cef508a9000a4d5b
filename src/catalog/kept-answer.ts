// The checks list kept in one buffer, each new answer compared with it as it arrives (~32 MB at
// 10,000 services × 10 instances, on every change). Decoding an answer against the previous one
// (checks-body.ts) needs the previous bytes; receiving the new answer whole beside them held two
// copies of the list (74 MB of buffers at 10,000 services). Here the new answer is not stored where
// it equals the kept one: Consul writes the list in the same order every time, so while the bytes
// agree (native compares, a block at a time) nothing is kept; where they part, the bytes are kept
// from the start of the element they part in, and each element that completes is looked for among
// the kept answer's next elements (MATCH_WINDOW). Once one is found byte for byte, the answers agree
// again at a new offset and nothing more is kept until they part again. What is kept is the changed
// elements, in regions; when the answer ends, each region is parsed on its own and written into
// the kept buffer in place (the kept stretches between regions moved once each).
// Anything that does not line up (no kept answer, a difference outside the elements, a region
// that does not parse into whole elements) is decoded whole, from a buffer holding the new answer.
import { Writable } from 'node:stream';
import { decodeArray, elementStarts, shiftedInto, BACKSLASH, CLOSE, OPEN, QUOTE, type ArrayBody, type ParseArray } from './checks-body.js';
import { lowerBound } from '../util/sorted.js';

const MIN_CAPACITY = 64 * 1024;
/** Room left above an answer for the next ones to grow into. */
const HEADROOM = 1.125;
/** A buffer more than this much above its answer (and SHRINK_SLACK) is replaced by one of the answer's size. */
const SHRINK_ABOVE = 1.25;
const SHRINK_SLACK = 1024 * 1024;
/** Kept elements, from the first one not yet matched, that a new element is compared with. */
const MATCH_WINDOW = 1024;
/**
 * New elements of one region looked for among the kept ones: past this many unmatched, the rest of
 * the answer is kept as it comes (a change that large is decoded as one stretch, or whole).
 */
const MATCH_TRIES = 2048;
/** Stretches that differ, past which the answer is decoded whole (each realignment moves on by an element or more). */
const MAX_REGIONS = 4096;
const CLOSE_ARRAY = 0x5d;
const OPEN_ARRAY = 0x5b;

/** The new answer decoded against the kept one: in each region, kept elements [from, to) are replaced by `items`. */
export interface PendingDecode<T> {
  /** Ascending and apart; none when the answers are the same. */
  regions: Array<{ from: number; to: number; items: T[] }>;
  /** Bytes parsed (the whole answer when it could not be decoded against the kept one). */
  parsedBytes: number;
  /** Makes the new answer the kept one (in place when it fits) and gives its body. Once. */
  commit(): ArrayBody;
}

/** A buffer that grows by half when full. */
class Growing {
  buffer: Buffer;
  length = 0;

  constructor(capacity: number) {
    this.buffer = Buffer.allocUnsafeSlow(Math.max(MIN_CAPACITY, capacity));
  }

  append(bytes: Buffer, from = 0, to = bytes.length): void {
    const n = to - from;
    if (this.length + n > this.buffer.length) {
      const next = Buffer.allocUnsafeSlow(Math.max(this.length + n, Math.ceil(this.buffer.length * 1.5)));
      this.buffer.copy(next, 0, 0, this.length);
      this.buffer = next;
    }
    bytes.copy(this.buffer, this.length, from, to);
    this.length += n;
  }

  view(): Buffer {
    return this.buffer.subarray(0, this.length);
  }
}

/** Bytes below which the first difference is looked for byte by byte. */
const BYTEWISE = 64;

/**
 * Index of the first byte where a[aAt…] and b[bAt…] differ within n bytes (n when none does). A
 * chunk that agrees whole (nearly every one) is one native compare; one that does not is halved
 * until the half holding the first difference is short. (Compared 4 KB at a time, a 32 MB answer
 * took 8,000 calls, about 7 ms per change at 10,000 services.)
 */
export function mismatch(a: Buffer, aAt: number, b: Buffer, bAt: number, n: number): number {
  if (n <= 0 || a.compare(b, bAt, bAt + n, aAt, aAt + n) === 0) return Math.max(0, n);
  // The first difference is in [lo, hi).
  let lo = 0;
  let hi = n;
  while (hi - lo > BYTEWISE) {
    const mid = lo + ((hi - lo) >>> 1);
    if (a.compare(b, bAt + lo, bAt + mid, aAt + lo, aAt + mid) === 0) lo = mid;
    else hi = mid;
  }
  while (lo < hi && a[aAt + lo] === b[bAt + lo]) lo++;
  return lo;
}

/** The answer kept (one buffer with room to grow) and the sinks new answers are received into. */
export class KeptAnswer {
  #buffer: Buffer = Buffer.allocUnsafeSlow(0);
  #body: ArrayBody | undefined;
  /** Bumped by each `open`: a sink of an earlier generation is stale. */
  #generation = 0;

  /** The kept answer (a view of the buffer), if any. */
  get body(): ArrayBody | undefined {
    return this.#body;
  }

  /** Bytes held: the buffer's capacity (for tests and memory accounting). */
  get capacity(): number {
    return this.#buffer.length;
  }

  /** A sink for the next answer, compared with the kept one as it arrives. */
  open(): AnswerPatch {
    this.#generation += 1;
    return new AnswerPatch(this, this.#body, this.#buffer, this.#generation);
  }

  /** @internal */
  isCurrent(generation: number): boolean {
    return generation === this.#generation;
  }

  /** @internal The kept answer from now on: `bytes` (a view of `buffer`). */
  adopt(buffer: Buffer, body: ArrayBody): ArrayBody {
    const used = body.bytes.length;
    if (buffer.length > SHRINK_ABOVE * used + SHRINK_SLACK) {
      const fitted = Buffer.allocUnsafeSlow(Math.max(MIN_CAPACITY, Math.ceil(used * HEADROOM)));
      body.bytes.copy(fitted);
      buffer = fitted;
      body = { ...body, bytes: fitted.subarray(0, used) };
    }
    this.#buffer = buffer;
    this.#body = body;
    this.#generation += 1; // sinks opened against the previous body are stale
    return body;
  }
}

/** Kept elements [from, to) replaced by `bytes` (whole elements, each followed by its comma, or the answer's end). */
interface Region {
  from: number;
  to: number;
  bytes: Buffer;
}

/** A kept stretch [from, to) that moves by `shift` in the new answer. */
interface Gap {
  from: number;
  to: number;
  shift: number;
}

type Mode = 'prefix' | 'aligned' | 'diff' | 'whole';

/**
 * One answer being received (a writable stream for the HTTP client to pipe into, with `head` for an
 * error answer's text). `decode` once it has ended.
 */
export class AnswerPatch extends Writable {
  readonly #owner: KeptAnswer;
  readonly #kept: ArrayBody | undefined;
  readonly #keptBuffer: Buffer;
  readonly #generation: number;
  #head = Buffer.alloc(0);
  #mode: Mode;
  /** New-answer offset of the next byte to look at. */
  #at = 0;
  /** New-answer offset minus kept-answer offset where they agree (prefix, aligned). */
  #delta = 0;
  readonly #regions: Region[] = [];
  /** diff: the open region replaces kept elements from this one on. */
  #openFrom = 0;
  /** diff: new-answer offset of the open region's first byte. */
  #openAt = 0;
  /** diff: the open region's bytes; whole: the whole answer's. */
  #bytes: Growing | undefined;
  /** diff: scan state over #bytes. */
  #scan = { at: 0, depth: 0, inString: false, escaped: false, element: -1, closed: false, tries: 0 };

  constructor(owner: KeptAnswer, kept: ArrayBody | undefined, keptBuffer: Buffer, generation: number) {
    // Writes complete at once: a high-water mark above any answer keeps the piping response from pausing.
    super({ decodeStrings: true, highWaterMark: 1 << 30 });
    this.#owner = owner;
    this.#kept = kept && kept.starts.length > 0 ? kept : undefined;
    this.#keptBuffer = keptBuffer;
    this.#generation = generation;
    this.#mode = this.#kept ? 'prefix' : 'whole';
    if (!this.#kept) this.#bytes = new Growing(kept ? kept.bytes.length * HEADROOM : 0);
  }

  /** Bytes this answer holds beside the kept one (the parts that differ; all of it when decoded whole). */
  get heldBytes(): number {
    return (this.#bytes?.length ?? 0) + this.#regions.reduce((n, r) => n + r.bytes.length, 0);
  }

  /** The first bytes received (an error answer's text). */
  head(): Buffer {
    return this.#head;
  }

  /** A newer answer was opened, or another one kept: this one's comparison is void. */
  get stale(): boolean {
    return !this.#owner.isCurrent(this.#generation);
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (err?: Error | null) => void): void {
    this.accept(chunk);
    callback();
  }

  /** Takes the next bytes of the answer at once, copying what it keeps: `chunk` may be reused after the call (raw-get.ts). */
  accept(chunk: Buffer): void {
    if (this.#head.length < 4096) this.#head = Buffer.concat([this.#head, chunk.subarray(0, 4096 - this.#head.length)]);
    if (!this.stale) this.#take(chunk, 0);
  }

  #take(chunk: Buffer, at: number): void {
    while (at < chunk.length) {
      if (this.#mode === 'whole') {
        (this.#bytes as Growing).append(chunk, at);
        this.#at += chunk.length - at;
        return;
      }
      if (this.#mode === 'diff') {
        const bytes = this.#bytes as Growing;
        bytes.append(chunk, at);
        this.#at += chunk.length - at;
        const leftover = this.#scanForMatch();
        if (!leftover) return;
        chunk = leftover;
        at = 0;
        continue;
      }
      // prefix, aligned: compared with the kept bytes at the same place.
      const kept = (this.#kept as ArrayBody).bytes;
      const keptAt = this.#at - this.#delta;
      const n = chunk.length - at;
      const m = mismatch(chunk, at, kept, keptAt, Math.max(0, Math.min(n, kept.length - keptAt)));
      this.#at += m;
      at += m;
      if (m === n) return;
      this.#diverge(keptAt + m);
    }
  }

  /** The answers part at kept offset `q` (kept.length: the kept answer ended first). */
  #diverge(q: number): void {
    const kept = this.#kept as ArrayBody;
    const f = lowerBound(kept.starts, q + 1) - 1;
    if (f < 0) return this.#toWhole(); // before the first element: the bracket
    const start = kept.starts[f] as number;
    this.#mode = 'diff';
    this.#openFrom = f;
    this.#openAt = start + this.#delta;
    this.#bytes = new Growing(0);
    this.#bytes.append(kept.bytes, start, q);
    this.#scan = { at: 0, depth: 0, inString: false, escaped: false, element: -1, closed: false, tries: 0 };
  }

  /** Everything received so far (kept bytes up to the divergence) into one buffer; the rest appended as it comes. */
  #toWhole(): void {
    const whole = new Growing(Math.ceil((this.#kept?.bytes.length ?? 0) * HEADROOM));
    this.#materialize(whole, this.#at);
    this.#bytes = whole;
    this.#mode = 'whole';
  }

  /**
   * The new answer's first `end` bytes (all received) appended to `out`: the kept bytes, the regions
   * closed, the agreeing stretches between them, and the open region (diff).
   */
  #materialize(out: Growing, end: number): void {
    const kept = this.#kept as ArrayBody;
    let keptAt = 0; // kept offset of the next byte
    let newAt = 0;
    for (const r of this.#regions) {
      const start = kept.starts[r.from] as number;
      out.append(kept.bytes, keptAt, start);
      out.append(r.bytes);
      newAt += start - keptAt + r.bytes.length;
      keptAt = r.to < kept.starts.length ? (kept.starts[r.to] as number) : kept.bytes.length;
    }
    if (this.#mode === 'diff') {
      const start = kept.starts[this.#openFrom] as number;
      out.append(kept.bytes, keptAt, start);
      out.append((this.#bytes as Growing).buffer, 0, (this.#bytes as Growing).length);
    } else {
      out.append(kept.bytes, keptAt, keptAt + (end - newAt));
    }
  }

  /**
   * Scans the open region's new bytes for whole elements and looks for each among the kept elements
   * not yet matched. On a match, the region closes before it and the bytes from it on (already
   * received) are returned, to be compared with the kept answer from that element on.
   */
  #scanForMatch(): Buffer | undefined {
    const bytes = this.#bytes as Growing;
    const buf = bytes.buffer;
    const s = this.#scan;
    if (s.closed) return undefined;
    for (let i = s.at; i < bytes.length; i++) {
      const b = buf[i] as number;
      if (s.inString) {
        if (s.escaped) s.escaped = false;
        else if (b === BACKSLASH) s.escaped = true;
        else if (b === QUOTE) s.inString = false;
        continue;
      }
      if (b === QUOTE) s.inString = true;
      else if (b === OPEN || b === OPEN_ARRAY) {
        if (s.depth === 0) {
          if (b !== OPEN) { s.closed = true; s.at = bytes.length; return undefined; } // not an object: decoded whole at the end
          s.element = i;
        }
        s.depth++;
      } else if (b === CLOSE || b === CLOSE_ARRAY) {
        s.depth--;
        if (s.depth < 0) { s.closed = true; s.at = bytes.length; return undefined; } // the array's end
        if (s.depth === 0 && b === CLOSE) {
          if (++s.tries > MATCH_TRIES || this.#regions.length >= MAX_REGIONS) { s.closed = true; s.at = bytes.length; return undefined; }
          const j = this.#find(buf, s.element, i + 1);
          if (j !== undefined) {
            s.at = i + 1;
            return this.#realign(s.element, j);
          }
        }
      }
    }
    s.at = bytes.length;
    return undefined;
  }

  /** The first kept element from the open region's on that equals new bytes [start, end). */
  #find(buf: Buffer, start: number, end: number): number | undefined {
    const kept = this.#kept as ArrayBody;
    const len = end - start;
    const last = Math.min(kept.starts.length, this.#openFrom + MATCH_WINDOW);
    // The region's first element matched with its own kept element would part at the same byte again.
    for (let j = start === 0 ? this.#openFrom + 1 : this.#openFrom; j < last; j++) {
      const at = kept.starts[j] as number;
      if (at + len > kept.bytes.length || kept.bytes[at + len - 1] !== CLOSE) continue;
      if (buf.compare(kept.bytes, at, at + len, start, end) === 0) return j;
    }
    return undefined;
  }

  /** New element at region offset `start` is kept element `j`: the region closes before it. */
  #realign(start: number, j: number): Buffer {
    const kept = this.#kept as ArrayBody;
    const bytes = this.#bytes as Growing;
    this.#regions.push({ from: this.#openFrom, to: j, bytes: Buffer.from(bytes.buffer.subarray(0, start)) });
    const leftover = Buffer.from(bytes.buffer.subarray(start, bytes.length));
    this.#bytes = undefined;
    this.#at = this.#openAt + start;
    this.#delta = this.#at - (kept.starts[j] as number);
    this.#mode = 'aligned';
    return leftover;
  }

  /**
   * The answer decoded against the kept one (once it has ended): the elements that differ, parsed by
   * `parse`; `previousCount` is the number of elements the caller holds for the kept answer (another
   * number means it holds something else: decoded whole). Throws what `parse` throws.
   */
  decode<T>(parse: ParseArray<T>, previousCount: number): PendingDecode<T> {
    if (this.stale) throw new Error('answer abandoned: a newer answer is being received');
    const kept = this.#kept;
    if (kept && this.#mode !== 'whole') {
      if (kept.starts.length !== previousCount) this.#toWhole();
      else {
        const keptEnd = this.#at - this.#delta;
        if (this.#mode !== 'diff' && keptEnd < kept.bytes.length) this.#diverge(keptEnd);
        if (this.#mode === 'diff') {
          this.#regions.push({ from: this.#openFrom, to: kept.starts.length, bytes: (this.#bytes as Growing).view() });
          this.#bytes = undefined;
          this.#mode = 'aligned';
          this.#delta = this.#at - kept.bytes.length;
        }
        if (this.#regions.length === 0) return { regions: [], parsedBytes: 0, commit: () => kept };
        const patched = this.#patch(parse, kept);
        if (patched) return patched;
        this.#toWhole();
      }
    }
    const whole = this.#bytes as Growing;
    const d = decodeArray(undefined, whole.view(), previousCount, parse);
    return { regions: [{ from: d.from, to: d.to, items: d.items }], parsedBytes: d.parsedBytes, commit: () => this.#commit(whole.buffer, d.body) };
  }

  /** Each region parsed on its own; undefined when one does not line up (not whole elements, or no closing bracket at the end). */
  #patch<T>(parse: ParseArray<T>, kept: ArrayBody): PendingDecode<T> | undefined {
    const n = kept.starts.length;
    const decoded: Array<{ from: number; to: number; items: T[] }> = [];
    /** The new answer's element offsets, in order: kept ones [from, to) moved by `shift`, or a region's own from `base`. */
    const runs: Array<{ from: number; to: number; shift: number } | { inner: number[]; base: number }> = [];
    let count = 0;
    /** Each region's bytes and their offset in the new answer; the kept stretch after each, and how far it moves. */
    const placed: Array<{ bytes: Buffer; at: number }> = [];
    const gaps: Gap[] = [];
    let shift = 0;
    let k = 0;
    let close = -1;
    let parsedBytes = 0;
    for (let i = 0; i < this.#regions.length; i++) {
      const r = this.#regions[i] as Region;
      // Up to the array's closing bracket for the region that ends the answer; the comma before kept element `r.to` for the others.
      let end = r.bytes.length;
      if (r.to === n) {
        end = r.bytes.lastIndexOf(CLOSE_ARRAY);
        if (end < 0 || r.bytes.toString('latin1', end + 1).trim() !== '') return undefined;
      }
      const inner = elementStarts(r.bytes, 0, end);
      if (inner === undefined) return undefined;
      let text = r.bytes.toString('utf8', 0, end).trimEnd();
      if (r.to < n && text.length > 0) {
        if (!text.endsWith(',')) return undefined;
        text = text.slice(0, -1);
      }
      let items: T[];
      try {
        items = text.length === 0 ? [] : parse(`[${text}]`);
      } catch {
        return undefined;
      }
      if (items.length !== inner.length) return undefined;
      decoded.push({ from: r.from, to: r.to, items });
      parsedBytes += end;
      runs.push({ from: k, to: r.from, shift });
      const start = kept.starts[r.from] as number;
      const keptEnd = r.to < n ? (kept.starts[r.to] as number) : kept.bytes.length;
      placed.push({ bytes: r.bytes, at: start + shift });
      runs.push({ inner, base: start + shift });
      count += r.from - k + inner.length;
      if (r.to === n) close = start + shift + end;
      shift += r.bytes.length - (keptEnd - start);
      const next = this.#regions[i + 1];
      gaps.push({ from: keptEnd, to: next ? (kept.starts[next.from] as number) : kept.bytes.length, shift });
      k = r.to;
    }
    runs.push({ from: k, to: n, shift });
    count += n - k;
    const starts = new Uint32Array(count);
    let at = 0;
    for (const run of runs) {
      if ('inner' in run) {
        for (const x of run.inner) starts[at++] = run.base + x;
      } else {
        shiftedInto(starts, at, kept.starts, run.from, run.to, run.shift);
        at += run.to - run.from;
      }
    }
    if (close < 0) close = kept.close + shift;
    const length = kept.bytes.length + shift;
    return { regions: decoded, parsedBytes, commit: () => this.#commitPatch(placed, gaps, { starts, close }, length) };
  }

  /**
   * The regions written over the kept buffer: the kept stretches between them are moved to their new
   * offsets (those moving left from the left, those moving right from the right: none is written
   * over before it moves), then each region's bytes put in place. A buffer too small is replaced.
   */
  #commitPatch(placed: ReadonlyArray<{ bytes: Buffer; at: number }>, gaps: readonly Gap[], body: Omit<ArrayBody, 'bytes'>, length: number): ArrayBody {
    if (this.stale) throw new Error('answer abandoned: another answer was kept');
    let buffer = this.#keptBuffer;
    if (length <= buffer.length) {
      for (const g of gaps) if (g.shift < 0 && g.to > g.from) buffer.copyWithin(g.from + g.shift, g.from, g.to);
      for (let i = gaps.length - 1; i >= 0; i--) {
        const g = gaps[i] as Gap;
        if (g.shift > 0 && g.to > g.from) buffer.copyWithin(g.from + g.shift, g.from, g.to);
      }
    } else {
      const grown = Buffer.allocUnsafeSlow(Math.ceil(length * HEADROOM));
      buffer.copy(grown, 0, 0, (placed[0] as { at: number }).at); // before the first region nothing moves
      for (const g of gaps) buffer.copy(grown, g.from + g.shift, g.from, g.to);
      buffer = grown;
    }
    for (const p of placed) p.bytes.copy(buffer, p.at);
    return this.#owner.adopt(buffer, { ...body, bytes: buffer.subarray(0, length) });
  }

  #commit(buffer: Buffer, body: ArrayBody): ArrayBody {
    if (this.stale) throw new Error('answer abandoned: another answer was kept');
    return this.#owner.adopt(buffer, body);
  }
}
