// Stall hunt: the Consul source against the simulator under the soak's churn, with the soak's faults
// (the simulator stopped and restarted on the same port), so both sides can be inspected when they
// disagree. Churn runs in bursts; after each burst the catalog stands still and the source must
// reach it (same services, instances, weights and check states) within --check-s. Two findings:
// - STALL: a long-poll open below its table's current index (the simulator up all along) for more
//   than 5 s, during churn or after it (the soak's symptom): both sides are dumped, exit 1;
// - model miss: long-polls at the current indexes but a snapshot that differs from the catalog
//   (logged with the difference; with HUNT_DUMP_MISSES=1 dumped in full).
//   node --import tsx bench/lib/stall-hunt.ts --minutes 10 --rate 8 [--seed 11] [--check-s 40]
//     [--child] [--block-ms 150] [--sim-block-ms 100] [--wait 5m]
// --child runs the source in a child process (its own event loop, as hapilot under the soak), and
// --block-ms blocks the source's event loop for up to that long every ~half second (rendering,
// validation, reloads); --sim-block-ms does the same to the simulator's (the soak's load generator
// shares its process). HUNT_LOG=debug shows the source's log lines.
// What it found (2026-11-23): no stall in ~60 source-minutes (the soak's "stall" was its own
// comparison: servers kept in rotation by the depool threshold counted as extra); model misses of
// weight changes coalesced with another services-table write, and once a check flip.
import { setTimeout as sleep } from 'node:timers/promises';
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { ConsulSim } from '../../test/sim/consul-sim.js';
import { createConsulClient, type ConsulApi, type QueryOptions, type QueryResult } from '../../src/consul/client.js';
import { loadConsulConfig } from '../../src/consul/config.js';
import { ConsulSource } from '../../src/catalog/consul-source.js';
import { createLogger } from '../../src/log.js';
import type { CatalogSnapshot } from '../../src/catalog/source.js';
import type { HealthEntry } from '../../src/consul/schemas.js';
import { BackendSet } from './soak-backends.js';
import { Churn } from './soak-churn.js';
import { arg } from './args.js';

const minutes = Number(arg('minutes', '10'));
const rate = Number(arg('rate', '8'));
const seed = Number(arg('seed', '11'));
const checkS = Number(arg('check-s', '40'));
const wait = arg('wait', '5m');
const inChild = process.argv.includes('--child');
const blockMs = Number(arg('block-ms', '0'));
const simBlockMs = Number(arg('sim-block-ms', '0'));
const t0 = Date.now();
const say = (m: string) => process.stderr.write(`[hunt ${((Date.now() - t0) / 1000).toFixed(1)} s] ${m}\n`);

interface Call { id: number; endpoint: string; index: number | undefined; started: number }
interface Ended extends Call { ended: number; outcome: string; answered?: number }
const inFlight = new Map<number, Call>();
const recent: Ended[] = [];
let callSeq = 0;

/** The client, with every call recorded (endpoint, index asked, start, end, index answered). */
function traced(c: ConsulApi): ConsulApi {
  const wrap = <R extends QueryResult<unknown>>(endpoint: string, opts: QueryOptions | undefined, run: (o: QueryOptions) => Promise<R>): Promise<R> => {
    const call: Call = { id: ++callSeq, endpoint, index: opts?.index, started: Date.now() };
    inFlight.set(call.id, call);
    const end = (outcome: string, answered?: number) => {
      inFlight.delete(call.id);
      recent.push({ ...call, ended: Date.now(), outcome, ...(answered !== undefined ? { answered } : {}) });
      if (recent.length > 400) recent.shift();
    };
    return run(opts ?? {}).then((r) => { end('ok', r.index); return r; }, (err: unknown) => { end(`error ${(err as Error).message}`); throw err; });
  };
  return {
    address: c.address,
    catalogServices: (o) => wrap('/v1/catalog/services', o, (x) => c.catalogServices(x)),
    healthService: (s, o) => wrap(`/v1/health/service/${s}`, o, (x) => c.healthService(s, x)),
    healthState: (s, o) => wrap(`/v1/health/state/${s}`, o, (x) => c.healthState(s, x)),
    healthStateBytes: (s, o) => wrap(`/v1/health/state/${s}`, o, (x) => c.healthStateBytes(s, x)),
    healthNode: (n, o) => wrap(`/v1/health/node/${n}`, o, (x) => c.healthNode(n, x)),
    ...(c.nodeDumpBytes && { nodeDumpBytes: (o) => wrap('/v1/internal/ui/nodes', o, (x) => c.nodeDumpBytes!.call(c, x)) }),
    close: () => c.close(),
  };
}

