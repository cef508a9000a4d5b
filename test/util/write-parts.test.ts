// writeParts writes every byte of the pieces in order, whatever the writes take at a time (a short
// write goes on from where it stopped), and says so when nothing can be written.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { FileHandle } from 'node:fs/promises';
import fc from 'fast-check';
import { writeParts } from '../../src/util/atomic-write.js';

/** A handle whose writev takes at most `max` bytes per call (0: none). */
function shortHandle(max: number): { handle: FileHandle; written: () => Buffer; calls: () => number } {
  const out: Buffer[] = [];
  let calls = 0;
  const handle = {
    async writev(buffers: Buffer[]) {
      calls += 1;
      assert.ok(buffers.length <= 1024, 'at most IOV_MAX buffers per call');
      const all = Buffer.concat(buffers);
      const taken = all.subarray(0, max);
      out.push(Buffer.from(taken));
      return { bytesWritten: taken.length, buffers };
    },
  } as unknown as FileHandle;
  return { handle, written: () => Buffer.concat(out), calls: () => calls };
}

test('property: every byte of the pieces is written in order, through short writes and more than 1,024 pieces', async () => {
  await fc.assert(fc.asyncProperty(fc.array(fc.uint8Array({ maxLength: 20 }), { maxLength: 1500 }), fc.integer({ min: 1, max: 5000 }), async (pieces, max) => {
    const parts = pieces.map((p) => Buffer.from(p));
    const { handle, written } = shortHandle(max);
    await writeParts(handle, parts);
    assert.deepEqual(written(), Buffer.concat(parts));
  }), { numRuns: 200 });
});

test('a handle that takes nothing is an error, not a loop', async () => {
  const { handle, calls } = shortHandle(0);
  await assert.rejects(writeParts(handle, [Buffer.from('abc')]), /nothing written/);
  assert.equal(calls(), 1);
});
