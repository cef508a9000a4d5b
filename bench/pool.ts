// npm run bench:pool [services] [ops] — from a pool record written to Consul KV to the server's new
// state in HAProxy's `show stat`: p50/p99 over `ops` alternating depool/pool operations, with
// `services` services of 2 instances each. The path measured is the pool path as the engine runs it
// (src/pool/reconciler.ts: KV blocking query → table → applyPoolStates over every instance →
// `show stat <backend>` for the backends whose decisions moved → Runtime API `set server … state`),
// fed with the catalog here until the daemon is wired to the pool; Consul
// is the simulator pair (test/sim/consul-sim.ts for the catalog, test/pool/kv-sim.ts for KV).
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ConsulSim } from '../test/sim/consul-sim.js';
import { KvSim } from '../test/pool/kv-sim.js';
import { loadConsulConfig } from '../src/consul/config.js';
import { createConsulClient } from '../src/consul/client.js';
import { createLogger } from '../src/log.js';
import { createKvClient } from '../src/pool/kv.js';
import { PoolReconciler } from '../src/pool/reconciler.js';
import { buildModel } from '../src/model/model.js';
import { loadSettings } from '../src/settings.js';
import type { HealthEntry } from '../src/consul/schemas.js';
import { socketCommand } from '../src/haproxy/socket.js';
import { percentile } from './lib/loadgen.js';

const services = Number(process.argv[2] ?? 1000);
const ops = Number(process.argv[3] ?? 100);
const dir = await mkdtemp(path.join(os.tmpdir(), 'hapilot-bench-pool-'));
const socket = path.join(dir, 'haproxy.sock');
const name = (i: number) => `svc-${String(i).padStart(4, '0')}`;

const sim = new ConsulSim();
sim.jitter = false;
for (let i = 0; i < services; i++) {
  for (const n of [1, 2]) sim.register({ node: { Node: `n${n}`, Address: '127.0.0.1' }, service: { ID: `${name(i)}-${n}`, Service: name(i), Tags: ['HAPROXY.ENABLE=true'], Port: 20000 + n } });
}
await sim.start();
const kvSim = new KvSim();
kvSim.fallback = sim.url;
await kvSim.start();

const lines = ['global', `  stats socket ${socket} level admin`, '  maxconn 1000', 'defaults', '  mode http', '  timeout connect 1s', '  timeout client 5s', '  timeout server 5s'];
for (let i = 0; i < services; i++) lines.push(`backend ${name(i)}`, `  server n1:${name(i)}-1 127.0.0.1:20001`, `  server n2:${name(i)}-2 127.0.0.1:20002`);
await writeFile(path.join(dir, 'haproxy.cfg'), `${lines.join('\n')}\n`);
const haproxy = spawn('haproxy', ['-db', '-f', path.join(dir, 'haproxy.cfg')], { stdio: 'ignore' });
for (let t = 0; !(await socketCommand(socket, 'show info', 200).catch(() => '')).includes('Pid'); t++) {
  if (t > 500) throw new Error('HAProxy did not start');
  await new Promise((r) => setTimeout(r, 20));
}
const pidBefore = /Pid: (\d+)/.exec(await socketCommand(socket, 'show info'))?.[1];

// The engine's part, played here until the daemon is wired: hand the catalog and its model to the
// PoolReconciler once; from then on every KV change goes through the reconciler alone.
const config = loadConsulConfig({ flagUrl: kvSim.url, env: {} });
const consul = createConsulClient(config);
const kv = createKvClient(config);
const entries: HealthEntry[] = [];
for (let i = 0; i < services; i++) entries.push(...(await consul.healthService(name(i))).data);
const log = createLogger({ level: 'warn', destination: 2 });
const reconciler = new PoolReconciler({ kv, prefix: 'hapilot/pool', wait: '5m', statsSocket: socket, defaultThreshold: 0.5, log });
reconciler.start();
await reconciler.ready();
const t0Adjust = performance.now();
reconciler.adjust(entries, buildModel({ entries, settings: loadSettings({ HAPROXY_DOM: 'bench.test' }) }));
const adjustMs = performance.now() - t0Adjust;
await reconciler.reconcile({ full: true });

const times: number[] = [];
const pooled = new Map<string, boolean>();
for (let k = 0; k < ops; k++) {
  const svc = name(Math.floor(Math.random() * services));
  const server = `n1:${svc}-1`;
  const depool = pooled.get(svc) !== false;
  const key = `hapilot/pool/${svc}/${svc}-1`;
  const current = (await kv.get(key)).data;
  const want = depool ? /^MAINT/ : /^(UP|no check)/;
  const t0 = performance.now();
  if (!(await kv.cas(key, JSON.stringify({ state: depool ? 'no' : 'yes' }), current?.modifyIndex ?? 0))) throw new Error(`CAS lost on ${key}`);
  for (;;) {
    const row = (await socketCommand(socket, `show stat ${svc} 4 -1`)).split('\n').find((l) => l.startsWith(`${svc},${server},`));
    const status = row?.split(',')[17] ?? '';
    if (want.test(status)) break;
    if (performance.now() - t0 > 10_000) throw new Error(`${server} not ${depool ? 'MAINT' : 'UP'} after 10 s (${status})`);
  }
  times.push(performance.now() - t0);
  pooled.set(svc, !depool);
}
const pidAfter = /Pid: (\d+)/.exec(await socketCommand(socket, 'show info'))?.[1];

await reconciler.stop();
await sim.stop();
await kvSim.stop();
consul.close();
kv.close();
haproxy.kill('SIGTERM');
await rm(dir, { recursive: true, force: true });

const r = (n: number) => n.toFixed(1);
times.sort((a, b) => a - b);
console.log(JSON.stringify({
  services, instances: entries.length, ops,
  kvWriteToShowStatMs: { p50: r(percentile(times, 50)), p99: r(percentile(times, 99)), max: r(Math.max(...times)) },
  firstAdjustMs: r(adjustMs),
  reloads: pidBefore === pidAfter ? 0 : 'HAProxy pid changed',
}, null, 2));
