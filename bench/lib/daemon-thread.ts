// The daemon under test (createDaemon, as `hapilot run` builds it, without pools) on a thread of its
// own by default: a benchmark's probe loop then measures hapilot instead of sharing hapilot's event
// loop (`hapilot run` is a process of its own). `sameThread` keeps the daemon on the caller's thread.
// Requests to the thread are messages { id, op, arg }, answered { id, result } or { id, error }.
import path from 'node:path';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { createConsulClient } from '../../src/consul/client.js';
import { loadConsulConfig } from '../../src/consul/config.js';
import { ConsulSource } from '../../src/catalog/consul-source.js';
import { createDaemon } from '../../src/daemon/daemon.js';
import { Metrics } from '../../src/daemon/metrics.js';
import type { WaitOptions } from '../../src/daemon/debounce.js';
import { loadTemplates } from '../../src/config/templates.js';
import { ownFdHardLimit } from '../../src/config/limits.js';
import { createLogger } from '../../src/log.js';
import { loadSettings } from '../../src/settings.js';

export interface BenchDaemonOptions {
  consulUrl: string;
  runDir: string;
  /** HAPROXY_* settings. */
  env: Record<string, string>;
  wait: WaitOptions;
  logLevel: string;
  /** Trace every Consul request's end (answer parsed) on stderr. */
  trace: boolean;
}

/** What a benchmark asks of the daemon, on whichever thread it runs. */
export interface BenchDaemon {
  ready(): Promise<{ ready: boolean; reason: string }>;
  status(): Promise<Record<string, unknown>>;
  idle(): Promise<void>;
  /** One metric's Prometheus text. */
  metric(name: string): Promise<string>;
  stop(): Promise<void>;
}

async function build(o: BenchDaemonOptions): Promise<BenchDaemon & { start(): Promise<void> }> {
  const log = createLogger({ level: o.logLevel as 'info', destination: 2, pretty: false });
  const metrics = new Metrics();
  const observer = metrics.consulObserver();
  const traced: typeof observer = !o.trace ? observer : {
    start: (endpoint, blocking) => {
      const done = observer.start(endpoint, blocking);
      const startAt = Date.now();
      return (outcome) => {
        done(outcome);
        process.stderr.write(`${JSON.stringify({ consulTrace: true, endpoint, blocking, startAt, endAt: Date.now(), outcome })}\n`);
      };
    },
  };
  const consul = createConsulClient(loadConsulConfig({ flagUrl: o.consulUrl, env: {} }), traced);
  const source = new ConsulSource({ consul, log, wait: '5m', onFullResync: () => metrics.fullResyncs.inc() });
  const daemon = createDaemon({
    source, settings: loadSettings(o.env), templates: await loadTemplates(), configPath: path.join(o.runDir, 'haproxy.cfg'), runDir: o.runDir, haproxyBin: 'haproxy', log, metrics,
    wait: o.wait, guard: { maxRemovalRatio: 0.5, holdMs: 120_000 }, fdLimit: await ownFdHardLimit(), historySize: 10, stopHaproxyOnExit: true,
  });
  return {
    start: () => daemon.start(),
    ready: () => daemon.ready(),
    // As /status serves it: plain JSON.
    status: async () => JSON.parse(JSON.stringify(await daemon.status())) as Record<string, unknown>,
    idle: () => daemon.idle(),
    metric: (name) => metrics.registry.getSingleMetricAsString(name),
    stop: async () => {
      await daemon.stop();
      consul.close();
    },
  };
}

/** Starts the daemon (on a thread of its own unless `sameThread`). */
export async function startBenchDaemon(o: BenchDaemonOptions & { sameThread?: boolean }): Promise<BenchDaemon> {
  if (o.sameThread) {
    const d = await build(o);
    await d.start();
    return d;
  }
  // A worker does not inherit tsx's loader: register it there first, then load this module.
  const bootstrap = `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then((tsx) => { tsx.register(); return import(${JSON.stringify(import.meta.url)}); })`;
  const worker = new Worker(bootstrap, { eval: true, workerData: o });
  const waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  let id = 0;
  let failed: Error | undefined;
  worker.on('message', (m: { id: number; result?: unknown; error?: string }) => {
    const w = waiting.get(m.id);
    waiting.delete(m.id);
    if (m.error !== undefined) w?.reject(new Error(m.error));
    else w?.resolve(m.result);
  });
  worker.on('error', (err) => {
    failed = err;
    for (const w of waiting.values()) w.reject(err);
    waiting.clear();
  });
  const call = <T>(op: string, arg?: string) => new Promise<T>((resolve, reject) => {
    if (failed) return reject(failed);
    waiting.set(++id, { resolve: resolve as (v: unknown) => void, reject });
    worker.postMessage({ id, op, arg });
  });
  await call('start');
  return {
    ready: () => call('ready'),
    status: () => call('status'),
    idle: () => call('idle'),
    metric: (name) => call('metric', name),
    stop: async () => {
      await call('stop');
      await worker.terminate();
    },
  };
}

// On the daemon's own thread: build it, then answer the requests.
if (!isMainThread && parentPort) {
  const port = parentPort;
  const ready = build(workerData as BenchDaemonOptions);
  port.on('message', (m: { id: number; op: keyof BenchDaemon | 'start'; arg?: string }) => {
    void (async () => {
      try {
        const d = await ready;
        const result = m.op === 'metric' ? await d.metric(m.arg ?? '') : await d[m.op]();
        port.postMessage({ id: m.id, result });
      } catch (err) {
        port.postMessage({ id: m.id, error: err instanceof Error ? err.stack ?? err.message : String(err) });
      }
    })();
  });
}
