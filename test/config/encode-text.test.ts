// Configs are encoded through a fast path when they are ASCII (one byte per character, filled exactly):
// whatever the text (ASCII, Latin-1, other planes, lone surrogates), the bytes are its UTF-8 encoding.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { encodeText, textIs } from '../../src/util/atomic-write.js';
import { cutRope } from '../helpers/rope.js';

test('property: encodeText gives the UTF-8 bytes of any text', () => {
  const text = fc.oneof(fc.string({ unit: 'binary' }), fc.string({ unit: 'grapheme-ascii' }), fc.string({ unit: fc.constantFrom('a', 'é', 'ÿ', '\u0100', '→', '\ud83d\ude00', '\ud800', '\n') }));
  fc.assert(fc.property(text, (s) => assert.deepEqual(encodeText(s), Buffer.from(s, 'utf8'))), { numRuns: 2000 });
});

test('a config with one non-ASCII character far into it is still UTF-8', () => {
  const config = `${'    server a 10.0.0.1:80\n'.repeat(10_000)}# café\n`;
  assert.equal(encodeText(config).toString('utf8'), config);
  assert.equal(encodeText(config).length, Buffer.byteLength(config));
});

test('property: textIs tells whether a text\'s UTF-8 is given bytes, across its 64 KB slices', () => {
  const unit = fc.constantFrom('a', 'b', '\n', 'é', '→', '\ud83d\ude00', '\ud800');
  const text = fc.string({ unit, maxLength: 40 });
  // Long texts (past one slice) with an edit at some position, often none.
  const long = fc.tuple(text, fc.integer({ min: 1, max: 9000 }), fc.option(fc.tuple(fc.nat(), unit), { freq: 2 })).map(([t, times, edit]) => {
    const base = `${'backend a\n'.repeat(times)}${t}`;
    if (!edit) return [base, base] as const;
    const at = edit[0] % (base.length + 1);
    return [base, `${base.slice(0, at)}${edit[1]}${base.slice(at + 1)}`] as const;
  });
  const cuts = fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 5 });
  fc.assert(fc.property(fc.oneof(fc.tuple(text, text), long), cuts, ([a, b], at) => {
    assert.equal(textIs(a, Buffer.from(b)), Buffer.from(a).equals(Buffer.from(b)));
    // The bytes as a rope cut anywhere (a spliced config's).
    assert.equal(textIs(a, cutRope(Buffer.from(b), at)), Buffer.from(a).equals(Buffer.from(b)));
  }), { numRuns: 500 });
});

test('textIs at the edges of its slices: a change in the first, at the last byte of one, at the first of the next, at the end', () => {
  const config = '    server a 10.0.0.1:80\n'.repeat(10_000);
  const bytes = Buffer.from(config);
  assert.ok(textIs(config, bytes));
  for (const at of [0, 65_535, 65_536, 131_072, config.length - 1]) {
    assert.equal(textIs(`${config.slice(0, at)}#${config.slice(at + 1)}`, bytes), false, `a change at ${at}`);
    // The same length in characters, one more byte: not the bytes either.
    assert.equal(textIs(`${config.slice(0, at)}é${config.slice(at + 1)}`, bytes), false, `é at ${at}`);
  }
  assert.equal(textIs(config.slice(1), bytes), false, 'shorter');
  assert.equal(textIs(`${config}x`, bytes), false, 'longer');
});
