import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Debouncer, fireAt, parseWait } from '../../src/daemon/debounce.js';
import { parseDurationMs } from '../../src/util/duration.js';

const o = { minMs: 1000, maxMs: 5000, minIntervalMs: 3000 };

test('quiescence: fire min after the last change, but never later than max after the burst began', () => {
  assert.equal(fireAt({ burstStartMs: 0, lastChangeMs: 0, lastReloadMs: undefined, o }), 1000);
  assert.equal(fireAt({ burstStartMs: 0, lastChangeMs: 2500, lastReloadMs: undefined, o }), 3500);
  assert.equal(fireAt({ burstStartMs: 0, lastChangeMs: 4800, lastReloadMs: undefined, o }), 5000, 'a flapping service cannot delay forever');
});

test('min reload interval: never sooner than that after the last reload', () => {
  assert.equal(fireAt({ burstStartMs: 10_000, lastChangeMs: 10_000, lastReloadMs: 9500, o }), 12_500);
  assert.equal(fireAt({ burstStartMs: 10_000, lastChangeMs: 10_000, lastReloadMs: 1000, o }), 11_000);
});

test('--wait parsing', () => {
  assert.deepEqual(parseWait('2s:10s'), { minMs: 2000, maxMs: 10_000 });
  assert.deepEqual(parseWait('500ms'), { minMs: 500, maxMs: 2000 });
  assert.deepEqual(parseWait('0:0'), { minMs: 0, maxMs: 0 });
  assert.equal(parseWait('10s:2s'), undefined);
  assert.equal(parseWait('abc'), undefined);
  assert.equal(parseDurationMs('1.5m'), 90_000);
});

test('Debouncer: quiet counts from when a change was seen (its snapshot), not from when a sync got to it', async () => {
  let fired = 0;
  const d = new Debouncer({ o: { minMs: 600, maxMs: 5000, minIntervalMs: 0 }, fire: () => { fired++; }, lastReloadMs: () => undefined });
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  // Seen 590 ms ago: fires about 10 ms from now, not 600.
  d.notify(Date.now() - 590);
  await sleep(200);
  assert.equal(fired, 1, 'fired after the rest of the quiet, counted from the snapshot');
  // A time in the future is taken as now: a full quiet.
  d.notify(Date.now() + 10_000);
  await sleep(200);
  assert.equal(fired, 1, 'not yet: a full quiet from now');
  for (let i = 0; i < 50 && fired < 2; i++) await sleep(100);
  assert.equal(fired, 2);
  d.cancel();
});
