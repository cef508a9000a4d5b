// SHA-256 of texts that mostly share their start with the one hashed before (a config after a
// server-only change differs in one backend's lines): the hash state is saved every `markBytes`,
// and the next hash resumes from the last mark before the first byte that differs. The bytes are
// compared first, a mark's worth at a time: comparing costs a fraction of hashing.
import { createHash, type Hash } from 'node:crypto';
import { ByteRope } from './byte-rope.js';

export class ResumableSha256 {
  readonly #markBytes: number;
  /** The bytes hashed last, and the state after each mark's worth of them (`marks[k]`: their first k × markBytes). */
  #last: { bytes: ByteRope; marks: readonly Hash[] } | undefined;

  constructor(markBytes = 1 << 20) {
    this.#markBytes = markBytes;
  }

  /** The SHA-256 of `bytes` in hex; `resumedAt` says from which byte it was hashed (for tests). */
  digest(input: Buffer | ByteRope): { hex: string; resumedAt: number } {
    const bytes = ByteRope.of(input);
    const size = this.#markBytes;
    const last = this.#last;
    let k = 0;
    if (last) {
      const limit = Math.min(last.marks.length - 1, Math.floor(Math.min(bytes.length, last.bytes.length) / size));
      while (k < limit && bytes.sameRun(k * size, last.bytes, k * size, size)) k++;
    }
    // Saved states are never updated: each is copied before use.
    const marks = last ? last.marks.slice(0, k + 1) : [createHash('sha256')];
    const hash = (marks[k] as Hash).copy();
    let at = k * size;
    for (; at + size <= bytes.length; at += size) {
      for (const part of bytes.range(at, at + size)) hash.update(part);
      marks.push(hash.copy());
    }
    for (const part of bytes.range(at, bytes.length)) hash.update(part);
    this.#last = { bytes, marks };
    return { hex: hash.digest('hex'), resumedAt: k * size };
  }
}
