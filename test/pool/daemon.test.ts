// The pool path inside the engine: `createDaemon` (as `hapilot run` wires it) holds the
// PoolReconciler, with a real Consul agent and a real HAProxy. A record written before the daemon
// starts applies from the first config on; the engine's runtime changes and its reloads keep pool
// states; a weight in a record reaches HAProxy through the Runtime API, without a reload.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { eventually, startBackend } from '../helpers/backends.js';
import { tempDir } from '../helpers/haproxy.js';
import { RealConsul } from '../helpers/real-consul.js';
import { testLog } from '../helpers/log.js';
import { loadConsulConfig } from '../../src/consul/config.js';
import { createKvClient } from '../../src/pool/kv.js';
import { PoolReconciler } from '../../src/pool/reconciler.js';
import { observeServers } from '../../src/pool/observe.js';

type Status = { reloads: Array<{ action: string; ok: boolean }>; haproxy: { processes: { currentWorkerPid: number } | null } };

test('createDaemon holding the pool: a record from before the start applies; runtime adds and reloads keep it; a weight goes through the Runtime API', { timeout: 120_000 }, async () => {
  const consul = await RealConsul.start();
  const backends = await Promise.all([1, 2, 3, 4].map((i) => startBackend(`web-${i}`)));
  for (const [i, b] of backends.slice(0, 3).entries()) await consul.register({ node: `n${i + 1}`, id: `web-${i + 1}`, service: 'web', tags: ['HAPROXY.ENABLE=true'], port: b.port });
  await consul.ok('PUT', '/v1/kv/hapilot/pool/web/web-2', '{"state":"no","reason":"before the start"}');
  const { dir, cleanup } = await tempDir();
  const socket = path.join(dir, 'haproxy.sock');
  const kv = createKvClient(loadConsulConfig({ flagUrl: consul.url, env: {} }));
  const pool = new PoolReconciler({ kv, prefix: 'hapilot/pool', wait: '30s', statsSocket: socket, defaultThreshold: 0.5, log: testLog, thresholdOf: (b) => b.depoolThreshold });
  let d: TestDaemon | undefined;
  const stat = async (server: string) => (await observeServers(socket)).find((r) => r.backend === 'web' && r.server === server);
  try {
    d = await startDaemon({ runDir: dir, consulUrl: consul.url, extra: { pool } });
    const daemon = d.daemon;
    const status = async () => (await daemon.status()) as Status;
    await eventually(async () => (await daemon.ready()).ready, 20_000, 'daemon ready');
    await eventually(async () => /^MAINT/.test((await stat('n2:web-2'))?.status ?? ''), 5_000, 'web-2 in maintenance from the start');
    assert.match((await stat('n1:web-1'))?.status ?? '', /^UP/);
    const worker = (await status()).haproxy.processes?.currentWorkerPid;
    const reloads = async () => (await status()).reloads.filter((r) => r.action !== 'runtime').length;
    const reloadsBefore = await reloads();

    // The engine adds an instance at runtime: web-2 stays depooled.
    await consul.register({ node: 'n4', id: 'web-4', service: 'web', tags: ['HAPROXY.ENABLE=true'], port: backends[3]!.port });
    await eventually(async () => /^UP/.test((await stat('n4:web-4'))?.status ?? ''), 15_000, 'web-4 added by the engine');
    assert.match((await stat('n2:web-2'))?.status ?? '', /^MAINT/);

    // A weight in a record: a config change (the weight is in the server line) applied at runtime.
    await consul.ok('PUT', '/v1/kv/hapilot/pool/web/web-1', '{"state":"yes","weight":7}');
    await eventually(async () => (await stat('n1:web-1'))?.weight === 7, 10_000, 'weight 7 in HAProxy');
    assert.equal((await status()).haproxy.processes?.currentWorkerPid, worker, 'no reload: the same worker');
    assert.equal(await reloads(), reloadsBefore);

    // A reload by the engine (the SIGHUP path): web-2 stays in maintenance, web-1 keeps its weight.
    await daemon.requestSync({ trigger: 'test reload', force: true });
    await eventually(async () => (await status()).haproxy.processes?.currentWorkerPid !== worker, 15_000, 'reloaded');
    await eventually(async () => (await stat('n2:web-2'))?.status !== undefined, 10_000, 'stats after the reload');
    assert.match((await stat('n2:web-2'))?.status ?? '', /^MAINT/, 'kept across the reload');
    assert.equal((await stat('n1:web-1'))?.weight, 7);
    assert.deepEqual(await pool.reconcile({ full: true }), [], 'nothing left to correct');

    // Back in the pool.
    await consul.ok('DELETE', '/v1/kv/hapilot/pool/web/web-2');
    await eventually(async () => /^UP/.test((await stat('n2:web-2'))?.status ?? ''), 10_000, 'web-2 back UP');
  } finally {
    await d?.stop();
    kv.close();
    await consul.destroy();
    await Promise.all(backends.map((b) => b.close()));
    await cleanup();
  }
});
