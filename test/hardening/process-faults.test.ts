// hapilot and HAProxy dying at bad moments. hapilot SIGKILLed at random points of reloads: HAProxy
// keeps serving (not one failed request), the next hapilot adopts it (one master, never two) and
// brings it to the catalog. An HAProxy worker crashing, or the master dying alone: started again.
// The master socket is created mode 0600. A missing HAProxy binary is one clear line and exit 1 at
// startup; one that disappears while hapilot runs is retried while HAProxy keeps serving.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { CLI, hapilot } from '../helpers/cli.js';
import { eventually, get, startBackend } from '../helpers/backends.js';
import { names, webFixture } from '../helpers/daemon.js';
import { freePorts, tempDir } from '../helpers/haproxy.js';

const entry = (service: string, id: string, port: number) => ({
  Node: { Node: `n-${id}`, Address: '127.0.0.1' }, Service: { ID: id, Service: service, Tags: ['HAPROXY.ENABLE=true'], Port: port }, Checks: [],
});

/** Pids of HAProxy masters started for this config (`-W … -f <config>`). */
async function masters(configPath: string): Promise<number[]> {
  const r = await execa('pgrep', ['-f', '--', `-W .*-f ${configPath}`], { reject: false });
  const pids = String(r.stdout).split('\n').filter(Boolean).map(Number);
  // Workers are forks of the master with the same command line: a master is one whose parent is not in the list.
  const out: number[] = [];
  for (const pid of pids) {
    const ppid = Number((await execa('ps', ['-o', 'ppid=', '-p', String(pid)], { reject: false })).stdout.trim());
    // Gone since pgrep looked (an old worker finishing after a reload): neither master nor worker.
    if (ppid === 0) continue;
    if (!pids.includes(ppid)) out.push(pid);
  }
  return out;
}

test('hapilot SIGKILLed at random points of reloads: HAProxy never stops serving; the next hapilot adopts it and catches up', { timeout: 240_000 }, async () => {
  const { dir, cleanup } = await tempDir();
  const web = await startBackend('web-1');
  const api = await startBackend('api-1');
  const [httpPort, statsPort, statusPort] = await freePorts(3) as [number, number, number];
  const catalog = path.join(dir, 'catalog.json');
  const configPath = path.join(dir, 'run', 'haproxy.cfg');
  const env = { HAPROXY_DOM: 'example.test', HAPROXY_HTTP_PORT: String(httpPort), HAPROXY_STATS_PORT: String(statsPort), HAPROXY_MAXCONN_GLOBAL: '2000' };
  const start = (extra: string[] = []) => execa(process.execPath, [CLI, 'run', '--catalog', catalog, '--run-dir', path.join(dir, 'run'),
    '--status-listen', `127.0.0.1:${statusPort}`, '--wait', '20ms:100ms', '--min-reload-interval', '50ms', '--log-level', 'error',
    // A dropped service is a mass removal the guard holds (the restarted hapilot keeps its baseline
    // from applied-model.json); this test is about SIGKILL, so the hold is short.
    '--removal-hold', '100ms',
    // SIGKILL cannot be handled, so this only matters for the clean stop at the end.
    '--stop-haproxy-on-exit', ...extra], { reject: false, env });
  const ready = async () => (await fetch(`http://127.0.0.1:${statusPort}/ready`).catch(() => undefined))?.status === 200;
  const webOnly = [entry('web', 'web-1', web.port)];
  const withApi = [...webOnly, entry('api', 'api-1', api.port)];
  await writeFile(catalog, JSON.stringify(webOnly));
  let proc: ResultPromise | undefined = start();
  await eventually(ready, 20_000, 'first hapilot ready');
  // Load: one new connection per request to the service that never changes.
  let stopLoad = false;
  let ok = 0;
  const failures: string[] = [];
  const load = (async () => {
    while (!stopLoad) {
      try {
        const r = await get(httpPort, 'web.example.test');
        if (r.status === 200) ok++;
        else failures.push(`HTTP ${r.status}`);
      } catch (err) {
        failures.push(String(err));
      }
    }
  })();
  try {
    const rounds = 4;
    for (let i = 0; i < rounds; i++) {
      const want = i % 2 === 0 ? withApi : webOnly;
      await writeFile(catalog, JSON.stringify(want));
      // Anywhere from before the debounce fires to well after the reload.
      await new Promise((r) => setTimeout(r, Math.floor(Math.random() * 400)));
      proc.kill('SIGKILL');
      await proc;
      await new Promise((r) => setTimeout(r, 300)); // HAProxy alone for a while
      proc = start();
      await eventually(ready, 20_000, `hapilot ${i + 2} ready`);
      const apiStatus = async () => (await get(httpPort, 'api.example.test')).status;
      await eventually(async () => (await apiStatus()) === (want === withApi ? 200 : 404), 20_000, `round ${i}: HAProxy follows the catalog`);
      assert.equal((await masters(configPath)).length, 1, `round ${i}: exactly one HAProxy master`);
    }
    stopLoad = true;
    await load;
    assert.deepEqual(failures, [], `${failures.length} failed requests out of ${ok + failures.length}`);
    assert.ok(ok > 50, `requests made: ${ok}`);
  } finally {
    stopLoad = true;
    await load;
    const pids = await masters(configPath);
    proc?.kill('SIGTERM');
    await proc;
    for (const pid of pids) { try { process.kill(pid, 'SIGTERM'); } catch { /* gone */ } }
    await new Promise((r) => setTimeout(r, 500));
    for (const pid of await masters(configPath)) { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } }
    await web.close();
    await api.close();
    await cleanup();
  }
});

