// A pool lab for the tests: N backends, Consul with a service `web` of N instances (node n<i>,
// service ID web-<i>): a real agent (scripts/consul.sh), or the simulators (catalog simulator with
// the KV simulator in front of it, one address for both: for what a real agent cannot be made to
// do on demand, like losing a check-and-set race at a chosen moment); a real HAProxy with an admin
// stats socket; and the PoolReconciler (src/pool/reconciler.ts) fed with the catalog and model as
// the engine will feed it: it watches KV, runs the pure rules and applies them with the Runtime
// API, no reload.
import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import { writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { hapilot } from '../helpers/cli.js';
import { ConsulSim } from '../sim/consul-sim.js';
import { KvSim } from './kv-sim.js';
import { HAPROXY, freePort, tempDir } from '../helpers/haproxy.js';
import { eventually } from '../helpers/backends.js';
import { RealConsul } from '../helpers/real-consul.js';
import { loadConsulConfig } from '../../src/consul/config.js';
import { createConsulClient, type ConsulApi } from '../../src/consul/client.js';
import { runBlockingLoop } from '../../src/consul/blocking-query.js';
import { createKvClient } from '../../src/pool/kv.js';
import { PoolReconciler } from '../../src/pool/reconciler.js';
import type { PoolDecisions } from '../../src/pool/rules.js';
import { observeServers, type ObservedServer } from '../../src/pool/observe.js';
import { buildModel } from '../../src/model/model.js';
import { settings } from '../helpers/entries.js';
import { testLog } from '../helpers/log.js';
import { socketCommand } from '../../src/haproxy/socket.js';
import type { HealthEntry } from '../../src/consul/schemas.js';

/**
 * Plays the engine's part for a reconciler: follows service `web` with blocking queries and hands
 * each catalog and its model to `adjust`, then reconciles. Runs until `signal` aborts.
 */
export function feedReconciler({ consul, reconciler, signal, service = 'web' }: { consul: ConsulApi; reconciler: PoolReconciler; signal: AbortSignal; service?: string }): Promise<void> {
  const s = settings();
  return runBlockingLoop<HealthEntry[]>({
    name: `health ${service}`, signal, fingerprint: (d) => JSON.stringify(d), onError: () => undefined,
    fetch: (index, sig) => consul.healthService(service, { index, wait: '30s', signal: sig }),
    onData: async (entries) => {
      await reconciler.ready();
      reconciler.adjust(entries, buildModel({ entries, settings: s }));
      await reconciler.reconcile();
    },
  });
}

/** Requests through HAProxy, each on a new connection, until stopped; counts what failed. */
export function load(port: number, { host, concurrency = 6 }: { host?: string; concurrency?: number } = {}) {
  let stop = false;
  let ok = 0;
  const failures: string[] = [];
  const one = () => new Promise<void>((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/', headers: host ? { host } : {}, agent: false, timeout: 5000 }, (res) => {
      res.resume();
      res.on('end', () => {
        if (res.statusCode === 200) ok += 1;
        else failures.push(`HTTP ${res.statusCode}`);
        resolve();
      });
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (err) => { failures.push(err.message); resolve(); });
  });
  const workers = Array.from({ length: concurrency }, async () => { while (!stop) await one(); });
  return { stop: async () => { stop = true; await Promise.all(workers); return { ok, failures }; } };
}

export interface LabBackend {
  name: string;
  port: number;
  close: () => Promise<void>;
}

