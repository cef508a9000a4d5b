// The bookkeeping of which services-index moves the checks lists explain (explained-writes.ts):
// consul-source.ts re-reads everything for a move none explains.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ExplainedWrites } from '../../src/catalog/explained-writes.js';

test('a waiting move is explained by the next list that shows a check of that write; one that shows none leaves it unexplained', () => {
  const w = new ExplainedWrites();
  assert.deepEqual(w.list(10, () => false), [], 'nothing waited');
  w.await(12);
  w.await(13);
  w.await(20);
  assert.ok(w.awaiting(12));
  // The list at 15 showed a check changed by write 12 (its ModifyIndex), none by 13; 20 is beyond it.
  assert.deepEqual(w.list(15, (t) => t === 12), [13]);
  assert.ok(!w.awaiting(12) && !w.awaiting(13), 'decided either way');
  assert.ok(w.awaiting(20), 'beyond the list: still waiting');
  assert.equal(w.covering(12)?.explains(12), true);
  assert.equal(w.covering(13)?.explains(13), false);
  assert.equal(w.covering(10)?.explains(10), false, 'index 10 is in the span of the list at 10, (0, 10], not of the one at 15');
  assert.equal(w.covering(16), undefined);
  // A move at or before the last list's index, waiting only now: no later list can show it.
  w.await(15);
  assert.deepEqual(w.list(25, () => true), [15]);
  assert.ok(!w.awaiting(20), 'explained by the list at 25');
});

test('a list compared with the entries (no list before it) explains nothing and spans nothing', () => {
  const w = new ExplainedWrites();
  w.await(3);
  w.await(8);
  w.await(12);
  assert.deepEqual(w.list(10, undefined), [3, 8]);
  assert.equal(w.covering(5), undefined);
  assert.ok(w.awaiting(12));
  // The next list spans from that one's index.
  assert.deepEqual(w.list(14, () => true), []);
  assert.equal(w.covering(11)?.explains(11), true);
  assert.equal(w.covering(10), undefined);
});

test('reading everything up to an index settles the moves up to it; a restore forgets what lists showed', () => {
  const w = new ExplainedWrites();
  w.list(10, () => true);
  w.list(20, () => true);
  for (const t of [21, 22, 30]) w.await(t);
  w.readAllUpTo(22);
  assert.deepEqual([21, 22, 30].map((t) => w.awaiting(t)), [false, false, true]);
  w.drop(30);
  assert.ok(!w.awaiting(30));
  assert.ok(w.covering(15));
  w.restored();
  assert.equal(w.covering(15), undefined);
  // After a restore the next list spans from 0.
  w.list(5, () => true);
  assert.ok(w.covering(1));
});

test('only the last 32 lists are remembered', () => {
  const w = new ExplainedWrites();
  for (let i = 1; i <= 40; i++) w.list(i * 10, () => true);
  assert.equal(w.covering(75), undefined, 'the list at 80 is forgotten');
  assert.ok(w.covering(85), 'the list at 90 is the oldest kept');
});

test('gaps between services answers: unexplained until a list explains every index in them; a wide one always', () => {
  const w = new ExplainedWrites();
  w.list(100, () => false);
  w.gap(100, 104); // writes 101..103 may have come back under 104
  assert.equal(w.lastGapIndex, 103);
  assert.equal(w.gapsUnexplained(), true, 'no list spans them yet');
  w.list(110, (t) => t >= 101 && t <= 103);
  assert.equal(w.gapsUnexplained(), false);
  w.gap(104, 106);
  w.list(120, (t) => t !== 105);
  assert.equal(w.gapsUnexplained(), true, '105 is not explained');
  w.clearGaps();
  assert.equal(w.gapsUnexplained(), false);
  assert.equal(w.lastGapIndex, 0);
  w.list(400, () => true);
  w.gap(200, 300);
  assert.equal(w.gapsUnexplained(), true, '99 indexes: too many to look at one by one');
});
