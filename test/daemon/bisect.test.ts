import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { findCulprits } from '../../src/daemon/bisect.js';

test('property: bisection finds exactly the bad services, in O(k log n) validations', async () => {
  await fc.assert(fc.asyncProperty(fc.integer({ min: 1, max: 300 }), fc.array(fc.nat(299), { maxLength: 4 }), async (n, badIdx) => {
    const names = Array.from({ length: n }, (_, i) => `s${String(i).padStart(3, '0')}`);
    const bad = new Set(badIdx.filter((i) => i < n).map((i) => names[i]!));
    const r = await findCulprits(names, async (subset) => {
      const hit = subset.find((s) => bad.has(s));
      return { ok: hit === undefined, message: hit ? `bad ${hit}` : '' };
    });
    assert.equal(r.isolated, true);
    assert.deepEqual(r.culprits.map((c) => c.service).sort(), [...bad].sort());
    for (const c of r.culprits) assert.equal(c.message, `bad ${c.service}`);
    const k = Math.max(1, bad.size);
    assert.ok(r.validations <= 2 + k * 2 * (Math.ceil(Math.log2(n)) + 1), `${r.validations} validations for n=${n} k=${bad.size}`);
  }), { numRuns: 300 });
});

test('a pair that is only invalid together: one of the two is left out, the other stays', async () => {
  const r = await findCulprits(['a', 'b', 'c', 'd'], async (subset) => ({ ok: !(subset.includes('b') && subset.includes('d')), message: 'b+d' }));
  assert.equal(r.culprits.length, 1);
  assert.ok(['b', 'd'].includes(r.culprits[0]!.service));
});

test('a config that fails even without services is not blamed on any service', async () => {
  const r = await findCulprits(['a', 'b'], async () => ({ ok: false, message: 'global' }));
  assert.deepEqual(r, { culprits: [], isolated: false, validations: 1 });
});
