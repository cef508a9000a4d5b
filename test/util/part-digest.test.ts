// The model file's digests of a config: they always describe the bytes (each stretch's length and
// SHA-256, the whole in order), and after a splice only the new sections and the blocks holding a
// cut are hashed; the rest are known from the bytes hashed before.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { ByteRope } from '../../src/util/byte-rope.js';
import { digestsOf, matchesDigests, PartHasher } from '../../src/util/part-digest.js';
import { cutRope } from '../helpers/rope.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

test('property: the digests describe the bytes, and a splice hashes only its sections and the blocks it cut', () => {
  const edit = fc.record({ at: fc.nat(), remove: fc.nat(40), insert: fc.uint8Array({ minLength: 1, maxLength: 40 }) });
  const cuts = fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 4 });
  fc.assert(fc.property(fc.uint8Array({ minLength: 1, maxLength: 400 }), cuts, fc.array(fc.array(edit, { minLength: 1, maxLength: 3 }), { minLength: 1, maxLength: 8 }), fc.integer({ min: 1, max: 64 }), (first, at, steps, block) => {
    const hasher = new PartHasher(block);
    let rope = cutRope(Buffer.from(first), at);
    const check = (r: ByteRope) => {
      const { parts, hashedBytes } = hasher.digests(r);
      const flat = r.flat();
      assert.ok(matchesDigests(flat, parts));
      // Each stretch its bytes' SHA-256, none longer than a block.
      let from = 0;
      for (const [n, d] of parts) {
        assert.ok(n > 0 && n <= block);
        assert.equal(d, sha(flat.subarray(from, from + n)));
        from += n;
      }
      assert.equal(from, flat.length);
      return hashedBytes;
    };
    assert.equal(check(rope), rope.length, 'the first bytes: all hashed');
    assert.equal(check(rope), 0, 'the same bytes again: none hashed');
    for (const edits of steps) {
      // Edits in order and apart, as a server-only change's sections are.
      const spliceAt: Array<{ from: number; to: number; bytes: Buffer }> = [];
      let from = 0;
      for (const e of edits) {
        const start = from + (rope.length - from ? e.at % (rope.length - from + 1) : 0);
        const to = Math.min(rope.length, start + e.remove);
        spliceAt.push({ from: start, to, bytes: Buffer.from(e.insert) });
        from = to;
        if (from >= rope.length) break;
      }
      // The new sections, and at each end of an edit the block it cuts in two.
      const bound = spliceAt.reduce((n, s) => n + s.bytes.length + 2 * block, 0);
      const next = rope.splice(spliceAt);
      const hashed = check(next);
      // (A rope of too many parts is copied into one buffer: then all of it is new.)
      if (next.parts.length > 1 || rope.parts.length === 1) assert.ok(hashed <= bound, `hashed ${hashed} bytes, at most ${bound} expected`);
      rope = next;
    }
  }), { numRuns: 300 });
});

test('a config spliced into a 9 MB rope hashes the new section and the block it cut, not the config', () => {
  const config = Buffer.from('    server a 10.0.0.1:80 check\n'.repeat(300_000));
  const hasher = new PartHasher();
  let rope = ByteRope.of(config);
  assert.equal(hasher.digests(rope).hashedBytes, config.length);
  // Ten changes, each one section somewhere: the block holding the cut (256 KB) and the section.
  const hashed: number[] = [];
  for (let k = 1; k <= 10; k++) {
    const from = Math.floor((config.length * ((k * 7) % 10)) / 11);
    rope = rope.splice([{ from, to: from + 31, bytes: Buffer.from(`    server b${k} 10.0.0.2:80 check\n`) }]);
    hashed.push(hasher.digests(rope).hashedBytes);
  }
  assert.ok(hashed.every((n) => n > 0 && n <= (1 << 18) + 40), `hashed per change: ${hashed.join(', ')}`);
  assert.ok(matchesDigests(rope.flat(), hasher.digests(rope).parts));
});

test('matchesDigests: the same bytes only (a byte changed, the length changed, other cuts)', () => {
  const bytes = Buffer.from('global\n  maxconn 10\nbackend web\n');
  const parts = digestsOf(bytes, [7, 13, 12]);
  assert.ok(matchesDigests(bytes, parts));
  assert.ok(!matchesDigests(Buffer.from('global\n  maxconn 11\nbackend web\n'), parts));
  assert.ok(!matchesDigests(Buffer.concat([bytes, Buffer.from('\n')]), parts));
  assert.ok(!matchesDigests(bytes, [[7, parts[0]![1]], [25, parts[1]![1]]]));
  assert.ok(!matchesDigests(bytes, []));
  assert.ok(matchesDigests(Buffer.alloc(0), []));
});