test('an HAProxy worker that crashes, or a master that dies alone, is replaced; the master socket is mode 0600', { timeout: 120_000 }, async () => {
  const { d, teardown } = await webFixture({ backends: 1, registered: 1, daemon: { extra: { reapIntervalMs: 200 } } });
  try {
    const sock = await stat(path.join(d.runDir, 'master.sock'));
    assert.ok(sock.isSocket());
    assert.equal(sock.mode & 0o777, 0o600, `master socket mode ${(sock.mode & 0o777).toString(8)}`);

    const first = await d.controller.processes();
    assert.ok(first.currentWorkerPid);
    process.kill(first.currentWorkerPid, 'SIGKILL'); // the worker crashes
    await eventually(async () => {
      const p = await d.controller.processes().catch(() => undefined);
      return p?.currentWorkerPid !== undefined && p.currentWorkerPid !== first.currentWorkerPid;
    }, 20_000, 'a new worker');
    await eventually(async () => (await names(d)).has('web-1'), 10_000, 'serving after the worker crash');

    const second = await d.controller.processes();
    assert.ok(second.masterPid);
    process.kill(second.masterPid, 'SIGKILL'); // the master dies alone
    await eventually(async () => {
      const p = await d.controller.processes().catch(() => undefined);
      return p?.masterPid !== undefined && p.masterPid !== second.masterPid;
    }, 20_000, 'a new master');
    await eventually(async () => (await names(d)).has('web-1'), 10_000, 'serving after the master died');
    assert.equal((await masters(d.configPath)).length, 1, 'one master');
  } finally {
    await teardown();
  }
});

test('a missing HAProxy binary is one line naming it: check and run exit 1 at startup (run before it starts anything)', { timeout: 60_000 }, async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const notFound = /^hapilot: error: --haproxy \(HAPILOT_HAPROXY\) "\/nonexistent\/haproxy": not found: expected the path of an HAProxy binary \(install HAProxy: apt-get install haproxy\)$/;
    const c = await hapilot(['check', '--catalog', 'examples/catalog.json', '--haproxy', '/nonexistent/haproxy'], { env: { HAPILOT_LOG_LEVEL: 'error' } });
    assert.equal(c.code, 1);
    assert.match(c.stderr.trimEnd(), notFound);
    const [statusPort] = await freePorts(1) as [number];
    const runDir = path.join(dir, 'run');
    const run = (haproxy: string, env: Record<string, string> = {}) => hapilot(['run', '--catalog', 'examples/catalog.json', '--run-dir', runDir, '--status-listen', `127.0.0.1:${statusPort}`, '--log-level', 'error'], {
      env: { HAPILOT_HAPROXY: haproxy, ...env }, timeout: 30_000,
    });
    const r = await run('/nonexistent/haproxy');
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr.trimEnd(), notFound);
    assert.equal(r.stdout, '');
    // Nothing was started: no config written, no status server.
    assert.equal(await stat(path.join(runDir, 'haproxy.cfg')).catch(() => undefined), undefined);
    // Not executable, and a binary that is not HAProxy: named the same way.
    const notExecutable = path.join(dir, 'haproxy-not-executable');
    await writeFile(notExecutable, '#!/bin/sh\n', { mode: 0o644 });
    const r2 = await run(notExecutable);
    assert.equal(r2.code, 1);
    assert.match(r2.stderr.trimEnd(), /^hapilot: error: --haproxy \(HAPILOT_HAPROXY\) "\/\S+\/haproxy-not-executable": not executable \(EACCES\): expected the path of an HAProxy binary/);
    const r3 = await run('/bin/true');
    assert.equal(r3.code, 1);
    assert.match(r3.stderr.trimEnd(), /^hapilot: error: --haproxy \(HAPILOT_HAPROXY\) "\/bin\/true": "-v" exited 0 without an HAProxy version: expected the path of an HAProxy binary/);
    for (const x of [r, r2, r3]) assert.equal(x.stderr.trimEnd().split('\n').length, 1, x.stderr);
  } finally {
    await cleanup();
  }
});

