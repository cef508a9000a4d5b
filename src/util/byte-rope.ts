// Bytes held as a list of buffers: a config spliced from the running one (a server-only change
// replaces a few backend sections of 9 MB) is the running config's stretches and the new sections,
// not a 9 MB copy. Written with writev, compared, hashed and searched part by part; parts are never
// changed (views of buffers no one writes to), and a rope of too many parts is copied into one.
import { writevSync } from 'node:fs';
import { lowerBound } from './sorted.js';

/** Parts a splice may leave before the rope is copied into one buffer (each change adds about two). */
const MAX_PARTS = 256;
/** Buffers written per writev call (the system's IOV_MAX is 1024). */
const IOV_BATCH = 1024;

export class ByteRope {
  readonly parts: readonly Buffer[];
  readonly length: number;
  /** `starts[i]`: where `parts[i]` starts. */
  readonly #starts: number[];

  constructor(parts: readonly Buffer[]) {
    const kept = parts.filter((p) => p.length > 0);
    this.#starts = [];
    let at = 0;
    for (const p of kept) {
      this.#starts.push(at);
      at += p.length;
    }
    this.parts = kept;
    this.length = at;
  }

  static of(bytes: Buffer | ByteRope): ByteRope {
    return bytes instanceof ByteRope ? bytes : new ByteRope([bytes]);
  }

  /** The parts of [from, to), as views (no copy). */
  range(from: number, to: number): Buffer[] {
    const out: Buffer[] = [];
    if (to <= from) return out;
    for (let i = this.#partAt(from); i < this.parts.length; i++) {
      const start = this.#starts[i] as number;
      if (start >= to) break;
      const p = this.parts[i] as Buffer;
      out.push(p.subarray(Math.max(0, from - start), Math.min(p.length, to - start)));
    }
    return out;
  }

  /** This rope with [from, to) of it replaced by each edit's bytes (edits in order, not overlapping); copied into one buffer past MAX_PARTS parts. */
  splice(edits: ReadonlyArray<{ from: number; to: number; bytes: Buffer }>): ByteRope {
    const parts: Buffer[] = [];
    let at = 0;
    for (const e of edits) {
      parts.push(...this.range(at, e.from), e.bytes);
      at = e.to;
    }
    parts.push(...this.range(at, this.length));
    return new ByteRope(parts.length > MAX_PARTS ? [Buffer.concat(parts)] : parts);
  }

  /** The byte at `i` (undefined out of range). */
  at(i: number): number | undefined {
    if (i < 0 || i >= this.length) return undefined;
    const k = this.#partAt(i);
    return (this.parts[k] as Buffer)[i - (this.#starts[k] as number)];
  }

  /** The first `byte` at or after `from`, or -1. */
  indexOf(byte: number, from = 0): number {
    if (from < 0) from = 0;
    for (let k = this.#partAt(from); k < this.parts.length; k++) {
      const start = this.#starts[k] as number;
      const found = (this.parts[k] as Buffer).indexOf(byte, Math.max(0, from - start));
      if (found >= 0) return start + found;
    }
    return -1;
  }

  /** The last `byte` at or before `from`, or -1. */
  lastIndexOf(byte: number, from = this.length - 1): number {
    if (from < 0 || this.length === 0) return -1;
    for (let k = this.#partAt(Math.min(from, this.length - 1)); k >= 0; k--) {
      const start = this.#starts[k] as number;
      const found = (this.parts[k] as Buffer).lastIndexOf(byte, Math.min(from - start, (this.parts[k] as Buffer).length - 1));
      if (found >= 0) return start + found;
    }
    return -1;
  }

  /** `n` bytes of this rope from `from` equal those of `other` from `otherFrom` (both in range). */
  sameRun(from: number, other: ByteRope, otherFrom: number, n: number): boolean {
    const a = this.range(from, from + n);
    const b = other.range(otherFrom, otherFrom + n);
    let i = 0;
    let j = 0;
    let ai = 0;
    let bj = 0;
    while (i < a.length && j < b.length) {
      const x = a[i] as Buffer;
      const y = b[j] as Buffer;
      const len = Math.min(x.length - ai, y.length - bj);
      // The same memory (a stretch both ropes took from one buffer) is equal without a compare.
      const same = x.buffer === y.buffer && x.byteOffset + ai === y.byteOffset + bj;
      if (!same && x.compare(y, bj, bj + len, ai, ai + len) !== 0) return false;
      ai += len;
      bj += len;
      if (ai === x.length) { i++; ai = 0; }
      if (bj === y.length) { j++; bj = 0; }
    }
    return true;
  }

  equals(other: ByteRope | Buffer): boolean {
    const o = ByteRope.of(other);
    return o === this || (o.length === this.length && this.sameRun(0, o, 0, this.length));
  }

  /** [from, to) decoded as UTF-8 (whole characters when the cuts are at line starts). */
  toString(from = 0, to = this.length): string {
    const parts = this.range(from, to);
    return parts.length === 1 ? (parts[0] as Buffer).toString('utf8') : Buffer.concat(parts).toString('utf8');
  }

  /** One buffer of these bytes (a copy unless the rope is one part). */
  flat(): Buffer {
    return this.parts.length === 1 ? (this.parts[0] as Buffer) : Buffer.concat(this.parts as Buffer[]);
  }

  /** Writes the rope at the current position of `fd`, part by part (writev, a batch of parts at a time). */
  writeTo(fd: number): void {
    let done = 0;
    // A short write (rare on a regular file) goes on from where it stopped.
    while (done < this.length) done += writevSync(fd, this.range(done, this.length).slice(0, IOV_BATCH));
  }

  /** The index of the part holding byte `i` (the last part for i at the end). */
  #partAt(i: number): number {
    return Math.max(0, lowerBound(this.#starts, i + 1) - 1);
  }
}

/**
 * The stretches of `part` between fixed places of its buffer (every `block` bytes from the buffer's
 * start), as [from, to) offsets in the buffer, over its first `limit` bytes. Two views of one
 * buffer share the stretches they both hold whole: what is computed per stretch (a digest, a count)
 * is found again for the parts a splice left as they were, and only the stretch a cut falls in is new.
 */
export function* blockStretches(part: Buffer, block: number, limit = part.length): Generator<readonly [number, number]> {
  const end = part.byteOffset + Math.min(limit, part.length);
  for (let from = part.byteOffset; from < end;) {
    const to = Math.min(end, (Math.floor(from / block) + 1) * block);
    yield [from, to];
    from = to;
  }
}
