// Whether HAProxy runs the latest catalog, since when it has not, and why; and the retry of a failed
// sync with capped, jittered backoff until it does. hapilot never gives up: a failed render, write,
// validation, Runtime API call or reload is tried again, and a new snapshot tries again at once.
import { backoffDelay, type BackoffOptions } from '../consul/blocking-query.js';
import { ErrorCode, isHapilotError } from '../errors.js';

export const SYNC_BACKOFF: BackoffOptions = { baseMs: 250, maxMs: 10_000 };

export interface ConvergenceView {
  inStep: boolean;
  /** Seconds since the first catalog change HAProxy does not run yet (0 when in step). */
  behindSeconds: number;
  behindSince: string | null;
  /** Why HAProxy is behind right now. */
  reason: string | null;
  lastError: string | null;
  failures: number;
  nextRetryAt: string | null;
}

/** Failure stages, for logs and `hapilot_sync_failures_total{stage}`. */
export type Stage = 'render' | 'write' | 'validation' | 'runtime' | 'reload';

/** A sync failure at a known stage. */
export class StageError extends Error {
  constructor(readonly stage: Stage, message: string) {
    super(message);
  }
}

/** Runs a step that writes the config: its write errors become `write` failures. */
export async function writeStage<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (isHapilotError(err, ErrorCode.WRITE)) throw new StageError('write', err.message);
    throw err;
  }
}

/** The stage a sync failure belongs to. */
export function stageOf(err: unknown): Stage {
  return err instanceof StageError ? err.stage : isHapilotError(err, ErrorCode.WRITE) ? 'write' : isHapilotError(err, ErrorCode.TEMPLATE) ? 'render' : 'reload';
}

export class Convergence {
  readonly #now: () => number;
  readonly #backoff: BackoffOptions;
  #behindSinceMs: number | undefined;
  #waiting: string | undefined;
  #lastError: string | undefined;
  #failures = 0;
  #retryTimer: NodeJS.Timeout | undefined;
  #retryAtMs: number | undefined;
  #retry: (() => void) | undefined;

  constructor({ now = Date.now, backoff = SYNC_BACKOFF }: { now?: () => number; backoff?: BackoffOptions } = {}) {
    this.#now = now;
    this.#backoff = backoff;
  }

  /** A snapshot arrived that HAProxy may not run yet. */
  snapshotSeen(): void {
    this.#behindSinceMs ??= this.#now();
  }

  /** HAProxy runs the latest snapshot (or the state hapilot means it to run: holds and quarantine included). */
  inStep(): void {
    this.#behindSinceMs = undefined;
    this.#waiting = undefined;
    this.#lastError = undefined;
    this.#failures = 0;
    this.cancelRetry();
  }

  /** Behind on purpose: a structural change waits for --wait / --min-reload-interval / old workers. */
  waiting(reason: string): void {
    this.#behindSinceMs ??= this.#now();
    this.#waiting = reason;
  }

  /** A sync failed: remember why, and retry after the next backoff delay. Returns that delay. */
  failed(error: string, retry: () => void): number {
    this.#behindSinceMs ??= this.#now();
    this.#lastError = error;
    this.#waiting = undefined;
    const delay = backoffDelay(this.#failures++, this.#backoff);
    this.#schedule(delay, retry);
    return delay;
  }

  /** Runs the pending retry at once, if there is one (a new snapshot: no reason to wait out the backoff). */
  retryNow(): boolean {
    const retry = this.#retry;
    if (retry === undefined) return false;
    this.cancelRetry();
    retry();
    return true;
  }

  #schedule(delayMs: number, retry: () => void): void {
    this.cancelRetry();
    this.#retry = retry;
    this.#retryAtMs = this.#now() + delayMs;
    this.#retryTimer = setTimeout(() => {
      this.cancelRetry();
      retry();
    }, delayMs);
    this.#retryTimer.unref();
  }

  cancelRetry(): void {
    clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    this.#retryAtMs = undefined;
    this.#retry = undefined;
  }

  get lastError(): string | undefined {
    return this.#lastError;
  }

  behindSeconds(): number {
    return this.#behindSinceMs === undefined ? 0 : Math.max(0, (this.#now() - this.#behindSinceMs) / 1000);
  }

  view(): ConvergenceView {
    const behind = this.#behindSinceMs !== undefined;
    return {
      inStep: !behind,
      behindSeconds: Math.round(this.behindSeconds() * 1000) / 1000,
      behindSince: behind ? new Date(this.#behindSinceMs ?? 0).toISOString() : null,
      reason: !behind ? null : this.#lastError !== undefined ? `last attempt failed: ${this.#lastError}` : this.#waiting ?? 'applying',
      lastError: this.#lastError ?? null,
      failures: this.#failures,
      nextRetryAt: this.#retryAtMs === undefined ? null : new Date(this.#retryAtMs).toISOString(),
    };
  }
}
