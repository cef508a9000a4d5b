// Our own blocking-query loop (the `consul` package's watch has no jitter, ends on one 400 and
// emits unhandled errors). Each rule from Consul's documentation is a named branch:
// https://developer.hashicorp.com/consul/api-docs/features/blocking#implementation-details
import { ErrorCode, isHapilotError } from '../errors.js';
import type { QueryResult } from './client.js';

export type IndexDecision =
  /** First answer, or index moved forward: new data may be there (compare content to know). */
  | { kind: 'advanced'; next: number }
  /** Same index: the wait expired, nothing changed. */
  | { kind: 'unchanged'; next: number }
  /** Index went backwards (snapshot restore, …): start over from 0 and treat the answer as new. */
  | { kind: 'reset'; next: number };

/**
 * What to do with the X-Consul-Index of an answer, given the index we asked with.
 * - "Sanity check that the index is greater than 0": an index below 1 is clamped to 1.
 * - "Reset the index if it goes backwards": next query starts without an index (0).
 */
export function decideIndex(previous: number, returned: number): IndexDecision {
  const clamped = Number.isFinite(returned) && returned >= 1 ? Math.floor(returned) : 1;
  if (previous === 0) return { kind: 'advanced', next: clamped };
  if (clamped < previous) return { kind: 'reset', next: 0 };
  if (clamped === previous) return { kind: 'unchanged', next: clamped };
  return { kind: 'advanced', next: clamped };
}

