// writeJson (src/util/piece-writer.ts): the bytes of JSON.stringify(value, null, 2), written in pieces
// with the event loop let go between them (the /status of 10,000 services is 65 MB).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { writeJson, writeParts } from '../../src/util/piece-writer.js';

async function written(value: unknown): Promise<{ text: string; pieces: string[] }> {
  const pieces: string[] = [];
  await writeJson({ write: async (p) => { pieces.push(p); } }, value);
  return { text: pieces.join(''), pieces };
}

// Documents shaped like /status: fields, long arrays of objects (past the element-at-a-time length
// too), nested long arrays, values JSON leaves out or writes as null.
const leaf = fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.constant(undefined), fc.constant(null), fc.date({ noInvalidDate: true }));
const element = fc.oneof(leaf, fc.dictionary(fc.string(), leaf), fc.array(leaf, { maxLength: 100 }));
const doc = fc.oneof(
  fc.dictionary(fc.string(), fc.oneof(element, fc.array(element, { minLength: 60, maxLength: 150 }), fc.array(fc.array(element, { minLength: 0, maxLength: 80 }), { maxLength: 80 }))),
  fc.array(element, { maxLength: 150 }),
  leaf,
);

test('property: the pieces are JSON.stringify(value, null, 2), whatever the document', async () => {
  await fc.assert(fc.asyncProperty(doc, async (value) => {
    assert.equal((await written(value)).text, JSON.stringify(value, null, 2) ?? 'null');
  }), { numRuns: 300 });
});

test('a 10 MB document goes out in pieces of at most 64 KB and one element, with other work done in between', async () => {
  const servers = Array.from({ length: 10 }, (_, i) => ({ name: `n${i}:svc-${i}`, address: `10.0.0.${i}:8080`, pool: 'yes', haproxy: { status: 'UP', sessions: 0, weight: 1 } }));
  const value = { source: 'consul', backends: Array.from({ length: 5_000 }, (_, i) => ({ name: `svc${i}`, servers })) };
  let turns = 0;
  let counting = true;
  const tick = () => { if (counting) { turns += 1; setImmediate(tick); } };
  setImmediate(tick);
  const { text, pieces } = await written(value);
  counting = false;
  assert.equal(text, JSON.stringify(value, null, 2));
  assert.ok(text.length > 9e6, `${text.length} characters`);
  const element = JSON.stringify(value.backends[0], null, 2).length + 64;
  assert.ok(Math.max(...pieces.map((p) => p.length)) <= 64 * 1024 + element, 'no piece past 64 KB and one element');
  assert.ok(turns >= 10, `the event loop turned ${turns} times while it was written`);
});

test('writeParts: the parts in order, gathered into pieces of about 64 KB', async () => {
  const parts = Array.from({ length: 3_000 }, (_, i) => `<section id="b${i}">${'x'.repeat(i % 97)}</section>\n`);
  const pieces: string[] = [];
  await writeParts({ write: async (p) => { pieces.push(p); } }, parts);
  assert.equal(pieces.join(''), parts.join(''));
  assert.ok(pieces.length > 1 && pieces.length < parts.length / 10, `${pieces.length} pieces for ${parts.length} parts`);
});
