// `npm run bench:scale`: hapilot at 100 to 10,000 services (10 instances each), served by the
// indexed Consul simulator (bench/lib/scale-sim.ts, in its own process, counting requests, bytes
// and connections), with the real daemon (`node dist/src/cli/main.js run`) and a real HAProxy.
// Per size:
// - the CLI render of the catalog from a file (`hapilot render --catalog`, wall time and max RSS)
//   and `haproxy -c` on the result, with the built-in templates (health checks) and without checks;
// - HAProxy alone on that config (bench/lib/scale-haproxy.ts): its own start and reload times and
//   worker RSS, the floor under a first config and a structural change;
// - in-process, the full model + render, and the incremental path (src/model/incremental.ts +
//   src/config/incremental-render.ts) for one instance change;
// - the floor of any design that reads the whole checks list on each change: the CPU to receive it
//   over HTTP and drop it, and JSON.parse of the
//   simulator's /v1/health/state/any answer at this size;
// - the daemon: time from starting hapilot to HAProxy serving the last service, Consul requests and
//   bytes during it, hapilot's peak RSS (VmHWM); idle CPU and requests over 10 s; server-only changes
//   (a new instance of an existing service: Runtime API) and structural ones (a new service: reload):
//   convergence from the Consul write to the first request HAProxy routes to the new instance, Consul
//   requests and bytes, hapilot CPU, per change; RSS at rest after startup, sampled every second
//   of the quiet after the first config (--rest-seconds): an idle daemon allocates nothing, and what
//   startup left is let go by V8's memory reducer, on its own schedule; after the changes, the
//   status server asked as operators do (`/ready` by keepalived, `/metrics` by Prometheus, `/status`
//   of one backend by `pool --wait`, the whole `/status` and the page by a person): wall time,
//   hapilot CPU and bytes per request, and the slowest `/healthz` asked beside it every 20 ms (how
//   long the daemon's event loop was held), 3 of each;
// - Consul's own part of a change: from a write to the first and the last byte of the held
//   `/v1/health/state/any` long-poll's answer, the floor under any design that reads the whole list;
// - consul-template's design on the same catalog: one blocking query per service (connections held,
//   requests and bytes for one change), against the same simulator.
// Then requests/s and HAProxy CPU per request through the shared HTTP frontend with 10 and with
// 10,000 HTTP services (host map), alternating A/B/A/B. The report ends with a line per growing
// figure through the sizes, and extrapolates what cannot run here (bench/lib/scale-report.ts).
//
// Every instance has its own address in 127.0.0.0/8 and one port: one backend server bound to
// 0.0.0.0 answers for all of them with the address it was reached at, so a response names the
// instance that served it. With health checks, more than ~12,000 servers need more descriptors than
// the hard limit here (20,000; see README "File descriptors"): the daemon runs those sizes with a
// template set without `check` (HAPILOT_FD_LIMIT and a small maxconn), and says so. Everything the
// run starts is ended and its temp dirs removed, also on Ctrl-C (bench/lib/scale-procs.ts).
//
// `--consul real`: the same run against a real Consul 1.16.6 agent (bench/lib/scale-real-consul.ts)
// instead of the simulator, its catalog spread over 1,000 nodes (`--nodes`; a real agent takes
// minutes to fill 10 nodes of 10,000 instances each); no consul-template comparison (10,000
// connections from one address are past a real agent's limit), bytes not counted.
//
// Usage: npm run bench:scale [-- --sizes 100,1000,2000,5000,10000 --changes 50 --structural 50
//   --changes-large 50 --structural-large 20 --phase-seconds-large 120 --curve-sizes 500,1500
//   --reloads 5 --idle-seconds 10 --rest-seconds 40 --skip rps,consul-template --json out.json
//   --consul sim|real --nodes 10];
//   *-large apply to the sizes run without checks.
import { spawn, type ChildProcess } from 'node:child_process';
import { setMaxListeners } from 'node:events';
import { cp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { parseArgs } from 'node:util';
import { execa } from 'execa';
import Handlebars from 'handlebars';
import type { HealthEntry } from '../src/consul/schemas.js';
import { buildModel } from '../src/model/model.js';
import { IncrementalModel } from '../src/model/incremental.js';
import { IncrementalRenderer } from '../src/config/incremental-render.js';
import { render, renderView } from '../src/config/render.js';
import { planRuntime } from '../src/haproxy/runtime-api.js';
import { RawHttp } from '../src/consul/raw-get.js';
import { BUILTIN_TEMPLATES_DIR, loadTemplates } from '../src/config/templates.js';
import { loadSettings } from '../src/settings.js';
import { runLoad } from './lib/loadgen.js';
import type { Counters } from './lib/scale-sim.js';
import { haproxyAlone } from './lib/scale-haproxy.js';
import { endChild, RunResources } from './lib/scale-procs.js';
import { RealConsulCatalog, type Instance } from './lib/scale-real-consul.js';
import { CONSUL_VERSION } from '../test/helpers/real-consul.js';
import { report, type ChangeStats, type ConsulAnswer, type RpsRow, type SizeResult } from './lib/scale-report.js';

const { values: opts } = parseArgs({
  options: {
    sizes: { type: 'string', default: '100,1000,2000,5000,10000' },
    /** More points for the render and HAProxy curves only (CLI render, haproxy -c, HAProxy alone, in-process; no daemon). */
    'curve-sizes': { type: 'string', default: '' },
    instances: { type: 'string', default: '10' },
    changes: { type: 'string', default: '50' },
    structural: { type: 'string', default: '50' },
    /** Server-only changes for sizes run without checks (default: --changes). */
    'changes-large': { type: 'string' },
    /** Structural changes for sizes run without checks (each one a reload of ≥ 20,000 servers; default: --structural). */
    'structural-large': { type: 'string' },
    /** Time budget of each change phase (server-only, structural) of the sizes run without checks, in seconds: the phase ends at its count or when the budget is spent (0: no budget). */
    'phase-seconds-large': { type: 'string', default: '0' },
    /** How long one change may take to reach HAProxy before its phase is ended and reported. */
    'change-timeout': { type: 'string', default: '120' },
    /** Reloads of HAProxy alone per config. */
    reloads: { type: 'string', default: '5' },
    'idle-seconds': { type: 'string', default: '10' },
    /** The quiet after the first config over which RSS is sampled (0: no rest phase). */
    'rest-seconds': { type: 'string', default: '40' },
    'rps-seconds': { type: 'string', default: '8' },
    skip: { type: 'string', default: '' },
    json: { type: 'string' },
    /** Who serves the catalog: the simulator, or a real Consul agent. */
    consul: { type: 'string', default: 'sim' },
    /** Nodes the instances are spread over (default 10 with the simulator, 1,000 with a real agent). */
    nodes: { type: 'string' },
    /**
     * A pause of each of the 4 convergence pollers between its requests, in ms (0: back to back, as
     * every run before 2026-12-07 06:15: the pollers and HAProxy answering them then took CPU from
     * hapilot and `haproxy -c` on this 2-core machine, ~160 ms of a 10,000-service server-only p50
     * and ~600 ms of a structural one; docs/benchmarks.md).
     */
    'poll-gap-ms': { type: 'string', default: '2' },
  },
});
const SIZES = opts.sizes.split(',').map(Number);
const CURVE_SIZES = opts['curve-sizes'].split(',').filter(Boolean).map(Number);
const INSTANCES = Number(opts.instances);
const CHANGES = Number(opts.changes);
const STRUCTURAL = Number(opts.structural);
const CHANGES_LARGE = Number(opts['changes-large'] ?? opts.changes);
const STRUCTURAL_LARGE = Number(opts['structural-large'] ?? opts.structural);
const RELOADS = Number(opts.reloads);
const IDLE_S = Number(opts['idle-seconds']);
const REST_S = Number(opts['rest-seconds']);
const PHASE_S = Number(opts['phase-seconds-large']);
const CHANGE_TIMEOUT_S = Number(opts['change-timeout']);
const POLL_GAP_MS = Number(opts['poll-gap-ms']);
const SKIP = new Set(opts.skip.split(',').filter(Boolean));
if (opts.consul !== 'sim' && opts.consul !== 'real') {
  console.error(`bench:scale: --consul ${opts.consul}: expected sim or real`);
  process.exit(2);
}
const REAL = opts.consul === 'real';
const NODES = Number(opts.nodes ?? (REAL ? 1000 : 10));
/** Writes timed to the answer of the held checks long-poll (Consul's own part of a change). */
const WAKES = 12;
const KNOWN_SKIPS = ['cli', 'haproxy', 'inproc', 'daemon', 'server-only', 'structural', 'endpoints', 'consul-template', 'rps'];
for (const [name, v] of Object.entries({ sizes: SIZES, 'curve-sizes': CURVE_SIZES, instances: [INSTANCES], changes: [CHANGES], structural: [STRUCTURAL], 'changes-large': [CHANGES_LARGE], 'structural-large': [STRUCTURAL_LARGE], reloads: [RELOADS], nodes: [NODES], 'idle-seconds': [IDLE_S], 'rest-seconds': [REST_S], 'phase-seconds-large': [PHASE_S], 'change-timeout': [CHANGE_TIMEOUT_S], 'poll-gap-ms': [POLL_GAP_MS] })) {
  if (v.some((x) => !Number.isInteger(x) || x < (name === 'nodes' ? 1 : 0))) {
    console.error(`bench:scale: --${name} ${String(opts[name as keyof typeof opts])}: expected ${name === 'nodes' ? 'a positive integer' : 'non-negative integers'}`);
    process.exit(2);
  }
}
for (const s of SKIP) if (!KNOWN_SKIPS.includes(s)) {
  console.error(`bench:scale: --skip ${s}: expected some of ${KNOWN_SKIPS.join(',')}`);
  process.exit(2);
}
const ROOT = path.resolve(import.meta.dirname, '..');
// BENCH_CLI: another build of hapilot to compare (e.g. a tree with a proposed change).
const CLI = process.env.BENCH_CLI ?? path.join(ROOT, 'dist/src/cli/main.js');
const DOMAIN = 'bench.test';
/** Servers with checks that fit this machine's hard limit of 20,000 descriptors with room for connections. */
const MAX_CHECKED_SERVERS = 12_000;
const CHECK_TAGS = ['HAPROXY.ENABLE=true', 'HAPROXY.BACKEND.CHECK.INTER=30s'];
const NO_CHECK_TAGS = ['HAPROXY.ENABLE=true'];
/** The CLI renders (and HAProxy alone) with a global maxconn whose descriptors fit here next to 10,000 checked servers. */
const CLI_MAXCONN = { HAPROXY_MAXCONN_GLOBAL: '2000', HAPROXY_MAXCONN: '1000' };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const log = (...a: unknown[]) => console.error(new Date().toISOString().slice(11, 19), ...a);
const res = new RunResources();
/** This machine's hard open-files limit (per process). */
const FD_HARD = Number((await execa('sh', ['-c', 'ulimit -Hn'])).stdout.trim());

// ---- helpers -------------------------------------------------------------------------------------

const svcName = (s: number) => `svc${String(s).padStart(5, '0')}`;
const instAddr = (s: number, i: number) => `127.${1 + i}.${(s >> 8) & 255}.${s & 255}`;

function pct(values: number[], p: number): number {
  const s = [...values].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] as number : NaN;
}

