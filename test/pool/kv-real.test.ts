// The KV adapter against a real Consul agent (scripts/consul.sh), and the KV simulator held to the
// same answers: check-and-set, 404 for an empty prefix, blocking lists woken by writes under the
// prefix only, a key without value. And Consul's own maintenance mode, read from a real agent's
// health answers as the pool rules read it.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { RealConsul } from '../helpers/real-consul.js';
import { KvSim } from './kv-sim.js';
import { createKvClient, type KvApi } from '../../src/pool/kv.js';
import { loadConsulConfig } from '../../src/consul/config.js';
import { createConsulClient } from '../../src/consul/client.js';
import { poolInstance } from '../../src/pool/instances.js';
import { readPoolTable } from '../../src/pool/watch.js';

interface Target {
  name: string;
  url: string;
  /** A write by someone else (the `consul kv put` of another operator). */
  put: (key: string, value: string) => Promise<void>;
  stop: () => Promise<void>;
}

const targets: Array<[string, () => Promise<Target>]> = [
  ['simulator', async () => {
    const sim = new KvSim();
    await sim.start();
    return { name: 'simulator', url: sim.url, put: async (k, v) => void sim.put(k, v), stop: () => sim.stop() };
  }],
  ['real Consul', async () => {
    const c = await RealConsul.start();
    return { name: 'real Consul', url: c.url, put: async (k, v) => void (await c.ok('PUT', `/v1/kv/${k}`, v)), stop: () => c.destroy() };
  }],
];

for (const [name, make] of targets) {
  describe(`KV semantics the pool relies on: ${name}`, () => {
    let t: Target;
    let kv: KvApi;
    before(async () => {
      t = await make();
      kv = createKvClient(loadConsulConfig({ flagUrl: t.url, env: {} }));
    });
    after(async () => {
      kv.close();
      await t.stop();
    });

    test('empty prefix, check-and-set, another writer, a key without value', async () => {
      const empty = await kv.list('hapilot/pool');
      assert.deepEqual(empty.data, [], t.name);
      assert.ok(empty.index > 0, `${t.name}: X-Consul-Index on a 404`);
      assert.equal(await kv.cas('hapilot/pool/web/a', '{"state":"no"}', 0), true, t.name);
      assert.equal(await kv.cas('hapilot/pool/web/a', '{"state":"yes"}', 0), false, `${t.name}: cas=0 on an existing key`);
      const a = (await kv.get('hapilot/pool/web/a')).data;
      assert.equal(a?.value, '{"state":"no"}');
      await t.put('hapilot/pool/web/a', '{"state":"drain"}');
      assert.equal(await kv.cas('hapilot/pool/web/a', '{"state":"yes"}', a?.modifyIndex ?? -1), false, `${t.name}: a stale index loses`);
      const now = (await kv.get('hapilot/pool/web/a')).data;
      assert.equal(now?.value, '{"state":"drain"}');
      assert.equal(await kv.cas('hapilot/pool/web/a', '{"state":"yes"}', now?.modifyIndex ?? -1), true, `${t.name}: the current index wins`);
      await t.put('hapilot/pool/web/b', '');
      const { table } = await readPoolTable(kv, 'hapilot/pool');
      assert.equal(table.byKey.get('hapilot/pool/web/a')?.record.state, 'yes');
      assert.match(table.invalid.find((i) => i.key === 'hapilot/pool/web/b')?.reason ?? '', /^empty value/, `${t.name}: an empty value is reported`);
    });

    test('a blocking list wakes on a write under the prefix, not on one elsewhere', async () => {
      const first = await kv.list('hapilot/pool');
      const started = Date.now();
      setTimeout(() => void t.put('elsewhere/x', '1'), 150);
      setTimeout(() => void t.put('hapilot/pool/web/c', '{"state":"no"}'), 700);
      const next = await kv.list('hapilot/pool', { index: first.index, wait: '10s' });
      const waited = Date.now() - started;
      assert.ok(waited >= 600, `${t.name}: not woken by the write elsewhere (${waited} ms)`);
      assert.ok(waited < 5000, `${t.name}: woken by the write under the prefix (${waited} ms)`);
      assert.ok(next.data.some((p) => p.key === 'hapilot/pool/web/c'), t.name);
      assert.ok(next.index > first.index, t.name);
    });
  });
}

test('Consul maintenance mode of a real agent reads as maintenance, with its reason, node and service', { timeout: 60_000 }, async () => {
  const c = await RealConsul.start();
  const consul = createConsulClient(loadConsulConfig({ flagUrl: c.url, env: {} }));
  try {
    await c.ok('PUT', '/v1/agent/service/register', { ID: 'web-1', Name: 'web', Port: 8001, Tags: ['HAPROXY.ENABLE=true'] });
    await c.ok('PUT', '/v1/agent/service/register', { ID: 'web-2', Name: 'web', Port: 8002, Tags: ['HAPROXY.ENABLE=true'] });
    const svc = await c.cli(['maint', '-enable', '-service', 'web-1', '-reason', 'disk swap']);
    assert.equal(svc.code, 0, svc.stderr);
    let byId = new Map((await consul.healthService('web')).data.map((e) => [e.Service.ID, poolInstance(e)]));
    assert.deepEqual(byId.get('web-1')?.maintenance, { scope: 'service', reason: 'disk swap' });
    assert.equal(byId.get('web-1')?.health, 'passing', 'the maintenance check is not counted as a failing check');
    assert.equal(byId.get('web-2')?.maintenance, undefined);
    const node = await c.cli(['maint', '-enable', '-reason', 'rack move']);
    assert.equal(node.code, 0, node.stderr);
    byId = new Map((await consul.healthService('web')).data.map((e) => [e.Service.ID, poolInstance(e)]));
    assert.deepEqual(byId.get('web-2')?.maintenance, { scope: 'node', reason: 'rack move' });
    assert.deepEqual(byId.get('web-1')?.maintenance, { scope: 'node', reason: 'rack move' }, 'node maintenance covers every service on it');
  } finally {
    consul.close();
    await c.destroy();
  }
});
