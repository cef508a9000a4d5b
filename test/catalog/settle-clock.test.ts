// The settle time of a services-index move: at least the minimum, twice the slowest recent delay
// between a services answer and the checks list's header (plus 50 ms), at most 10 s; the probe wait:
// twice the slowest of the last 8 waits (0 when the checks header came first) plus 5 ms, at least 5 ms.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SettleClock } from '../../src/catalog/settle-clock.js';

test('SettleClock: minimum, first read, measured delays (last 8), cap', () => {
  let now = 0;
  const clock = new SettleClock(250, () => now);
  assert.equal(clock.ms(), 250, 'nothing measured: the minimum');
  assert.equal(clock.probeMs(), 5, 'nothing measured: 5 ms');
  now = 400;
  clock.header(10, 0); // a first read took 400 ms: it stands in until a write is timed
  assert.equal(clock.ms(), 850);
  assert.equal(clock.probeMs(), 5, 'the first read does not count for the probe (it times a whole answer under startup load)');
  clock.wait(11); now = 430; clock.header(11, undefined); // a write: 30 ms
  assert.equal(clock.ms(), 250, 'a timed write replaces the first read');
  assert.equal(clock.probeMs(), 65, 'a timed write: 2 x 30 + 5');
  clock.wait(12); clock.wait(13); now = 530; clock.header(12, undefined);
  assert.equal(clock.ms(), 250, 'index 12 took 100 ms: 2 x 100 + 50 is the minimum');
  now = 730; clock.header(13, undefined);
  assert.equal(clock.ms(), 650, 'index 13 waited 300 ms');
  clock.wait(14); clock.forget(14); now = 20_000; clock.header(14, undefined);
  assert.equal(clock.ms(), 650, 'a forgotten index is not timed');
  for (let k = 0; k < 8; k++) { clock.wait(20 + k); now += 10; clock.header(20 + k, undefined); }
  assert.equal(clock.ms(), 250, 'only the last 8 delays count');
  clock.wait(40); now += 60_000; clock.header(40, undefined);
  assert.equal(clock.ms(), 10_000, 'capped at 10 s');
  for (let k = 0; k < 8; k++) clock.ahead();
  assert.equal(clock.probeMs(), 5, 'eight moves whose checks header came first: the floor');
  assert.equal(clock.ms(), 10_000, 'the settle time counts only waits that were timed');
});
