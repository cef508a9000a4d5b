// The engine's join: buildModel → pool instances → decisions → model with inactive servers out,
// threshold-kept servers back in (buildModel drops failing instances), pool weights; then the
// Runtime API commands for the admin states.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildModel } from '../../src/model/model.js';
import { poolInstancesFor, withPoolDecisions } from '../../src/pool/model-adapter.js';
import { applyPoolStates } from '../../src/pool/rules.js';
import { ingestPoolKv } from '../../src/pool/table.js';
import { entry, ENABLE, settings } from '../helpers/entries.js';

test('withPoolDecisions: inactive left out, kept servers put back, weights from records; quarantined instances ignored', () => {
  const entries = [
    entry('web', 'w1', [ENABLE], { node: 'n1', address: '10.0.0.1' }),
    entry('web', 'w2', [ENABLE], { node: 'n2', address: '10.0.0.2', status: 'critical' }),
    entry('web', 'w3', [ENABLE], { node: 'n3', address: 'fe80::3', status: 'critical' }),
    entry('web', 'w4', [ENABLE], { node: 'n4', address: '10.0.0.4' }),
    entry('web', 'w5', [ENABLE, 'HAPROXY.BACKEND.MAXCONN=lots'], { node: 'n5', address: '10.0.0.5' }),
  ];
  const model = buildModel({ entries, settings: settings() });
  assert.deepEqual(model.backends[0]?.servers.map((s) => s.name), ['n1:w1', 'n4:w4'], 'buildModel keeps only passing, valid instances');
  const instances = poolInstancesFor(entries, model);
  assert.deepEqual(instances.map((i) => i.server), ['n1:w1', 'n2:w2', 'n3:w3', 'n4:w4'], 'the quarantined instance is not the pool\'s to decide');
  const table = ingestPoolKv({ prefix: 'p', pairs: [
    { key: 'p/web/w4', value: '{"state":"inactive"}', modifyIndex: 1 },
    { key: 'p/web/w1', value: '{"state":"yes","weight":9}', modifyIndex: 1 },
  ] });
  const decisions = applyPoolStates({ instances, table, defaultThreshold: 0.6 });
  // counted 3 (w4 inactive), min ceil(1.8) = 2: w1 in, one failing instance kept (w2, by name).
  assert.deepEqual(decisions.backends[0]?.kept, ['n2:w2']);
  const next = withPoolDecisions(model, decisions, instances);
  assert.deepEqual(next.backends[0]?.servers.map((s) => [s.name, s.address, s.weight]), [['n1:w1', '10.0.0.1', 9], ['n2:w2', '10.0.0.2', 1]]);
  assert.equal(model.backends[0]?.servers.length, 2, 'the input model is not changed');
});

test('withPoolDecisions: a backend no decision changes is the same object (the incremental renderer compares by identity)', () => {
  const entries = [
    entry('web', 'w1', [ENABLE], { node: 'n1', address: '10.0.0.1' }),
    entry('web', 'w2', [ENABLE], { node: 'n2', address: '10.0.0.2' }),
    entry('api', 'a1', [ENABLE], { node: 'n1', address: '10.0.0.3' }),
  ];
  const model = buildModel({ entries, settings: settings() });
  const instances = poolInstancesFor(entries, model);
  const table = ingestPoolKv({ prefix: 'p', pairs: [{ key: 'p/web/w2', value: '{"state":"yes","weight":5}', modifyIndex: 1 }] });
  const next = withPoolDecisions(model, applyPoolStates({ instances, table, defaultThreshold: 0 }), instances);
  const api = (m: typeof model) => m.backends.find((b) => b.service === 'api');
  const web = (m: typeof model) => m.backends.find((b) => b.service === 'web');
  assert.equal(api(next), api(model), 'api: every decision is "as registered": the backend is handed on as it is');
  assert.notEqual(web(next), web(model), 'web: a weight changed');
  assert.deepEqual(web(next)?.servers.map((s) => [s.name, s.weight]), [['n1:w1', 1], ['n2:w2', 5]]);
  assert.equal(web(next)?.servers[0], web(model)?.servers[0], 'an unchanged server is not copied');
});
