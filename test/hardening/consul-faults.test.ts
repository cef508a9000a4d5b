// Consul faults the simulator has no knob for, through a fault proxy (test/hardening/fault-proxy.ts):
// a 403 (reported as a token problem), truncated JSON, slow answers, connections that hang and are
// reset. Through all of them HAProxy keeps serving the last good config, /status says why, and a
// catalog change made during the fault is applied once Consul answers properly again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConsulSim } from '../sim/consul-sim.js';
import { eventually, startBackend } from '../helpers/backends.js';
import { names, registerWeb, startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { tempDir } from '../helpers/haproxy.js';
import { FaultProxy } from './fault-proxy.js';

interface Status { degraded: string[]; reloads: unknown[] }
const status = async (d: TestDaemon) => d.daemon.status() as Promise<Status>;
const sorted = async (d: TestDaemon) => [...await names(d)].sort();

test('Consul 403, truncated JSON, slow answers and hung connections: HAProxy keeps serving, /status says why, changes apply after', { timeout: 180_000 }, async () => {
  const backends = await Promise.all([1, 2, 3].map((i) => startBackend(`web-${i}`)));
  const sim = new ConsulSim();
  sim.jitter = false;
  registerWeb(sim, 1, backends[0]!);
  registerWeb(sim, 2, backends[1]!);
  await sim.start();
  const proxy = new FaultProxy(sim.url);
  await proxy.start();
  const { dir, cleanup } = await tempDir();
  let d: TestDaemon | undefined;
  try {
    d = await startDaemon({ runDir: dir, consulUrl: proxy.url });
    const daemon = d;
    await eventually(async () => (await daemon.daemon.ready()).ready, 15_000, 'ready');
    assert.deepEqual(await sorted(daemon), ['web-1', 'web-2']);

    // 403: a token problem, said as such.
    proxy.fault = { kind: 'status', status: 403, body: 'ACL not found' };
    sim.touch(); // wake the long-polls so that they ask again now
    await eventually(async () => (await status(daemon)).degraded.some((r) => /HTTP 403 \(ACL not found\): the ACL token is missing, unknown or lacks permission/.test(r)), 15_000, 'degraded: 403 as a token problem');
    assert.deepEqual(await sorted(daemon), ['web-1', 'web-2'], 'serving through a 403');
    registerWeb(sim, 3, backends[2]!); // a change Consul holds while hapilot cannot read it
    await new Promise((r) => setTimeout(r, 1000));
    assert.deepEqual(await sorted(daemon), ['web-1', 'web-2'], 'nothing applied from an unreadable catalog');

    // Truncated JSON (complete HTTP answers whose body is cut in half).
    proxy.fault = { kind: 'truncate' };
    await eventually(async () => (await status(daemon)).degraded.some((r) => !/403/.test(r)), 15_000, 'degraded: truncated answers');
    const reason = (await status(daemon)).degraded.join(' | ');
    assert.doesNotMatch(reason, /\n/);
    assert.deepEqual(await sorted(daemon), ['web-1', 'web-2'], 'serving through truncated answers');

    // Hung connections, reset after a while (a timeout, as the client sees it).
    proxy.fault = { kind: 'hang-reset', ms: 1500 };
    await new Promise((r) => setTimeout(r, 3000));
    assert.ok((await status(daemon)).degraded.length > 0, 'still degraded while connections hang');
    assert.deepEqual(await sorted(daemon), ['web-1', 'web-2'], 'serving through hung connections');

    // Slow but correct answers: the change made during the faults is applied.
    proxy.fault = { kind: 'delay', ms: 1200 };
    await eventually(async () => (await sorted(daemon)).length === 3, 40_000, 'web-3 served after recovery, through slow answers');
    assert.deepEqual(await sorted(daemon), ['web-1', 'web-2', 'web-3']);
    proxy.fault = { kind: 'pass' };
    await eventually(async () => (await status(daemon)).degraded.length === 0, 30_000, 'recovered');
  } finally {
    await d?.stop();
    await proxy.stop();
    await sim.stop();
    await Promise.all(backends.map((b) => b.close()));
    await cleanup();
  }
});
