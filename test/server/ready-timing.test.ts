// docs/keepalived.md's timing rule against the real HAProxy and `hapilot run`: with the check tags and
// the vrrp_script taken from that page, /ready stays 200 when one of two servers dies (the VIP does not
// move), goes 503 within HAProxy's own decision time (inter × fall, plus a margin) and before
// keepalived's (interval × fall) when every server dies or HAProxy stops serving (hung or killed),
// and comes back when HAProxy serves again.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { CLI } from '../helpers/cli.js';
import { freePorts, tempDir } from '../helpers/haproxy.js';
import { eventually, get, startBackend, type Backend } from '../helpers/backends.js';
import { childPids } from '../helpers/podman.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
// Room for a loaded machine; every bound stays under keepalived's interval × fall (4 s).
const MARGIN_MS = 1500;

/** The numbers and commands docs/keepalived.md gives. */
async function keepalivedDoc() {
  const text = await readFile('docs/keepalived.md', 'utf8');
  const block = /vrrp_script chk_hapilot \{([\s\S]*?)\n\}/.exec(text)?.[1];
  assert.ok(block, 'docs/keepalived.md has a vrrp_script chk_hapilot block');
  const num = (key: string) => Number(new RegExp(`^\\s*${key}\\s+(\\d+)`, 'm').exec(block)?.[1]);
  const script = /^\s*script "([^"]+)"/m.exec(block)?.[1];
  assert.ok(script && script.includes('http://127.0.0.1:9105/ready'), `the script asks /ready: ${script}`);
  const tags = [...text.matchAll(/^(HAPROXY\.[A-Z.]+=\S+)$/gm)].map((m) => m[1]!);
  const tag = (key: string) => /^(\d+)(ms|s)?$/.exec(tags.find((t) => t.startsWith(`${key}=`))?.split('=')[1] ?? '');
  const inter = tag('HAPROXY.BACKEND.CHECK.INTER');
  const fall = tag('HAPROXY.BACKEND.CHECK.FALL');
  assert.ok(inter && fall && tags.includes('HAPROXY.ENABLE=true'), `the page gives the check tags: ${tags.join(' ')}`);
  return {
    script, tags,
    keepalivedMs: num('interval') * 1000 * num('fall'),
    scriptTimeoutMs: num('timeout') * 1000,
    haproxyMs: Number(inter[1]) * (inter[2] === 'ms' ? 1 : 1000) * Number(fall[1]),
  };
}

