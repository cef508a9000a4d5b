// Pool keys and values; Consul maintenance checks; docker-haproxy weight keys.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parsePoolKey, parsePoolValue, poolKey } from '../../src/pool/record.js';
import { consulMaintenance, healthWithoutMaintenance, poolInstance } from '../../src/pool/instances.js';
import { ingestDockerWeights } from '../../src/pool/docker-weights.js';
import { entry, ENABLE } from '../helpers/entries.js';

test('pool keys: plain and node-qualified, prefix slashes tolerated, malformed keys refused', () => {
  assert.equal(poolKey('/hapilot/pool/', { service: 'web', serviceId: 'web-1', node: undefined }), 'hapilot/pool/web/web-1');
  assert.equal(poolKey('hapilot/pool', { service: 'web', serviceId: 'web', node: 'n2' }), 'hapilot/pool/web/web@n2');
  const cases: Array<[string, unknown]> = [
    ['hapilot/pool/web/web-1', { service: 'web', serviceId: 'web-1', node: undefined }],
    ['hapilot/pool/web/web@n2', { service: 'web', serviceId: 'web', node: 'n2' }],
    ['hapilot/pool/web/registrator:web:80', { service: 'web', serviceId: 'registrator:web:80', node: undefined }],
    ['hapilot/pool/web/', undefined],
    ['hapilot/pool/web', undefined],
    ['other/web/x', undefined],
  ];
  for (const [key, want] of cases) {
    const r = parsePoolKey('hapilot/pool', key);
    assert.deepEqual(r.ok ? r.target : undefined, want, key);
  }
});

test('pool values: states and weights validated, one-line reasons', () => {
  assert.deepEqual(parsePoolValue('{"state":"drain","weight":0,"reason":"T1"}'), { ok: true, record: { state: 'drain', weight: 0, reason: 'T1' } });
  const bad: Array<[string | null, RegExp]> = [
    [null, /^empty value/],
    ['', /^empty value/],
    ['{nope', /^not JSON \("\{nope"\)/],
    ['{"state":"off"}', /at state: Invalid option: expected one of "yes"\|"no"\|"inactive"\|"drain"/],
    ['{"state":"yes","weight":300}', /at weight: Too big/],
    ['{"state":"yes","weight":1.5}', /at weight/],
    ['{"weight":3}', /at state/],
    ['"yes"', /invalid record/],
  ];
  for (const [raw, re] of bad) {
    const r = parsePoolValue(raw);
    assert.equal(r.ok, false, String(raw));
    if (!r.ok) assert.match(r.reason, re, String(raw));
  }
});

test('Consul maintenance checks are read, and left out of the health status', () => {
  const e = entry('web', 'web-1', [ENABLE], { node: 'n1' });
  e.Checks = [...(e.Checks ?? []), { Node: 'n1', CheckID: '_service_maintenance:web-1', Name: 'Service Maintenance Mode', Status: 'critical', Notes: 'reboot', ServiceID: 'web-1', ServiceName: 'web' }];
  const i = poolInstance(e);
  assert.deepEqual(i.maintenance, { scope: 'service', reason: 'reboot' });
  assert.equal(i.health, 'passing');
  assert.equal(i.server, 'n1:web-1');
  assert.equal(i.address, '10.0.0.1', 'falls back to the node address');
  const node = [{ CheckID: '_node_maintenance', Status: 'critical' as const, Notes: 'rack move' }, { CheckID: 'service:x', Status: 'warning' as const }];
  assert.deepEqual(consulMaintenance(node), { scope: 'node', reason: 'rack move' });
  assert.equal(healthWithoutMaintenance(node), 'warning');
  assert.equal(healthWithoutMaintenance([{ CheckID: 'serfHealth', Status: 'critical' }]), 'critical');
});

test('docker-haproxy weights: app/<service>/<address>/<port>, other app/ keys ignored, bad values reported and kept', () => {
  const first = ingestDockerWeights({ pairs: [{ key: 'app/web/10.0.0.1/80', value: '20', modifyIndex: 1 }] });
  const w = ingestDockerWeights({
    previous: first,
    pairs: [
      { key: 'app/web/10.0.0.1/80', value: 'heavy', modifyIndex: 2 },
      { key: 'app/web/10.0.0.2/80', value: ' 256\n', modifyIndex: 2 },
      { key: 'app/web/10.0.0.3/80', value: '257', modifyIndex: 2 },
      { key: 'app/web/config', value: 'x', modifyIndex: 2 },
      { key: 'app/web/', value: null, modifyIndex: 2 },
    ],
  });
  assert.deepEqual([...w.byInstance], [['web/10.0.0.1/80', 20], ['web/10.0.0.2/80', 256]]);
  assert.deepEqual(w.invalid.map((i) => i.key), ['app/web/10.0.0.1/80', 'app/web/10.0.0.3/80']);
  assert.match(w.invalid[1]?.reason ?? '', /weight "257" is invalid: expected an integer 0 to 256/);
  assert.equal(w.defaultWeight, 100);
});
