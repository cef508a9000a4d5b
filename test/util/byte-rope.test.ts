// A rope reads as the bytes it holds, whatever its cuts: every operation agrees with the same
// operation on one flat buffer, splices included, and a splice of a splice shares memory with it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, openSync, readFileSync } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { ByteRope } from '../../src/util/byte-rope.js';
import { cutRope } from '../helpers/rope.js';
import { tempDir } from '../helpers/haproxy.js';

const NL = 10;
const bytesArb = fc.array(fc.constantFrom(NL, 0x61, 0x62, 0xc3, 0xa9), { maxLength: 120 }).map((a) => Buffer.from(a));
const cutsArb = fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 6 });

test('property: a rope cut anywhere reads as its flat bytes (at, indexOf, lastIndexOf, range, toString, equals)', () => {
  fc.assert(fc.property(bytesArb, cutsArb, fc.integer({ min: -3, max: 130 }), fc.integer({ min: -3, max: 130 }), (flat, cuts, i, j) => {
    const rope = cutRope(flat, cuts);
    assert.equal(rope.length, flat.length);
    assert.equal(rope.at(i), i >= 0 && i < flat.length ? flat[i] : undefined);
    assert.equal(rope.indexOf(NL, i), i > flat.length ? -1 : flat.indexOf(NL, Math.max(0, i)));
    assert.equal(rope.lastIndexOf(NL, i), i < 0 ? -1 : flat.lastIndexOf(NL, i));
    const from = Math.max(0, Math.min(i, j, flat.length));
    const to = Math.min(flat.length, Math.max(i, j, 0));
    assert.deepEqual(Buffer.concat(rope.range(from, to)), flat.subarray(from, to));
    assert.equal(rope.toString(from, to), flat.toString('utf8', from, to));
    assert.ok(rope.equals(flat) && rope.equals(cutRope(flat, cuts.map((c) => c / 2))));
    assert.deepEqual(rope.flat(), flat);
  }), { numRuns: 1000 });
});

test('property: sameRun and equals tell any difference, wherever both ropes are cut', () => {
  fc.assert(fc.property(bytesArb, cutsArb, cutsArb, fc.nat(), fc.integer({ min: 0, max: 255 }), (flat, cutsA, cutsB, at, byte) => {
    const other = Buffer.from(flat);
    if (other.length) other[at % other.length] = byte;
    const a = cutRope(flat, cutsA);
    const b = cutRope(other, cutsB);
    assert.equal(a.equals(b), flat.equals(other));
    for (let from = 0; from < flat.length; from += 7) {
      const n = Math.min(13, flat.length - from);
      assert.equal(a.sameRun(from, b, from, n), flat.subarray(from, from + n).equals(other.subarray(from, from + n)), `run ${from}+${n}`);
    }
    assert.ok(!a.equals(cutRope(Buffer.concat([flat, Buffer.from('x')]), cutsB)), 'a longer rope is not equal');
  }), { numRuns: 1000 });
});

test('property: a splice is the bytes with each range replaced; a splice of a splice too, sharing its stretches', () => {
  const editArb = fc.record({ at: fc.nat(), remove: fc.nat(20), insert: fc.uint8Array({ maxLength: 20 }) });
  fc.assert(fc.property(bytesArb, cutsArb, fc.array(fc.array(editArb, { maxLength: 3 }), { minLength: 1, maxLength: 4 }), (first, cuts, steps) => {
    let rope = cutRope(first, cuts);
    let flat = first;
    for (const step of steps) {
      // Distinct ranges, in order.
      const edits: Array<{ from: number; to: number; bytes: Buffer }> = [];
      let floor = 0;
      for (const e of step) {
        const from = floor + (flat.length - floor > 0 ? e.at % (flat.length - floor + 1) : 0);
        const to = Math.min(flat.length, from + e.remove);
        edits.push({ from, to, bytes: Buffer.from(e.insert) });
        floor = to;
      }
      const next = rope.splice(edits);
      const parts: Buffer[] = [];
      let at = 0;
      for (const e of edits) {
        parts.push(flat.subarray(at, e.from), e.bytes);
        at = e.to;
      }
      flat = Buffer.concat([...parts, flat.subarray(at)]);
      assert.deepEqual(next.flat(), flat);
      assert.ok(next.parts.every((p) => p.length > 0));
      rope = next;
    }
  }), { numRuns: 1000 });
});

test('a splice keeps the running bytes\' memory (no copy), and a rope of too many parts is copied into one', () => {
  const base = Buffer.from('backend a\n    server x\nbackend b\n    server y\n');
  const rope = ByteRope.of(base).splice([{ from: 10, to: 23, bytes: Buffer.from('    server z\n') }]);
  assert.equal(rope.parts.length, 3);
  assert.equal(rope.parts[0]?.buffer, base.buffer, 'the stretch before the edit is a view of the running bytes');
  assert.equal(rope.parts[2]?.buffer, base.buffer);
  let many = rope;
  for (let k = 0; k < 200; k++) many = many.splice([{ from: 10, to: 11, bytes: Buffer.from(k % 2 ? ' ' : '\t') }, { from: 31, to: 32, bytes: Buffer.from('b') }]);
  assert.ok(many.parts.length <= 256, `${many.parts.length} parts`);
  assert.equal(many.toString(), `backend a\n${' '}   server z\nbackend b\n    server y\n`);
});

test('writeTo writes every part, in order', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const flat = Buffer.from('x'.repeat(5000) + 'é\n'.repeat(3000));
    const rope = cutRope(flat, Array.from({ length: 1500 }, (_, i) => i / 1500)); // more parts than one writev takes
    assert.ok(rope.parts.length > 1024);
    const file = path.join(dir, 'out');
    const fd = openSync(file, 'w');
    try {
      rope.writeTo(fd);
    } finally {
      closeSync(fd);
    }
    assert.deepEqual(readFileSync(file), flat);
  } finally {
    await cleanup();
  }
});
