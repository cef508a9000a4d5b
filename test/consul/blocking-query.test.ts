import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { backoffDelay, decideIndex, runBlockingLoop } from '../../src/consul/blocking-query.js';
import { ErrorCode, HapilotError } from '../../src/errors.js';
import type { QueryResult } from '../../src/consul/client.js';
import { collector } from '../helpers/gc.js';

test('index rules: first answer advances; same index is unchanged; backwards resets to 0; below 1 is clamped', () => {
  assert.deepEqual(decideIndex(0, 42), { kind: 'advanced', next: 42 });
  assert.deepEqual(decideIndex(42, 42), { kind: 'unchanged', next: 42 });
  assert.deepEqual(decideIndex(42, 50), { kind: 'advanced', next: 50 });
  assert.deepEqual(decideIndex(42, 7), { kind: 'reset', next: 0 });
  assert.deepEqual(decideIndex(0, 0), { kind: 'advanced', next: 1 });
  assert.deepEqual(decideIndex(0, Number.NaN), { kind: 'advanced', next: 1 });
});

test('property: the next index is never negative, is 0 only after a reset, and never blocks on an index above what Consul said', () => {
  fc.assert(fc.property(fc.nat(), fc.oneof(fc.nat(), fc.constant(-1), fc.constant(Number.NaN)), (prev, returned) => {
    const d = decideIndex(prev, returned);
    const sane = Number.isFinite(returned) && returned >= 1 ? returned : 1;
    assert.ok(d.next >= 0);
    if (d.next === 0) assert.equal(d.kind, 'reset');
    if (d.kind !== 'reset') assert.ok(d.next >= 1 && d.next <= sane);
    if (d.kind === 'reset') assert.ok(prev > 0 && sane < prev);
    if (d.kind === 'unchanged') assert.equal(d.next, prev);
  }), { numRuns: 5000 });
});

test('backoff is capped exponential with jitter', () => {
  const opts = { baseMs: 100, maxMs: 5000 };
  assert.equal(backoffDelay(0, opts, () => 0), 50);
  assert.equal(backoffDelay(0, opts, () => 1), 100);
  assert.equal(backoffDelay(3, opts, () => 1), 800);
  assert.equal(backoffDelay(30, opts, () => 1), 5000);
  fc.assert(fc.property(fc.nat(100), fc.double({ min: 0, max: 1, noNaN: true }), (n, r) => {
    const d = backoffDelay(n, opts, () => r);
    return d >= 50 && d <= 5000;
  }));
});

function answers(seq: Array<QueryResult<string> | Error>) {
  const calls: number[] = [];
  let i = 0;
  return {
    calls,
    fetch: async (index: number) => {
      calls.push(index);
      const next = seq[i++];
      if (next === undefined) throw new HapilotError(ErrorCode.ABORTED, 'done');
      if (next instanceof Error) throw next;
      return next;
    },
  };
}
const r = (data: string, index: number): QueryResult<string> => ({ data, index, knownLeader: true, lastContactMs: 0 });

test('the loop asks with the last index, reports only content changes, resets on a backwards index, retries errors with backoff (then without index)', async () => {
  const src = answers([r('a', 10), r('a', 10), r('a', 11), r('b', 12), new Error('boom'), r('b', 12), r('b', 5), r('c', 6)]);
  const seen: Array<[string, number]> = [];
  const delays: number[] = [];
  const ac = new AbortController();
  await runBlockingLoop({
    name: 't', signal: ac.signal, fetch: src.fetch, fingerprint: (d) => d,
    onData: (d, i) => { seen.push([d, i]); },
    onError: (_e, _a, delay) => delays.push(delay),
    sleep: async () => undefined,
  });
  assert.deepEqual(src.calls, [0, 10, 10, 11, 12, 0, 12, 0, 6]);
  assert.deepEqual(seen, [['a', 10], ['b', 12], ['c', 6]]);
  assert.equal(delays.length, 1);
});

test('notifyIndexOnly reports index moves without content changes', async () => {
  const src = answers([r('a', 10), r('a', 11), r('a', 11)]);
  const seen: Array<[string, number, boolean]> = [];
  await runBlockingLoop({
    name: 't', signal: new AbortController().signal, fetch: src.fetch, fingerprint: (d) => d, notifyIndexOnly: true,
    onData: (d, i, changed) => { seen.push([d, i, changed]); }, onError: () => undefined, sleep: async () => undefined,
  });
  assert.deepEqual(seen, [['a', 10, true], ['a', 11, false]]);
});

for (const probing of [false, true]) {
  test(`the loop lets go of an answer once it is handed over: nothing of it is held while the next long-poll waits${probing ? ' (watched by a probe)' : ''}`, async () => {
    const gc = collector();
    const ac = new AbortController();
    let first: WeakRef<object> | undefined;
    let waiting: (() => void) | undefined;
    const waitingNow = new Promise<void>((resolve) => { waiting = resolve; });
    const loop = runBlockingLoop<{ rows: number[] }>({
      name: 't', signal: ac.signal,
      fetch: async (index, signal) => {
        if (index === 0) {
          const data = { rows: Array.from({ length: 1000 }, (_, i) => i) };
          first = new WeakRef(data);
          return { data, index: 10, knownLeader: true, lastContactMs: 0 };
        }
        // The next long-poll: held until the loop is stopped.
        waiting?.();
        await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
        throw new HapilotError(ErrorCode.ABORTED, 'stopped');
      },
      onData: (d) => { assert.equal(d.rows.length, 1000); },
      onError: () => undefined,
      ...(probing ? { probe: async () => 10, probeAfterMs: 60_000 } : {}),
    });
    try {
      await waitingNow;
      await new Promise((resolve) => setImmediate(resolve));
      gc();
      assert.ok(first, 'the first answer was fetched');
      assert.equal(first.deref(), undefined, 'the first answer is still reachable while the next long-poll waits');
    } finally {
      ac.abort();
      await loop;
    }
  });
}
