// When to apply a change, like consul-template's `wait`: after `min` of quiet, but no later than
// `max` after the first change of a burst; and never sooner than `minInterval` after the last reload,
// so a flapping service cannot cause a reload storm. The latest state always wins: the timer only
// says when; what is applied is read at that moment.
import { parseDurationMs } from '../util/duration.js';

export interface WaitOptions {
  minMs: number;
  maxMs: number;
  minIntervalMs: number;
}

/** Parses `--wait MIN:MAX` ("2s:10s", "500ms", "0"). */
export function parseWait(raw: string): { minMs: number; maxMs: number } | undefined {
  const parts = raw.split(':');
  if (parts.length > 2) return undefined;
  const ms = parts.map(parseDurationMs);
  const min = ms[0];
  const max = ms[1] ?? (min === undefined ? undefined : min * 4);
  if (min === undefined || max === undefined || max < min) return undefined;
  return { minMs: min, maxMs: max };
}

/** The time to fire, given when the burst started, the last change, and the last reload. */
export function fireAt({ burstStartMs, lastChangeMs, lastReloadMs, o }: { burstStartMs: number; lastChangeMs: number; lastReloadMs: number | undefined; o: WaitOptions }): number {
  const quiet = Math.min(lastChangeMs + o.minMs, burstStartMs + o.maxMs);
  return lastReloadMs === undefined ? quiet : Math.max(quiet, lastReloadMs + o.minIntervalMs);
}

/** Calls `fire` once per burst of `notify()` calls, at the time `fireAt` gives. */
export class Debouncer {
  #burstStart: number | undefined;
  #lastChange = 0;
  #timer: NodeJS.Timeout | undefined;
  readonly #o: WaitOptions;
  readonly #fire: () => void;
  readonly #lastReload: () => number | undefined;
  readonly #now: () => number;

  constructor({ o, fire, lastReloadMs, now = Date.now }: { o: WaitOptions; fire: () => void; lastReloadMs: () => number | undefined; now?: () => number }) {
    this.#o = o;
    this.#fire = fire;
    this.#lastReload = lastReloadMs;
    this.#now = now;
  }

  /** A change, seen at `atMs` (default: now; a snapshot's arrival, so quiet counts from when the change was seen, not from when a sync got to it). */
  notify(atMs?: number): void {
    const at = Math.min(atMs ?? this.#now(), this.#now());
    this.#burstStart ??= at;
    this.#lastChange = Math.max(this.#lastChange, at);
    this.#arm();
  }

  #arm(): void {
    clearTimeout(this.#timer);
    if (this.#burstStart === undefined) return;
    const at = fireAt({ burstStartMs: this.#burstStart, lastChangeMs: this.#lastChange, lastReloadMs: this.#lastReload(), o: this.#o });
    this.#timer = setTimeout(() => {
      this.#burstStart = undefined;
      this.#lastChange = 0;
      this.#timer = undefined;
      this.#fire();
    }, Math.max(0, at - this.#now()));
  }

  cancel(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#burstStart = undefined;
    this.#lastChange = 0;
  }
}