/** utime + stime of a process, in ms (CLK_TCK 100). */
async function cpuMs(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) * 10;
}

async function vm(pid: number, field: 'VmHWM' | 'VmRSS'): Promise<number> {
  const s = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(new RegExp(`${field}:\\s+(\\d+)`).exec(s)?.[1] ?? NaN) / 1024;
}

/** Waits until the process has used no CPU for `quietMs` (its work for the last change is done). */
async function waitIdle(pid: number, quietMs = 400, timeoutMs = 120_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  let last = await cpuMs(pid);
  let quietSince = Date.now();
  while (Date.now() < until) {
    await sleep(100);
    const now = await cpuMs(pid);
    if (now > last) {
      last = now;
      quietSince = Date.now();
    } else if (Date.now() - quietSince >= quietMs) return;
  }
}

async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(Array.from({ length: n }, () => new Promise<http.Server>((resolve) => {
    const s = http.createServer();
    s.listen(0, '127.0.0.1', () => resolve(s));
  })));
  const ports = servers.map((s) => (s.address() as { port: number }).port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });

/** One request through HAProxy: the status and the instance address that answered. */
function through(port: number, host: string): Promise<{ status: number; addr: string }> {
  return new Promise((resolve) => {
    const req = http.request({ host: '127.0.0.1', port, path: '/', headers: { host }, agent, timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => { body += c; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, addr: res.statusCode === 200 ? body.trim() : '' }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve({ status: 0, addr: '' }));
    req.end();
  });
}

/**
 * Milliseconds from `since` until a request to `host` is answered by `addr` (4 pollers in flight,
 * each pausing --poll-gap-ms between its requests).
 */
async function until(port: number, host: string, addr: string, since: number, timeoutMs = 120_000): Promise<number> {
  let done = 0;
  const poll = async () => {
    while (!done && performance.now() - since < timeoutMs) {
      const r = await through(port, host);
      if (r.addr === addr && !done) done = performance.now();
      else if (POLL_GAP_MS > 0) await sleep(POLL_GAP_MS);
    }
  };
  await Promise.all([poll(), poll(), poll(), poll()]);
  if (!done) throw new Error(`${host} never reached ${addr} within ${timeoutMs} ms`);
  return done - since;
}

class Sim {
  constructor(readonly proc: ChildProcess, readonly url: string) {}

  /** `marker`: a temp dir of this run, on the command line so that the final sweep can find it. */
  static async start(marker: string): Promise<Sim> {
    const proc = res.child(spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'bench/lib/scale-sim-main.ts'), marker], { stdio: ['ignore', 'pipe', 'inherit'] }));
    const line = await new Promise<string>((resolve, reject) => {
      const rl = readline.createInterface({ input: proc.stdout as NodeJS.ReadableStream });
      rl.once('line', resolve);
      proc.once('exit', (c) => reject(new Error(`simulator exited with ${c}`)));
    });
    return new Sim(proc, (JSON.parse(line) as { url: string }).url);
  }

  async post(p: string, body: unknown): Promise<unknown> {
    const r = await fetch(`${this.url}${p}`, { method: 'POST', body: JSON.stringify(body) });
    return r.json();
  }

  register(instances: Instance[]) {
    return this.post('/bench/register', { instances });
  }

  counters(): Promise<Counters> {
    return this.post('/bench/counters', {}) as Promise<Counters>;
  }

  reset(): Promise<unknown> {
    return this.post('/bench/reset', {});
  }

  async body(p: string): Promise<string> {
    return (await fetch(`${this.url}${p}`)).text();
  }

  stop(): Promise<void> {
    return endChild(this.proc);
  }
}

