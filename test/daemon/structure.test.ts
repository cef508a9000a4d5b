// sameStructure says whether two models differ only in servers (the Runtime API's part); at scale it
// compares backends by identity first, so it must agree with a comparison of whole serializations.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildModel, type Model } from '../../src/model/model.js';
import { sameStructure, serverOnlyPart } from '../../src/daemon/candidate.js';
import { ENABLE, entry, settings } from '../helpers/entries.js';

const model = (tags: Record<string, string[]>, address = '10.0.0.7') =>
  buildModel({ settings: settings(), entries: Object.entries(tags).flatMap(([service, t]) => [0, 1].map((i) => entry(service, `${service}-${i}`, [ENABLE, ...t], { node: `n${i}`, address, port: 8080 }))) });
/** Everything but the servers (and the pool's depool threshold), serialized whole. */
const whole = (m: Model) => JSON.stringify({ settings: m.settings, backends: m.backends.map((b) => ({ ...b, servers: undefined, depoolThreshold: undefined })), httpRoutes: m.httpRoutes, portFrontends: m.portFrontends });

test('sameStructure: only servers (or the depool threshold) differing is the same structure; anything HAProxy is told otherwise is not', () => {
  const base = model({ web: [], api: [] });
  const cases: Array<[string, Model, boolean]> = [
    ['the very model', base, true],
    ['an equal model built again (other objects)', model({ web: [], api: [] }), true],
    ['servers moved', model({ web: [], api: [] }, '10.0.0.8'), true],
    ['a depool threshold', model({ web: ['HAPROXY.BACKEND.DEPOOL_THRESHOLD=0.5'], api: [] }), true],
    ['a balance algorithm', model({ web: ['HAPROXY.BACKEND.BALANCE=leastconn'], api: [] }), false],
    ['a host', model({ web: ['HAPROXY.FRONTEND.HOST=www.example.test'], api: [] }), false],
    ['a port frontend', model({ web: ['HAPROXY.FRONTEND.PORT=9000'], api: [] }), false],
    ['a service more', model({ web: [], api: [], db: [] }), false],
    ['a service fewer', model({ web: [] }), false],
  ];
  for (const [what, other, same] of cases) {
    assert.equal(sameStructure(base, other), same, what);
    assert.equal(sameStructure(other, base), same, `${what} (the other way)`);
    assert.equal(whole(base) === whole(other), same, `${what}: the whole serialization agrees`);
  }
});

test('serverOnlyPart: the next backend where the definition is unchanged, the applied one where it changed', () => {
  const applied = model({ web: [], api: [] });
  const next = model({ web: ['HAPROXY.BACKEND.BALANCE=leastconn'], api: [] }, '10.0.0.8');
  const part = serverOnlyPart(applied, next);
  const by = (m: Model, name: string) => m.backends.find((b) => b.name === name);
  assert.equal(by(part, 'api'), by(next, 'api'), 'unchanged definition: next\'s backend, with its servers');
  assert.equal(by(part, 'web'), by(applied, 'web'), 'changed definition: left as applied (a reload takes it)');
  assert.ok(sameStructure(part, applied), 'the part has the applied structure');
});
