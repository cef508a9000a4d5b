// Configs are encoded through a fast path when they are ASCII (one byte per character, filled exactly):
// whatever the text (ASCII, Latin-1, other planes, lone surrogates), the bytes are its UTF-8 encoding.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { encodeText } from '../../src/util/atomic-write.js';

test('property: encodeText gives the UTF-8 bytes of any text', () => {
  const text = fc.oneof(fc.string({ unit: 'binary' }), fc.string({ unit: 'grapheme-ascii' }), fc.string({ unit: fc.constantFrom('a', 'é', 'ÿ', '\u0100', '→', '\ud83d\ude00', '\ud800', '\n') }));
  fc.assert(fc.property(text, (s) => assert.deepEqual(encodeText(s), Buffer.from(s, 'utf8'))), { numRuns: 2000 });
});

test('a config with one non-ASCII character far into it is still UTF-8', () => {
  const config = `${'    server a 10.0.0.1:80\n'.repeat(10_000)}# café\n`;
  assert.equal(encodeText(config).toString('utf8'), config);
  assert.equal(encodeText(config).length, Buffer.byteLength(config));
});
