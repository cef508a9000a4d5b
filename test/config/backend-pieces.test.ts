// The incremental renderer's kept texts: when a backend object it did not render is the same backend
// (equal data).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Piece, sameValue } from '../../src/config/backend-pieces.js';
import { buildModel, type Backend } from '../../src/model/model.js';
import { ENABLE, entry, settings } from '../helpers/entries.js';

test('sameValue: equal plain data is equal whatever the objects; any difference, a missing key or an undefined one, is not', () => {
  const table: Array<[unknown, unknown, boolean]> = [
    [{ a: 1, b: [1, { c: 'x' }] }, { b: [1, { c: 'x' }], a: 1 }, true],
    [{ a: 1 }, { a: 2 }, false],
    [{ a: undefined }, {}, false], // a template reading `a` renders '' for one and fails for the other
    [[1, 2], [1, 2, 3], false],
    [[1], { 0: 1, length: 1 }, false],
    [null, {}, false],
    [NaN, NaN, false], // never equal: rendered again, which is always safe
    ['x', 'x', true],
  ];
  for (const [a, b, equal] of table) assert.equal(sameValue(a, b), equal, JSON.stringify([a, b]));
});

test('a kept text fits its backend and a copy of it (the pool rules copy backends), not a backend with one server changed', () => {
  const m = buildModel({ settings: settings(), entries: [entry('web', 'w1', [ENABLE]), entry('web', 'w2', [ENABLE], { node: 'n2' })] });
  const b = m.backends[0] as Backend;
  const piece = new Piece(b, '\nbackend web\n', []);
  assert.ok(piece.fits(b));
  assert.ok(piece.fits({ ...b, servers: b.servers.map((s) => ({ ...s })) }));
  assert.ok(!piece.fits({ ...b, servers: b.servers.map((s, i) => (i === 1 ? { ...s, weight: s.weight + 1 } : s)) }));
});
