// The incremental model's entry point for a flat list of entries: runs per service are taken as
// they are, any other order is grouped; both give buildModel's model.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildModel } from '../../src/model/model.js';
import { entriesOfServices, IncrementalModel, serviceRuns } from '../../src/model/incremental.js';
import { ENABLE, entry, settings } from '../helpers/entries.js';

test('build(): entries in runs per service or interleaved give buildModel\'s model; an unchanged run is not rebuilt', () => {
  const s = settings();
  const a = [entry('a', 'a1', [ENABLE], { node: 'n1' }), entry('a', 'a2', [ENABLE], { node: 'n2' })];
  const b = [entry('b', 'b1', [ENABLE, 'HAPROXY.FRONTEND.HOST=a.example.test'], { node: 'n1' }), entry('b', 'b2', [ENABLE], { node: 'n2' })];
  const runs = [...a, ...b];
  const interleaved = [a[0], b[0], a[1], b[1]].map((e) => e as NonNullable<typeof e>);
  const inc = new IncrementalModel();
  assert.deepEqual(inc.build({ entries: runs, settings: s }), buildModel({ entries: runs, settings: s }));
  assert.deepEqual(inc.build({ entries: [...runs], settings: s }), buildModel({ entries: runs, settings: s }));
  assert.equal(inc.lastStats.rebuilt, 0, 'the same entries in a new array: nothing rebuilt');
  assert.deepEqual(inc.build({ entries: interleaved, settings: s }), buildModel({ entries: interleaved, settings: s }));
  const moved = [entry('a', 'a1', [ENABLE], { node: 'n1', port: 9000 }), a[1] as NonNullable<(typeof a)[1]>, ...b];
  assert.deepEqual(inc.build({ entries: moved, settings: s }), buildModel({ entries: moved, settings: s }));
  assert.equal(inc.lastStats.rebuilt, 1);
});

test('entriesOfServices: the entries of some services, from their runs or (interleaved) by filtering, in the entries\' order', () => {
  const a = [entry('a', 'a1', [ENABLE], { node: 'n1' }), entry('a', 'a2', [ENABLE], { node: 'n2' })];
  const b = [entry('b', 'b1', [ENABLE], { node: 'n1' })];
  const c = [entry('c', 'c1', [ENABLE], { node: 'n1' }), entry('c', 'c2', [ENABLE], { node: 'n3' })];
  const runs = [...a, ...b, ...c];
  assert.deepEqual(serviceRuns(runs), new Map([['a', [0, 2]], ['b', [2, 3]], ['c', [3, 5]]]));
  for (const pick of [['c', 'a'], ['b'], [], ['x', 'c']]) {
    const want = runs.filter((e) => pick.includes(e.Service.Service));
    assert.deepEqual(entriesOfServices(runs, new Set(pick)), want, pick.join(','));
  }
  const interleaved = [a[0], c[0], a[1], b[0], c[1]].map((e) => e as NonNullable<typeof e>);
  assert.equal(serviceRuns(interleaved), undefined, 'a service in two runs');
  assert.deepEqual(entriesOfServices(interleaved, new Set(['a', 'c'])), [a[0], c[0], a[1], c[1]]);
});

test('a service added alone is put into the last merge; one that asks for a name, host or port another service asks for is merged again', () => {
  const s = settings({ HAPROXY_DOM: 'example.test' });
  const svc = (name: string, tags: string[] = []) => [entry(name, `${name}-1`, [ENABLE, ...tags], { node: 'n1', address: '10.0.0.1', port: 8080 })];
  const catalog = new Map([['api', svc('api')], ['db', svc('db', ['HAPROXY.PROTOCOL=tcp', 'HAPROXY.FRONTEND.PORT=9000'])], ['zeta', svc('zeta')]]);
  const model = new IncrementalModel();
  const step = (service: string, entries: ReturnType<typeof svc>) => {
    catalog.set(service, entries);
    const got = model.buildByService({ services: catalog, settings: s, changed: [service] });
    assert.deepEqual(got, buildModel({ entries: [...catalog.keys()].sort().flatMap((k) => catalog.get(k) ?? []), settings: s }), service);
    return model.lastStats.patched;
  };
  model.buildByService({ services: catalog, settings: s });
  assert.equal(step('cache', svc('cache', ['HAPROXY.PROTOCOL=tcp', 'HAPROXY.FRONTEND.PORT=9001'])), true, 'its own backend, host and port: put in place');
  assert.equal(step('mail', svc('mail')), true);
  assert.equal(step('queue', svc('queue', ['HAPROXY.PROTOCOL=tcp', 'HAPROXY.FRONTEND.PORT=9000'])), false, 'port 9000 is db\'s: merged again');
  assert.equal(step('shop', svc('shop', ['HAPROXY.FRONTEND.HOST=api.example.test'])), false, 'api\'s default host: merged again');
  assert.equal(step('a b', svc('a b')), false, 'a name haproxy.cfg cannot use (a warning of its own): merged again');
  assert.equal(step('web', svc('web')), true, 'after the merges, the counts still hold');
});
