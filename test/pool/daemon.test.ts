// The pool path next to the real engine: `createDaemon` (as `hapilot run` wires it) runs HAProxy
// from a real Consul agent, and a PoolReconciler works on that HAProxy's stats socket, fed with the
// same catalog (until the daemon holds the reconciler itself). Proves that the server names agree,
// that a depool under load through the engine's frontend loses no request and needs no reload, and
// that the engine's own runtime changes and reloads keep the pool state.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { startDaemon } from '../helpers/daemon.js';
import { eventually, startBackend } from '../helpers/backends.js';
import { tempDir } from '../helpers/haproxy.js';
import { RealConsul } from '../helpers/real-consul.js';
import { testLog } from '../helpers/log.js';
import { loadConsulConfig } from '../../src/consul/config.js';
import { createConsulClient } from '../../src/consul/client.js';
import { createKvClient } from '../../src/pool/kv.js';
import { PoolReconciler } from '../../src/pool/reconciler.js';
import { observeServers } from '../../src/pool/observe.js';
import { feedReconciler, load } from './lab.js';
import { hapilot } from '../helpers/cli.js';

type Status = { reloads: Array<{ action: string; ok: boolean }>; haproxy: { processes: { currentWorkerPid: number } | null } };

test('next to createDaemon: depool under load without a reload; the engine\'s runtime changes and reloads keep it', { timeout: 120_000 }, async () => {
  const consulAgent = await RealConsul.start();
  const backends = await Promise.all([1, 2, 3, 4].map((i) => startBackend(`web-${i}`)));
  for (const [i, b] of backends.slice(0, 3).entries()) await consulAgent.register({ node: `n${i + 1}`, id: `web-${i + 1}`, service: 'web', tags: ['HAPROXY.ENABLE=true'], port: b.port });
  const { dir, cleanup } = await tempDir();
  const d = await startDaemon({ runDir: dir, consulUrl: consulAgent.url });
  const socket = path.join(dir, 'haproxy.sock');
  const config = loadConsulConfig({ flagUrl: consulAgent.url, env: {} });
  const consul = createConsulClient(config);
  const kv = createKvClient(config);
  const ac = new AbortController();
  const reconciler = new PoolReconciler({ kv, prefix: 'hapilot/pool', wait: '30s', statsSocket: socket, defaultThreshold: 0.5, log: testLog });
  const cli = (args: string[]) => hapilot(args, { env: { HAPILOT_CONSUL: consulAgent.url } });
  const status = async () => (await d.daemon.status()) as Status;
  const web1 = async () => (await observeServers(socket)).find((r) => r.backend === 'web' && r.server === 'n1:web-1');
  let loop: Promise<void> | undefined;
  try {
    await eventually(async () => (await d.daemon.ready()).ready, 20_000, 'daemon ready');
    reconciler.start();
    loop = feedReconciler({ consul, reconciler, signal: ac.signal });
    await eventually(() => reconciler.decisions()?.servers.length === 3, 10_000, 'pool decisions');
    const worker = (await status()).haproxy.processes?.currentWorkerPid;
    const reloadsBefore = (await status()).reloads.filter((r) => r.action !== 'runtime').length;

    const l = load(d.httpPort, { host: 'web.example.test' });
    await new Promise((r) => setTimeout(r, 800));
    const r = await cli(['depool', 'web', 'web-1', '--wait', '--timeout', '20s', '--haproxy-status', socket]);
    await new Promise((r2) => setTimeout(r2, 500));
    const { ok, failures } = await l.stop();
    assert.equal(r.code, 0, String(r.stderr));
    assert.deepEqual(failures, [], `${failures.length} failed of ${ok + failures.length}`);
    assert.ok(ok > 100, `traffic flowed (${ok})`);
    assert.deepEqual([(await web1())?.status, (await web1())?.sessions], ['MAINT', 0]);
    assert.equal((await status()).haproxy.processes?.currentWorkerPid, worker, 'no reload: the same worker');
    assert.equal((await status()).reloads.filter((x) => x.action !== 'runtime').length, reloadsBefore);

    // The engine adds an instance at runtime: web-1 stays depooled.
    await consulAgent.register({ node: 'n4', id: 'web-4', service: 'web', tags: ['HAPROXY.ENABLE=true'], port: backends[3]!.port });
    await eventually(async () => (await observeServers(socket)).some((x) => x.server === 'n4:web-4'), 15_000, 'web-4 added by the engine');
    assert.equal((await web1())?.status, 'MAINT');

    // A reload by the engine (SIGHUP path): the server-state file keeps web-1 in maintenance, and a
    // full reconcile afterwards has nothing to correct.
    await d.daemon.requestSync({ trigger: 'test reload', force: true });
    await eventually(async () => (await status()).haproxy.processes?.currentWorkerPid !== worker, 15_000, 'reloaded');
    await eventually(async () => (await web1())?.status !== undefined, 10_000, 'stats after the reload');
    assert.equal((await web1())?.status, 'MAINT', 'kept across the reload');
    assert.deepEqual(await reconciler.reconcile({ full: true }), []);

    const p = await cli(['pool', 'web', 'web-1', '--wait', '--timeout', '20s', '--haproxy-status', socket]);
    assert.equal(p.code, 0, String(p.stderr));
    assert.match((await web1())?.status ?? '', /^UP/);
  } finally {
    ac.abort();
    await reconciler.stop();
    await loop;
    consul.close();
    kv.close();
    await d.stop();
    await consulAgent.destroy();
    await Promise.all(backends.map((b) => b.close()));
    await cleanup();
  }
});