describe('/ready timing for keepalived (docs/keepalived.md)', { concurrency: false }, () => {
  let doc: Awaited<ReturnType<typeof keepalivedDoc>>;
  let proc: ResultPromise | undefined;
  let cleanup: (() => Promise<void>) | undefined;
  let runDir = '';
  let statusPort = 0;
  let httpPort = 0;
  const backends: Backend[] = [];
  const ports: number[] = [];

  const ready = async () => {
    try {
      return (await fetch(`http://127.0.0.1:${statusPort}/ready`, { signal: AbortSignal.timeout(3000) })).status;
    } catch {
      return 0;
    }
  };
  /** The page's vrrp_script command, pointed at this test's status port: its exit code and duration. */
  const vrrpScript = async () => {
    const t0 = performance.now();
    const r = await execa('sh', ['-c', doc.script.replace('127.0.0.1:9105', `127.0.0.1:${statusPort}`)], { reject: false, stdin: 'ignore', timeout: 10_000 });
    return { code: r.exitCode ?? -1, ms: performance.now() - t0 };
  };
  /** Milliseconds until /ready answers other than 200 (polled every 100 ms), or throws after `ms`. */
  const msUntilNotReady = async (t0: number, ms: number) => {
    while (performance.now() - t0 < ms) {
      if ((await ready()) !== 200) return performance.now() - t0;
      await sleep(100);
    }
    throw new Error(`/ready still 200 after ${ms} ms`);
  };
  const haproxyPids = async () => {
    const master = Number((await readFile(path.join(runDir, 'haproxy.pid'), 'utf8')).trim());
    return { master, workers: await childPids(master) };
  };
  const restartBackends = async (which: number[]) => {
    for (const i of which) backends[i] = await startBackend(`web-${i + 1}`, ports[i]);
  };

  before(async () => {
    doc = await keepalivedDoc();
    for (let i = 0; i < 2; i++) backends.push(await startBackend(`web-${i + 1}`));
    ports.push(...backends.map((b) => b.port));
    const t = await tempDir();
    cleanup = t.cleanup;
    runDir = path.join(t.dir, 'run');
    let statsPort: number;
    [httpPort, statsPort, statusPort] = await freePorts(3) as [number, number, number];
    const catalog = path.join(t.dir, 'catalog.json');
    await writeFile(catalog, JSON.stringify(backends.map((b, i) => ({
      Node: { Node: `node${i + 1}`, Address: '127.0.0.1' },
      Service: { ID: `web-${i + 1}`, Service: 'web', Tags: doc.tags, Port: b.port },
      Checks: [],
    }))));
    proc = execa(process.execPath, [CLI, 'run', '--catalog', catalog, '--run-dir', runDir, '--status-listen', `127.0.0.1:${statusPort}`, '--stop-haproxy-on-exit', '--reload', 'seamless'], {
      env: { HAPROXY_DOM: 'example.test', HAPROXY_HTTP_PORT: String(httpPort), HAPROXY_STATS_PORT: String(statsPort), HAPROXY_MAXCONN_GLOBAL: '2000', HAPROXY_MAXCONN: '1000', HAPILOT_LOG_LEVEL: 'warn' },
      reject: false, all: true, stdin: 'ignore',
    });
    await eventually(async () => (await ready()) === 200, 30_000, '/ready');
  });

  after(async () => {
    try {
      const pids = await haproxyPids().catch(() => undefined);
      for (const pid of pids?.workers ?? []) { try { process.kill(pid, 'SIGCONT'); } catch { /* gone */ } }
    } finally {
      proc?.kill('SIGTERM');
      await proc;
      await Promise.all(backends.map((b) => b.close()));
      await cleanup?.();
    }
  });

  it('ready: the page\'s vrrp_script command passes', async () => {
    assert.equal((await vrrpScript()).code, 0);
  });

  it('one of two servers dies: HAProxy takes it out and /ready stays 200 throughout (the VIP does not move)', { timeout: 60_000 }, async () => {
    await backends[0]!.close();
    const t0 = performance.now();
    const seen = new Set<number>();
    while (performance.now() - t0 < doc.keepalivedMs + MARGIN_MS) {
      seen.add(await ready());
      await sleep(100);
    }
    assert.deepEqual([...seen], [200], '/ready answered only 200 while a server was down');
    const names = new Set<string>();
    for (let i = 0; i < 6; i++) { const r = await get(httpPort, 'web.example.test'); names.add(typeof r.body === 'object' ? r.body.name ?? '' : String(r.status)); }
    assert.deepEqual([...names], ['web-2'], 'traffic goes to the live server only');
    await restartBackends([0]);
  });

  it('every server dies: /ready goes 503 within HAProxy\'s decision time, before keepalived\'s; back when they serve', { timeout: 60_000 }, async () => {
    await eventually(async () => (await ready()) === 200, 20_000, '/ready');
    await Promise.all(backends.map((b) => b.close()));
    const ms = await msUntilNotReady(performance.now(), doc.keepalivedMs + 5000);
    assert.ok(ms <= doc.haproxyMs + MARGIN_MS, `/ready went 503 after ${Math.round(ms)} ms: HAProxy's checks decide within ${doc.haproxyMs} ms`);
    assert.ok(ms < doc.keepalivedMs, `before keepalived's interval × fall (${doc.keepalivedMs} ms)`);
    assert.notEqual((await vrrpScript()).code, 0, 'the vrrp_script fails');
    console.log(`# all servers down → /ready 503 after ${Math.round(ms)} ms`);
    await restartBackends([0, 1]);
    await eventually(async () => (await ready()) === 200, 15_000, '/ready again');
  });

  it('HAProxy hangs (worker frozen): the vrrp_script fails within its timeout; passes again once it serves', { timeout: 60_000 }, async () => {
    await eventually(async () => (await ready()) === 200, 20_000, '/ready');
    const { workers } = await haproxyPids();
    assert.ok(workers.length >= 1, 'HAProxy has a worker');
    for (const pid of workers) process.kill(pid, 'SIGSTOP');
    try {
      const run = await vrrpScript();
      assert.notEqual(run.code, 0, 'the vrrp_script fails while HAProxy does not serve');
      assert.ok(run.ms <= doc.scriptTimeoutMs + MARGIN_MS, `and says so within keepalived's timeout (${Math.round(run.ms)} ms ≤ ${doc.scriptTimeoutMs} ms)`);
      assert.notEqual(await ready(), 200);
    } finally {
      for (const pid of workers) process.kill(pid, 'SIGCONT');
    }
    await eventually(async () => (await vrrpScript()).code === 0, 15_000, 'the vrrp_script passes again');
  });

  it('HAProxy killed: /ready goes 503 at once; the watchdog starts HAProxy again and /ready comes back', { timeout: 90_000 }, async () => {
    await eventually(async () => (await ready()) === 200, 20_000, '/ready');
    const { master, workers } = await haproxyPids();
    const t0 = performance.now();
    for (const pid of [master, ...workers]) process.kill(pid, 'SIGKILL');
    const ms = await msUntilNotReady(t0, doc.keepalivedMs);
    assert.ok(ms < doc.keepalivedMs, `/ready 503 after ${Math.round(ms)} ms`);
    await eventually(async () => (await ready()) === 200, 30_000, '/ready after the watchdog restarted HAProxy');
    assert.notEqual((await haproxyPids()).master, master, 'a new HAProxy serves');
    assert.equal((await vrrpScript()).code, 0);
  });
});
