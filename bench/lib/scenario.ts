// One reload scenario, run inside a private network namespace (loopback only): a backend farm (an
// HAProxy answering 200 itself on several ports, fast enough not to be the bottleneck), hapilot's
// daemon with a real HAProxy in front, a load generator, and N reloads at R per second through the
// chosen strategy. Used by `npm run bench:reload` and by the netns integration tests.
import { execa, type ResultPromise } from 'execa';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { HealthEntry } from '../../src/consul/schemas.js';
import { loadSettings } from '../../src/settings.js';
import { createDaemon } from '../../src/daemon/daemon.js';
import { Metrics } from '../../src/daemon/metrics.js';
import { SynDropFirewall } from '../../src/haproxy/firewall.js';
import { createLogger } from '../../src/log.js';
import { loadTemplates } from '../../src/config/templates.js';
import type { CatalogSnapshot, CatalogSource, SourceHealth } from '../../src/catalog/source.js';
import { failures, percentile, runLoad, type LoadMode, type LoadStats } from './loadgen.js';

export type Strategy = 'plain-sf' | 'syn-drop' | 'seamless' | 'runtime' | 'auto' | 'none';

export interface ScenarioOptions {
  strategy: Strategy;
  mode: LoadMode;
  reloads: number;
  ratePerSec: number;
  concurrency: number;
  backends?: number;
  synDropPauseMs?: number;
  /** Load without reloads for this long first (the no-reload baseline), then the reloads. */
  warmupMs?: number;
  hardStopAfter?: string;
}

export interface ScenarioResult {
  strategy: Strategy;
  mode: LoadMode;
  requests: number;
  failed: number;
  refused: number;
  reset: number;
  timeout: number;
  non2xx: number;
  other: number;
  p50: number;
  p99: number;
  max: number;
  reqPerSec: number;
  reloadsDone: number;
  reloadFailures: number;
  oldProcessesLeft: number;
  firewallRulesLeft: number;
  synRetrans: number;
  listenOverflows: number;
  durationS: number;
}

/** Refuses to run outside a private network namespace: firewall rules must never reach the host. */
export async function assertPrivateNetns(): Promise<void> {
  const { readlink } = await import('node:fs/promises');
  const mine = await readlink('/proc/self/ns/net');
  const init = await readlink('/proc/1/ns/net').catch(() => '');
  if (mine === init) throw new Error('refusing to run: not inside a private network namespace (use unshare -n)');
}

