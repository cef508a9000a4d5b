// npm run bench:pool [services] [ops] — from a pool record written to Consul KV to the server's new
// state in HAProxy's `show stat`: p50/p99 over `ops` alternating depool/pool operations on random
// services, with `services` services of 2 instances each, through the daemon's own path: a real
// Consul agent (scripts/consul.sh), `createDaemon` wired as `hapilot run` wires it (ConsulSource,
// the runtime strategy, the PoolReconciler the daemon holds: KV blocking query → decisions against
// the daemon's catalog and model → `set server … state` on the stats socket), a real HAProxy.
// The HAProxy worker pid before and after says whether anything reloaded.
import os from 'node:os';
import path from 'node:path';
import { RealConsul, registerMany } from '../test/helpers/real-consul.js';
import { startDaemon } from '../test/helpers/daemon.js';
import { tempDir } from '../test/helpers/haproxy.js';
import { eventually } from '../test/helpers/backends.js';
import { loadConsulConfig } from '../src/consul/config.js';
import { createLogger } from '../src/log.js';
import { createKvClient } from '../src/pool/kv.js';
import { PoolReconciler } from '../src/pool/reconciler.js';
import { socketCommand } from '../src/haproxy/socket.js';
import { percentile } from './lib/loadgen.js';

const services = Number(process.argv[2] ?? 1000);
const ops = Number(process.argv[3] ?? 100);
const name = (i: number) => `svc-${String(i).padStart(4, '0')}`;

const consul = await RealConsul.start();
const t0Seed = performance.now();
await registerMany(consul, Array.from({ length: services }, (_, i) => [1, 2].map((n) => ({ node: `n${n}`, id: `${name(i)}-${n}`, service: name(i), tags: ['HAPROXY.ENABLE=true'], port: 20000 + n }))).flat());
const seedMs = performance.now() - t0Seed;

const { dir, cleanup } = await tempDir('hapilot-bench-pool-');
const socket = path.join(dir, 'haproxy.sock');
const config = loadConsulConfig({ flagUrl: consul.url, env: {} });
const kv = createKvClient(config);
const log = createLogger({ level: 'warn', destination: 2 });
const pool = new PoolReconciler({ kv: createKvClient(config), prefix: 'hapilot/pool', wait: '5m', statsSocket: socket, defaultThreshold: 0.5, log });
const t0Start = performance.now();
const d = await startDaemon({ runDir: dir, consulUrl: consul.url, env: { HAPROXY_MAXCONN_GLOBAL: '4000' }, extra: { pool, reload: 'auto' } });
const served = () => d.daemon.status().then((s) => (s as { backends: Array<{ servers: Array<{ haproxy: unknown }> }> }).backends.filter((b) => b.servers.some((x) => x.haproxy)).length);
await eventually(async () => (await served()) === services, 120_000, `${services} backends served`);
const firstConfigMs = performance.now() - t0Start;
const worker = async () => ((await d.daemon.status()) as { haproxy: { processes: { currentWorkerPid: number } | null } }).haproxy.processes?.currentWorkerPid;
const workerBefore = await worker();

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
const workerAfter = await worker();
const reloadRecords = ((await d.daemon.status()) as { reloads: Array<{ action: string }> }).reloads.filter((r) => r.action !== 'runtime').length;

await d.stop();
kv.close();
await consul.destroy();
await cleanup();

const r = (n: number) => n.toFixed(1);
times.sort((a, b) => a - b);
console.log(JSON.stringify({
  services, instances: services * 2, ops, consul: 'real agent (1.16.6)',
  kvWriteToShowStatMs: { p50: r(percentile(times, 50)), p99: r(percentile(times, 99)), max: r(Math.max(...times)) },
  seedMs: r(seedMs), daemonStartToServedMs: r(firstConfigMs),
  reloads: workerBefore === workerAfter ? 0 : 'HAProxy worker changed', startsAndReloadsRecorded: reloadRecords,
  loadavg: os.loadavg().map((x) => x.toFixed(1)),
}, null, 2));
