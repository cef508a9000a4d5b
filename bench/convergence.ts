// npm run bench:convergence — how fast a catalog change reaches traffic. 1,000 services in the Consul
// simulator, `hapilot run`'s daemon (defaults: --wait 1s:5s, --min-reload-interval 2s) in front of a
// real HAProxy, and backends that answer their own name (one HAProxy farm, a frontend per instance).
// Each change is timed from the Consul write to the first request HAProxy routes accordingly (for a
// weight: to `show stat`):
// - server-only: 100 each of instance added, instance removed, health passing → critical, weight changed
//   (re-registered with another weight, same tags and check);
// - structural: 50 new services, each registered at least --min-reload-interval after the previous
//   reload (the interval is a deliberate rate limit; the target is the --wait minimum plus 1 s);
// - a churn trace of 500 changes (instance churn and health flips, some new services): the share
//   applied without a reload, and the reloads against consul-template's one reload per change that
//   passes its wait.
// The instances are spread over about 250 nodes (the fillers ~9 per node, the weight-changed ones 5
// per node); those of the added/removed/flipped services share 3 nodes (node0..node2).
// Options: --per-kind N (100), --structural N (50), --churn N (500), --poll-ms N (2; 0: back to back),
// --same-thread (the daemon on the probes' thread, as before 2026-11-23 16:00), --json.
// HAPILOT_BENCH_LOG=debug logs the daemon; HAPILOT_BENCH_TRACE=1 adds one line per measured change
// (write time, latency) and per Consul request (start, answer parsed), to see where the time goes.
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { execa, type ResultPromise } from 'execa';
import type { SimService } from '../test/sim/consul-sim.js';
import { RemoteSim } from './lib/remote-sim.js';
import { startBenchDaemon, type BenchDaemon } from './lib/daemon-thread.js';
import { fireAt } from '../src/daemon/debounce.js';
import { socketCommand } from '../src/haproxy/socket.js';
import { percentile } from './lib/loadgen.js';
import { arg } from './lib/args.js';

const PER_KIND = Number(arg('per-kind', '100'));
const STRUCTURAL = Number(arg('structural', '50'));
const CHURN = Number(arg('churn', '500'));
/** The daemon on the probes' thread (as before 2026-11-23 16:00), instead of a thread of its own. */
const SAME_THREAD = process.argv.includes('--same-thread');
/** Milliseconds between two polls of a measured change (0: back to back). */
const POLL_MS = Number(arg('poll-ms', '2'));
const SERVICES = 1000;
const WAIT = { minMs: 1000, maxMs: 5000, minIntervalMs: 2000 };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const pad = (n: number) => String(n).padStart(3, '0');

/** GET / through HAProxy with this Host header, on a new connection: the backend's name, or the status. */
function probe(port: number, host: string): Promise<string> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/', headers: { host }, agent: false, timeout: 2000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => { body += c; });
      res.on('end', () => resolve(res.statusCode === 200 ? body.trim() : String(res.statusCode)));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (err) => resolve(`error ${err.message}`));
  });
}

/** Milliseconds from `t0` until `done()` holds (polled back to back), or Infinity after `timeoutMs`. */
async function timeUntil(t0: number, done: () => Promise<boolean>, timeoutMs = 30_000): Promise<number> {
  for (;;) {
    if (await done()) {
      if (process.env.HAPILOT_BENCH_TRACE) process.stderr.write(`${JSON.stringify({ trace: true, writeAt: Date.now() - (performance.now() - t0), ms: performance.now() - t0 })}\n`);
      return performance.now() - t0;
    }
    if (performance.now() - t0 > timeoutMs) return Infinity;
    // Between polls: let I/O run (Consul, the daemon), and with --poll-ms, pause (polling back to
    // back loads the very cores and HAProxy processes the measured path runs on).
    await new Promise((r) => (POLL_MS > 0 ? setTimeout(r, POLL_MS) : setImmediate(r)));
  }
}

