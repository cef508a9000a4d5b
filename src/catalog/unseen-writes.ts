// Writes that neither list may show, and when they cost a read of every service (consul-source.ts
// follows Consul with two long-polls; see its header for why a write can escape both):
// - a services-index move with the same content waits for the checks list to explain it (a check
//   changed by that very write, or one vanished); a zero-byte probe of the checks table's index
//   settles it early when the table did not move, the settle time (settle-clock.ts) otherwise;
// - indexes skipped between two services answers may be such writes too: once the checks lists have
//   had their settle time, any left unexplained bring one read of every service, at most once per
//   `verifyMinMs` since the last read of everything.
// What is explained and what waits is kept by ExplainedWrites; this decides when to stop waiting.
import type { Logger } from '../log.js';
import { abortableSleep } from '../consul/blocking-query.js';
import type { ExplainedWrites } from './explained-writes.js';
import type { SettleClock } from './settle-clock.js';

export interface UnseenWritesOptions {
  signal: AbortSignal;
  settle: SettleClock;
  explained: ExplainedWrites;
  log: Logger;
  /** Least time between two reads of every service for gaps (the source's verifyMinMs). */
  verifyMinMs: number;
  /** The checks table's index, asked with a request that matches no check. */
  probe: (signal: AbortSignal) => Promise<number>;
  /** Where the source stands: the checks list's header and body, the services list, the candidates. */
  checksNotice: () => number;
  checksIndex: () => number;
  servicesIndex: () => number;
  services: () => number;
  /** Has every service read again. */
  readAll: () => void;
}

export class UnseenWrites {
  readonly #o: UnseenWritesOptions;
  #verifying = false;
  #lastVerify = -Infinity;

  constructor(o: UnseenWritesOptions) {
    this.#o = o;
  }

  /** Every service was read (the first read included): as good as a verification. */
  readEverything(): void {
    this.#lastVerify = performance.now();
  }

  /**
   * The services index moved to `target`, the tags did not: an instance was registered, removed or
   * modified. The checks list explains it when a check changed by that very write (its ModifyIndex
   * is the index) or one vanished; if the checks table has not moved at all by the settle time (the
   * list's header), or moved without such a check, nothing will explain it: re-read all.
   */
  moved(target: number): void {
    const { settle, explained } = this.#o;
    const seen = explained.covering(target);
    if (seen) {
      settle.ahead();
      if (!seen.explains(target)) this.unexplained(target);
      return;
    }
    if (this.#o.checksIndex() >= target) return this.unexplained(target); // no checks list covered it
    explained.await(target);
    // The checks table moved as far (the list's header came): the list will tell.
    if (this.#o.checksNotice() >= target) {
      settle.ahead();
      return;
    }
    // Did this write move the checks table at all? The list's header most often comes within
    // milliseconds (both lists move for a registration); if it has not come by then, one request that
    // matches no check answers with the table's index: below the target, no check changed by this
    // write and no list will ever explain it (a weight, an address, an instance without checks), so
    // everything is read now, not after the settle time. Should the probe fail, the settle time decides.
    settle.wait(target);
    const { signal } = this.#o;
    const decided = () => signal.aborted || !explained.awaiting(target) || this.#o.checksNotice() >= target || this.#o.servicesIndex() > target;
    void abortableSleep(settle.probeMs(), signal).then(async () => {
      if (decided()) return;
      let index: number;
      try {
        index = await this.#o.probe(signal);
      } catch {
        return this.#settleThenDecide(target);
      }
      if (decided()) return;
      // The table moved as far: the list should come. It may not: removing an instance without
      // checks moves the checks index but changes no check, and Consul keeps the long-poll held
      // (measured on 1.16.6). After the settle time, a list that has not come explains nothing.
      if (index >= target) return this.#settleThenDecide(target);
      settle.forget(target);
      explained.drop(target);
      this.unexplained(target);
    });
  }

  /** Without a probe's answer: waits the settle time for the checks list's header to reach `target`. */
  #settleThenDecide(target: number): void {
    const { settle, explained, signal } = this.#o;
    void abortableSleep(settle.ms(), signal).then(() => {
      settle.forget(target);
      if (signal.aborted || !explained.awaiting(target)) return;
      // The checks table moved: the list (slower to come, it is large) will tell.
      if (this.#o.checksNotice() >= target || this.#o.servicesIndex() > target) return;
      explained.drop(target);
      this.unexplained(target);
    });
  }

  /**
   * One services answer can stand for several writes: those that landed while the next long-poll was
   * on its way come back together, under the last one's index. A write no list shows (a weight, an
   * address) followed within milliseconds by a registration with a check would then be taken as
   * explained by that check and never read. Every index between two services answers that no checks
   * list explains may be such a write: once the checks lists have had their settle time, if one is
   * left, every service is re-read, at most once per verifyMinMs since the last read of everything (KV,
   * sessions and coordinates also take Raft indexes, so on a busy cluster this is a periodic check,
   * bounded, and none when idle): such a lost write is late by at most that much.
   */
  gap(from: number, to: number): void {
    const { settle, explained, signal } = this.#o;
    explained.gap(from, to);
    if (this.#verifying) return;
    this.#verifying = true;
    void abortableSleep(settle.ms(), signal).then(async () => {
      // Indexes the checks lists have not reached yet wait for them (a slow list at scale).
      if (this.#o.checksIndex() < explained.lastGapIndex) await abortableSleep(settle.ms(), signal);
      if (signal.aborted) return;
      if (!explained.gapsUnexplained()) {
        explained.clearGaps();
        this.#verifying = false;
        return;
      }
      const wait = Math.max(this.#o.verifyMinMs, this.#o.services() * 10) - (performance.now() - this.#lastVerify);
      if (wait > 0) await abortableSleep(wait, signal);
      if (signal.aborted) return;
      explained.clearGaps();
      this.#verifying = false;
      this.#lastVerify = performance.now();
      this.#o.log.debug({ index: this.#o.servicesIndex() }, 'services answers covered writes no checks list explains: re-reading every service once');
      this.#o.readAll();
    });
  }

  /** A services-index move at `target` that no list shows: re-read every service. */
  unexplained(target: number): void {
    this.#o.log.debug({ index: target, checksIndex: Math.max(this.#o.checksIndex(), this.#o.checksNotice()), settleMs: this.#o.settle.ms() }, 'services index moved without a visible change: re-reading every service');
    this.#o.explained.readAllUpTo(this.#o.servicesIndex()); // the re-read covers them
    this.#o.readAll();
  }
}