/** What the daemon phase needs of whoever serves the catalog: the simulator or a real agent. */
type Catalog = Pick<Sim, 'url' | 'register' | 'counters' | 'reset' | 'body' | 'stop'>;

/**
 * CPU time of this process (all threads, user + system) to receive `url` and drop it, in ms, median
 * of `runs`: with Node's HTTP client (a buffer per socket read), and with hapilot's (consul/raw-get.ts:
 * one reused read buffer), alternating.
 */
async function receiveCpuMs(url: string, runs = 7): Promise<{ http: number; reused: number }> {
  const agent = new http.Agent({ keepAlive: true });
  const u = new URL(url);
  const raw = new RawHttp(u.hostname, Number(u.port));
  const t: number[] = [];
  const r: number[] = [];
  const cpu = async (fn: () => Promise<unknown>) => {
    const before = process.cpuUsage();
    await fn();
    const used = process.cpuUsage(before);
    return (used.user + used.system) / 1000;
  };
  try {
    for (let k = 0; k < runs; k++) {
      t.push(await cpu(() => new Promise<void>((resolve, reject) => {
        http.get(url, { agent }, (res) => {
          res.on('data', () => undefined);
          res.on('end', resolve);
          res.on('error', reject);
        }).on('error', reject);
      })));
      r.push(await cpu(() => raw.get(`${u.pathname}${u.search}`, { headers: {}, sink: { accept: () => undefined }, timeoutMs: 60_000 })));
    }
  } finally {
    agent.destroy();
    raw.close();
  }
  return { http: pct(t, 50), reused: pct(r, 50) };
}

/**
 * Consul's own part of a change, `count` times: a long-poll on `/v1/health/state/any` is held, an
 * instance is written (`write(k)`), and the time from the write to the answer's headers and to its
 * last byte is taken. Any design that reads the whole checks list waits at least that long.
 */
async function answerAfterWrite(url: string, write: (k: number) => Promise<unknown>, count: number): Promise<ConsulAnswer> {
  const headers: number[] = [];
  const complete: number[] = [];
  for (let k = 0; k < count; k++) {
    // The checks table's index, as hapilot's own probe reads it: one node's checks (no such node).
    const index = await new Promise<string>((resolve, reject) => {
      http.get(`${url}/v1/health/node/hapilot-bench-none`, (r) => { r.resume(); r.on('end', () => resolve(String(r.headers['x-consul-index'] ?? ''))); }).on('error', reject);
    });
    let since = 0;
    const answered = new Promise<void>((resolve, reject) => {
      http.get(`${url}/v1/health/state/any?index=${index}&wait=60s`, { agent: false }, (r) => {
        headers.push(performance.now() - since);
        r.on('data', () => undefined);
        r.on('end', () => { complete.push(performance.now() - since); resolve(); });
        r.on('error', reject);
      }).on('error', reject);
    });
    // Held before the write (an answer that came at once would time nothing).
    await sleep(300);
    since = performance.now();
    await write(k);
    await answered;
    if (headers[k] as number > 30_000) throw new Error(`the checks long-poll did not return after write ${k}`);
  }
  return { headersP50: pct(headers, 50), completeP50: pct(complete, 50), completeMax: Math.max(...complete), n: count };
}

const total = (r: Record<string, number>) => Object.values(r).reduce((a, b) => a + b, 0);

/** Instance `i` of service `s`, on node (s × instances + i) mod --nodes: node0 … node9 by default, one instance of each service on each. */
function instance(s: number, i: number, port: number, tags: string[], name = svcName(s), addr = instAddr(s, i), id = `${name}-${i}`): Instance {
  const k = (s * INSTANCES + i) % NODES;
  return { node: { Node: `node${k}`, Address: `10.0.${Math.floor(k / 250)}.${1 + (k % 250)}` }, service: { ID: id, Service: name, Tags: tags, Address: addr, Port: port } };
}

/** The same catalog as health entries (what the CLI reads from a file). */
function entriesFor(n: number, port: number, tags: string[]): HealthEntry[] {
  const out: HealthEntry[] = [];
  for (let s = 0; s < n; s++) for (let i = 0; i < INSTANCES; i++) {
    const { node, service } = instance(s, i, port, tags);
    out.push({
      Node: { ID: '', Node: node.Node, Address: node.Address, Datacenter: 'dc1' },
      Service: { ...service, Weights: { Passing: 1, Warning: 1 }, ModifyIndex: 10, CreateIndex: 10 },
      Checks: [
        { Node: node.Node, CheckID: 'serfHealth', Name: 'Serf Health Status', Status: 'passing', ServiceID: '', ServiceName: '' },
        { Node: node.Node, CheckID: `service:${service.ID}`, Name: 'check', Status: 'passing', ServiceID: service.ID, ServiceName: service.Service },
      ],
    } as HealthEntry);
  }
  return out;
}

/** The built-in templates without health checks (for sizes whose checks do not fit the descriptor limit). */
async function noCheckTemplates(dir: string): Promise<string> {
  const out = path.join(dir, 'templates-nocheck');
  await cp(BUILTIN_TEMPLATES_DIR, out, { recursive: true });
  const f = path.join(out, 'partials/backends.hbs');
  const text = await readFile(f, 'utf8');
  if (!text.includes('default-server check ')) throw new Error(`${f}: no "default-server check " to take out: the built-in templates changed`);
  await writeFile(f, text.replace('default-server check ', 'default-server '));
  return out;
}

