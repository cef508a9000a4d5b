// Where snapshots enter the daemon: the latest one is kept for the next sync; the first config waits
// until the pool records are read (a first config must not pool every server); after that, a pending
// retry runs at once, and otherwise a sync is queued on the next turn of the event loop (snapshots
// of one burst gather there; the sync queue merges whatever arrives while a sync runs).
import type { CatalogSnapshot } from '../catalog/source.js';
import type { Logger } from '../log.js';
import type { AppliedState } from './applied-state.js';
import type { Convergence } from './convergence.js';
import type { SyncRequest } from './sync-queue.js';

export interface SnapshotIntakeOptions {
  state: AppliedState;
  convergence: Convergence;
  log: Logger;
  /** Where the latest snapshot goes (read by the next sync). */
  keep: (snapshot: CatalogSnapshot) => void;
  latest: () => CatalogSnapshot | undefined;
  request: (r: Partial<SyncRequest> & { trigger: string }) => void;
  /** Gather a burst this long (ms) before it goes to the sync; 0: the next turn of the event loop. */
  coalesceMs: number;
}

export class SnapshotIntake {
  readonly #o: SnapshotIntakeOptions;
  #poolRead: boolean;
  /** Cancels the queued sync of a burst, while one is queued. */
  #pending: (() => void) | undefined;

  constructor(o: SnapshotIntakeOptions & { waitForPool: boolean }) {
    this.#o = o;
    this.#poolRead = !o.waitForPool;
  }

  /** The pool records are read: the first config (or one that takes them into account) may go. */
  poolRead(): void {
    this.#poolRead = true;
    this.#o.log.info({ component: 'pool' }, 'pool records read');
    if (this.#o.latest()) this.#o.request({ trigger: this.#o.state.current?.model ? 'pool records read' : 'initial sync', structural: true });
  }

  snapshot(snapshot: CatalogSnapshot): void {
    const { state, convergence } = this.#o;
    this.#o.keep(snapshot);
    convergence.snapshotSeen();
    this.#o.log.debug({ index: snapshot.index, cause: snapshot.cause, entries: snapshot.entries.length, ...snapshot.timings }, 'snapshot');
    if (!this.#poolRead) return;
    if (!state.current?.model) return this.#o.request({ trigger: 'initial sync', structural: true });
    if (convergence.retryNow() || this.#pending !== undefined) return;
    const fire = () => {
      this.#pending = undefined;
      this.#o.request({ trigger: 'catalog change' });
    };
    if (this.#o.coalesceMs > 0) {
      const t = setTimeout(fire, this.#o.coalesceMs);
      this.#pending = () => clearTimeout(t);
    } else {
      const i = setImmediate(fire);
      this.#pending = () => clearImmediate(i);
    }
  }

  stop(): void {
    this.#pending?.();
    this.#pending = undefined;
  }
}
