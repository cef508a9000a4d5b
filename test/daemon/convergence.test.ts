// Converging until in step, with a real HAProxy and the Consul simulator: a failed write, a failed
// Runtime API call and a failed reload are retried until HAProxy runs the latest catalog, without a
// new catalog change; a runtime change that arrives during a reload reaches the new worker; /ready
// checks that HAProxy serves through its own frontend.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { readFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { execa } from 'execa';
import { ConsulSim } from '../sim/consul-sim.js';
import { eventually, get, startBackend, type Backend } from '../helpers/backends.js';
import { ENABLE_TAGS, names, registerWeb, simNode, startDaemon, webFixture, type TestDaemon } from '../helpers/daemon.js';
import { HAPROXY, freePort, tempDir } from '../helpers/haproxy.js';
import { testLog } from '../helpers/log.js';
import { MasterWorker } from '../../src/haproxy/master-worker.js';
import { socketCommand, parseShowStat } from '../../src/haproxy/socket.js';

interface Status {
  reloads: Array<{ action: string; ok: boolean; trigger: string; message: string; strategy: string }>;
  convergence: { inStep: boolean; behindSeconds: number; reason: string | null; lastError: string | null; failures: number };
  haproxy: { processes: { currentWorkerPid: number } };
  degraded: string[];
}
const status = async (d: TestDaemon) => d.daemon.status() as Promise<Status>;
const stat = async (d: TestDaemon) => parseShowStat(await socketCommand(path.join(d.runDir, 'haproxy.sock'), 'show stat'), { addr: true });
const metric = async (d: TestDaemon, name: string) => {
  const text = await d.metrics.registry.getSingleMetricAsString(name);
  return [...text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.e+-]+)$`, 'gm'))].reduce((n, m) => n + Number(m[1]), 0);
};

/**
 * Makes a directory refuse new files even to root: the immutable attribute (`chattr +i`), or where
 * the filesystem has none, a read-only bind mount of it onto itself. Returns the undo.
 */
async function makeUnwritable(dir: string): Promise<() => Promise<void>> {
  const chattr = await execa('chattr', ['+i', dir], { reject: false });
  if (chattr.exitCode === 0) return async () => { await execa('chattr', ['-i', dir]); };
  if (process.getuid?.() !== 0) {
    await execa('chmod', ['555', dir]);
    return async () => { await execa('chmod', ['755', dir]); };
  }
  await execa('mount', ['--bind', dir, dir]);
  await execa('mount', ['-o', 'remount,bind,ro', dir]);
  return async () => { await execa('umount', [dir]); };
}

const fixture = (o: { backends: number; registered: number; configDir?: boolean }) => webFixture(o);

test('a failed write (config directory not writable) is retried: HAProxy catches up once it is writable, with no new catalog change', async () => {
  const { sim, d, configDir, teardown } = await fixture({ backends: 2, registered: 2, configDir: true });
  let undo: (() => Promise<void>) | undefined;
  try {
    assert.deepEqual([...await names(d)].sort(), ['web-1', 'web-2']);
    undo = await makeUnwritable(configDir);
    sim.deregister('node2', 'web-2');
    await eventually(async () => (await status(d)).convergence.failures >= 2, 10_000, 'the write fails and is retried');
    const behind = await status(d);
    assert.equal(behind.convergence.inStep, false);
    assert.match(behind.convergence.lastError ?? '', /^write: cannot write .*haproxy\.cfg: .*(EPERM|EROFS|EACCES)/);
    assert.ok(behind.degraded.some((r) => /behind the catalog: write/.test(r)), JSON.stringify(behind.degraded));
    await d.daemon.metricsText();
    assert.ok(await metric(d, 'hapilot_behind_seconds') > 0, 'hapilot_behind_seconds shows the lag');
    assert.ok(await metric(d, 'hapilot_sync_failures_total') >= 2);
    assert.ok((await names(d, 'web.example.test', 20)).has('web-2'), 'HAProxy is not changed behind the file\'s back');

    await undo();
    undo = undefined;
    const writable = Date.now();
    await eventually(async () => !(await names(d, 'web.example.test', 20)).has('web-2'), 15_000, 'web-2 leaves once the directory is writable');
    const caughtUpMs = Date.now() - writable;
    assert.ok(caughtUpMs < 12_000, `caught up within seconds (${caughtUpMs} ms)`);
    await eventually(async () => (await status(d)).convergence.inStep, 5000, 'in step');
    assert.doesNotMatch(await readFile(d.configPath, 'utf8'), /server node2:web-2 /);
    await d.daemon.metricsText();
    assert.equal(await metric(d, 'hapilot_behind_seconds'), 0);
  } finally {
    await undo?.();
    await teardown();
  }
});

test('a Runtime API error is retried as a reload, which brings HAProxy to the catalog', async () => {
  const { backends, sim, d, teardown } = await fixture({ backends: 3, registered: 1 });
  try {
    // An operator already added a server by that name (pointing elsewhere): `add server` refuses it.
    const sock = path.join(d.runDir, 'haproxy.sock');
    assert.equal((await socketCommand(sock, `add server web/node2:web-2 127.0.0.1:${backends[2]!.port}`)).trim(), 'New server registered.');
    sim.register({ node: simNode(2), service: { ID: 'web-2', Service: 'web', Tags: ENABLE_TAGS, Port: backends[1]!.port } });
    await eventually(async () => (await status(d)).reloads.some((r) => r.action === 'reload' && r.ok), 15_000, 'reloaded after the runtime failure');
    const st = await status(d);
    const runtime = st.reloads.find((r) => r.action === 'runtime');
    assert.equal(runtime?.ok, false, JSON.stringify(st.reloads));
    assert.match(runtime?.message ?? '', /add server web\/node2:web-2 .*already exists/i);
    assert.equal(st.reloads[0]?.action, 'reload', 'the retry reloaded instead');
    assert.equal(st.reloads[0]?.trigger, 'retry');
    assert.equal(await metric(d, 'hapilot_sync_failures_total'), 1);
    await eventually(async () => (await names(d, 'web.example.test', 20)).has('web-2'), 10_000, 'web-2 (from Consul) serves');
    assert.equal((await stat(d)).find((r) => r.server === 'node2:web-2')?.addr, `127.0.0.1:${backends[1]!.port}`, 'the address Consul gives, not the operator\'s');
    assert.equal((await status(d)).convergence.inStep, true);
  } finally {
    await teardown();
  }
});

test('a reload that fails is retried until it succeeds, with no new catalog change', async () => {
  const backend = await startBackend('web-1');
  const taken = await freePort();
  const blocker = http.createServer().listen(taken, '127.0.0.1');
  const sim = new ConsulSim();
  sim.jitter = false;
  registerWeb(sim, 1, backend);
  await sim.start();
  const { dir, cleanup } = await tempDir();
  const d = await startDaemon({ runDir: dir, sim });
  try {
    await eventually(async () => (await d.daemon.ready()).ready, 15_000, 'ready');
    sim.register({ node: simNode(1), service: { ID: 'db-1', Service: 'db', Tags: [...ENABLE_TAGS, 'HAPROXY.PROTOCOL=tcp', `HAPROXY.FRONTEND.PORT=${taken}`], Port: backend.port } });
    await eventually(async () => (await status(d)).convergence.failures >= 2, 15_000, 'the reload fails and is retried');
    assert.match((await status(d)).convergence.lastError ?? '', /^reload: /);
    assert.equal((await get(d.httpPort, 'web.example.test')).status, 200, 'the last good config keeps serving');
    await new Promise<void>((resolve) => blocker.close(() => resolve()));
    await eventually(async () => (await status(d)).convergence.inStep, 15_000, 'in step once the port is free');
    const st = await status(d);
    assert.equal(st.reloads[0]?.ok, true);
    assert.equal(st.reloads[0]?.trigger, 'retry');
    assert.deepEqual(st.degraded, []);
    // The new frontend serves the db service.
    const body = await new Promise<string>((resolve, reject) => {
      const s = net.connect(taken, '127.0.0.1', () => s.end('GET / HTTP/1.0\r\n\r\n'));
      let data = '';
      s.on('data', (c) => { data += c.toString(); });
      s.on('end', () => resolve(data));
      s.on('error', reject);
    });
    assert.match(body, /"name":"web-1"/);
  } finally {
    await d.stop();
    await sim.stop();
    if (blocker.listening) blocker.close();
    await backend.close();
    await cleanup();
  }
});

/** A master-worker applier whose reloads wait at a gate the test opens. */
class GatedMasterWorker extends MasterWorker {
  gate: Promise<void> | undefined;
  reloadsStarted = 0;
  override async reload(): Promise<{ ok: boolean; message: string }> {
    this.reloadsStarted += 1;
    await this.gate;
    return super.reload();
  }
}

test('a runtime change that arrives during a reload is applied after it, to the new worker', async () => {
  const backends: Backend[] = await Promise.all([1, 2].map((i) => startBackend(`web-${i}`)));
  const sim = new ConsulSim();
  sim.jitter = false;
  registerWeb(sim, 1, backends[0]!);
  await sim.start();
  const { dir, cleanup } = await tempDir();
  const runDir = path.join(dir, 'run');
  const gated = new GatedMasterWorker({ haproxy: HAPROXY, configPath: path.join(runDir, 'haproxy.cfg'), runDir, log: testLog });
  const d = await startDaemon({ runDir, sim, extra: { process: gated } });
  let open: () => void = () => {};
  try {
    await eventually(async () => (await d.daemon.ready()).ready, 15_000, 'ready');
    const oldWorker = (await status(d)).haproxy.processes.currentWorkerPid;
    gated.gate = new Promise((resolve) => { open = resolve; });
    // A structural change (a new service): a reload, held at the gate.
    registerWeb(sim, 1, backends[0]!, 'api');
    await eventually(() => gated.reloadsStarted === 1, 10_000, 'the reload started');
    // A server-only change during the reload.
    registerWeb(sim, 2, backends[1]!);
    await new Promise((r) => setTimeout(r, 600));
    assert.ok(!(await stat(d)).some((r) => r.server === 'node2:web-2'), 'not sent to the old worker during the reload');
    open();
    await eventually(async () => (await stat(d)).some((r) => r.server === 'node2:web-2' && /UP/.test(r.status)), 15_000, 'web-2 in the new worker');
    await d.daemon.idle();
    const st = await status(d);
    assert.notEqual(st.haproxy.processes.currentWorkerPid, oldWorker, 'a new worker');
    assert.deepEqual(st.reloads.slice(0, 2).map((r) => [r.action, r.ok]), [['runtime', true], ['reload', true]], 'the runtime change came after the reload');
    assert.equal(gated.reloadsStarted, 1, 'one reload');
    await eventually(async () => (await names(d, 'web.example.test', 20)).has('web-2'), 10_000, 'web-2 serves');
  } finally {
    open();
    await d.stop();
    await sim.stop();
    await Promise.all(backends.map((b) => b.close()));
    await cleanup();
  }
});

test('/ready checks that HAProxy serves through its own frontend, not just that it runs', async () => {
  const { d, teardown } = await fixture({ backends: 1, registered: 1 });
  const sock = path.join(d.runDir, 'haproxy.sock');
  try {
    assert.deepEqual(await d.daemon.ready(), { ready: true, reason: 'ok' });
    await socketCommand(sock, 'disable frontend hapilot_stats');
    const r = await d.daemon.ready();
    assert.equal(r.ready, false);
    assert.match(r.reason, new RegExp(`GET /healthz on HAProxy's port ${d.statsPort}`));
    await socketCommand(sock, 'enable frontend hapilot_stats');
    await eventually(async () => (await d.daemon.ready()).ready, 5000, 'ready again');
  } finally {
    await teardown();
  }
});
