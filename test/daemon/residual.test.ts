// Old HAProxy processes: a reload waits while too many are still draining, and one that outlives
// hard-stop-after plus the grace period is ended. A fake controller stands in for HAProxy here; the
// real processes are covered by the reload tests.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { createDaemon, type DaemonConfig } from '../../src/daemon/daemon.js';
import { Metrics } from '../../src/daemon/metrics.js';
import { loadConfig, type ApplyResult, type HaproxyProcesses, type ProcessApplier } from '../../src/haproxy/applier.js';
import { loadTemplates } from '../../src/config/templates.js';
import { FileSource } from '../../src/catalog/file-source.js';
import { eventually } from '../helpers/backends.js';
import { ENABLE, entry, settings } from '../helpers/entries.js';
import { HAPROXY, tempDir } from '../helpers/haproxy.js';
import { testLog } from '../helpers/log.js';

class FakeProcess implements ProcessApplier {
  readonly strategy = 'reload-command';
  readonly confirmsLoad = false;
  started = false;
  reloads = 0;
  old: Array<{ pid: number; ageSeconds: number }> = [];
  apply(): Promise<ApplyResult> { return loadConfig(this); }
  async start() { this.started = true; return { adopted: false }; }
  async reload() { this.reloads++; return { ok: true, message: 'ok' }; }
  async running() { return this.started; }
  async processes(): Promise<HaproxyProcesses> { return { masterPid: undefined, currentWorkerPid: 1, oldWorkers: this.old.map((o) => ({ ...o, reloads: 1 })) }; }
  async stop() { /* nothing */ }
}

async function setup(env: Record<string, string> = {}, extra: Partial<DaemonConfig> = {}) {
  const { dir, cleanup } = await tempDir();
  const catalog = path.join(dir, 'catalog.json');
  await writeFile(catalog, JSON.stringify([entry('web', 'w1', [ENABLE])]));
  const ctl = new FakeProcess();
  const metrics = new Metrics();
  const daemon = createDaemon({
    source: new FileSource({ file: catalog, log: testLog, debounceMs: 20 }), settings: settings(env), templates: await loadTemplates(),
    configPath: path.join(dir, 'haproxy.cfg'), runDir: dir, haproxyBin: HAPROXY, process: ctl, reload: 'seamless', log: testLog, metrics,
    wait: { minMs: 10, maxMs: 50, minIntervalMs: 0 }, guard: { maxRemovalRatio: 1, holdMs: 0 }, fdLimit: undefined, selfCheck: false, ...extra,
  });
  await daemon.start();
  await eventually(() => ctl.started, 10_000, 'started');
  return { dir, catalog, ctl, metrics, daemon, cleanup };
}

test('a reload waits while too many old processes are still draining', async () => {
  const t = await setup({}, { maxOldWorkers: 3 });
  try {
    t.ctl.old = [1, 2, 3].map((pid) => ({ pid: 1_000_000 + pid, ageSeconds: 1 }));
    await writeFile(t.catalog, JSON.stringify([entry('web', 'w1', [ENABLE]), entry('web', 'w2', [ENABLE], { node: 'n2' })]));
    await eventually(async () => /hapilot_reloads_delayed_total [1-9]/.test(await t.metrics.registry.getSingleMetricAsString('hapilot_reloads_delayed_total')), 5000, 'delayed');
    assert.equal(t.ctl.reloads, 0);
    t.ctl.old = [];
    await eventually(() => t.ctl.reloads === 1, 5000, 'reloaded once the old processes are gone');
  } finally {
    await t.daemon.stop();
    await t.cleanup();
  }
});

test('an old process that outlives hard-stop-after plus the grace period is ended', async () => {
  const t = await setup({ HAPROXY_HARD_STOP_AFTER: '1s' }, { residualGraceMs: 500, reapIntervalMs: 200 });
  // The reaper signals only HAProxy processes (by /proc/<pid>/cmdline): stand-ins named like one.
  const victim = execa('bash', ['-c', 'exec -a haproxy-old sleep 300'], { reject: false });
  const young = execa('bash', ['-c', 'exec -a haproxy-young sleep 300'], { reject: false });
  try {
    t.ctl.old = [{ pid: victim.pid!, ageSeconds: 5 }, { pid: young.pid!, ageSeconds: 1 }];
    const r = await victim;
    assert.equal(r.signal, 'SIGTERM');
    assert.match(await t.metrics.registry.getSingleMetricAsString('hapilot_haproxy_residual_killed_total'), /total 1$/m);
    assert.doesNotThrow(() => process.kill(young.pid!, 0), 'a process within its time is left alone');
  } finally {
    young.kill('SIGKILL');
    await young;
    await t.daemon.stop();
    await t.cleanup();
  }
});