/**
 * `n` ports that are free now, below the ephemeral range (32768+), so that no outgoing connection
 * (HAProxy's checks, the clients) takes one before the farm binds it.
 */
async function listenablePorts(n: number, from = 21000): Promise<number[]> {
  const out: number[] = [];
  for (let port = from; out.length < n && port < 32768; port++) {
    const free = await new Promise<boolean>((resolve) => {
      const srv = net.createServer();
      srv.once('error', () => resolve(false));
      srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
    });
    if (free) out.push(port);
  }
  if (out.length < n) throw new Error(`only ${out.length} free ports below 32768`);
  return out;
}

interface Instance { node: string; id: string; service: string; port: number; name: string }

async function main(): Promise<void> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'hapilot-bench-convergence-'));
  // Instances: per service kind, and spares for additions, new services and churn.
  const kinds = { add: PER_KIND, rm: PER_KIND, hl: PER_KIND, wt: PER_KIND };
  const filler = SERVICES - Object.values(kinds).reduce((a, b) => a + b, 0);
  // add: 2 per service, rm and hl: 2, wt: 1, fillers: 2; new services; churn: a spare and a new service each; HAProxy's 2.
  const nPorts = 2 * kinds.add + 4 * PER_KIND + kinds.wt + 2 * filler + STRUCTURAL + 2 * CHURN + 2;
  const ports = await listenablePorts(nPorts);
  let next = 0;
  const take = (service: string, node: string, id: string): Instance => ({ node, id, service, port: ports[next++]!, name: `${service}/${id}` });
  const farmInstances: Instance[] = [];
  const sim = await RemoteSim.start();
  const tags = (extra: string[] = []) => ['HAPROXY.ENABLE=true', ...extra];
  const setup: Array<Promise<void>> = [];
  const register = (i: Instance, status: 'passing' | 'critical' = 'passing', o: Partial<SimService> = {}) =>
    sim.register({ node: { Node: i.node, Address: '127.0.0.1' }, service: { ID: i.id, Service: i.service, Tags: tags(o.Tags), Port: i.port, ...(o.Weights ? { Weights: o.Weights } : {}) }, status });
  const FIRST = ['HAPROXY.BACKEND.BALANCE=first'];

  // add-NNN: one critical instance (a backend without servers, 503); the measured change adds a passing one.
  // rm-NNN / hl-NNN (balance first): instance "a" on node0 takes all traffic while it is there; "b" stays.
  // wt-NNN: one instance; its weight changes. svc-NNN: the rest of the 1,000.
  const addNew: Instance[] = [];
  for (let k = 0; k < kinds.add; k++) {
    const s = `add-${pad(k)}`;
    const placeholder = take(s, 'node1', `${s}-x`);
    setup.push(register(placeholder, 'critical'));
    addNew.push(take(s, 'node2', `${s}-new`));
  }
  const rmA: Instance[] = [];
  const hlA: Instance[] = [];
  for (const [prefix, list] of [['rm', rmA], ['hl', hlA]] as const) {
    for (let k = 0; k < PER_KIND; k++) {
      const s = `${prefix}-${pad(k)}`;
      const a = take(s, 'node0', `${s}-a`);
      const b = take(s, 'node1', `${s}-b`);
      setup.push(register(a, 'passing', { Tags: FIRST }), register(b, 'passing', { Tags: FIRST }));
      list.push(a);
      farmInstances.push(b);
    }
  }
  const wt: Instance[] = [];
  for (let k = 0; k < kinds.wt; k++) {
    const i = take(`wt-${pad(k)}`, `wt-node${k % 20}`, `wt-${pad(k)}-a`);
    setup.push(register(i));
    wt.push(i);
  }
  // Fillers have two instances, so a health flip of one never empties a backend (the guard would hold it).
  const fill: Instance[] = [];
  for (let k = 0; k < filler; k++) {
    // Spread over 200 nodes (about 9 instances each), as in a datacenter, not all on one or two.
    const a = take(`svc-${pad(k)}`, `fill-a${k % 100}`, `svc-${pad(k)}-a`);
    const b = take(`svc-${pad(k)}`, `fill-b${k % 100}`, `svc-${pad(k)}-b`);
    setup.push(register(a), register(b));
    fill.push(a);
    farmInstances.push(b);
  }
  await Promise.all(setup);
  const newServices = Array.from({ length: STRUCTURAL }, (_, k) => take(`new-${pad(k)}`, 'node1', `new-${pad(k)}-a`));
  const churnSpares = Array.from({ length: CHURN }, (_, k) => take(`svc-${pad(k % filler)}`, `node${3 + k}`, `churn-${k}`));
  const churnNew = Array.from({ length: CHURN }, (_, k) => take(`churn-new-${pad(k)}`, 'node1', `churn-new-${pad(k)}-a`));
  farmInstances.push(...rmA, ...hlA, ...wt, ...fill, ...addNew, ...newServices, ...churnSpares, ...churnNew);

  // The backend farm: one HAProxy, a frontend per instance port answering the instance's name.
  const farmCfg = path.join(dir, 'farm.cfg');
  const seen = new Set<number>();
  const farmLines = ['global', '    maxconn 4000', 'defaults', '    mode http', '    timeout client 30s', '    timeout connect 5s', '    timeout server 30s'];
  for (const i of farmInstances) {
    if (seen.has(i.port)) continue;
    seen.add(i.port);
    farmLines.push(`frontend f${i.port}`, `    bind 127.0.0.1:${i.port}`, `    http-request return status 200 content-type text/plain string ${i.name}`);
  }
  await writeFile(farmCfg, `${farmLines.join('\n')}\n`);
  const farm: ResultPromise = execa('haproxy', ['-db', '-f', farmCfg], { reject: false, stdin: 'ignore', all: true });
  const farmUp = await timeUntil(performance.now(), async () => { await sleep(50); return (await probe(fill[0]!.port, 'x')) === fill[0]!.name; }, 20_000);
  if (farmUp === Infinity) throw new Error(`the backend farm did not start: ${farm.exitCode === null ? 'no answer' : String((await farm).all)}`);

  const [httpPort, statsPort] = [ports[nPorts - 2]!, ports[nPorts - 1]!];
  const runDir = path.join(dir, 'run');
  await mkdir(runDir, { recursive: true });
  const env = { HAPROXY_DOM: 'example.test', HAPROXY_HTTP_PORT: String(httpPort), HAPROXY_STATS_PORT: String(statsPort), HAPROXY_MAXCONN_GLOBAL: '4000', HAPROXY_MAXCONN: '4000', HAPROXY_HARD_STOP_AFTER: '10s' };
  const t0 = performance.now();
  const started = startBenchDaemon({
    consulUrl: sim.url, runDir, env, wait: WAIT, logLevel: process.env.HAPILOT_BENCH_LOG ?? 'silent', trace: Boolean(process.env.HAPILOT_BENCH_TRACE), sameThread: SAME_THREAD,
  });
  started.catch(() => undefined); // awaited below, inside the try that stops the farm and the simulator
  const daemon: BenchDaemon = {
    ready: async () => (await started).ready(), status: async () => (await started).status(), idle: async () => (await started).idle(),
    metric: async (name) => (await started).metric(name), stop: async () => (await started).stop(),
  };
  const statsSocket = path.join(runDir, 'haproxy.sock');
  const count = async (action: string) => {
    const text = await daemon.metric('hapilot_reloads_total');
    return [...text.matchAll(/^hapilot_reloads_total\{([^}]*)\} (\d+)$/gm)].filter((m) => m[1]?.includes(`action="${action}"`) && m[1].includes('result="success"')).reduce((n, m) => n + Number(m[2]), 0);
  };
  const failures = async () => [...(await daemon.metric('hapilot_sync_failures_total')).matchAll(/ (\d+)$/gm)].reduce((n, m) => n + Number(m[1]), 0);
  try {
    await timeUntil(t0, async () => { await sleep(50); return (await daemon.ready()).ready; }, 120_000);
    // Every server checked up once (the first checks of 1,000 backends).
    await timeUntil(performance.now(), async () => (await probe(httpPort, `wt-${pad(kinds.wt - 1)}.example.test`)) !== '503', 60_000);
    process.stderr.write(`ready in ${Math.round(performance.now() - t0)} ms; measuring\n`);
    const host = (s: string) => `${s}.example.test`;
    const results: Record<string, number[]> = { 'instance added': [], 'instance removed': [], 'health passing → critical': [], 'weight changed': [], 'new service (structural)': [] };
    const gap = () => sleep(30);

    for (let k = 0; k < kinds.add; k++) {
      const i = addNew[k]!;
      const t = performance.now();
      register(i);
      results['instance added']!.push(await timeUntil(t, async () => (await probe(httpPort, host(i.service))) === i.name));
      await gap();
    }
    for (let k = 0; k < PER_KIND; k++) {
      const a = rmA[k]!;
      const before = await probe(httpPort, host(a.service));
      if (before !== a.name) throw new Error(`${a.service}: "a" does not take the traffic before the change (${before})`);
      const t = performance.now();
      sim.deregister(a.node, a.id);
      results['instance removed']!.push(await timeUntil(t, async () => (await probe(httpPort, host(a.service))) === `${a.service}/${a.service}-b`));
      await gap();
    }
    for (let k = 0; k < PER_KIND; k++) {
      const a = hlA[k]!;
      const t = performance.now();
      sim.setStatus(a.node, a.id, 'critical');
      results['health passing → critical']!.push(await timeUntil(t, async () => (await probe(httpPort, host(a.service))) === `${a.service}/${a.service}-b`));
      await gap();
    }
    for (let k = 0; k < kinds.wt; k++) {
      const i = wt[k]!;
      const t = performance.now();
      register(i, 'passing', { Weights: { Passing: 7, Warning: 1 } });
      results['weight changed']!.push(await timeUntil(t, async () => {
        const csv = await socketCommand(statsSocket, `show stat ${i.service} 4 -1`, 2000).catch(() => '');
        const [header, ...rows] = csv.replace(/^# /, '').trim().split('\n');
        const col = header?.split(',').indexOf('weight') ?? -1;
        return rows.some((r) => r.split(',')[col] === '7');
      }));
      await gap();
    }
    const reloadsBefore = await count('reload');
    // When HAProxy last loaded a config (the newest start or reload record).
    const lastReloadAt = async () => {
      const records = ((await daemon.status()) as { reloads: Array<{ at: string; action: string; ok: boolean }> }).reloads;
      const r = records.find((x) => x.ok && x.action !== 'runtime');
      return r ? Date.parse(r.at) : 0;
    };
    for (let k = 0; k < STRUCTURAL; k++) {
      // Each new service on its own, starting at least --min-reload-interval after the previous
      // reload: the interval is a deliberate rate limit, and the target is the wait (quiet) plus 1 s.
      await daemon.idle();
      await sleep(Math.max(0, (await lastReloadAt()) + WAIT.minIntervalMs + 100 - Date.now()));
      const i = newServices[k]!;
      const t = performance.now();
      register(i);
      results['new service (structural)']!.push(await timeUntil(t, async () => (await probe(httpPort, host(i.service))) === i.name));
    }
    const structuralReloads = (await count('reload')) - reloadsBefore;

    // The churn trace: changes at exponentially distributed intervals (mean 100 ms): instances joining
    // and leaving, health flips, and 4% new services.
    let seed = 42;
    const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const joined: Instance[] = [];
    const downs = new Set<Instance>();
    const times: number[] = [];
    let structural = 0;
    let nextNew = 0;
    let nextSpare = 0;
    const runtimeBefore = await count('runtime');
    const reloadsBeforeChurn = await count('reload');
    const failuresBefore = await failures();
    const churnStart = performance.now();
    for (let c = 0; c < CHURN; c++) {
      await sleep(-Math.log(1 - rand()) * 100);
      times.push(performance.now());
      const r = rand();
      if (r < 0.04) {
        register(churnNew[nextNew++]!);
        structural++;
      } else if (r < 0.5) {
        // Instance churn on the fillers: join (a new instance of svc-NNN), or leave.
        if (joined.length && rand() < 0.5) {
          const i = joined.splice(Math.floor(rand() * joined.length), 1)[0]!;
          sim.deregister(i.node, i.id);
          downs.delete(i);
        } else {
          const i = churnSpares[nextSpare++]!;
          register(i);
          joined.push(i);
        }
      } else {
        // Health flips of filler instances (the original ones: a backend never empties).
        const i = fill[Math.floor(rand() * fill.length)]!;
        const flip = [...downs].find((d) => d === i);
        if (flip) downs.delete(i);
        else downs.add(i);
        sim.setStatus(i.node, i.id, flip ? 'passing' : 'critical');
      }
    }
    // Settle, then check the end state: HAProxy runs the catalog.
    await timeUntil(performance.now(), async () => ((await daemon.status()) as { convergence: { inStep: boolean } }).convergence.inStep, 30_000);
    await daemon.idle();
    const churnS = (performance.now() - churnStart) / 1000;
    const hapilotReloads = (await count('reload')) - reloadsBeforeChurn;
    const runtimeApplies = (await count('runtime')) - runtimeBefore;
    const runtimeFailures = (await failures()) - failuresBefore;
    // consul-template on the same trace: one reload per change that passes its wait.
    const ctReloads = (minMs: number, maxMs: number) => {
      let n = 0;
      let burstStart: number | undefined;
      let last = 0;
      for (const t of times) {
        if (burstStart !== undefined && t >= fireAt({ burstStartMs: burstStart, lastChangeMs: last, lastReloadMs: undefined, o: { minMs, maxMs, minIntervalMs: 0 } })) {
          n++;
          burstStart = undefined;
        }
        burstStart ??= t;
        last = t;
      }
      return n + (burstStart !== undefined ? 1 : 0);
    };
    const reloadFree = (CHURN - structural - runtimeFailures) / CHURN;

    const summary = Object.entries(results).map(([kind, ms]) => {
      const sorted = [...ms].sort((a, b) => a - b);
      return { kind, n: ms.length, p50: Math.round(percentile(sorted, 50)), p99: Math.round(percentile(sorted, 99)), max: Math.round(sorted[sorted.length - 1] ?? NaN) };
    });
    console.log('| change | n | p50 ms | p99 ms | max ms |');
    console.log('|---|---|---|---|---|');
    for (const s of summary) console.log(`| ${s.kind} | ${s.n} | ${s.p50} | ${s.p99} | ${s.max} |`);
    console.log(`\nstructural: ${structuralReloads} reloads for ${STRUCTURAL} new services`);
    console.log(`churn trace: ${CHURN} changes over ${churnS.toFixed(1)} s (${structural} new services, the rest instance churn and health flips)`);
    console.log(`  hapilot: ${runtimeApplies} Runtime API applies, ${hapilotReloads} reloads, ${runtimeFailures} failed syncs; applied without a reload: ${(reloadFree * 100).toFixed(1)}% of the changes`);
    console.log(`  consul-template, same trace: ${ctReloads(0, 0)} reloads with no wait (its default), ${ctReloads(WAIT.minMs, WAIT.maxMs)} with wait 1s:5s`);
    if (process.argv.includes('--json')) console.log(JSON.stringify({ summary, structuralReloads, churn: { changes: CHURN, structural, seconds: churnS, hapilotReloads, runtimeApplies, runtimeFailures, reloadFree, consulTemplate: { noWait: ctReloads(0, 0), wait1s5s: ctReloads(WAIT.minMs, WAIT.maxMs) } } }));
  } finally {
    await daemon.stop().catch(() => undefined);
    await sim.stop();
    farm.kill('SIGTERM');
    await farm.catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  }
}

main().then(() => process.exit(0), (err: unknown) => {
  process.stderr.write(`bench:convergence failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