/** `/usr/bin/time -f '%e %M'`: wall seconds and max RSS (MB) of a command. */
async function timed(cmd: string, args: string[], env: Record<string, string> = {}): Promise<{ s: number; mb: number; code: number; stderr: string }> {
  const r = await execa('/usr/bin/time', ['-f', 'TIME %e %M', cmd, ...args], { reject: false, env, extendEnv: true, stdin: 'ignore', stdout: 'ignore' });
  const m = /TIME ([\d.]+) (\d+)/.exec(r.stderr);
  return { s: Number(m?.[1] ?? NaN), mb: Number(m?.[2] ?? NaN) / 1024, code: r.exitCode ?? -1, stderr: r.stderr.slice(0, 400) };
}

/** Median wall time of `f` over `runs` runs, in ms. */
function medianMs(f: () => unknown, runs = 7): number {
  const t: number[] = [];
  for (let k = 0; k < runs; k++) {
    const s = performance.now();
    f();
    t.push(performance.now() - s);
  }
  return pct(t, 50);
}

type ChangeRow = { ms: number; requests: number; bytes: number; cpu: number; haproxyMs?: number | undefined };

function changeStats(rows: ChangeRow[], planned: number, failed: string | undefined): ChangeStats {
  const ms = rows.map((r) => r.ms);
  // Latency minus HAProxy's own reload in that same change, for the changes whose reload is known.
  const known = rows.filter((r) => r.haproxyMs !== undefined);
  const withoutReload = known.map((r) => r.ms - (r.haproxyMs as number));
  const reloads = known.length ? { n: known.length, haproxyP50: pct(known.map((r) => r.haproxyMs as number), 50), haproxyMax: Math.max(...known.map((r) => r.haproxyMs as number)), ownP50: pct(withoutReload, 50), ownP99: pct(withoutReload, 99) } : undefined;
  return {
    reloads,
    n: rows.length, planned, failed, timeoutMs: CHANGE_TIMEOUT_S * 1000, p50: pct(ms, 50), p99: pct(ms, 99), max: rows.length ? Math.max(...ms) : NaN,
    requestsP50: pct(rows.map((r) => r.requests), 50), bytesP50: pct(rows.map((r) => r.bytes), 50),
    cpuP50: pct(rows.map((r) => r.cpu), 50), cpuP99: pct(rows.map((r) => r.cpu), 99),
  };
}

// ---- one size ------------------------------------------------------------------------------------

interface Rendered { out: string; runDir: string; s: number; mb: number }

/** `hapilot render --catalog … --out …` as a user runs it, then `haproxy -c` on what it wrote. */
async function cliRender(o: { dir: string; name: string; entries: HealthEntry[]; templatesDir: string | undefined; ports: [number, number] }): Promise<Rendered & { checkS: number; checkMb: number; configMb: number }> {
  const catalogFile = path.join(o.dir, `${o.name}.json`);
  await writeFile(catalogFile, JSON.stringify(o.entries));
  const runDir = path.join(o.dir, `${o.name}-run`);
  await mkdir(runDir, { recursive: true });
  const out = path.join(o.dir, o.name, 'haproxy.cfg');
  await mkdir(path.dirname(out), { recursive: true });
  const env = { HAPROXY_DOM: DOMAIN, HAPILOT_LOG_LEVEL: 'error', ...CLI_MAXCONN, HAPROXY_HTTP_PORT: String(o.ports[0]), HAPROXY_STATS_PORT: String(o.ports[1]), HAPILOT_RUN_DIR: runDir };
  const r = await timed(process.execPath, [CLI, 'render', '--catalog', catalogFile, '--out', out, ...(o.templatesDir ? ['--templates', o.templatesDir] : [])], env);
  await rm(catalogFile);
  if (r.code !== 0) throw new Error(`hapilot render (${o.name}) failed: ${r.stderr}`);
  const c = await timed('haproxy', ['-c', '-q', '-f', out]);
  if (c.code !== 0) throw new Error(`haproxy -c (${o.name}) failed: ${c.stderr}`);
  return { out, runDir, s: r.s, mb: r.mb, checkS: c.s, checkMb: c.mb, configMb: (await readFile(out)).length / 1e6 };
}

function emptyResult(n: number): SizeResult {
  const servers = n * INSTANCES;
  return {
    services: n, servers, checks: servers <= MAX_CHECKED_SERVERS, curveOnly: false, seconds: 0, loadStart: os.loadavg(), loadEnd: [],
    cli: undefined, haproxy: undefined, inproc: undefined, floor: undefined, startup: undefined, idle: undefined,
    serverOnly: undefined, structural: undefined, peakRssMb: undefined, rest: undefined, endpoints: undefined, consulTemplate: undefined, consulTemplateError: undefined, errors: [],
  };
}

