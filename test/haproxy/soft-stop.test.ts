// --stop-haproxy-on-exit stops HAProxy softly: a request in flight when hapilot stops completes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { eventually, get } from '../helpers/backends.js';
import { startDaemon } from '../helpers/daemon.js';
import { tempDir } from '../helpers/haproxy.js';
import { ConsulSim } from '../sim/consul-sim.js';

test('a slow request in flight when hapilot stops with --stop-haproxy-on-exit completes with 200', async () => {
  const slow = http.createServer((req, res) => { setTimeout(() => res.end(JSON.stringify({ name: 'slow' })), req.url === '/slow' ? 1500 : 0); });
  await new Promise<void>((r) => slow.listen(0, '127.0.0.1', r));
  const sim = new ConsulSim();
  sim.jitter = false;
  sim.register({ node: { Node: 'node1', Address: '127.0.0.1' }, service: { ID: 'web-1', Service: 'web', Tags: ['HAPROXY.ENABLE=true'], Port: (slow.address() as net.AddressInfo).port } });
  await sim.start();
  const { dir, cleanup } = await tempDir();
  const d = await startDaemon({ runDir: dir, sim, extra: { stopHaproxyOnExit: true } });
  try {
    await eventually(async () => (await d.daemon.ready()).ready, 15_000, 'ready');
    assert.equal((await get(d.httpPort, 'web.example.test')).status, 200);
    const inFlight = get(d.httpPort, 'web.example.test', '/slow').catch((err: unknown) => ({ status: 0, body: String(err) }));
    await new Promise((r) => setTimeout(r, 300));
    const started = Date.now();
    await d.daemon.stop(); // stops HAProxy (--stop-haproxy-on-exit)
    const r = await inFlight;
    assert.equal(r.status, 200, JSON.stringify(r));
    assert.equal(await d.controller.running(), false, 'HAProxy stopped');
    assert.ok(Date.now() - started < 15_000);
  } finally {
    await d.stop();
    await sim.stop();
    slow.closeAllConnections();
    slow.close();
    await cleanup();
  }
});
