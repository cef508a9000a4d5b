// Two buffers that a large answer (the checks list: ~32 MB at 10,000 services) is received into in
// turn, for a caller that keeps the previous answer to decode the next one against it
// (catalog/checks-body.ts). Received the usual way, each answer is a new buffer joined from its
// chunks: 32 MB allocated, copied and dropped per change, and the garbage collector runs for the
// memory outside its heap (measured at 10,000 services: about 50 ms of copying and 60–80 ms of
// collections per change). Here the chunks are copied straight into whichever buffer does not hold
// the answer the caller kept; the buffers grow when an answer outgrows them and are reused after.
// Each is held to about its answer's size (an eighth more, for the list to grow without a copy): a
// buffer grown by half at a time could hold half again its answer, and two of them for a 32 MB list
// up to ~96 MB. A buffer receiving its first answer, or one outgrown, is grown at once to the size
// of the other buffer's last answer (the lists differ by a few checks), not by halves from nothing.
import { Writable } from 'node:stream';

const MIN_CAPACITY = 64 * 1024;
/** Room left above an answer for the next ones to grow into. */
const HEADROOM = 1.125;
/** A buffer more than this much above its answer (and SHRINK_SLACK) is replaced by one of the answer's size. */
const SHRINK_ABOVE = 1.25;
const SHRINK_SLACK = 1024 * 1024;

/** One answer being received (a writable stream for the HTTP client to pipe into). */
export class AnswerSink extends Writable {
  readonly #owner: AnswerBuffers;
  readonly #slot: number;
  readonly #generation: number;
  #length = 0;

  constructor(owner: AnswerBuffers, slot: number, generation: number) {
    // Writes complete at once (a copy): a high-water mark above any answer keeps the piping response
    // from pausing after every chunk larger than the default 16 KB.
    super({ decodeStrings: true, highWaterMark: 1 << 30 });
    this.#owner = owner;
    this.#slot = slot;
    this.#generation = generation;
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (err?: Error | null) => void): void {
    // A sink whose buffer was handed to a newer answer (this request was abandoned) writes nothing.
    if (this.#owner.generation !== this.#generation) return callback();
    const target = this.#owner.reserve(this.#slot, this.#length, this.#length + chunk.length);
    chunk.copy(target, this.#length);
    this.#length += chunk.length;
    callback();
  }

  /** A newer answer was opened on the same buffers: this one's bytes may be gone. */
  get stale(): boolean {
    return this.#owner.generation !== this.#generation;
  }

  /**
   * The answer received: a view of the shared buffer, valid until the answer after next is received
   * into it. A buffer far larger than its answer (grown by an earlier, larger one) is let go for one
   * of the answer's size first.
   */
  bytes(): Buffer {
    if (this.stale) throw new Error('answer buffer reused: a newer answer is being received into it');
    return this.#owner.fit(this.#slot, this.#length).subarray(0, this.#length);
  }
}

export class AnswerBuffers {
  readonly #slots: [Buffer, Buffer] = [Buffer.allocUnsafeSlow(0), Buffer.allocUnsafeSlow(0)];
  /** Length of the last answer received into each buffer. */
  readonly #lengths: [number, number] = [0, 0];
  /** Bumped by each `open`: a sink of an earlier generation is stale. */
  generation = 0;

  /** A sink for the next answer, in the buffer that does not hold `keep` (the answer decoded last). */
  open(keep: Buffer | undefined): AnswerSink {
    const slot = keep !== undefined && keep.length > 0 && keep.buffer === this.#slots[0].buffer ? 1 : 0;
    this.generation += 1;
    return new AnswerSink(this, slot, this.generation);
  }

  /** Capacity of both buffers (for tests and memory accounting). */
  get capacity(): number {
    return this.#slots[0].length + this.#slots[1].length;
  }

  /** @internal The buffer of `slot`, grown to hold `needed` bytes (the first `used` kept). */
  reserve(slot: number, used: number, needed: number): Buffer {
    const current = this.#slots[slot as 0 | 1];
    if (needed <= current.length) return current;
    // The other buffer's last answer says how large this one will most likely be.
    const expected = Math.ceil(this.#lengths[(1 - slot) as 0 | 1] * HEADROOM);
    return this.#replace(slot, used, needed <= expected ? expected : Math.max(needed, Math.ceil(current.length * 1.5)));
  }

  /** @internal The buffer of `slot` holding `used` bytes, replaced by one of about that size when it is far larger. */
  fit(slot: number, used: number): Buffer {
    this.#lengths[slot as 0 | 1] = used;
    const current = this.#slots[slot as 0 | 1];
    if (current.length <= SHRINK_ABOVE * used + SHRINK_SLACK) return current;
    return this.#replace(slot, used, Math.ceil(used * HEADROOM));
  }

  /** A new buffer of at least `capacity` for `slot`, holding its first `used` bytes. */
  #replace(slot: number, used: number, capacity: number): Buffer {
    const next = Buffer.allocUnsafeSlow(Math.max(capacity, MIN_CAPACITY));
    this.#slots[slot as 0 | 1].copy(next, 0, 0, used);
    this.#slots[slot as 0 | 1] = next;
    return next;
  }
}