test('the HAProxy binary disappearing while hapilot runs: HAProxy keeps serving, /status and the log say why, and the change is applied once the binary is back', { timeout: 90_000 }, async () => {
  const { dir, cleanup } = await tempDir();
  const web = await startBackend('web-1');
  const api = await startBackend('api-1');
  const [httpPort, statsPort, statusPort] = await freePorts(3) as [number, number, number];
  const catalog = path.join(dir, 'catalog.json');
  const bin = path.join(dir, 'bin', 'haproxy');
  const wrapper = `#!/bin/sh\nexec haproxy "$@"\n`;
  await mkdir(path.dirname(bin));
  await writeFile(bin, wrapper, { mode: 0o755 });
  await writeFile(catalog, JSON.stringify([entry('web', 'web-1', web.port)]));
  const proc = execa(process.execPath, [CLI, 'run', '--catalog', catalog, '--run-dir', path.join(dir, 'run'), '--haproxy', bin,
    '--status-listen', `127.0.0.1:${statusPort}`, '--wait', '20ms:100ms', '--min-reload-interval', '50ms', '--log-level', 'error', '--stop-haproxy-on-exit'],
  { reject: false, env: { HAPROXY_DOM: 'example.test', HAPROXY_HTTP_PORT: String(httpPort), HAPROXY_STATS_PORT: String(statsPort), HAPROXY_MAXCONN_GLOBAL: '2000' } });
  const base = `http://127.0.0.1:${statusPort}`;
  try {
    await eventually(async () => (await fetch(`${base}/ready`).catch(() => undefined))?.status === 200, 20_000, 'hapilot ready');
    assert.equal((await get(httpPort, 'web.example.test')).status, 200);
    await rm(bin);
    // A structural change (a new service) needs `haproxy -c`, which cannot run now.
    await writeFile(catalog, JSON.stringify([entry('web', 'web-1', web.port), entry('api', 'api-1', api.port)]));
    await eventually(async () => {
      const s = await (await fetch(`${base}/status`)).json() as { degraded: string[] };
      return s.degraded.some((d) => d.includes(`--haproxy (HAPILOT_HAPROXY) ${JSON.stringify(bin)}: not found`));
    }, 20_000, '/status names the missing binary');
    // The running HAProxy keeps serving its last good config all along.
    for (let i = 0; i < 20; i++) assert.equal((await get(httpPort, 'web.example.test')).status, 200);
    assert.equal((await get(httpPort, 'api.example.test')).status, 404);
    await writeFile(bin, wrapper, { mode: 0o755 });
    await eventually(async () => (await get(httpPort, 'api.example.test')).status === 200, 30_000, 'the held change applied once the binary is back');
    await eventually(async () => ((await (await fetch(`${base}/status`)).json()) as { degraded: string[] }).degraded.length === 0, 20_000, 'no longer degraded');
  } finally {
    proc.kill('SIGTERM');
    const r = await proc;
    await web.close();
    await api.close();
    await cleanup();
    // Logs go to stdout (pino JSON): each line about the binary is one line that says what was expected.
    const lines = `${String(r.stdout)}\n${String(r.stderr)}`.split('\n').filter((l) => l.includes(bin));
    assert.ok(lines.length > 0 && lines.some((l) => /not found: expected the path of an HAProxy binary/.test(l)), `${String(r.stdout).slice(0, 1000)} ${String(r.stderr).slice(0, 1000)}`);
  }
});
