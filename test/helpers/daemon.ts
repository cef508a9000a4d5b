// A daemon wired as `hapilot run` wires it, in-process, with a real HAProxy on free loopback ports.
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { createConsulClient, type ConsulApi } from '../../src/consul/client.js';
import { loadConsulConfig } from '../../src/consul/config.js';
import { createDaemon, type Daemon, type DaemonConfig } from '../../src/daemon/daemon.js';
import { Metrics } from '../../src/daemon/metrics.js';
import type { ProcessApplier } from '../../src/haproxy/applier.js';
import { loadTemplates } from '../../src/config/templates.js';
import { ConsulSource } from '../../src/catalog/consul-source.js';
import { FileSource } from '../../src/catalog/file-source.js';
import type { CatalogSource } from '../../src/catalog/source.js';
import { HAPROXY, freePorts, tempDir } from './haproxy.js';
import { eventually, get, startBackend, type Backend } from './backends.js';
import { ConsulSim } from '../sim/consul-sim.js';
import { settings } from './entries.js';
import { testLog } from './log.js';

export interface TestDaemon {
  daemon: Daemon;
  metrics: Metrics;
  /** The HAProxy process applier (master-worker unless `extra.reload` says otherwise). */
  controller: ProcessApplier;
  httpPort: number;
  statsPort: number;
  runDir: string;
  configPath: string;
  stop: () => Promise<void>;
}

export async function startDaemon(o: {
  runDir: string;
  sim?: ConsulSim;
  catalogFile?: string;
  consulUrl?: string;
  env?: Record<string, string>;
  templatesDir?: string;
  ports?: [number, number];
  guard?: { maxRemovalRatio: number; holdMs: number };
  wait?: { minMs: number; maxMs: number; minIntervalMs: number };
  /** Where the config is written (default: <runDir>/haproxy.cfg). */
  configPath?: string;
  /** Anything else the daemon takes (reload, reapIntervalMs, …). */
  extra?: Partial<DaemonConfig>;
}): Promise<TestDaemon> {
  const [httpPort, statsPort] = o.ports ?? await freePorts(2) as [number, number];
  const s = settings({ HAPROXY_HTTP_PORT: String(httpPort), HAPROXY_STATS_PORT: String(statsPort), HAPROXY_MAXCONN_GLOBAL: '2000', HAPROXY_MAXCONN: '1000', ...o.env });
  const metrics = new Metrics();
  let consul: ConsulApi | undefined;
  let source: CatalogSource;
  if (o.catalogFile) {
    source = new FileSource({ file: o.catalogFile, log: testLog, debounceMs: 50 });
  } else {
    consul = createConsulClient(loadConsulConfig({ flagUrl: o.consulUrl ?? o.sim?.url, env: {} }), metrics.consulObserver());
    source = new ConsulSource({ consul, log: testLog, wait: '30s', settleMs: 200, onFullResync: () => metrics.fullResyncs.inc() });
  }
  const configPath = o.configPath ?? path.join(o.runDir, 'haproxy.cfg');
  const daemon = createDaemon({
    source, settings: s, templates: await loadTemplates(o.templatesDir), configPath, runDir: o.runDir, haproxyBin: HAPROXY,
    log: testLog, metrics,
    wait: o.wait ?? { minMs: 50, maxMs: 300, minIntervalMs: 100 },
    guard: o.guard ?? { maxRemovalRatio: 0.5, holdMs: 60_000 },
    fdLimit: undefined, stopHaproxyOnExit: true, ...o.extra,
  });
  await daemon.start();
  const controller = daemon.haproxy;
  return {
    daemon, metrics, controller, httpPort, statsPort, runDir: o.runDir, configPath,
    stop: async () => {
      await daemon.stop();
      await controller.stop();
      consul?.close();
    },
  };
}

export const ENABLE_TAGS = ['HAPROXY.ENABLE=true'];
export const simNode = (n: number) => ({ Node: `node${n}`, Address: '127.0.0.1' });

/** Registers instance `web-<n>` (or `<service>-<n>`) on node<n>, pointing at a test backend. */
export function registerWeb(sim: ConsulSim, n: number, b: Backend, service = 'web'): void {
  sim.register({ node: simNode(n), service: { ID: `${service}-${n}`, Service: service, Tags: ENABLE_TAGS, Port: b.port } });
}

/** The backend names answering `n` requests through HAProxy (a status code when not a backend). */
export async function names(d: TestDaemon, host = 'web.example.test', n = 12): Promise<Set<string>> {
  const seen = new Set<string>();
  for (let i = 0; i < n; i++) {
    const r = await get(d.httpPort, host);
    seen.add(typeof r.body === 'object' ? r.body.name ?? '' : `${r.status}`);
  }
  return seen;
}

/**
 * `backends` test backends web-1…web-n, the first `registered` of them in a Consul simulator, and a
 * daemon following it, ready. `teardown` stops all of it.
 */
export async function webFixture(o: {
  backends: number;
  registered: number;
  daemon?: Omit<Parameters<typeof startDaemon>[0], 'runDir' | 'sim'>;
  /** The config in `<dir>/etc/` (returned as `configDir`) and the run dir in `<dir>/run/`, instead of both in `<dir>`. */
  configDir?: boolean;
}) {
  const backends = await Promise.all(Array.from({ length: o.backends }, (_, i) => startBackend(`web-${i + 1}`)));
  const sim = new ConsulSim();
  sim.jitter = false;
  for (let i = 0; i < o.registered; i++) registerWeb(sim, i + 1, backends[i]!);
  await sim.start();
  const { dir, cleanup } = await tempDir();
  const configDir = o.configDir ? path.join(dir, 'etc') : dir;
  await mkdir(configDir, { recursive: true });
  const d = await startDaemon({ runDir: o.configDir ? path.join(dir, 'run') : dir, sim, ...o.daemon, configPath: o.configDir ? path.join(configDir, 'haproxy.cfg') : o.daemon?.configPath });
  const teardown = async () => {
    await d.stop();
    await sim.stop();
    await Promise.all(backends.map((b) => b.close()));
    await cleanup();
  };
  try {
    await eventually(async () => (await d.daemon.ready()).ready, 15_000, 'ready');
  } catch (err) {
    await teardown();
    throw err;
  }
  return { backends, sim, d, dir, configDir, teardown };
}
