// The daemon bounds its heap's growth (src/util/heap.ts): with ~100 MB live and 75 MB strings left
// behind over and over, the heap is collected well before V8's default would let it grow; a
// --heap-growing-percent given to node itself is left as it is.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { execa } from 'execa';

const PROBE = path.resolve('test/helpers/heap-probe.ts');

async function peak(nodeArgs: string[], mode: 'bound' | 'free'): Promise<number> {
  const { stdout } = await execa(process.execPath, [...nodeArgs, '--import', 'tsx', PROBE, mode]);
  return (JSON.parse(stdout) as { maxMb: number }).maxMb;
}

test('the heap is collected before it grows far; a growth factor given to node wins', async () => {
  const free = await peak([], 'free');
  const bound = await peak([], 'bound');
  assert.ok(bound < free * 0.7, `bounded peak ${bound} MB, V8's default ${free} MB`);
  const given = await peak(['--heap-growing-percent=400'], 'bound');
  assert.ok(given > bound * 1.3, `with --heap-growing-percent=400 given to node: ${given} MB, bounded ${bound} MB`);
});