/** Answers its name; `/slow?ms=N` answers after N ms (an open session that must finish). */
async function startBackend(name: string): Promise<LabBackend> {
  const server = http.createServer((req, res) => {
    const ms = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('ms') ?? 0);
    setTimeout(() => res.end(name), ms);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return { name, port: (server.address() as AddressInfo).port, close: () => new Promise((r) => { server.closeAllConnections(); server.close(() => r()); }) };
}

/** What the tests do to Consul, whichever Consul it is. */
export interface LabConsul {
  url: string;
  register: (node: string, id: string, tags: string[], port: number) => Promise<void>;
  setStatus: (node: string, id: string, status: 'passing' | 'critical') => Promise<void>;
  kvPut: (key: string, value: string) => Promise<void>;
  kvValue: (key: string) => Promise<string | undefined>;
  kvKeys: (prefix: string) => Promise<string[]>;
  /** Simulator only: the KV simulator, for its hooks. */
  kvSim: KvSim | undefined;
  stop: () => Promise<void>;
}

async function simConsul(): Promise<LabConsul> {
  const sim = new ConsulSim();
  sim.jitter = false;
  await sim.start();
  const kv = new KvSim();
  kv.fallback = sim.url;
  await kv.start();
  return {
    url: kv.url,
    kvSim: kv,
    register: async (node, id, tags, port) => sim.register({ node: { Node: node, Address: '127.0.0.1' }, service: { ID: id, Service: 'web', Tags: tags, Port: port } }),
    setStatus: async (node, id, status) => sim.setStatus(node, id, status),
    kvPut: async (k, v) => void kv.put(k, v),
    kvValue: async (k) => kv.value(k) ?? undefined,
    kvKeys: async (prefix) => kv.keys(prefix),
    stop: async () => {
      await sim.stop();
      await kv.stop();
    },
  };
}

async function realConsul(): Promise<LabConsul> {
  const c = await RealConsul.start();
  return {
    url: c.url,
    kvSim: undefined,
    register: async (node, id, tags, port) => void (await c.register({ node, id, service: 'web', tags, port })),
    setStatus: (node, id, status) => c.setStatus(node, id, status),
    kvPut: async (k, v) => void (await c.ok('PUT', `/v1/kv/${k}`, v)),
    kvValue: async (k) => {
      const r = await c.api('GET', `/v1/kv/${k}?raw`);
      return r.status === 404 ? undefined : r.text;
    },
    kvKeys: async (prefix) => {
      const r = await c.api('GET', `/v1/kv/${prefix}?keys`);
      return r.status === 404 ? [] : (r.json() as string[]);
    },
    stop: () => c.destroy(),
  };
}

export interface Lab {
  consul: LabConsul;
  socket: string;
  httpPort: number;
  backends: LabBackend[];
  decisions: () => PoolDecisions | undefined;
  reconciler: PoolReconciler;
  /** How often the reconciler asked the engine for a sync (a KV change that the config must show). */
  configChanges: () => number;
  stat: () => Promise<ObservedServer[]>;
  cli: (args: string[], timeoutMs?: number) => Promise<{ code: number; stdout: string; stderr: string }>;
  teardown: () => Promise<void>;
}

export async function startLab({ instances = 4, threshold = 0.5, consul: kind = 'real' }: { instances?: number; threshold?: number; consul?: 'real' | 'sim' } = {}): Promise<Lab> {
  const { dir, cleanup } = await tempDir('hapilot-pool-');
  const backends = await Promise.all(Array.from({ length: instances }, (_, i) => startBackend(`web-${i + 1}`)));
  const lc = kind === 'real' ? await realConsul() : await simConsul();
  for (const [i, b] of backends.entries()) await lc.register(`n${i + 1}`, b.name, ['HAPROXY.ENABLE=true'], b.port);

  const httpPort = await freePort();
  const socket = path.join(dir, 'haproxy.sock');
  const cfg = [
    'global', `  stats socket ${socket} level admin`, '  maxconn 2000',
    'defaults', '  mode http', '  timeout connect 2s', '  timeout client 30s', '  timeout server 30s', '  retries 3', '  option redispatch',
    'frontend f', `  bind 127.0.0.1:${httpPort}`, '  default_backend web',
    'backend web', '  balance roundrobin',
    ...backends.map((b, i) => `  server n${i + 1}:${b.name} 127.0.0.1:${b.port} weight 1 check inter 300ms`),
  ].join('\n');
  await writeFile(path.join(dir, 'haproxy.cfg'), `${cfg}\n`);
  const haproxy: ChildProcess = spawn(HAPROXY, ['-db', '-f', path.join(dir, 'haproxy.cfg')], { stdio: 'ignore' });
  await eventually(async () => (await socketCommand(socket, 'show info', 500)).includes('Pid'), 10_000, 'HAProxy stats socket');

  // The engine's part, played by the lab until the daemon is wired: it follows the catalog and
  // hands each catalog and model to the PoolReconciler, which does the rest.
  const config = loadConsulConfig({ flagUrl: lc.url, env: {} });
  const consul = createConsulClient(config);
  const kvClient = createKvClient(config);
  const ac = new AbortController();
  let configChanges = 0;
  const reconciler = new PoolReconciler({ kv: kvClient, prefix: 'hapilot/pool', wait: '30s', statsSocket: socket, defaultThreshold: threshold, log: testLog, onConfigChange: () => { configChanges += 1; } });
  reconciler.start();
  const loops = feedReconciler({ consul, reconciler, signal: ac.signal });
  const decisions = () => reconciler.decisions();
  await eventually(() => decisions() !== undefined, 10_000, 'first pool decisions');

  return {
    consul: lc, socket, httpPort, backends,
    decisions,
    reconciler,
    configChanges: () => configChanges,
    stat: () => observeServers(socket),
    cli: async (args, timeoutMs = 60_000) => {
      return hapilot(args, { env: { HAPILOT_CONSUL: lc.url }, timeout: timeoutMs });
    },
    teardown: async () => {
      ac.abort();
      await reconciler.stop();
      await lc.stop();
      await loops;
      consul.close();
      kvClient.close();
      haproxy.kill('SIGTERM');
      await Promise.all(backends.map((b) => b.close()));
      await cleanup();
    },
  };
}
