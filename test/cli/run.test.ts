// `hapilot run` as an operator runs it: status endpoints, signals, logs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { CLI } from '../helpers/cli.js';
import { freePorts, tempDir } from '../helpers/haproxy.js';
import { eventually, get, startBackend } from '../helpers/backends.js';
import { ConsulSim } from '../sim/consul-sim.js';

async function http(url: string): Promise<{ status: number; text: string }> {
  const r = await fetch(url);
  return { status: r.status, text: await r.text() };
}

function pidAlive(pid: number): boolean {
  try { process.kill(pid, 0); return true; } catch { return false; }
}

test('run: /healthz, /ready, /status, /metrics; SIGHUP forces a reload; SIGTERM exits 0 and leaves HAProxy serving', async () => {
  const backend = await startBackend('web-1');
  const { dir, cleanup } = await tempDir();
  const [httpPort, statsPort, statusPort] = await freePorts(3);
  const catalog = path.join(dir, 'catalog.json');
  await writeFile(catalog, JSON.stringify([{ Node: { Node: 'n1', Address: '127.0.0.1' }, Service: { ID: 'web-1', Service: 'web', Tags: ['HAPROXY.ENABLE=true'], Port: backend.port }, Checks: [] }]));
  const runDir = path.join(dir, 'run');
  const proc = execa(process.execPath, [CLI, 'run', '--catalog', catalog, '--run-dir', runDir, '--status-listen', `127.0.0.1:${statusPort}`, '--wait', '50ms:200ms', '--min-reload-interval', '100ms'], {
    env: { HAPROXY_DOM: 'example.test', HAPROXY_HTTP_PORT: String(httpPort), HAPROXY_STATS_PORT: String(statsPort), HAPROXY_MAXCONN_GLOBAL: '2000', HAPROXY_MAXCONN: '1000' },
    reject: false, all: true, stdin: 'ignore',
  });
  const base = `http://127.0.0.1:${statusPort}`;
  let masterPid: number | undefined;
  try {
    await eventually(async () => (await http(`${base}/ready`)).status === 200, 20_000, '/ready');
    assert.equal((await http(`${base}/healthz`)).status, 200);
    const st = JSON.parse((await http(`${base}/status`)).text) as { services: Array<{ name: string; servers: unknown[] }>; reloads: Array<{ trigger: string; ok: boolean }>; haproxy: { processes: { masterPid: number } } };
    assert.deepEqual(st.services.map((s) => [s.name, s.servers.length]), [['web', 1]]);
    assert.equal(st.reloads[0]?.ok, true);
    masterPid = st.haproxy.processes.masterPid;
    const metrics = (await http(`${base}/metrics`)).text;
    for (const name of ['hapilot_reloads_total{result="success"', 'hapilot_reload_duration_seconds_bucket', 'hapilot_render_duration_seconds_bucket', 'hapilot_validation_failures_total 0',
      'hapilot_quarantined_services 0', 'hapilot_consul_open_long_polls 0', 'hapilot_last_successful_sync_timestamp_seconds', 'hapilot_backend_servers{backend="web",state="up"} 1', 'hapilot_consul_requests_total', 'hapilot_consul_errors_total']) {
      if (name === 'hapilot_consul_requests_total' || name === 'hapilot_consul_errors_total') assert.match(metrics, new RegExp(`# TYPE ${name} counter`));
      else assert.ok(metrics.includes(name), `metrics lack ${name}`);
    }
    // The process itself, read when scraped: RSS, heap and CPU in plausible ranges.
    const value = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(metrics)?.[1]);
    assert.ok(value('process_resident_memory_bytes') > 20e6 && value('process_resident_memory_bytes') < 2e9, `RSS ${value('process_resident_memory_bytes')}`);
    assert.ok(value('nodejs_heap_size_used_bytes') > 1e6 && value('nodejs_heap_size_used_bytes') <= value('nodejs_heap_size_total_bytes'));
    assert.ok(value('nodejs_external_memory_bytes') > 0);
    assert.ok(value('process_cpu_seconds_total') > 0);
    assert.ok(Math.abs(value('process_start_time_seconds') - Date.now() / 1000) < 120, 'started within the test');
    assert.equal((await get(httpPort!, 'web.example.test')).status, 200);

    proc.kill('SIGHUP');
    await eventually(async () => (JSON.parse((await http(`${base}/status`)).text) as { reloads: Array<{ trigger: string; ok: boolean }> }).reloads[0]?.trigger === 'SIGHUP', 10_000, 'SIGHUP reload');

    proc.kill('SIGTERM');
    const done = await proc;
    assert.equal(done.exitCode, 0, done.all);
    assert.ok(masterPid && pidAlive(masterPid), 'HAProxy is left serving');
    assert.equal((await get(httpPort!, 'web.example.test')).status, 200);
    const logs = String(done.all);
    assert.match(logs, /"msg":"HAProxy started \(initial sync\)"/);
    assert.match(logs, /"changes":\{"servicesAdded":\["web"\]/);
  } finally {
    if (!proc.killed && proc.exitCode === null) proc.kill('SIGKILL');
    await proc.catch(() => undefined);
    const pid = masterPid ?? Number((await readFile(path.join(runDir, 'haproxy.pid'), 'utf8').catch(() => '0')).trim());
    if (pid && pidAlive(pid)) {
      process.kill(pid, 'SIGTERM');
      await eventually(() => !pidAlive(pid), 10_000, 'HAProxy stopped');
    }
    await backend.close();
    await cleanup();
  }
});

test('run: the Consul token never reaches logs, /status or /metrics', async () => {
  const sim = new ConsulSim();
  sim.jitter = false;
  const backend = await startBackend('web-1');
  sim.register({ node: { Node: 'n1', Address: '127.0.0.1' }, service: { ID: 'web-1', Service: 'web', Tags: ['HAPROXY.ENABLE=true'], Port: backend.port } });
  await sim.start();
  const { dir, cleanup } = await tempDir();
  const [httpPort, statsPort, statusPort] = await freePorts(3);
  const token = 'b1gS3cret-7oken-d0nt-leak';
  const proc = execa(process.execPath, [CLI, 'run', '--consul', sim.url, '--run-dir', dir, '--status-listen', `127.0.0.1:${statusPort}`, '--log-level', 'trace', '--stop-haproxy-on-exit'], {
    env: { CONSUL_HTTP_TOKEN: token, HAPROXY_DOM: 'example.test', HAPROXY_HTTP_PORT: String(httpPort), HAPROXY_STATS_PORT: String(statsPort), HAPROXY_MAXCONN_GLOBAL: '2000', HAPROXY_MAXCONN: '1000' },
    reject: false, all: true, stdin: 'ignore',
  });
  const base = `http://127.0.0.1:${statusPort}`;
  try {
    await eventually(async () => (await http(`${base}/ready`)).status === 200, 20_000, '/ready');
    assert.equal(sim.lastToken, token, 'the token is sent to Consul');
    const body = (await http(`${base}/status`)).text + (await http(`${base}/metrics`)).text;
    assert.ok(!body.includes(token));
    assert.match((await http(`${base}/metrics`)).text, /hapilot_consul_open_long_polls 2/);
    proc.kill('SIGTERM');
    const done = await proc;
    assert.equal(done.exitCode, 0);
    assert.ok(!String(done.all).includes(token), 'the token is not in the logs');
    assert.match(String(done.all), /"token":"\[REDACTED\]"/);
  } finally {
    if (proc.exitCode === null) proc.kill('SIGKILL');
    await proc.catch(() => undefined);
    await sim.stop();
    await backend.close();
    await cleanup();
  }
});
