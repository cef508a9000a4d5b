// diffModels: what a reload changed, for its log line and /status.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { diffModels, isEmptyChange, type ModelChanges } from '../../src/model/diff.js';
import { buildModel } from '../../src/model/model.js';
import type { HealthEntry } from '../../src/consul/schemas.js';
import { ENABLE, entry, settings } from '../helpers/entries.js';

const m = (entries: HealthEntry[]) => buildModel({ entries, settings: settings() });

test('diffModels: services and servers added, removed and changed (address, port, weight), sorted', () => {
  const before = m([entry('web', 'a', [ENABLE], { node: 'n1' }), entry('web', 'b', [ENABLE], { node: 'n2' }), entry('old', 'o', [ENABLE])]);
  const after = m([
    entry('web', 'a', [ENABLE], { node: 'n1', port: 9001 }),
    entry('web', 'c', [ENABLE], { node: 'n3' }),
    entry('api', 'x', [ENABLE], { node: 'n1' }),
  ]);
  assert.deepEqual(diffModels(before, after), {
    servicesAdded: ['api'],
    servicesRemoved: ['old'],
    serversAdded: ['api/n1:x', 'web/n3:c'],
    serversRemoved: ['old/node1:o', 'web/n2:b'],
    serversChanged: ['web/n1:a'],
  });
  const weight = m([entry('web', 'a', [ENABLE], { node: 'n1', weights: { Passing: 7, Warning: 1 } }), entry('web', 'b', [ENABLE], { node: 'n2' }), entry('old', 'o', [ENABLE])]);
  assert.deepEqual(diffModels(before, weight).serversChanged, ['web/n1:a'], 'a weight change is a change');
  assert.ok(isEmptyChange(diffModels(before, before)), 'the same model: nothing changed');
  assert.deepEqual(diffModels(undefined, before).servicesAdded, ['old', 'web'], 'from nothing, everything is added');
});

test('diffModels with a limit: each list cut to its first names in sorted order, with how many were left out; shorter ones as they are', () => {
  const many = m(Array.from({ length: 12 }, (_, i) => entry('web', `w${String(i).padStart(2, '0')}`, [ENABLE], { node: 'n1' })));
  const all = diffModels(undefined, many);
  assert.deepEqual(diffModels(undefined, many, 20), all, 'nothing to cut');
  const cut = diffModels(undefined, many, 5);
  assert.deepEqual(cut.serversAdded, all.serversAdded.slice(0, 5));
  assert.deepEqual(cut.servicesAdded, ['web']);
  assert.deepEqual(cut.omitted, { serversAdded: 7 });
  assert.equal(isEmptyChange(cut), false);
});

/** The lists of `c` cut to `max`, as a full diff then cut gives them. */
function cutTo(c: ModelChanges, max: number): ModelChanges {
  const keys = ['servicesAdded', 'servicesRemoved', 'serversAdded', 'serversRemoved', 'serversChanged'] as const;
  const out: ModelChanges = { ...c };
  const omitted: Record<string, number> = {};
  for (const k of keys) {
    out[k] = c[k].slice(0, max);
    if (c[k].length > max) omitted[k] = c[k].length - max;
  }
  if (Object.keys(omitted).length) out.omitted = omitted;
  return out;
}

test('property: a limited diff is the full diff cut, for limits below, at and above the sizes, across models of many services', () => {
  // Service and instance names chosen so that `backend/server` order is not backend-then-server order ('-' sorts before '/').
  const svc = fc.constantFrom('a', 'a-b', 'b', 'ab', 'z');
  const inst = fc.record({ service: svc, id: fc.constantFrom('1', '2', '3', '10', 'x-1', 'y'), node: fc.constantFrom('n1', 'n2'), port: fc.integer({ min: 1000, max: 1002 }) });
  const catalog = fc.uniqueArray(inst, { selector: (i) => `${i.service}/${i.node}/${i.id}`, maxLength: 30 });
  fc.assert(fc.property(fc.option(catalog, { nil: undefined }), catalog, fc.integer({ min: 1, max: 40 }), (before, after, max) => {
    const model = (list: typeof after) => m(list.map((i) => entry(i.service, `${i.service}-${i.id}`, [ENABLE], { node: i.node, port: i.port })));
    const prev = before && model(before);
    const next = model(after);
    assert.deepEqual(diffModels(prev, next, max), cutTo(diffModels(prev, next), max));
  }), { numRuns: 300 });
});

test('the first config of 100,000 servers is counted, not listed: the names kept stay at the limit', () => {
  const servers = Array.from({ length: 1000 }, (_, k) => ({ name: `n${k % 10}:s${String(k).padStart(6, '0')}`, address: '10.0.0.1', port: 80, weight: 1, hostname: false, node: `n${k % 10}`, serviceId: `s${k}` }));
  const base = m([entry('web', 'a', [ENABLE])]);
  const template = base.backends[0];
  assert.ok(template);
  const backends = Array.from({ length: 100 }, (_, i) => ({ ...template, name: `svc${String(i).padStart(4, '0')}`, service: `svc${i}`, servers }));
  const changes = diffModels(undefined, { ...base, backends }, 1000);
  assert.equal(changes.serversAdded.length, 1000);
  assert.deepEqual(changes.omitted, { serversAdded: 99_000 });
  assert.equal(changes.serversAdded[0], 'svc0000/n0:s000000');
  assert.equal(changes.serversAdded.at(-1), 'svc0000/n9:s000999', 'the first names in sorted order');
});