class ManualSource implements CatalogSource {
  readonly kind = 'file';
  #cb: ((s: CatalogSnapshot) => void) | undefined;
  start(cb: (s: CatalogSnapshot) => void): void { this.#cb = cb; }
  emit(entries: HealthEntry[], cause: string): void { this.#cb?.({ entries, index: 0, cause }); }
  async stop(): Promise<void> { /* nothing */ }
  health(): SourceHealth { return { degraded: [], index: 0, lastSuccessMs: Date.now(), synced: true }; }
}

const noFirewall = { tag: 'none', insert: async () => undefined, remove: async () => undefined, sweep: async () => 0, count: async () => 0 } as unknown as SynDropFirewall;

function entries(ports: number[], variant: number, structural: boolean): HealthEntry[] {
  const out: HealthEntry[] = ports.map((port, i) => ({
    Node: { Node: `node${i}`, Address: '127.0.0.1' },
    // The weight of the first server changes every step: a server-only change.
    Service: { ID: `web-${i}`, Service: 'web', Tags: ['HAPROXY.ENABLE=true', 'HAPROXY.BACKEND.CHECK.INTER=1s'], Port: port, Weights: { Passing: i === 0 ? 1 + (variant % 50) : 10, Warning: 1 } },
    Checks: [{ CheckID: `service:web-${i}`, Status: 'passing', ServiceID: `web-${i}`, ServiceName: 'web' }],
  }));
  // A structural change: a second service comes and goes.
  if (structural) out.push({ Node: { Node: 'node0', Address: '127.0.0.1' }, Service: { ID: 'extra-1', Service: 'extra', Tags: ['HAPROXY.ENABLE=true'], Port: ports[0]! }, Checks: [] });
  return out;
}

async function nstat(): Promise<Record<string, number>> {
  const r = await execa('nstat', ['-az', 'TcpExtTCPSynRetrans', 'TcpExtListenOverflows'], { reject: false });
  const out: Record<string, number> = {};
  for (const line of String(r.stdout).split('\n')) {
    const m = /^(\S+)\s+(\d+)/.exec(line);
    if (m) out[m[1]!] = Number(m[2]);
  }
  return out;
}

export async function runScenario(o: ScenarioOptions): Promise<ScenarioResult> {
  await assertPrivateNetns();
  const dir = await mkdtemp(path.join(os.tmpdir(), `hapilot-bench-${o.strategy}-`));
  const nBackends = o.backends ?? 4;
  const backendPorts = Array.from({ length: nBackends }, (_, i) => 19001 + i);
  // The backend farm: HAProxy answering by itself.
  const farmCfg = path.join(dir, 'farm.cfg');
  await writeFile(farmCfg, ['global', '    maxconn 8000', 'defaults', '    mode http', '    timeout client 30s', '    timeout connect 5s', '    timeout server 30s',
    ...backendPorts.flatMap((p) => [`frontend be${p}`, `    bind 127.0.0.1:${p}`, '    http-request return status 200 content-type text/plain string ok']), ''].join('\n'));
  const farm: ResultPromise = execa('haproxy', ['-db', '-f', farmCfg], { reject: false, stdin: 'ignore' });

  const runDir = path.join(dir, 'run');
  const configPath = path.join(runDir, 'haproxy.cfg');
  const log = createLogger({ level: (process.env.HAPILOT_BENCH_LOG as 'info' | undefined) ?? 'silent', destination: 2, pretty: false });
  const settings = loadSettings({ HAPROXY_DOM: 'example.test', HAPROXY_HTTP_PORT: '8080', HAPROXY_STATS_PORT: '8404', HAPROXY_MAXCONN_GLOBAL: '8000', HAPROXY_MAXCONN: '8000', HAPROXY_HARD_STOP_AFTER: o.hardStopAfter ?? '10s', HAPROXY_BACKLOG: '4096' });
  const firewall = o.strategy === 'syn-drop' ? new SynDropFirewall() : noFirewall;
  const source = new ManualSource();
  const metrics = new Metrics();
  const daemon = createDaemon({
    source, settings, templates: await loadTemplates(), configPath, runDir, haproxyBin: 'haproxy', log, metrics,
    wait: { minMs: 0, maxMs: 0, minIntervalMs: 0 }, guard: { maxRemovalRatio: 1, holdMs: 0 }, fdLimit: undefined,
    reload: o.strategy === 'runtime' ? 'runtime' : o.strategy === 'auto' ? 'auto' : o.strategy === 'seamless' ? 'seamless' : 'syn-drop',
    firewall, synDropPauseMs: o.strategy === 'plain-sf' ? 0 : o.synDropPauseMs ?? 100,
    maxOldWorkers: 1000, historySize: 2, stopHaproxyOnExit: true,
  });
  const controller = daemon.haproxy;
  const ac = new AbortController();
  let load: Promise<LoadStats> | undefined;
  try {
    const { mkdir } = await import('node:fs/promises');
    await mkdir(runDir, { recursive: true });
    await daemon.start();
    source.emit(entries(backendPorts, 0, false), 'initial');
    await daemon.idle();
    if (!(await daemon.ready()).ready) {
      // Checks need a moment to mark the servers up.
      const until = Date.now() + 10_000;
      while (!(await daemon.ready()).ready && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
    }
    const before = await nstat();
    const started = performance.now();
    load = runLoad({ port: 8080, hostHeader: 'web.example.test', concurrency: o.concurrency, mode: o.mode }, ac.signal);
    if (o.warmupMs) await new Promise((r) => setTimeout(r, o.warmupMs));
    const t0 = performance.now();
    for (let i = 1; i <= o.reloads && o.strategy !== 'none'; i++) {
      const due = t0 + (i * 1000) / o.ratePerSec;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      if (o.strategy === 'runtime' || o.strategy === 'auto') {
        // runtime: a server-only change each step (Runtime API). auto: four of those, then a
        // structural one (a service comes or goes: a seamless reload), and so on.
        const extra = o.strategy === 'auto' && Math.floor(i / 5) % 2 === 1;
        source.emit(entries(backendPorts, i, extra), `step ${i}`);
        await daemon.requestSync({ trigger: `step ${i}`, structural: true });
      } else {
        await daemon.requestSync({ trigger: `step ${i}`, force: true });
      }
    }
    ac.abort();
    const stats = await load;
    const durationS = (performance.now() - started) / 1000;
    const after = await nstat();
    const metricText = await metrics.registry.getSingleMetricAsString('hapilot_reloads_total');
    const count = (result: string) => [...metricText.matchAll(new RegExp(`result="${result}"[^}]*} (\\d+)`, 'g'))].reduce((n, m) => n + Number(m[1]), 0);
    const reloadFailures = count('failure');
    // Old processes left once connections are done (keep-alive clients closed above).
    await new Promise((r) => setTimeout(r, 1500));
    const procs = await controller.processes();
    const sorted = [...stats.latenciesMs].sort((a, b) => a - b);
    return {
      strategy: o.strategy, mode: o.mode,
      requests: stats.requests, failed: failures(stats), refused: stats.refused, reset: stats.reset, timeout: stats.timeout, non2xx: stats.non2xx, other: stats.other,
      p50: round(percentile(sorted, 50)), p99: round(percentile(sorted, 99)), max: round(sorted[sorted.length - 1] ?? 0),
      reqPerSec: Math.round(stats.requests / durationS),
      reloadsDone: Math.max(0, count('success') - 1), reloadFailures,
      oldProcessesLeft: procs.oldWorkers.length,
      firewallRulesLeft: await new SynDropFirewall().count(),
      synRetrans: (after.TcpExtTCPSynRetrans ?? 0) - (before.TcpExtTCPSynRetrans ?? 0),
      listenOverflows: (after.TcpExtListenOverflows ?? 0) - (before.TcpExtListenOverflows ?? 0),
      durationS: round(durationS),
    };
  } finally {
    ac.abort();
    await load?.catch(() => undefined);
    await daemon.stop().catch(() => undefined);
    await controller.stop().catch(() => undefined);
    farm.kill('SIGTERM');
    await farm.catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  }
}

function round(n: number): number {
  return Math.round(n * 10) / 10;
}
