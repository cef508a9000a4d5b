// The sync queue: one sync at a time, in order. Requests made while a sync runs are merged into one
// pending job that runs right after it (so a runtime change that arrives during a reload is applied
// after that reload, against the new worker). What a job applies is read when it runs: the latest
// snapshot always wins.

export interface SyncRequest {
  /** For logs, /status and metrics: why this sync runs. */
  trigger: string;
  /** May reload (structural changes); otherwise only the server-only part is applied. */
  structural: boolean;
  /** Reload even when nothing changed (SIGHUP, HAProxy found dead). */
  force: boolean;
  /** Do not use the Runtime API (it just failed: a reload puts the worker in a known state). */
  noRuntime: boolean;
}

export class SyncQueue {
  readonly #run: (job: SyncRequest) => Promise<void>;
  #pending: SyncRequest | undefined;
  #busy: Promise<void> | undefined;
  #stopped = false;

  constructor(run: (job: SyncRequest) => Promise<void>) {
    this.#run = run;
  }

  /** Queues a sync (merged with one already pending); resolves when the queue is empty again. */
  request(r: Partial<SyncRequest> & { trigger: string }): Promise<void> {
    const p = this.#pending;
    this.#pending = {
      trigger: p && (p.structural || p.force) && !(r.structural || r.force) ? p.trigger : r.trigger,
      structural: Boolean(r.structural) || (p?.structural ?? false),
      force: Boolean(r.force) || (p?.force ?? false),
      noRuntime: Boolean(r.noRuntime) || (p?.noRuntime ?? false),
    };
    this.#busy ??= this.#drain();
    return this.#busy;
  }

  async #drain(): Promise<void> {
    try {
      while (this.#pending && !this.#stopped) {
        const job = this.#pending;
        this.#pending = undefined;
        await this.#run(job);
      }
    } finally {
      this.#busy = undefined;
    }
  }

  get busy(): boolean {
    return this.#busy !== undefined;
  }

  /** Waits until no sync runs or is pending. */
  async idle(): Promise<void> {
    while (this.#busy) await this.#busy;
  }

  stop(): void {
    this.#stopped = true;
    this.#pending = undefined;
  }
}
