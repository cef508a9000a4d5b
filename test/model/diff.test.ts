// diffModels: what a reload changed, for its log line and /status.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { capChanges, diffModels, isEmptyChange } from '../../src/model/diff.js';
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

test('capChanges: lists past the limit cut to their first names, with how many were left out; shorter ones as they are', () => {
  const many = m(Array.from({ length: 12 }, (_, i) => entry('web', `w${String(i).padStart(2, '0')}`, [ENABLE], { node: 'n1' })));
  const all = diffModels(undefined, many);
  assert.equal(capChanges(all, 20), all, 'nothing to cut: the same object');
  const cut = capChanges(all, 5);
  assert.deepEqual(cut.serversAdded, all.serversAdded.slice(0, 5));
  assert.deepEqual(cut.servicesAdded, ['web']);
  assert.deepEqual(cut.omitted, { serversAdded: 7 });
  assert.equal(isEmptyChange(cut), false);
});
