// The pool path end to end through `hapilot run` itself (the built CLI), a real Consul agent and the
// HAProxy hapilot starts: depool under load loses no request, sessions reach 0 and nothing reloads;
// GET / of the status server shows the depooled server as depooled in headless Chromium; an unusable
// record is on /status and in the metrics while the rest still applies; the depool threshold keeps a
// server in rotation when all but one instance fail their Consul checks; decommissioning three of
// four servers leaves them out of the config without tripping the mass-removal guard.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { chromium } from 'playwright-core';
import { CLI, hapilot } from '../helpers/cli.js';
import { freePorts, tempDir } from '../helpers/haproxy.js';
import { eventually, get, startBackend } from '../helpers/backends.js';
import { RealConsul } from '../helpers/real-consul.js';
import { load } from './lab.js';

const CHROMIUM = process.env.HAPILOT_CHROMIUM ?? '/usr/bin/chromium';
const SCREENSHOT = path.join(os.tmpdir(), 'hapilot-run-status-page.png');

interface StatusServer { name: string; pool: string; keptByThreshold: boolean; haproxy: { status: string; sessions: number; weight: number } | null }
interface Status {
  degraded: string[];
  backends: Array<{ name: string; inRotation: number; servers: StatusServer[] }>;
  poolInvalid: Array<{ key: string; reason: string }>;
  holds: unknown[];
  reloads: Array<{ action: string; ok: boolean }>;
  haproxy: { processes: { currentWorkerPid: number } | null };
}

