// npm run bench:consul — hapilot against a real Consul agent (scripts/consul.sh) and against the
// simulator (test/sim/consul-sim.ts), side by side, at 100 and 1,000 services:
// - the Consul HTTP reads hapilot makes at start, while idle and per change (real agent: counted by
//   Consul itself, telemetry consul.api.http from /v1/agent/metrics; simulator: its request log);
// - time to first config (daemon start → the first config applied in HAProxy);
// - single-change convergence p50/p99: a write through Consul's HTTP API → the change applied in
//   HAProxy (hapilot_consul_index reaches the write's index), for health flips and for an instance
//   registered/deregistered, and for an instance re-registered with another weight (same tags, same
//   check: a change that moves the services table only, which no list shows).
// The daemon is wired as `hapilot run` wires it (test/helpers/daemon.ts) with a real HAProxy, the
// `runtime` reload strategy where possible, --wait 50ms:300ms, --min-reload-interval 100ms.
// Usage: npm run bench:consul [-- changes-per-kind (default 30)]
import os from 'node:os';
import { ConsulSim } from '../test/sim/consul-sim.js';
import { RealConsul, hapilotReads, registerMany } from '../test/helpers/real-consul.js';
import { startDaemon, type TestDaemon } from '../test/helpers/daemon.js';
import { tempDir } from '../test/helpers/haproxy.js';
import { percentile } from './lib/loadgen.js';

const CHANGES = Number(process.argv[2] ?? 30);
const ENABLE = ['HAPROXY.ENABLE=true'];
const FLIP_INSTANCES = 4;

interface Inst { node: string; id: string; service: string; port: number }
type Status = 'passing' | 'critical';

interface Target {
  name: string;
  url: string;
  seed(insts: Inst[]): Promise<void>;
  register(i: Inst): Promise<void>;
  deregister(i: Inst): Promise<void>;
  setStatus(i: Inst, s: Status): Promise<void>;
  /** Re-registers the instance with this passing weight (its check as it is: passing). */
  reweight(i: Inst, weight: number): Promise<void>;
  /** The index of the last write. */
  checksIndex(): Promise<number>;
  /** health/service + health/state + catalog/services + node dump + index probe reads answered so far. */
  reads(): Promise<{ healthService: number; nodeDump: number; total: number }>;
  stop(): Promise<void>;
}

async function realTarget(): Promise<Target> {
  const c = await RealConsul.start();
  const reg = (i: Inst, status: Status = 'passing') => c.register({ node: i.node, id: i.id, service: i.service, tags: ENABLE, port: i.port, status });
  return {
    name: 'Consul 1.16.6', url: c.url,
    seed: (insts) => registerMany(c, insts.map((i) => ({ node: i.node, id: i.id, service: i.service, tags: ENABLE, port: i.port }))),
    register: async (i) => { await reg(i); },
    deregister: (i) => c.deregister(i.node, i.id),
    setStatus: (i, s) => c.setStatus(i.node, i.id, s),
    reweight: async (i, weight) => { await c.register({ node: i.node, id: i.id, service: i.service, tags: ENABLE, port: i.port, weights: { Passing: weight, Warning: 1 } }); },
    // health/checks/:service and catalog/service/:service are not among the endpoints hapilot reads
    // (not counted below); the first moves with the service's checks, the second with the service
    // (a weight): the higher of the two is the last write's.
    checksIndex: async () => Math.max((await c.api('GET', '/v1/health/checks/flip')).index, (await c.api('GET', '/v1/catalog/service/flip')).index),
    reads: () => hapilotReads(c),
    stop: () => c.destroy(),
  };
}

