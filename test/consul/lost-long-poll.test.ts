// runBlockingLoop's probe rule, with a fake fetch: a long-poll whose endpoint index has moved past
// the one it waits on, and that still has no answer after the grace time, is abandoned, reported and
// asked again with the same index; a long-poll held on a quiet endpoint is left alone.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runBlockingLoop, type LostLongPoll, type PollWatch } from '../../src/consul/blocking-query.js';
import { ErrorCode, HapilotError } from '../../src/errors.js';
import type { QueryResult } from '../../src/consul/client.js';

/** A fetch that answers index 0 at once and holds every blocking one until its signal aborts (or `answer` is called). */
function fakeConsul() {
  const asked: number[] = [];
  let answer: ((r: QueryResult<string>) => void) | undefined;
  const fetch = (index: number, signal: AbortSignal): Promise<QueryResult<string>> => {
    asked.push(index);
    if (index === 0) return Promise.resolve({ data: 'v1', index: 10, knownLeader: true, lastContactMs: 0 });
    return new Promise((resolve, reject) => {
      answer = resolve;
      signal.addEventListener('abort', () => reject(new HapilotError(ErrorCode.ABORTED, 'aborted')), { once: true });
    });
  };
  return { asked, fetch, answer: (r: QueryResult<string>) => answer?.(r) };
}

const until = async (fn: () => boolean, ms: number, what: string) => {
  const end = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
};

test('a long-poll whose index has moved on without an answer is abandoned, reported and asked again with the same index', async () => {
  const c = fakeConsul();
  const ac = new AbortController();
  const lost: LostLongPoll[] = [];
  let consulIndex = 10;
  const data: Array<[string, number]> = [];
  const loop = runBlockingLoop<string>({
    name: 'x', signal: ac.signal, fetch: c.fetch, fingerprint: (d) => d,
    onData: (d, i) => { data.push([d, i]); }, onError: () => assert.fail('no error expected'),
    probe: async () => consulIndex, probeAfterMs: 40, probeGraceMs: 30, onLost: (l) => lost.push(l),
  });
  await until(() => c.asked.length === 2, 1000, 'the first long-poll');
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(lost.length, 0, 'a quiet endpoint (probe index = asked index) is left alone');
  assert.deepEqual(c.asked, [0, 10]);
  consulIndex = 12; // the answer for index 10 "got lost"
  await until(() => lost.length === 1, 1000, 'the lost answer reported');
  assert.deepEqual(lost[0] && { name: lost[0].name, askedIndex: lost[0].askedIndex, consulIndex: lost[0].consulIndex }, { name: 'x', askedIndex: 10, consulIndex: 12 });
  assert.ok(lost[0]!.openMs >= 200);
  await until(() => c.asked.length === 3, 1000, 'asked again');
  assert.equal(c.asked[2], 10, 'asked again with the same index (answered at once: the index moved)');
  c.answer({ data: 'v2', index: 12, knownLeader: true, lastContactMs: 0 });
  await until(() => data.length === 2, 1000, 'the answer taken');
  assert.deepEqual(data, [['v1', 10], ['v2', 12]]);
  ac.abort();
  await loop;
});

test('probe failures are ignored; stopping the loop while a probe runs ends it', async () => {
  const c = fakeConsul();
  const ac = new AbortController();
  let probes = 0;
  const loop = runBlockingLoop<string>({
    name: 'x', signal: ac.signal, fetch: c.fetch, fingerprint: (d) => d, onData: () => undefined,
    onError: () => assert.fail('a probe failure is not the long-poll\'s error'),
    probe: (signal) => {
      probes++;
      if (probes < 3) return Promise.reject(new Error('probe refused'));
      return new Promise((_, reject) => signal.addEventListener('abort', () => reject(new Error('aborted')), { once: true }));
    },
    probeAfterMs: 20, onLost: () => assert.fail('nothing is lost'),
  });
  await until(() => probes >= 3, 1000, 'three probes');
  assert.deepEqual(c.asked, [0, 10], 'the long-poll kept waiting');
  ac.abort();
  await loop;
});

test('probeNow probes a long-poll open longer than the grace time after the grace time, not at its next period', async () => {
  const c = fakeConsul();
  const ac = new AbortController();
  let probes = 0;
  let watch: PollWatch | undefined;
  const lost: LostLongPoll[] = [];
  const loop = runBlockingLoop<string>({
    name: 'x', signal: ac.signal, fetch: c.fetch, fingerprint: (d) => d, onData: () => undefined, onError: () => undefined,
    probe: async () => { probes++; return 11; }, probeAfterMs: 60_000, probeGraceMs: 50,
    onLost: (l) => lost.push(l), onWatch: (w) => { watch = w; },
  });
  await until(() => watch !== undefined, 1000, 'the long-poll watched');
  assert.equal(watch!.askedIndex, 10);
  watch!.probeNow(); // too early: open for less than the grace time
  await new Promise((r) => setTimeout(r, 30));
  assert.equal(probes, 0);
  await new Promise((r) => setTimeout(r, 40));
  watch!.probeNow();
  await until(() => lost.length === 1, 1000, 'probed and given up within the grace time');
  assert.equal(probes, 1);
  await until(() => c.asked.length === 3, 1000, 'asked again');
  ac.abort();
  await loop;
  assert.equal(watch, undefined, 'the watch ends with its long-poll');
});

test('a nudge is dropped when another request saw the index still at the one asked for; it stands when the index had moved', async () => {
  const c = fakeConsul();
  const ac = new AbortController();
  let probes = 0;
  let consulIndex = 10;
  let watch: PollWatch | undefined;
  const lost: LostLongPoll[] = [];
  const loop = runBlockingLoop<string>({
    name: 'x', signal: ac.signal, fetch: c.fetch, fingerprint: (d) => d, onData: () => undefined, onError: () => undefined,
    probe: async () => { probes++; return consulIndex; }, probeAfterMs: 60_000, probeGraceMs: 50,
    onLost: (l) => lost.push(l), onWatch: (w) => { watch = w; },
  });
  await until(() => watch !== undefined, 1000, 'the long-poll watched');
  await new Promise((r) => setTimeout(r, 70));
  watch!.probeNow();
  watch!.indexSeen(10); // another request: the table has not moved past 10
  await new Promise((r) => setTimeout(r, 150));
  assert.equal(probes, 0, 'no probe: its answer was already known');
  assert.deepEqual(c.asked, [0, 10]);
  consulIndex = 12;
  watch!.probeNow();
  watch!.indexSeen(12); // moved: the long-poll's answer is due, the probe stands
  await until(() => lost.length === 1, 1000, 'probed and given up');
  assert.equal(probes, 1);
  ac.abort();
  await loop;
});
