// sortShort: the order of Array.prototype.sort (stable, in place), and no sort's allocation on the
// short lists hapilot sorts per instance and per service.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Session } from 'node:inspector/promises';
import fc from 'fast-check';
import { lowerBound, sortShort } from '../../src/util/sorted.js';

interface Item {
  key: number;
  at: number;
}

const byKey = (a: Item, b: Item) => a.key - b.key;

test('property: sortShort orders as Array.prototype.sort does, equal keys in their first order, in place, short lists and long', () => {
  fc.assert(fc.property(fc.array(fc.integer({ min: 0, max: 5 }), { maxLength: 40 }), (keys) => {
    const items = keys.map((key, at) => ({ key, at }));
    const mine = [...items];
    const out = sortShort(mine, byKey);
    assert.equal(out, mine, 'the list itself');
    assert.deepEqual(out, [...items].sort(byKey));
    for (let i = 1; i < out.length; i++) {
      const a = out[i - 1] as Item;
      const b = out[i] as Item;
      assert.ok(a.key < b.key || (a.key === b.key && a.at < b.at), 'stable');
    }
  }), { numRuns: 2000 });
});

test('sortShort allocates nothing for lists of two (Array.prototype.sort allocates about 870 bytes for each on Node 20)', async () => {
  const session = new Session();
  session.connect();
  const lists = (n: number) => Array.from({ length: n }, (_, k) => [{ key: k % 7, at: 1 }, { key: k % 3, at: 0 }]);
  const n = 20_000;
  for (const l of lists(n)) sortShort(l, byKey);
  const mine = lists(n);
  await session.post('HeapProfiler.startSampling', { samplingInterval: 512, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
  for (let i = 0; i < n; i++) sortShort(mine[i] as Item[], byKey);
  const { profile } = await session.post('HeapProfiler.stopSampling');
  session.disconnect();
  let allocated = 0;
  const walk = (node: typeof profile.head): void => {
    allocated += node.selfSize;
    node.children.forEach(walk);
  };
  walk(profile.head);
  assert.deepEqual(mine, lists(n).map((l) => [...l].sort(byKey)));
  assert.ok(allocated < n * 16, `${allocated} bytes for ${n} lists of two`);
});

test('lowerBound: the first place not below the value', () => {
  assert.equal(lowerBound([1, 3, 3, 7], 3), 1);
  assert.equal(lowerBound([1, 3, 3, 7], 4), 3);
  assert.equal(lowerBound([1, 3, 3, 7], 8), 4);
  assert.equal(lowerBound([], 1), 0);
});