async function measureSize(n: number, farmPort: number, curveOnly: boolean): Promise<SizeResult> {
  const started = performance.now();
  const result = emptyResult(n);
  result.curveOnly = curveOnly;
  const checks = result.checks;
  const servers = result.servers;
  // Checks every 30 s: the descriptors are the same, without 5,000 checks per second on 2 cores.
  const tags = checks ? CHECK_TAGS : NO_CHECK_TAGS;
  const dir = await res.tempDir('hapilot-bench-scale-');
  const noCheckDir = await noCheckTemplates(dir);
  const templatesDir = checks ? undefined : noCheckDir;
  const env: Record<string, string> = {
    HAPROXY_DOM: DOMAIN, HAPILOT_LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'warn',
    ...(checks ? {} : { HAPILOT_FD_LIMIT: '1000000', ...CLI_MAXCONN }),
  };
  let sim: Catalog | undefined;
  let daemon: ChildProcess | undefined;
  try {
    const entries = entriesFor(n, farmPort, tags);
    // ---- the CLI render and haproxy -c, with and without checks; HAProxy alone on them -----------
    if (!SKIP.has('cli')) {
      log(`size ${n}: CLI render, haproxy -c`);
      const ports = await freePorts(2) as [number, number];
      const withChecks = await cliRender({ dir, name: 'checks', entries: checks ? entries : entriesFor(n, farmPort, CHECK_TAGS), templatesDir: undefined, ports });
      const noChecks = await cliRender({ dir, name: 'nochecks', entries: checks ? entriesFor(n, farmPort, NO_CHECK_TAGS) : entries, templatesDir: noCheckDir, ports });
      result.cli = { renderS: withChecks.s, renderMb: withChecks.mb, configMb: withChecks.configMb, checkS: withChecks.checkS, checkMb: withChecks.checkMb, noCheckRenderS: noChecks.s, noCheckCheckS: noChecks.checkS, noCheckCheckMb: noChecks.checkMb };
      log(`size ${n}: render ${withChecks.s} s, haproxy -c ${withChecks.checkS} s (checks), ${noChecks.checkS} s (no checks)`);
      if (!SKIP.has('haproxy')) {
        result.haproxy = { checks: undefined, noChecks: undefined, checksError: undefined };
        // HAProxy alone has no connections to make room for: try it with checks up to the limit itself.
        if (servers + 2 * 2000 + 200 <= FD_HARD) {
          log(`size ${n}: HAProxy alone, with checks`);
          result.haproxy.checks = await haproxyAlone({ configPath: withChecks.out, runDir: withChecks.runDir, reloads: RELOADS, res });
        } else {
          // HAProxy's own count: a descriptor per checked server, 2 per connection of maxconn 2,000, listeners.
          result.haproxy.checksError = `cannot start here: ${servers.toLocaleString('en-US')} checked servers + 2 × maxconn 2,000 + listeners need about ${(servers + 4200).toLocaleString('en-US')} descriptors; hard limit ${FD_HARD.toLocaleString('en-US')}`;
        }
        log(`size ${n}: HAProxy alone, without checks`);
        result.haproxy.noChecks = await haproxyAlone({ configPath: noChecks.out, runDir: noChecks.runDir, reloads: RELOADS, res });
        const h = result.haproxy.noChecks;
        log(`size ${n}: HAProxy alone (no checks): start ${h.startS.toFixed(2)} s, reloads ${h.reloadS.map((x) => x.toFixed(2)).join(' ')} s, worker ${h.workerMb.toFixed(0)} MB`);
      }
    }
    if (!SKIP.has('inproc')) {
      log(`size ${n}: in-process model/render`);
      const [hp, sp] = await freePorts(2) as [number, number];
      result.inproc = await inProcess(n, entries, templatesDir, { ...env, HAPROXY_HTTP_PORT: String(hp), HAPROXY_STATS_PORT: String(sp), HAPILOT_RUN_DIR: path.join(dir, 'inproc-run') });
    }
    if (curveOnly || (SKIP.has('daemon') && SKIP.has('consul-template'))) return result;

    // ---- the daemon, end to end ---------------------------------------------------------------
    if (REAL) {
      const real = await RealConsulCatalog.start();
      res.adoptDir(real.dir);
      sim = real;
    } else sim = await Sim.start(dir);
    log(`size ${n}: filling ${REAL ? 'the real Consul agent' : 'the simulator'} (${n * INSTANCES} instances on ${Math.min(NODES, n * INSTANCES)} nodes)`);
    for (let s = 0; s < n; s += 500) {
      const batch = [];
      for (let k = s; k < Math.min(n, s + 500); k++) for (let i = 0; i < INSTANCES; i++) batch.push(instance(k, i, farmPort, tags));
      await sim.register(batch);
    }
    // The floor: what reading the whole checks list costs any reader, per change.
    {
      const checksBody = await sim.body('/v1/health/state/any');
      const serviceBody = await sim.body(`/v1/health/service/${svcName(0)}`);
      result.floor = {
        checksBytes: Buffer.byteLength(checksBody), checksParseMs: medianMs(() => JSON.parse(checksBody)), ...await receiveCpuMs(`${sim.url}/v1/health/state/any`).then((c) => ({ checksReceiveCpuMs: c.http, checksReceiveReusedCpuMs: c.reused })),
        serviceBytes: Buffer.byteLength(serviceBody), serviceParseMs: medianMs(() => JSON.parse(serviceBody), 21),
      };
      log(`size ${n}: /v1/health/state/any ${(result.floor.checksBytes / 1e6).toFixed(1)} MB, JSON.parse ${result.floor.checksParseMs.toFixed(1)} ms`);
      const catalog = sim;
      const wake = await answerAfterWrite(sim.url, (k) => {
        const s = (k * 7919 + 13) % n;
        return catalog.register([instance(s, 300 + k, farmPort, tags, svcName(s), `127.103.${(k >> 8) & 255}.${k & 255}`, `${svcName(s)}-wake${k}`)]);
      }, WAKES);
      result.floor.wake = wake;
      log(`size ${n}: Consul's answer to a write: headers p50 ${wake.headersP50.toFixed(0)} ms, last byte p50 ${wake.completeP50.toFixed(0)} ms`);
    }
    await sim.reset();
    if (!SKIP.has('daemon')) {
      const [httpPort, statsPort, statusPort] = await freePorts(3) as [number, number, number];
      const runDir = path.join(dir, 'run');
      res.pidFile(path.join(runDir, 'haproxy.pid'));
      log(`size ${n}: starting hapilot`);
      const t0 = performance.now();
      // BENCH_DAEMON_NODE_ARGS: e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof` to see where hapilot's time goes.
      daemon = res.child(spawn(process.execPath, [...(process.env.BENCH_DAEMON_NODE_ARGS?.split(' ').filter(Boolean) ?? []), CLI, 'run', '--consul', sim.url, '--run-dir', runDir, '--wait', '20ms:200ms', '--min-reload-interval', '10ms',
        '--status-listen', `127.0.0.1:${statusPort}`, '--stop-haproxy-on-exit', ...(templatesDir ? ['--templates', templatesDir] : [])], {
        env: { ...process.env, ...env, HAPROXY_HTTP_PORT: String(httpPort), HAPROXY_STATS_PORT: String(statsPort) }, stdio: ['ignore', process.env.BENCH_LOG_LEVEL ? 'inherit' : 'ignore', 'inherit'],
      }));
      const pid = daemon.pid as number;
      const last = n - 1;
      // A daemon that exits (a bad setting, a crash) ends the wait at once, with its exit status.
      const exited = new Promise<never>((_, reject) => daemon?.once('exit', (code, signal) => reject(new Error(`hapilot exited (${signal ?? `code ${code}`}) before serving; its stderr is above`))));
      exited.catch(() => undefined);
      await Promise.race([exited, until(httpPort, `${svcName(last)}.${DOMAIN}`, instAddr(last, 0), t0, 600_000).catch(async (err: unknown) => {
        // Any instance of the last service will do: roundrobin may start elsewhere.
        for (let i = 1; i < INSTANCES; i++) if ((await through(httpPort, `${svcName(last)}.${DOMAIN}`)).status === 200) return;
        throw err;
      })]);
      const firstConfigS = (performance.now() - t0) / 1000;
      const sc = await sim.counters();
      result.startup = { firstConfigS, requests: total(sc.requests), bytesMb: total(sc.bytes) / 1e6, rssMb: await vm(pid, 'VmHWM'), cpuMs: await cpuMs(pid) };
      log(`size ${n}: first config in ${firstConfigS.toFixed(2)} s, ${result.startup.cpuMs} ms of hapilot's CPU`);
      await waitIdle(pid, 1000);

      // ---- at rest after startup: what stays resident once the daemon has been quiet -------------
      if (REST_S > 0) {
        log(`size ${n}: quiet for ${REST_S} s (RSS each second)`);
        const cpu0 = await cpuMs(pid);
        const rss: number[] = [];
        for (let k = 0; k < REST_S; k++) {
          await sleep(1000);
          rss.push(await vm(pid, 'VmRSS'));
        }
        const endMb = rss.at(-1) as number;
        // The first second from which every sample is within 5 MB of the last.
        let settled = rss.length;
        while (settled > 0 && Math.abs((rss[settled - 1] as number) - endMb) <= 5) settled--;
        result.rest = { seconds: REST_S, startMb: rss[0] as number, endMb, settledS: settled + 1, cpuMs: (await cpuMs(pid)) - cpu0 };
        log(`size ${n}: at rest RSS ${result.rest.startMb.toFixed(0)} -> ${result.rest.endMb.toFixed(0)} MB (within 5 MB of it from second ${result.rest.settledS}), ${result.rest.cpuMs} ms CPU`);
      }
      // ---- idle ---------------------------------------------------------------------------------
      await sim.reset();
      const idle0 = await cpuMs(pid);
      await sleep(IDLE_S * 1000);
      const idleCounters = await sim.counters();
      result.idle = { cpuMs: (await cpuMs(pid)) - idle0, requests: total(idleCounters.requests), seconds: IDLE_S, longPolls: idleCounters.openBlocking, connections: idleCounters.connections, held: idleCounters.held ?? {} };
      if (result.idle.requests) log(`size ${n}: requests while idle: ${JSON.stringify(idleCounters.requests)}`);

      // ---- changes ------------------------------------------------------------------------------
      // HAProxy's own part of the reloads this change made (its new service's name in their cause),
      // from the daemon's /status of that one backend: read after the CPU is counted.
      const reloadMsOf = async (service: string): Promise<number | undefined> => {
        const status = await (await fetch(`http://127.0.0.1:${statusPort}/status?backend=${service}`)).json() as { reloads: Array<{ action: string; cause: string; timings?: { haproxyMs: number } }> };
        const mine = status.reloads.filter((r) => r.action === 'reload' && r.cause.includes(service) && r.timings);
        return mine.length ? mine.reduce((sum, r) => sum + (r.timings?.haproxyMs ?? 0), 0) : undefined;
      };
      const measure = async (write: () => Promise<unknown>, host: string, addr: string, reloaded?: string) => {
        await waitIdle(pid);
        await sim?.reset();
        const cpu0 = await cpuMs(pid);
        const since = performance.now();
        await write();
        const ms = await until(httpPort, host, addr, since, CHANGE_TIMEOUT_S * 1000);
        await waitIdle(pid);
        const k = await (sim as Catalog).counters();
        const row = { ms, requests: total(k.requests), bytes: total(k.bytes), cpu: (await cpuMs(pid)) - cpu0, haproxyMs: undefined as number | undefined };
        if (reloaded) row.haproxyMs = await reloadMsOf(reloaded);
        // Each change as it is measured: a run stopped early still says what it saw.
        log(`size ${n}: change ${host}: ${row.ms.toFixed(0)} ms, ${row.requests} requests (${Object.entries(k.requests).map(([e, c]) => `${e} ${c}`).join(', ')}), ${row.bytes} bytes, ${row.cpu} ms CPU${row.haproxyMs === undefined ? '' : `, HAProxy's reload ${row.haproxyMs} ms`}`);
        return row;
      };
      // A change that does not converge within --change-timeout ends its phase (the next ones would
      // start from an unknown state) and is reported; the other phases still run.
      const phase = async (kind: 'serverOnly' | 'structural', count: number, change: (k: number) => Promise<ChangeRow>) => {
        log(`size ${n}: ${count} ${kind} changes`);
        const rows = [];
        const phaseEnd = PHASE_S && !checks ? performance.now() + PHASE_S * 1000 : Infinity;
        let failed: string | undefined;
        for (let k = 0; k < count && performance.now() < phaseEnd; k++) {
          try {
            rows.push(await change(k));
          } catch (err) {
            failed = err instanceof Error ? err.message : String(err);
            log(`size ${n}: ${kind}: ${failed}`);
            break;
          }
        }
        if (rows.length || failed) result[kind] = changeStats(rows, count, failed);
      };
      const serverOnlyCount = checks ? CHANGES : CHANGES_LARGE;
      if (!SKIP.has('server-only') && serverOnlyCount > 0) {
        await phase('serverOnly', serverOnlyCount, (k) => {
          const s = (k * 7919) % n;
          const addr = `127.100.${(k >> 8) & 255}.${k & 255}`;
          return measure(() => (sim as Catalog).register([instance(s, 100 + k, farmPort, tags, svcName(s), addr, `${svcName(s)}-new${k}`)]), `${svcName(s)}.${DOMAIN}`, addr);
        });
      }
      const structuralCount = checks ? STRUCTURAL : STRUCTURAL_LARGE;
      if (!SKIP.has('structural') && structuralCount > 0) {
        await phase('structural', structuralCount, (k) => {
          const name = `new${String(k).padStart(3, '0')}`;
          const addr = `127.101.${(k >> 8) & 255}.${k & 255}`;
          return measure(() => (sim as Catalog).register([instance(0, 0, farmPort, tags, name, addr, `${name}-0`)]), `${name}.${DOMAIN}`, addr, name);
        });
      }
      result.peakRssMb = await vm(pid, 'VmHWM');

      // ---- the status server, asked as operators ask it (after the peak is read: a page of
      // 100,000 servers is tens of MB, and no change phase should pay for it) --------------------
      if (!SKIP.has('endpoints')) {
        result.endpoints = { paths: [], hwmMb: 0 };
        for (const p of ['/ready', '/metrics', `/status?backend=${svcName(0)}`, '/status', '/']) {
          const ms: number[] = [];
          const cpu: number[] = [];
          let bytes = 0;
          let status = 0;
          const refresh: string[] = [];
          const held: number[] = [];
          for (let k = 0; k < 3; k++) {
            await waitIdle(pid);
            const c0 = await cpuMs(pid);
            // /healthz asked every 20 ms beside it: its slowest answer is the longest the daemon's event loop was held.
            let asking = true;
            let slowest = 0;
            const beside = (async () => {
              while (asking) {
                const h = performance.now();
                await (await fetch(`http://127.0.0.1:${statusPort}/healthz`)).arrayBuffer();
                slowest = Math.max(slowest, performance.now() - h);
                await sleep(20);
              }
            })();
            const t = performance.now();
            const res = await fetch(`http://127.0.0.1:${statusPort}${p}`);
            const body = await res.arrayBuffer();
            asking = false;
            await beside;
            held.push(slowest);
            bytes = body.byteLength;
            // The page's own refresh interval, which follows what the last page cost.
            if (p === '/') refresh.push(/http-equiv="refresh" content="(\d+)"/.exec(Buffer.from(body.slice(0, 4096)).toString('utf8'))?.[1] ?? '?');
            ms.push(performance.now() - t);
            status = res.status;
            await waitIdle(pid);
            cpu.push((await cpuMs(pid)) - c0);
          }
          result.endpoints.paths.push({ path: p, status, bytes, msP50: pct(ms, 50), cpuP50: pct(cpu, 50), heldMsP50: pct(held, 50) });
          log(`size ${n}: GET ${p}: ${status}, ${bytes} bytes, ${ms.map((x) => x.toFixed(0)).join(' / ')} ms, ${cpu.join(' / ')} ms CPU, event loop held up to ${held.map((x) => x.toFixed(0)).join(' / ')} ms${refresh.length ? `, refresh every ${refresh.join(' / ')} s` : ''}`);
        }
        result.endpoints.hwmMb = await vm(pid, 'VmHWM');
      }
      await endChild(daemon, 60_000);
      daemon = undefined;
    }

    // ---- consul-template's design on the same simulator ---------------------------------------
    if (!SKIP.has('consul-template') && sim instanceof Sim) {
      log(`size ${n}: one blocking query per service`);
      try {
        result.consulTemplate = await perServiceWatches(sim, n, farmPort, tags);
      } catch (err) {
        result.consulTemplateError = err instanceof Error ? err.message : String(err);
        log(`size ${n}: one blocking query per service: ${result.consulTemplateError}`);
      }
    }
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    result.errors.push(message);
    log(`size ${n}: ${message}`);
  } finally {
    if (daemon) await endChild(daemon, 60_000);
    await sim?.stop();
    const left = await res.releaseDir(dir);
    if (left.length) {
      result.errors.push(`left behind by this size and ended: ${left.map((p) => p.cmd).join('; ')}`);
      log(`size ${n}: ${result.errors[result.errors.length - 1]}`);
    }
    result.seconds = (performance.now() - started) / 1000;
    result.loadEnd = os.loadavg();
  }
  return result;
}

/** Full model + render, and the incremental path for one instance change, in this process. */
async function inProcess(n: number, entries: HealthEntry[], templatesDir: string | undefined, env: Record<string, string>): Promise<NonNullable<SizeResult['inproc']>> {
  const settings = loadSettings(env);
  const templates = await loadTemplates(templatesDir);
  const paths = { filesDir: '/tmp/hapilot-bench', statsSocket: '/tmp/hapilot-bench/haproxy.sock', serverState: '/tmp/hapilot-bench/server-state' };
  let t = performance.now();
  const full = buildModel({ entries, settings });
  const modelMs = performance.now() - t;
  t = performance.now();
  render({ model: full, templates, paths });
  const renderMs = performance.now() - t;
  // The same templates compiled the same way but rendered without templates.ts's strict view (the
  // proxy that turns a misspelt field into an error): what that check costs at this size.
  const hb = Handlebars.create();
  hb.registerHelper('eq', (a: unknown, b: unknown) => a === b);
  const dir = templatesDir ?? BUILTIN_TEMPLATES_DIR;
  for (const f of ['backends', 'defaults', 'frontends', 'global']) hb.registerPartial(f, hb.compile(await readFile(path.join(dir, 'partials', `${f}.hbs`), 'utf8'), { noEscape: true, strict: true }));
  const main = hb.compile(await readFile(path.join(dir, 'haproxy.cfg.hbs'), 'utf8'), { noEscape: true, strict: true });
  const { view } = renderView(full, paths);
  t = performance.now();
  main(view);
  const renderNoProxyMs = performance.now() - t;
  const byService = new Map<string, HealthEntry[]>();
  for (const e of entries) {
    const list = byService.get(e.Service.Service);
    if (list) list.push(e);
    else byService.set(e.Service.Service, [e]);
  }
  const model = new IncrementalModel();
  const renderer = new IncrementalRenderer();
  t = performance.now();
  let m = model.buildByService({ services: byService, settings });
  renderer.render({ model: m, templates, paths });
  const incFirstMs = performance.now() - t;
  const cpu: number[] = [];
  for (let k = 0; k < 60; k++) {
    const s = (k * 7919) % n;
    const name = svcName(s);
    const list = byService.get(name) ?? [];
    const moved = { ...list[0], Service: { ...list[0]?.Service, Port: 30000 + k } } as HealthEntry;
    byService.set(name, [moved, ...list.slice(1)]);
    const c0 = process.cpuUsage();
    const next = model.buildByService({ services: byService, settings, changed: [name] });
    const built = renderer.render({ model: next, templates, paths });
    const plan = planRuntime({ previous: m, next, serverLines: built.serverLines });
    const c = process.cpuUsage(c0);
    if (!('ops' in plan) || plan.ops.length !== 1) throw new Error(`unexpected plan ${JSON.stringify(plan).slice(0, 200)}`);
    cpu.push((c.user + c.system) / 1000);
    m = next;
  }
  const warm = cpu.slice(10);
  return { modelMs, renderMs, renderNoProxyMs, incFirstMs, incChangeCpuP50: pct(warm, 50), incChangeCpuP99: pct(warm, 99) };
}

/**
 * consul-template's design: one blocking query per service, each on its own connection. At 10,000
 * services that is 10,000 sockets in this process and 10,000 in the simulator's, each under the
 * open-files limit of 20,000 per process.
 */
async function perServiceWatches(sim: Sim, n: number, farmPort: number, tags: string[]): Promise<NonNullable<SizeResult['consulTemplate']>> {
  await sim.reset();
  const abort = new AbortController();
  // One listener per request in flight: up to one per service.
  setMaxListeners(n + 100, abort.signal);
  const watchAgent = new http.Agent({ keepAlive: true, maxSockets: Infinity });
  let failure: string | undefined;
  const get = (p: string) => new Promise<{ index: number }>((resolve, reject) => {
    const req = http.get(`${sim.url}${p}`, { agent: watchAgent, signal: abort.signal }, (r) => {
      r.resume();
      r.on('end', () => resolve({ index: Number(r.headers['x-consul-index'] ?? 0) }));
    });
    req.on('error', reject);
  });
  const indexes = new Map<string, number>();
  // Initial reads, 64 at a time, then one long-poll per service, re-issued on every return.
  const names = Array.from({ length: n }, (_, s) => svcName(s));
  for (let i = 0; i < names.length; i += 64) await Promise.all(names.slice(i, i + 64).map(async (name) => indexes.set(name, (await get(`/v1/health/service/${name}`)).index)));
  const startup = await sim.counters();
  const loops = names.map(async (name) => {
    while (!abort.signal.aborted) {
      try {
        indexes.set(name, (await get(`/v1/health/service/${name}?index=${indexes.get(name)}&wait=5m`)).index);
      } catch (err) {
        if (!abort.signal.aborted) failure ??= `${name}: ${err instanceof Error ? err.message : String(err)}`;
        return;
      }
    }
  });
  try {
    let held = 0;
    for (let waited = 0; waited < 120_000 && failure === undefined; waited += 200) {
      held = (await sim.counters()).openBlocking;
      if (held >= n) break;
      await sleep(200);
    }
    if (failure !== undefined || held < n) throw new Error(`${held.toLocaleString('en-US')} of ${n.toLocaleString('en-US')} long-polls held${failure ? `; ${failure}` : ' after 120 s'}`);
    await sim.reset();
    const connections = (await sim.counters()).connections;
    await sim.register([instance(0, 200, farmPort, tags, svcName(0), '127.102.0.1', `${svcName(0)}-ct`)]);
    await sleep(1500);
    const k = await sim.counters();
    return { connections, requestsPerChange: total(k.requests), bytesPerChange: total(k.bytes), startupRequests: total(startup.requests), startupBytesMb: total(startup.bytes) / 1e6 };
  } finally {
    abort.abort();
    watchAgent.destroy();
    await Promise.allSettled(loops);
  }
}

// ---- requests/s with 10 and 10,000 HTTP services -------------------------------------------------

async function measureRps(farmPort: number): Promise<RpsRow[]> {
  const rows = [];
  const dir = await res.tempDir('hapilot-bench-rps-');
  try {
    const templatesDir = await noCheckTemplates(dir);
    const templates = await loadTemplates(templatesDir);
    for (const n of [10, 10_000, 10, 10_000]) {
      const [httpPort, statsPort] = await freePorts(2) as [number, number];
      const settings = loadSettings({ HAPROXY_DOM: DOMAIN, HAPROXY_HTTP_PORT: String(httpPort), HAPROXY_STATS_PORT: String(statsPort), ...CLI_MAXCONN });
      const entries: HealthEntry[] = [];
      const one = entriesFor(1, farmPort, NO_CHECK_TAGS)[0] as HealthEntry;
      for (let s = 0; s < n; s++) entries.push({ ...one, Service: { ...one.Service, Service: svcName(s), ID: `${svcName(s)}-0`, Address: '127.0.0.1' } });
      const paths = { filesDir: dir, statsSocket: path.join(dir, 'haproxy.sock'), serverState: path.join(dir, 'server-state') };
      const built = render({ model: buildModel({ entries, settings }), templates, paths });
      for (const f of built.files) await writeFile(f.path, f.contents);
      const cfg = path.join(dir, 'haproxy.cfg');
      await writeFile(cfg, built.config);
      const hap = res.child(spawn('haproxy', ['-db', '-f', cfg], { stdio: 'ignore' }));
      try {
        for (let i = 0; i < 100 && (await through(httpPort, `${svcName(Math.floor(n / 2))}.${DOMAIN}`)).status !== 200; i++) await sleep(100);
        const abort = new AbortController();
        const cpu0 = await cpuMs(hap.pid as number);
        setTimeout(() => abort.abort(), Number(opts['rps-seconds']) * 1000);
        const t = performance.now();
        const stats = await runLoad({ port: httpPort, hostHeader: `${svcName(Math.floor(n / 2))}.${DOMAIN}`, concurrency: 32, mode: 'keepalive' }, abort.signal);
        const secs = (performance.now() - t) / 1000;
        const cpu = (await cpuMs(hap.pid as number)) - cpu0;
        rows.push({ services: n, rps: stats.ok / secs, haproxyUsPerReq: (cpu * 1000) / Math.max(1, stats.ok), p99: pct(stats.latenciesMs, 99) });
        log(`rps ${n} services: ${(stats.ok / secs).toFixed(0)} req/s, ${stats.ok} ok, ${stats.requests - stats.ok} failed`);
      } finally {
        await endChild(hap);
      }
    }
  } finally {
    await res.releaseDir(dir);
  }
  return rows;
}

// ---- main ----------------------------------------------------------------------------------------

/** One server on 0.0.0.0 for every instance: it answers with the address it was reached at. */
async function startFarm(): Promise<{ port: number; close: () => Promise<void> }> {
  const server = http.createServer((req, r) => r.end(`${req.socket.localAddress?.replace(/^::ffff:/, '') ?? ''}\n`));
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve) => server.listen(0, '0.0.0.0', resolve));
  return { port: (server.address() as { port: number }).port, close: () => new Promise((r) => { server.closeAllConnections(); server.close(() => r()); }) };
}

