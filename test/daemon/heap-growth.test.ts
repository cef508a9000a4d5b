// The daemon bounds its heap's growth (src/util/heap.ts) where V8 would let it grow far: with ~100 MB
// live and 75 MB strings left behind over and over, the heap peaks where it does with
// --heap-growing-percent=50 given to node; a factor given to node itself is left as it is, and so is
// a V8 whose heap limit keeps its own factor small.
// Every probe is given a 4 GiB heap limit and a fixed factor, so no peak depends on V8's own choice,
// which moves with the machine's memory and load (the CI saw 316 MB unbounded where this one sees 770).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { execa } from 'execa';
import { BOUND_FROM_HEAP_LIMIT, heapGrowthFlag } from '../../src/util/heap.js';

const PROBE = path.resolve('test/helpers/heap-probe.ts');
const LARGE_HEAP = '--max-old-space-size=4096';

async function peak(nodeArgs: string[], mode: 'bound' | 'free'): Promise<number> {
  const { stdout } = await execa(process.execPath, [...nodeArgs, '--import', 'tsx', PROBE, mode]);
  return (JSON.parse(stdout) as { maxMb: number }).maxMb;
}

test('heapGrowthFlag: 50 % where V8 would grow 4x; nothing when node was given a factor or V8 keeps its own small', () => {
  const large = 4 * 1024 ** 3;
  assert.equal(heapGrowthFlag([], large), '--heap-growing-percent=50');
  assert.equal(heapGrowthFlag(['--heap-growing-percent=400'], large), undefined);
  assert.equal(heapGrowthFlag(['--heap_growing_percent=20'], large), undefined);
  assert.equal(heapGrowthFlag(['--max-old-space-size=4096'], large), '--heap-growing-percent=50');
  assert.equal(heapGrowthFlag([], BOUND_FROM_HEAP_LIMIT), '--heap-growing-percent=50');
  assert.equal(heapGrowthFlag([], BOUND_FROM_HEAP_LIMIT - 1), undefined);
  assert.equal(heapGrowthFlag([], 1072 * 1024 ** 2), undefined);
});

test('bounded, the heap peaks as with --heap-growing-percent=50 given to node; a factor given to node wins', async () => {
  const bound = await peak([LARGE_HEAP], 'bound');
  const fixed = await peak([LARGE_HEAP, '--heap-growing-percent=50'], 'free');
  assert.ok(Math.abs(bound - fixed) <= fixed * 0.1, `bounded peak ${bound} MB, with the flag given to node ${fixed} MB`);
  const given = await peak([LARGE_HEAP, '--heap-growing-percent=300'], 'bound');
  assert.ok(given > bound * 1.3, `with --heap-growing-percent=300 given to node: ${given} MB, bounded ${bound} MB`);
});
