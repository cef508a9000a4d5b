// How long a services-index move may wait for the checks list before it counts as shown by no list.
// Consul encodes the whole checks answer before it sends its headers, so at 10,000 services they come
// hundreds of milliseconds after the services answer of the same write: that delay is measured (on
// each such pair, and on the first read) and the settle time is twice the slowest of the last few, so
// that a slow list is not taken for a checks table that did not move (which would cost a re-read of
// every service). A shorter wait (probeMs) comes first: after it, the checks table's index is asked
// directly (a zero-byte request), which settles the question at once when the table did not move.

export class SettleClock {
  readonly #minMs: number;
  readonly #now: () => number;
  #delays: number[] = [];
  /** The same with the moves whose checks header came first (0): how the two lists' answers race. */
  #probeDelays: number[] = [];
  #firstDelay = 0;
  /** Services indexes waiting for the checks list's header, and since when. */
  #waiting = new Map<number, number>();

  constructor(minMs: number, now: () => number = () => performance.now()) {
    this.#minMs = minMs;
    this.#now = now;
  }

  /** A services-index move at `index` starts waiting for the checks list. */
  wait(index: number): void {
    this.#waiting.set(index, this.#now());
  }

  /** A services-index move found the checks list's header already there: a delay of 0 (for probeMs only). */
  ahead(): void {
    this.#probeDelays.push(0);
    if (this.#probeDelays.length > 8) this.#probeDelays.shift();
  }

  /** It stopped waiting (settled, or explained otherwise). */
  forget(index: number): void {
    this.#waiting.delete(index);
  }

  /**
   * The checks list's header arrived with `index`; `requestStarted` when it answered a first read
   * (no index), which times the whole request under the load of the initial reads and only stands in
   * until a write has been timed.
   */
  header(index: number, requestStarted: number | undefined): void {
    const now = this.#now();
    if (requestStarted !== undefined) this.#firstDelay = Math.max(this.#firstDelay, now - requestStarted);
    for (const [t, since] of this.#waiting) {
      if (t > index) continue;
      this.#delays.push(now - since);
      if (this.#delays.length > 8) this.#delays.shift();
      this.#probeDelays.push(now - since);
      if (this.#probeDelays.length > 8) this.#probeDelays.shift();
      this.#waiting.delete(t);
    }
  }

  /** Twice the slowest recent delay (plus 50 ms), at least the configured minimum, at most 10 s. */
  ms(): number {
    return Math.min(10_000, Math.max(this.#minMs, 2 * this.#slowest() + 50));
  }

  /**
   * How long to let the checks list's header come before asking the checks table's index directly:
   * twice the slowest of the last 8 services-index moves' waits for it (0 when the header came
   * first), plus 5 ms (5 ms before anything is measured): milliseconds on a small catalog, so that a
   * change no list shows is not kept waiting, while a registration (both lists move) is usually
   * explained by the header first and costs no probe. A header later than the window costs one
   * zero-byte probe and widens the window for the next moves (measured: with a floor of 5 ms instead
   * of 20, a weight change at 1,000 services took p50 44 ms instead of 61, and 138 of 140 changes at
   * 100 and 1,000 services still cost 3 requests: the first change after start costs 4 either way).
   */
  probeMs(): number {
    const slowest = this.#probeDelays.length ? Math.max(...this.#probeDelays) : 0;
    return Math.min(10_000, Math.max(5, 2 * slowest + 5));
  }

  #slowest(): number {
    return this.#delays.length ? Math.max(...this.#delays) : this.#firstDelay;
  }
}
