// Bad input met by a running installation: hapilot restarted with an invalid environment exits with
// one line while the HAProxy it left keeps serving; templates broken under a running daemon (a syntax
// error, or a field that does not exist) are refused on SIGHUP and the running config stays.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cp, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { CLI } from '../helpers/cli.js';
import { eventually, get, startBackend } from '../helpers/backends.js';
import { freePorts, tempDir } from '../helpers/haproxy.js';
import { BUILTIN_TEMPLATES_DIR } from '../../src/config/templates.js';

test('restart with a bad environment: one line, non-zero exit, HAProxy keeps serving; broken templates on SIGHUP keep the running config', { timeout: 120_000 }, async () => {
  const { dir, cleanup } = await tempDir();
  const web = await startBackend('web-1');
  const [httpPort, statsPort, statusPort] = await freePorts(3) as [number, number, number];
  const catalog = path.join(dir, 'catalog.json');
  const templates = path.join(dir, 'templates');
  await cp(BUILTIN_TEMPLATES_DIR, templates, { recursive: true });
  await writeFile(catalog, JSON.stringify([{ Node: { Node: 'n1', Address: '127.0.0.1' }, Service: { ID: 'web-1', Service: 'web', Tags: ['HAPROXY.ENABLE=true'], Port: web.port }, Checks: [] }]));
  const env = { HAPROXY_DOM: 'example.test', HAPROXY_HTTP_PORT: String(httpPort), HAPROXY_STATS_PORT: String(statsPort), HAPROXY_MAXCONN_GLOBAL: '2000' };
  const args = (extra: string[]) => [CLI, 'run', '--catalog', catalog, '--run-dir', path.join(dir, 'run'), '--templates', templates,
    '--status-listen', `127.0.0.1:${statusPort}`, '--wait', '20ms:100ms', '--min-reload-interval', '50ms', '--log-level', 'info', ...extra];
  const serving = async () => (await get(httpPort, 'web.example.test').catch(() => ({ status: 0 }))).status === 200;
  const status = async () => (await fetch(`http://127.0.0.1:${statusPort}/status`)).json() as Promise<{ degraded: string[]; reloads: Array<{ ok: boolean }> }>;
  let proc: ResultPromise | undefined = execa(process.execPath, args([]), { reject: false, env });
  try {
    await eventually(serving, 20_000, 'serving');
    proc.kill('SIGTERM'); // hapilot stops; HAProxy keeps serving (no --stop-haproxy-on-exit)
    await proc;
    assert.equal(await serving(), true);

    for (const bad of [{ HAPROXY_MAXCONN: '10 # x' }, { HAPROXY_TIMEOUT_SERVER: '25d' }]) {
      const r = await execa(process.execPath, args([]), { reject: false, env: { ...env, ...bad }, timeout: 30_000 });
      assert.equal(r.exitCode, 1, String(r.stderr));
      const lines = String(r.stderr).trimEnd().split('\n');
      assert.equal(lines.length, 1, String(r.stderr));
      assert.match(lines[0] ?? '', new RegExp(`^hapilot: error: ${Object.keys(bad)[0]}=".*" is invalid: expected `));
      assert.equal(await serving(), true, 'the HAProxy left running keeps serving');
    }

    proc = execa(process.execPath, args(['--stop-haproxy-on-exit']), { reject: false, env, all: true });
    await eventually(async () => (await fetch(`http://127.0.0.1:${statusPort}/ready`).catch(() => undefined))?.status === 200, 20_000, 'adopted and ready');
    const config = await readFile(path.join(dir, 'run', 'haproxy.cfg'), 'utf8');

    // A syntax error: the new templates are refused, the previous ones stay in use.
    const backends = path.join(templates, 'partials', 'backends.hbs');
    const good = await readFile(backends, 'utf8');
    await writeFile(backends, `${good}{{#each servers}}\n`);
    proc.kill('SIGHUP');
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(await serving(), true);
    assert.equal(await readFile(path.join(dir, 'run', 'haproxy.cfg'), 'utf8'), config, 'running config unchanged');

    // A field that does not exist: loads, fails at render; the running config stays and /status says why.
    await writeFile(backends, good.replace('balance {{balance}}', 'balance {{balancing}}'));
    proc.kill('SIGHUP');
    await eventually(async () => (await status()).degraded.some((r) => /backends\.hbs:\d+: field "backends\.\d+\.balancing" does not exist: expected one of /.test(r)), 10_000, '/status names the missing field');
    assert.equal(await serving(), true);
    assert.equal(await readFile(path.join(dir, 'run', 'haproxy.cfg'), 'utf8'), config, 'running config unchanged');

    // Fixed: back to normal.
    await writeFile(backends, good);
    proc.kill('SIGHUP');
    await eventually(async () => (await status()).degraded.length === 0, 10_000, 'recovered');
    proc.kill('SIGTERM');
    const out = await proc;
    assert.match(String(out.all), /templates invalid; keeping the previous ones/);
    assert.match(String(out.all), /backends\.hbs:\d+/, 'the refused templates are named with file and line');
  } finally {
    proc?.kill('SIGTERM');
    await proc;
    // Whatever is left of this run's HAProxy.
    const left = await execa('pgrep', ['-f', '--', `-f ${path.join(dir, 'run', 'haproxy.cfg')}`], { reject: false });
    for (const pid of String(left.stdout).split('\n').filter(Boolean).map(Number)) { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } }
    await web.close();
    await cleanup();
  }
});
