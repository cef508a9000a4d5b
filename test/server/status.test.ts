// The status server's page (`GET /`) without pools: `hapilot run` on a catalog file has no pool
// records, and the page still lists every frontend and backend with its servers as configured and
// as HAProxy sees them. /status carries the same backends (what `--haproxy-status` reads).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { CLI } from '../helpers/cli.js';
import { freePorts, tempDir } from '../helpers/haproxy.js';
import { eventually, startBackend } from '../helpers/backends.js';

test('GET / without pools (catalog file): frontends, backends and servers as HAProxy has them, escaped; /status has the backends', { timeout: 60_000 }, async () => {
  const backend = await startBackend('web-1');
  const apiBackend = await startBackend('api-1');
  const { dir, cleanup } = await tempDir();
  const [httpPort, statsPort, statusPort] = await freePorts(3) as [number, number, number];
  const catalog = path.join(dir, 'catalog.json');
  await writeFile(catalog, JSON.stringify([
    { Node: { Node: 'n1', Address: '127.0.0.1' }, Service: { ID: 'web-1', Service: 'web', Tags: ['HAPROXY.ENABLE=true'], Port: backend.port }, Checks: [] },
    { Node: { Node: 'n1', Address: '127.0.0.1' }, Service: { ID: 'api-1', Service: 'api', Tags: ['HAPROXY.ENABLE=true'], Port: apiBackend.port }, Checks: [] },
    { Node: { Node: 'n1', Address: '127.0.0.1' }, Service: { ID: 'bad-1', Service: 'bad', Tags: ['HAPROXY.ENABLE=true', 'HAPROXY.BACKEND.MAXCONN=<b>'], Port: backend.port }, Checks: [] },
  ]));
  const runDir = path.join(dir, 'run');
  const proc = execa(process.execPath, [CLI, 'run', '--catalog', catalog, '--run-dir', runDir, '--status-listen', `127.0.0.1:${statusPort}`, '--wait', '50ms:200ms', '--stop-haproxy-on-exit'], {
    env: { HAPROXY_DOM: 'example.test', HAPROXY_HTTP_PORT: String(httpPort), HAPROXY_STATS_PORT: String(statsPort), HAPROXY_MAXCONN_GLOBAL: '2000', HAPROXY_MAXCONN: '1000', HAPILOT_LOG_LEVEL: 'warn' },
    reject: false, all: true, stdin: 'ignore',
  });
  const base = `http://127.0.0.1:${statusPort}`;
  try {
    await eventually(async () => (await fetch(`${base}/ready`).catch(() => undefined))?.status === 200, 20_000, '/ready');
    // Until both servers have passed a check: before its first one HAProxy shows a server "UP 1/3".
    await eventually(async () => (await (await fetch(`${base}/status`)).text()).match(/"status": "UP"/g)?.length === 2, 20_000, 'both servers checked');
    const res = await fetch(`${base}/`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'text/html; charset=utf-8');
    const page = await res.text();
    assert.match(page, /<title>hapilot status<\/title>/);
    assert.match(page, /data-frontend="hapilot_http"[\s\S]*?web\.example\.test → <a href="#backend-web">web<\/a>/);
    assert.match(page, /data-backend="web" data-server="n1:web-1" data-pool="yes"[\s\S]*?data-role="pool">pooled<[\s\S]*?data-role="haproxy">UP</);
    assert.match(page, /data-quarantined="bad"[\s\S]*?HAPROXY\.BACKEND\.MAXCONN=&lt;b&gt;/, 'quarantined with its tag, escaped');
    assert.doesNotMatch(page, /MAXCONN=<b>/);
    assert.match(page, /<ol class="timeline">[\s\S]*?<b>start<\/b> ok/);
    type Status = { backends: Array<{ name: string; servers: Array<{ name: string; pool: string; haproxy: { status: string } | null }> }>; services: Array<{ name: string }>; poolInvalid: unknown[] };
    const status = await (await fetch(`${base}/status`)).json() as Status;
    const shown = (st: Status) => st.backends.map((b) => [b.name, b.servers.map((s) => [s.name, s.pool, s.haproxy?.status])]);
    assert.deepEqual(shown(status), [['api', [['n1:api-1', 'yes', 'UP']]], ['web', [['n1:web-1', 'yes', 'UP']]]]);
    assert.deepEqual(status.poolInvalid, []);
    // ?backend= (what `pool --wait` asks for): those backends alone, with HAProxy's view of them; an unknown one is no backend.
    const one = await (await fetch(`${base}/status?backend=web`)).json() as Status;
    assert.deepEqual(shown(one), [['web', [['n1:web-1', 'yes', 'UP']]]]);
    assert.deepEqual(one.services.map((x) => x.name), ['web']);
    assert.deepEqual(shown(await (await fetch(`${base}/status?backend=web&backend=nope`)).json() as Status), [['web', [['n1:web-1', 'yes', 'UP']]]]);
    assert.deepEqual(shown(await (await fetch(`${base}/status?backend=nope`)).json() as Status), []);
    const onePage = await (await fetch(`${base}/?backend=api`)).text();
    assert.match(onePage, /data-backend="api" data-server="n1:api-1" data-pool="yes"[\s\S]*?data-role="haproxy">UP</);
    assert.doesNotMatch(onePage, /data-backend="web"|web\.example\.test/, 'only the backend asked for, and only the routes to it');
    const missing = await fetch(`${base}/nope`);
    assert.equal(missing.status, 404);
    assert.match(await missing.text(), /try \/, \/healthz/);
  } finally {
    proc.kill('SIGTERM');
    await proc;
    const pid = Number((await readFile(path.join(runDir, 'haproxy.pid'), 'utf8').catch(() => '0')).trim());
    if (pid > 0 && (await proc).exitCode !== 0) {
      try { process.kill(pid, 'SIGTERM'); } catch { /* already gone */ }
    }
    await backend.close();
    await apiBackend.close();
    await cleanup();
  }
});