export interface BackoffOptions {
  baseMs: number;
  maxMs: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { baseMs: 250, maxMs: 30_000 };

/** Capped exponential backoff with full jitter: a random delay in [base/2, min(max, base·2^n)]. */
export function backoffDelay(attempt: number, opts: BackoffOptions = DEFAULT_BACKOFF, random: () => number = Math.random): number {
  const cap = Math.min(opts.maxMs, opts.baseMs * 2 ** Math.min(attempt, 30));
  const floor = Math.min(cap, opts.baseMs / 2);
  return Math.round(floor + random() * (cap - floor));
}

export interface BlockingLoopOptions<T> {
  name: string;
  /** One request; `index` 0 means "answer now". */
  fetch: (index: number, signal: AbortSignal) => Promise<QueryResult<T>>;
  /**
   * Called with each answer whose content differs from the last one (a return is no proof of a
   * change); with `notifyIndexOnly`, also when only the index moved (`contentChanged` false).
   */
  onData: (data: T, index: number, contentChanged: boolean) => void | Promise<void>;
  notifyIndexOnly?: boolean;
  onError: (err: unknown, attempt: number, delayMs: number) => void;
  /** Called after every successful answer, changed or not (for "last contact" bookkeeping). */
  onContact?: (index: number) => void;
  /**
   * Content fingerprint; equal fingerprints mean no change. Without one, every answer whose index
   * moved (or was reset) is handed over as changed, and the consumer compares the content itself
   * (the checks list is diffed by key: cheaper than a fingerprint of 100,000 checks).
   */
  fingerprint?: (data: T) => string;
  signal: AbortSignal;
  backoff?: BackoffOptions;
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  /**
   * The endpoint's index now, asked without blocking (cheaply: a filter that matches nothing). A
   * long-poll open for `probeAfterMs` is checked with it, then every `probeAfterMs`: an index above
   * the one the long-poll asked for means Consul has had an answer for it since before the probe. If
   * none has come `probeGraceMs` later, the answer is taken as lost (a dropped connection nobody
   * noticed, a proxy, a bug of either side): the long-poll is abandoned, reported through
   * `onLost`, and asked again at once. Without a probe a lost answer is only noticed when the
   * request times out (wait + wait/16 + a margin: more than 5 minutes with the default wait).
   */
  probe?: (signal: AbortSignal) => Promise<number>;
  probeAfterMs?: number;
  probeGraceMs?: number;
  onLost?: (lost: LostLongPoll) => void;
  /**
   * Told of each watched long-poll when it starts (and `undefined` when it ends): `probeNow` probes
   * it `probeGraceMs` later unless its answer comes first, when it has been open for `probeGraceMs`
   * (at most once per `probeGraceMs`). For another watch that has seen Consul move past the index
   * this one waits on.
   */
  onWatch?: (watch: PollWatch | undefined) => void;
}

/** A long-poll in flight, as `onWatch` shows it. */
export interface PollWatch {
  askedIndex: number;
  probeNow: () => void;
  /**
   * The endpoint's index as another request just learned it: a nudge still waiting to probe is
   * dropped when that index has not passed the one asked for (the probe would say the same).
   */
  indexSeen: (index: number) => void;
}

/** A long-poll whose answer never came although Consul's index had moved past the one it asked for. */
export interface LostLongPoll {
  name: string;
  /** The index the long-poll asked for. */
  askedIndex: number;
  /** The endpoint's index according to the probe. */
  consulIndex: number;
  /** How long the long-poll had been open when it was abandoned. */
  openMs: number;
}

/** Why a long-poll was aborted by its own loop (told apart from the loop being stopped). */
const LOST = Symbol('lost long-poll');

/**
 * One fetch, watched: while it is open, the probe asks the endpoint's index every `probeAfterMs`;
 * when that index has passed `index` and the fetch still has no answer `probeGraceMs` later, the
 * fetch is aborted and `lost` resolves with what was seen. Resolves `{ result }` or `{ lost }`.
 */
async function watchedFetch<T>(o: BlockingLoopOptions<T>, index: number): Promise<{ result: QueryResult<T> } | { lost: LostLongPoll }> {
  if (!o.probe || index === 0) return { result: await o.fetch(index, o.signal) };
  const probe = o.probe;
  const every = Math.max(1, o.probeAfterMs ?? 15_000);
  const grace = Math.max(0, o.probeGraceMs ?? Math.min(2_000, every));
  const ac = new AbortController();
  const onStop = () => ac.abort(o.signal.reason);
  o.signal.addEventListener('abort', onStop, { once: true });
  const started = Date.now();
  let settled = false;
  let lost: LostLongPoll | undefined;
  const pending = o.fetch(index, ac.signal).finally(() => { settled = true; });
  let wake: (() => void) | undefined;
  let lastProbe = started;
  /** Set when a nudge comes; cleared when another request saw the index still at `index` since. */
  let nudgeStands = false;
  o.onWatch?.({
    askedIndex: index,
    probeNow: () => { if (Date.now() - lastProbe >= grace && wake) { nudgeStands = true; wake(); } },
    indexSeen: (seen) => { if (!(seen > index)) nudgeStands = false; },
  });
  const watcher = (async () => {
    while (!settled && !ac.signal.aborted) {
      const nudged = await Promise.race([abortableSleep(every, ac.signal).then(() => false), new Promise<boolean>((resolve) => { wake = () => resolve(true); })]);
      wake = undefined;
      // Nudged: the other table moved, and this one most often did too, its answer on its way:
      // wait the grace time first, so that a change both long-polls see costs no probe.
      if (nudged) await abortableSleep(grace, ac.signal);
      if (settled || ac.signal.aborted) return;
      if (nudged && !nudgeStands) continue; // answered meanwhile by another request: not moved
      lastProbe = Date.now();
      let now: number;
      try {
        now = await probe(ac.signal);
      } catch {
        continue; // the probe's own failure says nothing of the long-poll (it reports its own errors)
      }
      if (settled || ac.signal.aborted || !(now > index)) continue;
      // Consul had an answer for this long-poll before it answered the probe: allow for it to be
      // on its way (a large body), then give up on it.
      await abortableSleep(grace, ac.signal);
      if (settled || ac.signal.aborted) return;
      lost = { name: o.name, askedIndex: index, consulIndex: now, openMs: Date.now() - started };
      ac.abort(LOST);
      return;
    }
  })();
  try {
    const result = await pending;
    return { result };
  } catch (err) {
    if (lost && !o.signal.aborted) return { lost };
    throw err;
  } finally {
    settled = true;
    o.onWatch?.(undefined);
    o.signal.removeEventListener('abort', onStop);
    if (!ac.signal.aborted) ac.abort();
    wake?.();
    await watcher;
  }
}

export function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

/** Runs until `signal` aborts. Never throws: errors are reported and retried with backoff. */
export async function runBlockingLoop<T>(o: BlockingLoopOptions<T>): Promise<void> {
  const state: LoopState = { index: 0, last: undefined, failures: 0 };
  while (!o.signal.aborted) if (await askOnce(o, state) === 'stopped') return;
}

/** What the loop carries from one answer to the next: numbers and a fingerprint, never an answer. */
interface LoopState {
  index: number;
  last: string | undefined;
  failures: number;
}

/**
 * One request and what follows from its answer. Its own call, so that the answer dies with it: a
 * loop body that kept `result` in a variable kept the last answer alive while the next long-poll
 * waited (after startup, the whole first checks list decoded: ~35 MB at 10,000 services).
 */
async function askOnce<T>(o: BlockingLoopOptions<T>, state: LoopState): Promise<'stopped' | 'asked'> {
  const sleep = o.sleep ?? abortableSleep;
  let result: QueryResult<T>;
  try {
    const got = await watchedFetch(o, state.index);
    if ('lost' in got) {
      o.onLost?.(got.lost);
      return 'asked'; // same index: Consul answers at once, the index having moved past it
    }
    result = got.result;
  } catch (err) {
    if (o.signal.aborted || isHapilotError(err, ErrorCode.ABORTED)) return 'stopped';
    const delay = backoffDelay(state.failures, o.backoff);
    state.failures += 1;
    o.onError(err, state.failures, delay);
    await sleep(delay, o.signal);
    // After an error, ask without an index: the answer comes at once, so recovery is known (and
    // reported) now rather than at the end of a long wait; content comparison hides the repeat.
    state.index = 0;
    return 'asked';
  }
  state.failures = 0;
  const decision = decideIndex(state.index, result.index);
  o.onContact?.(decision.next);
  const fp = o.fingerprint ? o.fingerprint(result.data) : decision.kind === 'unchanged' ? state.last : undefined;
  if (decision.kind === 'unchanged' && fp === state.last) {
    // Abandoned by Consul (snapshot restore): the restored state is only seen by a new query.
    state.index = result.abandoned ? 0 : decision.next;
    return 'asked';
  }
  state.index = decision.next;
  const contentChanged = fp === undefined || fp !== state.last;
  state.last = fp;
  if (contentChanged || o.notifyIndexOnly) await o.onData(result.data, Math.max(1, result.index), contentChanged);
  return 'asked';
}