async function simTarget(): Promise<Target> {
  const sim = new ConsulSim();
  await sim.start();
  const reg = (i: Inst, status: Status = 'passing') => sim.register({ node: { Node: i.node, Address: '127.0.0.1', external: true }, service: { ID: i.id, Service: i.service, Tags: ENABLE, Port: i.port }, status });
  const reads = (p: string) => sim.requests.filter((r) => r.path.startsWith(p) && !r.query.includes('bench-probe')).length;
  return {
    name: 'simulator', url: sim.url,
    seed: async (insts) => { for (const i of insts) reg(i); },
    register: async (i) => reg(i),
    deregister: async (i) => sim.deregister(i.node, i.id),
    setStatus: async (i, s) => sim.setStatus(i.node, i.id, s),
    reweight: async (i, weight) => { sim.register({ node: { Node: i.node, Address: '127.0.0.1', external: true }, service: { ID: i.id, Service: i.service, Tags: ENABLE, Port: i.port, Weights: { Passing: weight, Warning: 1 } }, status: 'passing' }); },
    // The dump's index is the highest of the nodes, services and checks tables: the last write's.
    checksIndex: async () => Number((await fetch(`${sim.url}/v1/internal/ui/nodes?bench-probe&filter=${encodeURIComponent('Node == "bench-probe"')}`)).headers.get('x-consul-index')),
    reads: async () => {
      const healthService = reads('/v1/health/service/');
      const nodeDump = reads('/v1/internal/ui/nodes');
      // The simulator logs a request when it arrives, Consul counts it when it is answered: leave out
      // the long-polls still open, as Consul's count does.
      return { healthService, nodeDump, total: healthService + nodeDump + reads('/v1/health/state/') + reads('/v1/catalog/services') + reads('/v1/health/node/') - sim.openBlocking };
    },
    stop: () => sim.stop(),
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function appliedIndex(d: TestDaemon): Promise<number> {
  return (await d.metrics.consulIndex.get()).values[0]?.value ?? 0;
}

async function waitApplied(d: TestDaemon, index: number, timeoutMs = 30_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (await appliedIndex(d) < index) {
    if (Date.now() > until) throw new Error(`index ${index} not applied after ${timeoutMs} ms (applied ${await appliedIndex(d)})`);
    await sleep(2);
  }
}

interface Row {
  target: string; services: number;
  startReads: number; startHealthReads: number; idleReads: number; idleSeconds: number;
  firstConfigMs: number;
  flipReads: number; flipP50: number; flipP99: number;
  regReads: number; regP50: number; regP99: number;
  weightReads: number; weightDumps: number; weightP50: number; weightP99: number;
}

async function measure(make: () => Promise<Target>, services: number): Promise<Row> {
  const t = await make();
  const { dir, cleanup } = await tempDir('hapilot-bench-consul-');
  let d: TestDaemon | undefined;
  try {
    const insts: Inst[] = Array.from({ length: services }, (_, s) => ({ node: `node${s % 20}`, id: `svc${s}-0`, service: `svc${s}`, port: 20000 + s }));
    // One service with several instances for the flips (a flip never empties it: no guard hold).
    const flips: Inst[] = Array.from({ length: FLIP_INSTANCES }, (_, i) => ({ node: `flip-node${i}`, id: `flip-${i}`, service: 'flip', port: 30000 + i }));
    await t.seed([...insts.slice(0, services - 1), ...flips]);
    const before = await t.reads();
    const started = performance.now();
    d = await startDaemon({ runDir: dir, consulUrl: t.url });
    while (await appliedIndex(d) === 0) await sleep(5);
    const firstConfigMs = performance.now() - started;
    await sleep(1000);
    const afterStart = await t.reads();
    const idleSeconds = 10;
    await sleep(idleSeconds * 1000);
    const afterIdle = await t.reads();

    const flipTimes: number[] = [];
    let status: Status = 'critical';
    for (let k = 0; k < CHANGES; k++) {
      const inst = flips[k % FLIP_INSTANCES]!;
      const t0 = performance.now();
      await t.setStatus(inst, status);
      await waitApplied(d, await t.checksIndex());
      flipTimes.push(performance.now() - t0);
      if (k % FLIP_INSTANCES === FLIP_INSTANCES - 1) status = status === 'critical' ? 'passing' : 'critical';
      await sleep(250);
    }
    await sleep(1000);
    const afterFlips = await t.reads();

    const regTimes: number[] = [];
    const extra: Inst = { node: 'extra-node', id: 'flip-extra', service: 'flip', port: 30100 };
    for (let k = 0; k < CHANGES; k++) {
      const t0 = performance.now();
      if (k % 2 === 0) await t.register(extra); else await t.deregister(extra);
      await waitApplied(d, await t.checksIndex());
      regTimes.push(performance.now() - t0);
      await sleep(250);
    }
    await sleep(2500); // past the settle window: a full re-read would be counted
    const afterRegs = await t.reads();

    const weightTimes: number[] = [];
    for (let k = 0; k < CHANGES; k++) {
      const inst = flips[k % FLIP_INSTANCES]!;
      const t0 = performance.now();
      await t.reweight(inst, 2 + (k % 5));
      await waitApplied(d, await t.checksIndex());
      weightTimes.push(performance.now() - t0);
      await sleep(250);
    }
    await sleep(1000);
    const afterWeights = await t.reads();
    flipTimes.sort((a, b) => a - b);
    regTimes.sort((a, b) => a - b);
    weightTimes.sort((a, b) => a - b);
    return {
      target: t.name, services,
      startReads: afterStart.total - before.total, startHealthReads: afterStart.healthService - before.healthService,
      idleReads: afterIdle.total - afterStart.total, idleSeconds,
      firstConfigMs,
      flipReads: (afterFlips.total - afterIdle.total) / CHANGES, flipP50: percentile(flipTimes, 50), flipP99: percentile(flipTimes, 99),
      regReads: (afterRegs.total - afterFlips.total) / CHANGES, regP50: percentile(regTimes, 50), regP99: percentile(regTimes, 99),
      weightReads: (afterWeights.total - afterRegs.total) / CHANGES, weightDumps: (afterWeights.nodeDump - afterRegs.nodeDump) / CHANGES,
      weightP50: percentile(weightTimes, 50), weightP99: percentile(weightTimes, 99),
    };
  } finally {
    await d?.stop();
    await t.stop();
    await cleanup();
  }
}

const rows: Row[] = [];
for (const services of [100, 1000]) {
  for (const make of [realTarget, simTarget]) {
    const row = await measure(make, services);
    rows.push(row);
    console.error(JSON.stringify(row));
  }
}

const ms = (x: number) => (x >= 1000 ? `${(x / 1000).toFixed(2)} s` : `${x.toFixed(0)} ms`);
console.log(`Machine: ${os.cpus().length} vCPU (${os.cpus()[0]?.model.trim()}), ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}; ${CHANGES} changes of each kind`);
console.log('');
console.log('| services | Consul | reads at start (health/service) | reads while idle (10 s) | time to first config | reads per flip | flip → HAProxy p50 / p99 | reads per (de)registration | (de)registration → HAProxy p50 / p99 | reads per weight change (dumps) | weight → HAProxy p50 / p99 |');
console.log('|---|---|---|---|---|---|---|---|---|---|---|');
for (const r of rows) {
  console.log(`| ${r.services} | ${r.target} | ${r.startReads} (${r.startHealthReads}) | ${r.idleReads} | ${ms(r.firstConfigMs)} | ${r.flipReads.toFixed(2)} | ${ms(r.flipP50)} / ${ms(r.flipP99)} | ${r.regReads.toFixed(2)} | ${ms(r.regP50)} / ${ms(r.regP99)} | ${r.weightReads.toFixed(2)} (${r.weightDumps.toFixed(2)}) | ${ms(r.weightP50)} / ${ms(r.weightP99)} |`);
}
