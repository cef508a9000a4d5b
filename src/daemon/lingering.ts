// Servers the Runtime API took out of the config while they still held connections stay in HAProxy
// in maintenance: `del server` refuses them until those connections end. They are asked again before
// each sync (inside the sync queue, so never beside an apply), and while some are left a sync is
// queued after 1 s, then 2, 4… at most 30 s apart, until none is left (a reload takes them too: its
// new worker never had them). Nothing runs while none lingers.
import { messageOf } from '../errors.js';
import type { RuntimeApplier } from '../haproxy/runtime-applier.js';
import type { Logger } from '../log.js';

const FIRST_MS = 1000;
const MAX_MS = 30_000;

export interface LingeringOptions {
  /** The Runtime API applier; undefined when every change reloads (nothing lingers). */
  runtime: RuntimeApplier | undefined;
  /** Queues a sync. */
  request: (r: { trigger: string }) => void;
  log: Logger;
}

export class LingeringSweep {
  readonly #o: LingeringOptions;
  #timer: NodeJS.Timeout | undefined;
  #delayMs = FIRST_MS;

  constructor(o: LingeringOptions) {
    this.#o = o;
  }

  /** Runs a queued sync: lingering servers asked again first, then the sync, then the next try if some are left. */
  async around(sync: () => Promise<void>): Promise<void> {
    await this.#sweep();
    await sync();
    this.#schedule();
  }

  stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  async #sweep(): Promise<void> {
    const { runtime, log } = this.#o;
    if (!runtime || runtime.lingering.length === 0) return;
    try {
      const { deleted, left } = await runtime.sweep();
      if (deleted.length) log.info({ servers: deleted, left }, 'servers removed while they held connections are gone from HAProxy');
      if (left.length === 0) this.#delayMs = FIRST_MS;
    } catch (err) {
      log.debug({ err: messageOf(err) }, 'asking HAProxy again to delete lingering servers failed; trying later');
    }
  }

  #schedule(): void {
    if (this.#timer || !this.#o.runtime?.lingering.length) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#o.request({ trigger: 'servers left in maintenance with connections' });
    }, this.#delayMs);
    this.#timer.unref();
    this.#delayMs = Math.min(this.#delayMs * 2, MAX_MS);
  }
}