interface FollowerState {
  entries: readonly HealthEntry[];
  health: ReturnType<ConsulSource['health']>;
  snapshots: number;
  last: { index: number; cause: string } | undefined;
  inFlight: Call[];
  recent: Ended[];
}
interface Follower { state: () => Promise<FollowerState>; stop: () => Promise<void> }

/** The source in this process, with a traced client (and, with --block-ms, a busy event loop). */
function followHere(url: string): Follower {
  const log = createLogger({ level: (process.env.HUNT_LOG as 'debug' | undefined) ?? 'warn', destination: 2, pretty: false });
  const consul = traced(createConsulClient(loadConsulConfig({ flagUrl: url, env: {} })));
  let last: CatalogSnapshot | undefined;
  let snapshots = 0;
  const source = new ConsulSource({ consul, log, wait });
  source.start((s) => { last = s; snapshots++; });
  const blocker = blockMs > 0 ? setInterval(() => {
    const until = Date.now() + Math.random() * blockMs;
    while (Date.now() < until) { /* a busy event loop */ }
  }, 300 + Math.random() * 400) : undefined;
  return {
    state: async () => ({
      entries: last?.entries ?? [], health: source.health(), snapshots, last: last && { index: last.index, cause: last.cause },
      inFlight: [...inFlight.values()], recent: [...recent],
    }),
    stop: async () => { if (blocker) clearInterval(blocker); await source.stop(); consul.close(); },
  };
}