test('hapilot run with a real Consul: depool under load, status page, unusable record, threshold, decommission', { timeout: 180_000 }, async () => {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: run scripts/setup-chromium.sh`);
  const consul = await RealConsul.start();
  const backends = await Promise.all([1, 2, 3, 4].map((i) => startBackend(`web-${i}`)));
  for (const [i, b] of backends.entries()) await consul.register({ node: `n${i + 1}`, id: `web-${i + 1}`, service: 'web', tags: ['HAPROXY.ENABLE=true'], port: b.port });
  const { dir, cleanup } = await tempDir('hapilot-pool-run-');
  const [httpPort, statsPort, statusPort] = await freePorts(3) as [number, number, number];
  const runDir = path.join(dir, 'run');
  const proc = execa(process.execPath, [CLI, 'run', '--consul', consul.url, '--run-dir', runDir, '--status-listen', `127.0.0.1:${statusPort}`,
    '--wait', '50ms:300ms', '--min-reload-interval', '100ms', '--consul-wait', '30s', '--depool-threshold', '0.5', '--stop-haproxy-on-exit'], {
    env: { HAPROXY_DOM: 'example.test', HAPROXY_HTTP_PORT: String(httpPort), HAPROXY_STATS_PORT: String(statsPort), HAPROXY_MAXCONN_GLOBAL: '2000', HAPROXY_MAXCONN: '1000', HAPILOT_LOG_LEVEL: 'info' },
    reject: false, all: true, stdin: 'ignore',
  });
  const base = `http://127.0.0.1:${statusPort}`;
  const status = async () => (await (await fetch(`${base}/status`)).json()) as Status;
  const web = async () => (await status()).backends.find((b) => b.name === 'web');
  const server = async (name: string) => (await web())?.servers.find((s) => s.name === name);
  const cli = (args: string[]) => hapilot(args, { env: { HAPILOT_CONSUL: consul.url } });
  const reloads = (s: Status) => s.reloads.filter((r) => r.action !== 'runtime').length;
  try {
    await eventually(async () => (await fetch(`${base}/ready`).catch(() => undefined))?.status === 200, 30_000, '/ready');
    await eventually(async () => (await web())?.servers.filter((s) => /^UP/.test(s.haproxy?.status ?? '')).length === 4, 15_000, 'four servers UP');
    const before = await status();

    // Depool under load, verified through hapilot's own /status.
    const l = load(httpPort, { host: 'web.example.test' });
    await new Promise((r) => setTimeout(r, 800));
    const r = await cli(['depool', 'web', 'web-1', '--reason', 'kernel upgrade', '--wait', '--timeout', '20s', '--haproxy-status', `${base}/status`]);
    await new Promise((r2) => setTimeout(r2, 500));
    const { ok, failures } = await l.stop();
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /verified on 1 HAProxy: web\/n1:web-1 depooled/);
    assert.deepEqual(failures, [], `${failures.length} failed of ${ok + failures.length}`);
    assert.ok(ok > 100, `traffic flowed (${ok})`);
    const depooled = await server('n1:web-1');
    assert.deepEqual([depooled?.pool, depooled?.haproxy?.status, depooled?.haproxy?.sessions], ['no', 'MAINT', 0]);
    const after = await status();
    assert.equal(after.haproxy.processes?.currentWorkerPid, before.haproxy.processes?.currentWorkerPid, 'the same HAProxy worker: no reload');
    assert.equal(reloads(after), reloads(before), 'no reload recorded');

    // The status page, in a real headless Chromium.
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu'] });
    try {
      const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      const res = await page.goto(`${base}/`);
      assert.equal(res?.status(), 200);
      assert.match(res?.headers()['content-type'] ?? '', /^text\/html; charset=utf-8/);
      const row = page.locator('tr[data-backend="web"][data-server="n1:web-1"]');
      assert.equal(await row.locator('[data-role=pool]').innerText(), 'depooled');
      assert.equal(await row.locator('[data-role=haproxy]').innerText(), 'MAINT');
      assert.equal(await row.locator('[data-role=sessions]').innerText(), '0');
      assert.match(await row.innerText(), /operator: kernel upgrade/);
      assert.equal(await page.locator('tr[data-server="n2:web-2"] [data-role=pool]').innerText(), 'pooled');
      assert.ok(await page.locator('tr[data-frontend="hapilot_http"]').count() === 1, 'frontends listed');
      assert.ok(await page.locator('ol.timeline li').count() >= 1, 'reload timeline');
      await page.screenshot({ path: SCREENSHOT, fullPage: true });
    } finally {
      await browser.close();
    }
    assert.equal((await readFile(SCREENSHOT)).subarray(1, 4).toString('ascii'), 'PNG');

    // An unusable record: reported with key and reason, the instance stays as it was, the rest applies.
    await consul.ok('PUT', '/v1/kv/hapilot/pool/web/web-2', '{"state":"maybe"}');
    await eventually(async () => (await status()).poolInvalid.some((i) => i.key === 'hapilot/pool/web/web-2'), 10_000, 'invalid record on /status');
    assert.match((await status()).poolInvalid.find((i) => i.key === 'hapilot/pool/web/web-2')?.reason ?? '', /state/);
    assert.match((await server('n2:web-2'))?.haproxy?.status ?? '', /^UP/);
    const metrics = await (await fetch(`${base}/metrics`)).text();
    assert.match(metrics, /^hapilot_pool_invalid_records 1$/m);

    // The threshold: web-1 back in the pool, then all but web-1 fail their Consul checks.
    const p = await cli(['pool', 'web', 'web-1', '--wait', '--timeout', '20s', '--haproxy-status', `${base}/status`]);
    assert.equal(p.code, 0, p.stderr);
    // One at a time, each seen by HAProxy before the next: web-4 fails last, as the threshold is reached.
    for (const [n, i] of [2, 3, 4].entries()) {
      await consul.setStatus(`n${i}`, `web-${i}`, 'critical');
      if (n < 2) await eventually(async () => !(await server(`n${i}:web-${i}`))?.haproxy, 15_000, `web-${i} out of HAProxy`);
    }
    await eventually(async () => (await web())?.servers.filter((s) => s.keptByThreshold).length === 1, 15_000, 'one server kept by the threshold');
    await eventually(async () => (await web())?.servers.filter((s) => /^UP/.test(s.haproxy?.status ?? '')).length === 2, 15_000, 'two servers in rotation in HAProxy');
    // The one kept is the last to fail: it was in rotation when the threshold was reached (nothing flaps).
    const kept = (await web())?.servers.find((s) => s.keptByThreshold);
    assert.equal(kept?.name, 'n4:web-4');
    assert.match(await (await fetch(`${base}/metrics`)).text(), /^hapilot_pool_kept_servers\{backend="web"\} 1$/m);
    const seen = new Set<string>();
    for (let i = 0; i < 12; i++) {
      const g = await get(httpPort, 'web.example.test');
      seen.add(typeof g.body === 'object' ? g.body.name ?? '' : String(g.status));
    }
    assert.deepEqual([...seen].sort(), ['web-1', 'web-4'], 'traffic goes to web-1 and the kept web-4 only');

    // Decommission three of four: out of the config, and no mass-removal hold.
    for (const i of [2, 3, 4]) await consul.setStatus(`n${i}`, `web-${i}`, 'passing');
    await eventually(async () => (await web())?.servers.filter((s) => /^UP/.test(s.haproxy?.status ?? '')).length === 4, 15_000, 'four servers UP again');
    await consul.ok('DELETE', '/v1/kv/hapilot/pool/web/web-2');
    const d = await cli(['decommission', 'web', 'web-2', 'web-3', 'web-4', '--wait', '--timeout', '20s', '--haproxy-status', `${base}/status`]);
    assert.equal(d.code, 0, d.stderr);
    const config = await readFile(path.join(runDir, 'haproxy.cfg'), 'utf8');
    assert.match(config, /server n1:web-1 /);
    assert.doesNotMatch(config, /web-[234] /);
    const s = await status();
    assert.deepEqual(s.holds, [], 'decommissioned servers are no mass removal');
    assert.deepEqual(s.backends.find((b) => b.name === 'web')?.servers.map((x) => [x.name, x.pool, x.haproxy === null]), [
      ['n1:web-1', 'yes', false], ['n2:web-2', 'inactive', true], ['n3:web-3', 'inactive', true], ['n4:web-4', 'inactive', true],
    ]);
    assert.equal(reloads(s), reloads(before), 'every step went through the Runtime API');

    proc.kill('SIGTERM');
    const done = await proc;
    assert.equal(done.exitCode, 0, String(done.all));
  } catch (err) {
    // What hapilot logged explains a failure better than the step that timed out.
    if (proc.exitCode === null) proc.kill('SIGTERM');
    const done = await proc;
    if (err instanceof Error) err.message += `\nhapilot's output:\n${String(done.all).slice(-20_000)}`;
    throw err;
  } finally {
    if (proc.exitCode === null) proc.kill('SIGKILL');
    await proc.catch(() => undefined);
    // --stop-haproxy-on-exit does not run after a SIGKILL: stop the HAProxy this test started.
    const pid = Number((await readFile(path.join(runDir, 'haproxy.pid'), 'utf8').catch(() => '0')).trim());
    if (pid > 0) {
      try { process.kill(pid, 'SIGTERM'); } catch { /* already gone */ }
    }
    await consul.destroy();
    await Promise.all(backends.map((b) => b.close()));
    await cleanup();
  }
});
