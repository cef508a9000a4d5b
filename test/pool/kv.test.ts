// The KV adapter and the pool watcher against the KV simulator: list/get/CAS, blocking queries that
// wake on a write, invalid values reported without stopping the rest, errors retried.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createKvClient } from '../../src/pool/kv.js';
import { loadConsulConfig } from '../../src/consul/config.js';
import { watchPool, type PoolSnapshot } from '../../src/pool/watch.js';
import { isHapilotError, ErrorCode } from '../../src/errors.js';
import { KvSim } from './kv-sim.js';

async function withSim(fn: (sim: KvSim, kv: ReturnType<typeof createKvClient>) => Promise<void>) {
  const sim = new KvSim();
  await sim.start();
  const kv = createKvClient(loadConsulConfig({ flagUrl: sim.url, env: { CONSUL_HTTP_TOKEN: 'sekret' } }));
  try {
    await fn(sim, kv);
  } finally {
    kv.close();
    await sim.stop();
  }
}

test('KV: empty prefix is an empty list; CAS creates, conflicts are false, values round-trip', async () => {
  await withSim(async (sim, kv) => {
    assert.deepEqual((await kv.list('hapilot/pool')).data, []);
    assert.equal((await kv.get('hapilot/pool/web/a')).data, undefined);
    assert.equal(await kv.cas('hapilot/pool/web/a', '{"state":"no"}', 0), true);
    assert.equal(await kv.cas('hapilot/pool/web/a', '{"state":"yes"}', 0), false, 'cas=0 refuses an existing key');
    const got = (await kv.get('hapilot/pool/web/a')).data;
    assert.ok(got);
    assert.equal(got.value, '{"state":"no"}');
    sim.put('hapilot/pool/web/a', '{"state":"drain"}'); // another operator
    assert.equal(await kv.cas('hapilot/pool/web/a', '{"state":"yes"}', got.modifyIndex), false, 'a stale index loses');
    assert.equal(sim.value('hapilot/pool/web/a'), '{"state":"drain"}');
    const list = await kv.list('hapilot/pool/');
    assert.deepEqual(list.data.map((p) => p.key), ['hapilot/pool/web/a']);
    assert.ok(list.index > got.modifyIndex);
  });
});

test('KV: a blocking list returns when a key under the prefix changes, not before', async () => {
  await withSim(async (sim, kv) => {
    sim.put('hapilot/pool/web/a', '{"state":"yes"}');
    const first = await kv.list('hapilot/pool');
    const started = Date.now();
    setTimeout(() => sim.put('other/key', 'x'), 100);
    setTimeout(() => sim.put('hapilot/pool/web/b', '{"state":"no"}'), 400);
    const next = await kv.list('hapilot/pool', { index: first.index, wait: '10s' });
    assert.ok(Date.now() - started >= 350, 'a write elsewhere does not wake it');
    assert.deepEqual(next.data.map((p) => p.key), ['hapilot/pool/web/a', 'hapilot/pool/web/b']);
    assert.ok(next.index > first.index);
  });
});

test('KV: HTTP errors and an unreachable Consul are coded errors naming the endpoint', async () => {
  await withSim(async (sim, kv) => {
    sim.failNext(1, 403, 'Permission denied');
    await assert.rejects(kv.list('hapilot/pool'), (err) => isHapilotError(err, ErrorCode.CONSUL_HTTP) && /\/v1\/kv\/hapilot\/pool\/ answered HTTP 403: Permission denied/.test(err.message));
  });
  const dead = createKvClient(loadConsulConfig({ flagUrl: 'http://127.0.0.1:1', env: {} }));
  await assert.rejects(dead.cas('k', 'v', 0), (err) => isHapilotError(err, ErrorCode.CONSUL_UNREACHABLE));
  dead.close();
});

test('watchPool: first snapshot, then each change; an invalid value keeps the last valid record and the rest applies', async () => {
  await withSim(async (sim, kv) => {
    sim.put('hapilot/pool/web/a', '{"state":"no"}');
    sim.put('app/web/10.0.0.1/80', '30');
    const snaps: PoolSnapshot[] = [];
    const ac = new AbortController();
    const errors: string[] = [];
    const waitFor = async (n: number) => {
      for (let i = 0; i < 100 && snaps.length < n; i++) await new Promise((r) => setTimeout(r, 50));
      assert.ok(snaps.length >= n, `expected ${n} snapshots, got ${snaps.length}`);
      return snaps[n - 1]!;
    };
    const done = watchPool({ kv, prefix: 'hapilot/pool', dockerWeights: true, wait: '5s', signal: ac.signal, onChange: (s) => void snaps.push(s), onError: (e) => errors.push(String(e)) });
    const s1 = await waitFor(1);
    assert.equal(s1.table.byKey.get('hapilot/pool/web/a')?.record.state, 'no');
    assert.equal(s1.dockerWeights?.byInstance.get('web/10.0.0.1/80'), 30);
    sim.put('hapilot/pool/web/a', '{"state":"sideways"}');
    sim.put('hapilot/pool/web/b', '{"state":"drain"}');
    const latest = () => snaps[snaps.length - 1]!;
    for (let i = 0; i < 100 && !latest().table.byKey.has('hapilot/pool/web/b'); i++) await new Promise((r) => setTimeout(r, 50));
    const cur = snaps[snaps.length - 1]!;
    assert.equal(cur.table.byKey.get('hapilot/pool/web/a')?.record.state, 'no', 'the invalid value did not replace the last valid record');
    assert.equal(cur.table.byKey.get('hapilot/pool/web/b')?.record.state, 'drain');
    assert.deepEqual(cur.table.invalid.map((i) => i.key), ['hapilot/pool/web/a']);
    sim.failNext(1);
    sim.put('hapilot/pool/web/c', '{"state":"inactive"}');
    for (let i = 0; i < 100 && !latest().table.byKey.has('hapilot/pool/web/c'); i++) await new Promise((r) => setTimeout(r, 50));
    assert.equal(latest().table.byKey.get('hapilot/pool/web/c')?.record.state, 'inactive', 'recovered after an error');
    ac.abort();
    await done;
  });
});
