// The runtime strategy, operator state across reloads, and a failed reload, with a real HAProxy.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { readFile } from 'node:fs/promises';
import { ConsulSim } from '../sim/consul-sim.js';
import { eventually, get, startBackend } from '../helpers/backends.js';
import { startDaemon, webFixture, type TestDaemon } from '../helpers/daemon.js';
import { freePort, tempDir } from '../helpers/haproxy.js';
import { socketCommand, parseShowStat } from '../../src/haproxy/socket.js';
import path from 'node:path';

const ENABLE = ['HAPROXY.ENABLE=true'];
const node = (n: number) => ({ Node: `node${n}`, Address: '127.0.0.1' });
type Status = { reloads: Array<{ action: string; ok: boolean; trigger: string; message: string }>; haproxy: { processes: { currentWorkerPid: number } }; degraded: string[] };
const status = async (d: TestDaemon) => d.daemon.status() as Promise<Status>;
const stat = async (d: TestDaemon) => parseShowStat(await socketCommand(path.join(d.runDir, 'haproxy.sock'), 'show stat'), { addr: true });

test('runtime: instances added, moved and removed without a reload (same worker), config file in step', async () => {
  const { backends, sim, d, teardown } = await webFixture({ backends: 3, registered: 1 });
  try {
    const worker = (await status(d)).haproxy.processes.currentWorkerPid;
    sim.register({ node: node(2), service: { ID: 'web-2', Service: 'web', Tags: ENABLE, Port: backends[1]!.port } });
    await eventually(async () => (await get(d.httpPort, 'web.example.test')).body !== undefined && (await status(d)).reloads[0]?.action === 'runtime', 10_000, 'runtime add');
    await eventually(async () => {
      const seen = new Set<string>();
      for (let i = 0; i < 10; i++) { const r = await get(d.httpPort, 'web.example.test'); if (typeof r.body === 'object') seen.add(r.body.name ?? ''); }
      return seen.has('web-2');
    }, 10_000, 'traffic reaches the added server');
    // Move web-2 to another port (backend 3): set server addr.
    sim.register({ node: node(2), service: { ID: 'web-2', Service: 'web', Tags: ENABLE, Port: backends[2]!.port } });
    await eventually(async () => (await stat(d)).some((r) => r.server === 'node2:web-2' && r.addr?.endsWith(`:${backends[2]!.port}`)), 10_000, 'address changed at runtime');
    sim.deregister('node1', 'web-1');
    await eventually(async () => !(await stat(d)).some((r) => r.server === 'node1:web-1' && !/MAINT/.test(r.status)), 10_000, 'removed at runtime');
    const st = await status(d);
    assert.ok(st.reloads.slice(0, 3).every((r) => r.action === 'runtime' && r.ok), JSON.stringify(st.reloads.slice(0, 3)));
    assert.equal(st.haproxy.processes.currentWorkerPid, worker, 'no reload: the same worker serves');
    const cfg = await readFile(d.configPath, 'utf8');
    assert.doesNotMatch(cfg, /server node1:web-1 /);
    assert.match(cfg, new RegExp(`server node2:web-2 127\\.0\\.0\\.1:${backends[2]!.port} `), 'the file carries the runtime state');
  } finally {
    await teardown();
  }
});

test('operator state survives reloads: a drained server stays drained, and a stale address is never restored', async () => {
  const { backends, sim, d, dir, teardown } = await webFixture({ backends: 3, registered: 2 });
  const sock = path.join(dir, 'haproxy.sock');
  try {
    await socketCommand(sock, 'set server web/node2:web-2 state drain');
    await socketCommand(sock, 'set server web/node1:web-1 weight 7');
    // A structural change: a second service appears, HAProxy reloads.
    sim.register({ node: node(1), service: { ID: 'api-1', Service: 'api', Tags: ENABLE, Port: backends[2]!.port } });
    await eventually(async () => (await status(d)).reloads[0]?.action === 'reload', 10_000, 'reloaded');
    await d.daemon.idle();
    let rows = await stat(d);
    assert.match(rows.find((r) => r.server === 'node2:web-2')?.status ?? '', /DRAIN/, 'still drained after the reload');
    assert.equal(rows.find((r) => r.server === 'node1:web-1')?.weight, 7, 'runtime weight kept');
    // The drained server moves (new port in Consul) and HAProxy reloads: the new address wins.
    sim.register({ node: node(2), service: { ID: 'web-2', Service: 'web', Tags: [...ENABLE, 'HAPROXY.BACKEND.BALANCE=leastconn'], Port: backends[2]!.port } });
    await eventually(async () => (await readFile(d.configPath, 'utf8')).includes('balance leastconn'), 10_000, 'reloaded again');
    await d.daemon.idle();
    assert.equal((await status(d)).reloads[0]?.ok, true);
    rows = await stat(d);
    assert.equal(rows.find((r) => r.server === 'node2:web-2')?.addr, `127.0.0.1:${backends[2]!.port}`, 'the new address, not the state file\'s');
    assert.match(rows.find((r) => r.server === 'node2:web-2')?.status ?? '', /DRAIN/);
  } finally {
    await teardown();
  }
});

test('a reload that fails (a port taken by another process) restores the last good config; HAProxy keeps serving', async () => {
  const backend = await startBackend('web-1');
  const taken = await freePort();
  const blocker = http.createServer().listen(taken, '127.0.0.1');
  const sim = new ConsulSim();
  sim.jitter = false;
  sim.register({ node: node(1), service: { ID: 'web-1', Service: 'web', Tags: ENABLE, Port: backend.port } });
  await sim.start();
  const { dir, cleanup } = await tempDir();
  const d = await startDaemon({ runDir: dir, sim });
  try {
    await eventually(async () => (await d.daemon.ready()).ready, 15_000, 'ready');
    const good = await readFile(d.configPath, 'utf8');
    sim.register({ node: node(1), service: { ID: 'db-1', Service: 'db', Tags: [...ENABLE, 'HAPROXY.PROTOCOL=tcp', `HAPROXY.FRONTEND.PORT=${taken}`], Port: backend.port } });
    await eventually(async () => (await status(d)).reloads[0]?.trigger !== 'initial sync', 15_000, 'attempted');
    await d.daemon.idle();
    const st = await status(d);
    assert.equal(st.reloads[0]?.ok, false, JSON.stringify(st.reloads[0]));
    // (Between its retries: each one writes the new config again, fails and puts this one back.)
    await eventually(async () => await readFile(d.configPath, 'utf8') === good, 5000, 'the file is back to what HAProxy runs');
    assert.ok(st.degraded.some((x) => /last reload failed/.test(x)));
    assert.equal((await get(d.httpPort, 'web.example.test')).status, 200);
  } finally {
    await d.stop();
    await sim.stop();
    blocker.close();
    await backend.close();
    await cleanup();
  }
});
