import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyGuard, tripsGuard } from '../../src/daemon/guard.js';
import { buildModel } from '../../src/model/model.js';
import { ENABLE, entry, settings } from '../helpers/entries.js';

const opts = { maxRemovalRatio: 0.5, holdMs: 60_000 };
const model = (counts: Record<string, number>) => buildModel({
  settings: settings(),
  entries: Object.entries(counts).flatMap(([svc, n]) => Array.from({ length: n }, (_, i) => entry(svc, `${svc}-${i}`, [ENABLE], { node: `n${i}` }))),
});

test('tripsGuard: emptying always trips; shrinking trips above the ratio', () => {
  assert.equal(tripsGuard(4, 0, 1), true);
  assert.equal(tripsGuard(4, 2, 0.5), false);
  assert.equal(tripsGuard(4, 1, 0.5), true);
  assert.equal(tripsGuard(0, 0, 0.5), false);
  assert.equal(tripsGuard(4, 8, 0), false);
});

test('an empty catalog keeps every backend with its previous servers and routes, until the hold expires', () => {
  const since = new Map<string, number>();
  const prev = model({ web: 4, api: 2 });
  const empty = model({});
  const held = applyGuard({ previous: prev, next: empty, nowMs: 1000, since, options: opts });
  assert.deepEqual(held.model.backends.map((b) => [b.name, b.servers.length]), [['api', 2], ['web', 4]]);
  assert.deepEqual(held.model.httpRoutes.map((r) => r.backend), ['api', 'web']);
  assert.deepEqual(held.holds.map((h) => [h.backend, h.from, h.to]), [['api', 2, 0], ['web', 4, 0]]);
  const still = applyGuard({ previous: held.model, next: empty, nowMs: 50_000, since, options: opts });
  assert.equal(still.holds.length, 2, 'held from the first time it was seen, not from the last render');
  const released = applyGuard({ previous: held.model, next: empty, nowMs: 61_000, since, options: opts });
  assert.equal(released.model.backends.length, 0);
  assert.deepEqual(released.released.map((h) => h.backend), ['api', 'web']);
});

test('removals within the ratio apply at once; a recovery clears the hold', () => {
  const since = new Map<string, number>();
  const prev = model({ web: 4 });
  assert.equal(applyGuard({ previous: prev, next: model({ web: 2 }), nowMs: 0, since, options: opts }).model.backends[0]?.servers.length, 2);
  assert.equal(applyGuard({ previous: prev, next: model({ web: 1 }), nowMs: 0, since, options: opts }).model.backends[0]?.servers.length, 4);
  assert.equal(since.size, 1);
  applyGuard({ previous: prev, next: model({ web: 4 }), nowMs: 10, since, options: opts });
  assert.equal(since.size, 0);
});

test('other backends change normally while one is held', () => {
  const since = new Map<string, number>();
  const r = applyGuard({ previous: model({ web: 4, api: 1 }), next: model({ web: 0, api: 3 }), nowMs: 0, since, options: opts });
  assert.deepEqual(r.model.backends.map((b) => [b.name, b.servers.length]), [['api', 3], ['web', 4]]);
});

test('a release build that is superseded before it is applied does not restart the hold', () => {
  const since = new Map<string, number>();
  const prev = model({ web: 4, api: 2 });
  const small = model({ web: 1, api: 2 });
  assert.equal(applyGuard({ previous: prev, next: small, nowMs: 0, since, options: opts }).holds.length, 1);
  const release = applyGuard({ previous: prev, next: small, nowMs: 61_000, since, options: opts });
  assert.deepEqual(release.released.map((h) => h.backend), ['web']);
  // That build is not applied (e.g. min-reload-interval); the next build still sees `prev` as applied.
  const next = applyGuard({ previous: prev, next: model({ web: 1, api: 3 }), nowMs: 62_000, since, options: opts });
  assert.equal(next.holds.length, 0, 'released at once, not held for another full holdMs');
  assert.deepEqual(next.model.backends.map((b) => [b.name, b.servers.length]), [['api', 3], ['web', 1]]);
  // Once the smaller state is the applied one, the guard forgets the backend.
  applyGuard({ previous: next.model, next: model({ web: 1, api: 3 }), nowMs: 63_000, since, options: opts });
  assert.equal(since.size, 0);
});
