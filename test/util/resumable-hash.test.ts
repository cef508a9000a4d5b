// The SHA-256 resumed from a saved state is the SHA-256 of the whole bytes, whatever changed since
// the last hash (nothing, the first byte, the last, across a mark, the length), and it resumes from
// the last mark before the first byte that differs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { ResumableSha256 } from '../../src/util/resumable-hash.js';
import { cutRope } from '../helpers/rope.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

test('property: each digest is the SHA-256 of its bytes, after any edits of the bytes hashed before', () => {
  const edit = fc.record({ at: fc.nat(), remove: fc.nat(40), insert: fc.uint8Array({ maxLength: 40 }) });
  const cuts = fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 4 });
  fc.assert(fc.property(fc.uint8Array({ maxLength: 400 }), fc.array(fc.tuple(fc.array(edit, { maxLength: 3 }), cuts), { minLength: 1, maxLength: 6 }), fc.integer({ min: 1, max: 64 }), (first, steps, mark) => {
    const hasher = new ResumableSha256(mark);
    let bytes = Buffer.from(first);
    assert.equal(hasher.digest(bytes).hex, sha(bytes));
    for (const [edits, at] of steps) {
      let next = Buffer.from(bytes);
      for (const e of edits) {
        const at = next.length ? e.at % (next.length + 1) : 0;
        next = Buffer.concat([next.subarray(0, at), Buffer.from(e.insert), next.subarray(at + e.remove)]);
      }
      // Half the time as a rope cut anywhere (a spliced config's bytes).
      const { hex, resumedAt } = hasher.digest(at.length % 2 ? cutRope(next, at) : next);
      assert.equal(hex, sha(next));
      // Resumed no later than the first byte that differs, and from a mark.
      let same = 0;
      while (same < Math.min(bytes.length, next.length) && bytes[same] === next[same]) same++;
      assert.ok(resumedAt <= same && resumedAt % mark === 0, `resumed at ${resumedAt}, first difference at ${same}`);
      bytes = next;
    }
  }), { numRuns: 500 });
});

test('a change near the end of a large config is hashed from its last mark, not from the start', () => {
  const hasher = new ResumableSha256(1 << 20);
  const config = Buffer.from('    server a 10.0.0.1:80 check\n'.repeat(220_000));
  assert.equal(hasher.digest(config).resumedAt, 0);
  const next = Buffer.from(config);
  next[config.length - 10] = 0x41;
  const { hex, resumedAt } = hasher.digest(next);
  assert.equal(hex, sha(next));
  assert.equal(resumedAt, 6 << 20, 'the six whole marks before the change are not hashed again');
  // The same bytes again: resumed from the last mark.
  assert.equal(hasher.digest(next).resumedAt, 6 << 20);
});
