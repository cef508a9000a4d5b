// A daemon wired as `hapilot run` wires it, in-process, with a real HAProxy on free loopback ports.
import path from 'node:path';
import { createConsulClient, type ConsulApi } from '../../src/consul/client.js';
import { loadConsulConfig } from '../../src/consul/config.js';
import { Daemon } from '../../src/daemon/daemon.js';
import { Metrics } from '../../src/daemon/metrics.js';
import { MasterWorker } from '../../src/haproxy/master-worker.js';
import { loadTemplates } from '../../src/render/templates.js';
import { ConsulSource } from '../../src/watch/consul-source.js';
import { FileSource } from '../../src/watch/file-source.js';
import type { CatalogSource } from '../../src/watch/source.js';
import type { ConsulSim } from '../sim/consul-sim.js';
import { HAPROXY, freePorts } from './haproxy.js';
import { settings } from './entries.js';
import { testLog } from './log.js';

export interface TestDaemon {
  daemon: Daemon;
  metrics: Metrics;
  controller: MasterWorker;
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
  const configPath = path.join(o.runDir, 'haproxy.cfg');
  const controller = new MasterWorker({ haproxy: HAPROXY, configPath, runDir: o.runDir, log: testLog });
  const daemon = new Daemon({
    source, settings: s, templates: await loadTemplates(o.templatesDir), configPath, runDir: o.runDir, haproxyBin: HAPROXY,
    controller, log: testLog, metrics,
    wait: o.wait ?? { minMs: 50, maxMs: 300, minIntervalMs: 100 },
    guard: o.guard ?? { maxRemovalRatio: 0.5, holdMs: 60_000 },
    fdLimit: undefined, stopHaproxyOnExit: true,
  });
  await daemon.start();
  return {
    daemon, metrics, controller, httpPort, statsPort, runDir: o.runDir, configPath,
    stop: async () => {
      await daemon.stop();
      await controller.stop();
      consul?.close();
    },
  };
}