async function main(): Promise<void> {
  const farm = await startFarm();
  const results: SizeResult[] = [];
  let interrupted = false;
  const onSignal = (sig: NodeJS.Signals) => {
    if (interrupted) return;
    interrupted = true;
    log(`${sig}: ending everything this run started`);
    void res.cleanup().then((left) => {
      if (left.length) log(`ended ${left.length} left-over processes: ${left.map((p) => `${p.pid} ${p.cmd}`).join('; ')}`);
      process.exit(130);
    });
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const t0 = performance.now();
  try {
    log(`hapilot: ${CLI}; load average ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
    const all = [...new Set([...SIZES, ...CURVE_SIZES])].sort((a, b) => a - b);
    for (const n of all) {
      results.push(await measureSize(n, farm.port, !SIZES.includes(n)));
      // Partial results survive an interrupted run.
      if (opts.json) await writeFile(opts.json, JSON.stringify({ cli: CLI, results, at: new Date().toISOString() }, null, 2));
      console.error(JSON.stringify(results[results.length - 1]));
    }
    const rps = SKIP.has('rps') ? [] : await measureRps(farm.port);
    console.log(report(results, rps, INSTANCES, REAL ? `a real Consul ${CONSUL_VERSION} agent (one server on loopback), instances on ${NODES.toLocaleString('en-US')} nodes` : `the simulator (bench/lib/scale-sim.ts), instances on ${NODES.toLocaleString('en-US')} nodes`));
    console.log(`\nTotal ${((performance.now() - t0) / 60_000).toFixed(1)} min; load average at the end ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}.`);
    if (opts.json) await writeFile(opts.json, JSON.stringify({ cli: CLI, results, rps, at: new Date().toISOString() }, null, 2));
  } finally {
    agent.destroy();
    await farm.close();
    const left = await res.cleanup();
    // Nothing may outlive the run: say so if the sweep had to end anything.
    console.log(left.length ? `Left behind and ended by the final sweep: ${left.map((p) => `${p.pid} ${p.cmd}`).join('; ')}` : 'Nothing left behind (no process names this run\'s temp dirs; the dirs are removed).');
  }
}

await main();
