// The residual reaper signals only processes that are HAProxy here, and never those an external
// master (another container or PID namespace) reports.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { execa } from 'execa';
import { Supervisor } from '../../src/daemon/supervision.js';
import { Metrics } from '../../src/daemon/metrics.js';
import type { ApplyResult, HaproxyProcesses, ProcessApplier } from '../../src/haproxy/applier.js';
import { HAPROXY, freePort, tempDir } from '../helpers/haproxy.js';
import { testLog } from '../helpers/log.js';

class FakeProcess implements ProcessApplier {
  readonly strategy = 'master-worker';
  readonly confirmsLoad = true;
  constructor(readonly oldPid: number, readonly external = false) {}
  async apply(): Promise<ApplyResult> { return { kind: 'declined', strategy: 'master-worker', reason: 'fake' }; }
  async start() { return { adopted: false }; }
  async reload() { return { ok: true, message: 'ok' }; }
  async running() { return true; }
  async processes(): Promise<HaproxyProcesses> { return { masterPid: undefined, currentWorkerPid: 1, oldWorkers: [{ pid: this.oldPid, ageSeconds: 10_000, reloads: 1 }] }; }
  async stop() { /* nothing */ }
}

const alive = (pid: number) => { try { process.kill(pid, 0); return true; } catch { return false; } };
const supervisor = (proc: ProcessApplier, metrics: Metrics) => new Supervisor({
  process: proc, log: testLog, metrics, residualLimitSeconds: 1, intervalMs: 60_000, shouldBeRunning: () => true, restart: () => undefined,
});

test('the reaper does not SIGTERM a reported pid that is not an HAProxy process', async () => {
  const other = execa('sleep', ['30'], { reject: false });
  try {
    const metrics = new Metrics();
    await supervisor(new FakeProcess(other.pid!), metrics).tick();
    await new Promise((r) => setTimeout(r, 200));
    assert.ok(alive(other.pid!), 'the non-HAProxy process was signalled');
    assert.match(await metrics.registry.getSingleMetricAsString('hapilot_haproxy_residual_killed_total'), /hapilot_haproxy_residual_killed_total 0/);
  } finally {
    other.kill('SIGKILL');
    await other;
  }
});

test('the reaper leaves alone the old processes of an external master; it ends a local old HAProxy', async () => {
  const { dir, cleanup } = await tempDir();
  const cfg = `${dir}/h.cfg`;
  const port = await freePort();
  await writeFile(cfg, `global\ndefaults\n  mode http\n  timeout client 1s\n  timeout server 1s\n  timeout connect 1s\nlisten l\n  bind 127.0.0.1:${port}\n`);
  // A real HAProxy process stands for the old worker.
  const h = execa(HAPROXY, ['-db', '-f', cfg], { reject: false });
  try {
    await new Promise((r) => setTimeout(r, 300));
    assert.ok(alive(h.pid!), 'HAProxy did not start');
    await supervisor(new FakeProcess(h.pid!, true), new Metrics()).tick();
    await new Promise((r) => setTimeout(r, 300));
    assert.ok(alive(h.pid!), 'an external master\'s process was signalled');
    await supervisor(new FakeProcess(h.pid!, false), new Metrics()).tick();
    const r = await Promise.race([h, new Promise((res) => setTimeout(() => res('timeout'), 5000))]);
    assert.notEqual(r, 'timeout', 'the local old HAProxy was not ended');
  } finally {
    h.kill('SIGKILL');
    await h;
    await cleanup();
  }
});