/** The source in a child process, asked for its state over IPC. */
function followInChild(url: string): Follower {
  const child = fork(fileURLToPath(import.meta.url), ['--follower', url, '--wait', wait, '--block-ms', String(blockMs)], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  let seq = 0;
  const waiting = new Map<number, (s: FollowerState) => void>();
  child.on('message', (m: { id: number; state: FollowerState }) => { waiting.get(m.id)?.(m.state); waiting.delete(m.id); });
  return {
    state: () => new Promise((resolve) => { const id = ++seq; waiting.set(id, resolve); child.send({ id }); }),
    stop: async () => { child.kill('SIGTERM'); await new Promise((r) => child.once('exit', r)); },
  };
}

/** What a service looks like for the comparison: instance, address, weight and check states. */
function shape(entries: readonly HealthEntry[]): Map<string, string> {
  const out = new Map<string, string[]>();
  for (const e of entries) {
    const checks = (e.Checks ?? []).map((c) => `${c.CheckID}=${c.Status}`).sort().join(',');
    const line = `${e.Node.Node}/${e.Service.ID} ${e.Service.Address || e.Node.Address}:${e.Service.Port} w${e.Service.Weights?.Passing ?? 1} ${checks}`;
    const l = out.get(e.Service.Service);
    if (l) l.push(line); else out.set(e.Service.Service, [line]);
  }
  return new Map([...out].map(([k, v]) => [k, v.sort().join(' | ')]));
}

async function catalogNow(url: string): Promise<{ services: Map<string, string>; servicesIndex: number; checksIndex: number }> {
  const r = await fetch(`${url}/v1/catalog/services`);
  const servicesIndex = Number(r.headers.get('x-consul-index'));
  const names = Object.entries(await r.json() as Record<string, string[]>).filter(([, tags]) => tags.some((t) => t.startsWith('HAPROXY.'))).map(([n]) => n);
  const entries: HealthEntry[] = [];
  for (const n of names) entries.push(...await fetch(`${url}/v1/health/service/${n}`).then((x) => x.json() as Promise<HealthEntry[]>));
  const checksIndex = Number((await fetch(`${url}/v1/health/state/any`)).headers.get('x-consul-index'));
  return { services: shape(entries), servicesIndex, checksIndex };
}

/** Per service, the instance lines only the catalog has and only the source has. */
function diff(want: Map<string, string>, have: Map<string, string>): string[] {
  const out: string[] = [];
  const lines = (v: string | undefined) => new Set(v ? v.split(' | ') : []);
  for (const [k, v] of want) {
    if (have.get(k) === v) continue;
    const a = lines(v);
    const b = lines(have.get(k));
    out.push(`${k}: catalog only [${[...a].filter((x) => !b.has(x)).join(' | ')}] source only [${[...b].filter((x) => !a.has(x)).join(' | ')}]`);
  }
  for (const k of have.keys()) if (!want.has(k)) out.push(`${k}: only in the source`);
  return out;
}

const tableOf = (endpoint: string, s: { servicesIndex: number; checksIndex: number }) =>
  endpoint === '/v1/catalog/services' ? s.servicesIndex : endpoint === '/v1/health/state/any' ? s.checksIndex : undefined;

async function main(): Promise<void> {
  const sim = new ConsulSim();
  const backends = new BackendSet();
  await sim.start();
  const bg = await Promise.all(Array.from({ length: 6 }, (_, i) => backends.start('bg-farm', `l${i}`)));
  const churn = new Churn({ sim, backends, seed, loadedServices: ['web-a', 'web-b', 'web-c', 'web-d'], bgPorts: bg.map((b) => b.port), drainMs: 45_000 });
  await churn.init();
  for (let i = 0; i < 10; i++) await churn.step();
  const follower = inChild ? followInChild(sim.url) : followHere(sim.url);
  const simBlocker = simBlockMs > 0 ? setInterval(() => {
    const until = Date.now() + Math.random() * simBlockMs;
    while (Date.now() < until) { /* a busy event loop */ }
  }, 200 + Math.random() * 300) : undefined;
  say(`source ${inChild ? 'in a child process' : 'in this process'}${blockMs ? `, its event loop blocked up to ${blockMs} ms at a time` : ''}; wait ${wait}; ${rate} changes/s`);

  let simDown = false;
  let lastRestart = 0;
  let stopAt = Date.now() + 20_000 + Math.random() * 20_000;
  let changes = 0;
  let rounds = 0;
  let misses = 0;
  let lastMiss = '';
  let stall: string | undefined;
  const end = t0 + minutes * 60_000;
  const dump = async (extra: Record<string, unknown>) => {
    const fs = await follower.state();
    const now = Date.now();
    const snap = sim.saveSnapshot();
    console.log(JSON.stringify({
      reproducedAfterS: Math.round((now - t0) / 1000), changes, rounds, ...extra,
      sim: { servicesIndex: snap.servicesIndex, checksIndex: snap.checksIndex, openBlocking: sim.openBlocking, lastRequests: sim.requests.filter((r) => r.blocking || !r.path.startsWith('/v1/health/service/')).slice(-12) },
      source: { health: fs.health, snapshots: fs.snapshots, lastSnapshot: fs.last },
      inFlight: fs.inFlight.map((c) => ({ ...c, ageMs: now - c.started })),
      recentCalls: fs.recent.filter((c) => !c.endpoint.startsWith('/v1/health/service/')).slice(-12).map((c) => ({ ...c, tookMs: c.ended - c.started, endedAgoMs: now - c.ended })),
    }, null, 2));
  };

  // Watchdog, during churn too: a long-poll open for more than 5 s below its table's current index
  // (the simulator up all that time) was not answered when it should have been.
  let behindSince = new Map<number, number>();
  let watching = false;
  const watchdog = setInterval(() => {
    if (watching || stall) return;
    watching = true;
    void (async () => {
      const fs = await follower.state();
      if (simDown) { behindSince = new Map(); return; }
      const snap = sim.saveSnapshot();
      const next = new Map<number, number>();
      for (const c of fs.inFlight) {
        const table = tableOf(c.endpoint, snap);
        if (table === undefined || !c.index || table <= c.index) continue;
        const since = behindSince.get(c.id) ?? Date.now();
        next.set(c.id, since);
        if (Date.now() - since > 5000 && !stall) {
          stall = `${c.endpoint} asked index ${c.index} ${Date.now() - c.started} ms ago; its table is at ${table} since ${Date.now() - since} ms or more; the simulator holds ${sim.openBlocking} blocking queries`;
          say(`STALL: ${stall}`);
          await dump({ stall });
        }
      }
      behindSince = next;
    })().finally(() => { watching = false; });
  }, 1000);

  try {
    while (Date.now() < end && !stall) {
      // A burst of churn (sometimes with the simulator stopped for a while in the middle of it).
      const burstEnd = Date.now() + 3_000 + Math.random() * 15_000;
      let due = Date.now();
      while (Date.now() < burstEnd && !stall) {
        due += 1000 / rate;
        const w = due - Date.now();
        if (w > 0) await sleep(w); else due = Date.now();
        await churn.step();
        changes++;
        if (!simDown && Date.now() >= stopAt) {
          simDown = true;
          const downMs = 2_000 + Math.random() * 10_000;
          say(`simulator stopped for ${(downMs / 1000).toFixed(1)} s`);
          await sim.stop();
          setTimeout(() => {
            void sim.restart().then(() => { simDown = false; lastRestart = Date.now(); stopAt = Date.now() + 15_000 + Math.random() * 30_000; say('simulator restarted'); });
          }, downMs);
        }
      }
      while (simDown) await sleep(200);
      rounds++;
      // Still: the source must reach the catalog. After an outage its retries back off up to 30 s
      // (the long-polls, then the service reads): that much more is allowed.
      const quietFrom = Date.now();
      const windowMs = (checkS + (Date.now() - lastRestart < 60_000 ? 60 : 0)) * 1000;
      let d: string[] = [];
      while (Date.now() - quietFrom < windowMs && !stall) {
        await sleep(250);
        const cat = await catalogNow(sim.url);
        d = diff(cat.services, shape((await follower.state()).entries));
        if (d.length === 0) break;
      }
      if (stall) break;
      if (d.length === 0) {
        const fs = await follower.state();
        if (rounds % 10 === 0) say(`round ${rounds}: ${changes} changes, ${fs.snapshots} snapshots; in step after ${Date.now() - quietFrom} ms (index ${fs.health.index}); model misses so far ${misses}`);
        lastMiss = '';
        continue;
      }
      misses++;
      const key = d.join('\n');
      if (key !== lastMiss) {
        say(`model miss #${misses} (long-polls at the current indexes, the snapshot differs ${windowMs / 1000} s after the churn stopped): ${d.length} services, e.g. ${d[0]!.slice(0, 600)}`);
        if (process.env.HUNT_DUMP_MISSES) await dump({ modelMiss: d.slice(0, 10) });
      }
      lastMiss = key;
    }
    if (!stall) say(`no stall (model misses ${misses}): ${rounds} rounds, ${changes} changes in ${minutes} min`);
  } finally {
    clearInterval(watchdog);
    if (simBlocker) clearInterval(simBlocker);
    await follower.stop();
    churn.stop();
    await backends.closeAll();
    await sim.stop();
  }
  process.exit(stall ? 1 : 0);
}

if (process.argv.includes('--follower')) {
  const f = followHere(arg('follower', ''));
  process.on('message', (m: { id: number }) => { void f.state().then((state) => process.send?.({ id: m.id, state })); });
  process.on('SIGTERM', () => { void f.stop().then(() => process.exit(0)); });
  process.on('disconnect', () => process.exit(0)); // the hunt is gone
} else {
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(2);
  });
}
