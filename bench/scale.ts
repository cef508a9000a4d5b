// `npm run bench:scale`: hapilot at 100, 1,000 and 10,000 services (10 instances each), served by
// the indexed Consul simulator (bench/lib/scale-sim.ts, in its own process, counting requests,
// bytes and connections), with the real daemon (`node dist/src/cli/main.js run`) and a real
// HAProxy. Per size:
// - startup: time from starting hapilot to HAProxy serving the last service, Consul requests and
//   bytes during it, hapilot's peak RSS (VmHWM);
// - the CLI render of the same catalog from a file (`hapilot render --catalog`, wall time and max
//   RSS) and `haproxy -c` on the result; in-process, the full model + render, and the incremental
//   path (src/model/incremental.ts + src/config/incremental-render.ts) for one instance change;
// - idle: hapilot's CPU and Consul requests over 10 s with nothing changing;
// - server-only changes (a new instance of an existing service: Runtime API) and structural ones
//   (a new service: reload): convergence from the Consul write to the first request HAProxy
//   routes to the new instance, Consul requests and bytes, hapilot CPU, per change;
// - consul-template's design on the same catalog: one blocking query per service (connections held,
//   requests and bytes for one change), measured against the same simulator.
// Then requests/s and HAProxy CPU per request through the shared HTTP frontend with 10 and with
// 10,000 HTTP services (host map), alternating A/B/A/B.
//
// Every instance has its own address in 127.0.0.0/8 and one port: one backend server bound to
// 0.0.0.0 answers for all of them with the address it was reached at, so a response names the
// instance that served it. With health checks, 10,000 × 10 servers need more descriptors than the
// hard limit here (20,000; see README "File descriptors"): sizes whose servers do not fit run with a
// template set without `check` (HAPILOT_FD_LIMIT and a small maxconn), and say so.
//
// Usage: npm run bench:scale [-- --sizes 100,1000,10000 --changes 50 --structural 50 --json out.json]
import { spawn, type ChildProcess } from 'node:child_process';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
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
import { BUILTIN_TEMPLATES_DIR, loadTemplates } from '../src/config/templates.js';
import { loadSettings } from '../src/settings.js';
import { runLoad } from './lib/loadgen.js';
import type { Counters } from './lib/scale-sim.js';

const { values: opts } = parseArgs({
  options: {
    sizes: { type: 'string', default: '100,1000,10000' },
    instances: { type: 'string', default: '10' },
    changes: { type: 'string', default: '50' },
    structural: { type: 'string', default: '50' },
    /** Structural changes for sizes run without checks (10,000 services: each one is a reload of 100,000 servers). */
    'structural-large': { type: 'string' },
    'rps-seconds': { type: 'string', default: '8' },
    skip: { type: 'string', default: '' },
    json: { type: 'string' },
  },
});
const SIZES = opts.sizes.split(',').map(Number);
const INSTANCES = Number(opts.instances);
const CHANGES = Number(opts.changes);
const STRUCTURAL = Number(opts.structural);
const SKIP = new Set(opts.skip.split(',').filter(Boolean));
const ROOT = path.resolve(import.meta.dirname, '..');
// BENCH_CLI: another build of hapilot to compare (e.g. a tree with a proposed change).
const CLI = process.env.BENCH_CLI ?? path.join(ROOT, 'dist/src/cli/main.js');
const DOMAIN = 'bench.test';
/** Servers with checks that fit this machine's hard limit of 20,000 descriptors with room for connections. */
const MAX_CHECKED_SERVERS = 12_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const log = (...a: unknown[]) => console.error(new Date().toISOString().slice(11, 19), ...a);

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

/** Milliseconds from `since` until a request to `host` is answered by `addr` (4 pollers in flight). */
async function until(port: number, host: string, addr: string, since: number, timeoutMs = 120_000): Promise<number> {
  let done = 0;
  const poll = async () => {
    while (!done && performance.now() - since < timeoutMs) {
      const r = await through(port, host);
      if (r.addr === addr && !done) done = performance.now();
    }
  };
  await Promise.all([poll(), poll(), poll(), poll()]);
  if (!done) throw new Error(`${host} never reached ${addr} within ${timeoutMs} ms`);
  return done - since;
}

class Sim {
  constructor(readonly proc: ChildProcess, readonly url: string) {}

  static async start(): Promise<Sim> {
    const proc = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'bench/lib/scale-sim-main.ts')], { stdio: ['ignore', 'pipe', 'inherit'] });
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

  register(instances: Array<{ node: { Node: string; Address: string }; service: { ID: string; Service: string; Tags: string[]; Address: string; Port: number } }>) {
    return this.post('/bench/register', { instances });
  }

  counters(): Promise<Counters> {
    return this.post('/bench/counters', {}) as Promise<Counters>;
  }

  reset(): Promise<unknown> {
    return this.post('/bench/reset', {});
  }

  stop(): void {
    this.proc.kill('SIGTERM');
  }
}

const total = (r: Record<string, number>) => Object.values(r).reduce((a, b) => a + b, 0);

function instance(s: number, i: number, port: number, tags: string[], name = svcName(s), addr = instAddr(s, i), id = `${name}-${i}`) {
  return { node: { Node: `node${i % 10}`, Address: `10.0.0.${1 + (i % 10)}` }, service: { ID: id, Service: name, Tags: tags, Address: addr, Port: port } };
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
  await writeFile(f, (await readFile(f, 'utf8')).replace('default-server check ', 'default-server '));
  return out;
}

/** `/usr/bin/time -f '%e %M'`: wall seconds and max RSS (MB) of a command. */
async function timed(cmd: string, args: string[], env: Record<string, string> = {}): Promise<{ s: number; mb: number; code: number; stderr: string }> {
  const r = await execa('/usr/bin/time', ['-f', 'TIME %e %M', cmd, ...args], { reject: false, env, extendEnv: true, stdin: 'ignore', stdout: 'ignore' });
  const m = /TIME ([\d.]+) (\d+)/.exec(r.stderr);
  return { s: Number(m?.[1] ?? NaN), mb: Number(m?.[2] ?? NaN) / 1024, code: r.exitCode ?? -1, stderr: r.stderr.slice(0, 400) };
}

// ---- one size ------------------------------------------------------------------------------------

interface SizeResult {
  services: number;
  servers: number;
  checks: boolean;
  cli: { renderS: number; renderMb: number; checkS: number; checkMb: number; configMb: number };
  inproc: { modelMs: number; renderMs: number; renderNoProxyMs: number; incFirstMs: number; incChangeCpuP50: number; incChangeCpuP99: number };
  startup: { firstConfigS: number; requests: number; bytesMb: number; rssMb: number } | undefined;
  idle: { cpuMs: number; requests: number; seconds: number } | undefined;
  serverOnly: ChangeStats | undefined;
  structural: ChangeStats | undefined;
  peakRssMb: number | undefined;
  consulTemplate: { connections: number; requestsPerChange: number; bytesPerChange: number; startupRequests: number; startupBytesMb: number } | undefined;
  error: string | undefined;
}

interface ChangeStats {
  n: number;
  p50: number;
  p99: number;
  max: number;
  requestsP50: number;
  bytesP50: number;
  cpuP50: number;
  cpuP99: number;
}

function changeStats(rows: Array<{ ms: number; requests: number; bytes: number; cpu: number }>): ChangeStats {
  const ms = rows.map((r) => r.ms);
  return {
    n: rows.length, p50: pct(ms, 50), p99: pct(ms, 99), max: Math.max(...ms),
    requestsP50: pct(rows.map((r) => r.requests), 50), bytesP50: pct(rows.map((r) => r.bytes), 50),
    cpuP50: pct(rows.map((r) => r.cpu), 50), cpuP99: pct(rows.map((r) => r.cpu), 99),
  };
}

async function measureSize(n: number, farmPort: number): Promise<SizeResult> {
  const servers = n * INSTANCES;
  const checks = servers <= MAX_CHECKED_SERVERS;
  // Checks every 30 s: the descriptors are the same, without 5,000 checks per second on 2 cores.
  const tags = ['HAPROXY.ENABLE=true', ...(checks ? ['HAPROXY.BACKEND.CHECK.INTER=30s'] : [])];
  const dir = await mkdtemp(path.join(os.tmpdir(), 'hapilot-bench-scale-'));
  const result: SizeResult = { services: n, servers, checks, cli: undefined as never, inproc: undefined as never, startup: undefined, idle: undefined, serverOnly: undefined, structural: undefined, peakRssMb: undefined, consulTemplate: undefined, error: undefined };
  const templatesDir = checks ? undefined : await noCheckTemplates(dir);
  const env: Record<string, string> = {
    HAPROXY_DOM: DOMAIN, HAPILOT_LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'warn',
    ...(checks ? {} : { HAPILOT_FD_LIMIT: '1000000', HAPROXY_MAXCONN_GLOBAL: '2000', HAPROXY_MAXCONN: '1000' }),
  };
  let sim: Sim | undefined;
  let daemon: ChildProcess | undefined;
  try {
    // ---- the CLI render and haproxy -c, and the in-process paths --------------------------------
    log(`size ${n}: CLI render`);
    const entries = entriesFor(n, farmPort, tags);
    const catalogFile = path.join(dir, 'catalog.json');
    await writeFile(catalogFile, JSON.stringify(entries));
    const [hp, sp] = await freePorts(2) as [number, number];
    const renderEnv = { ...env, HAPROXY_HTTP_PORT: String(hp), HAPROXY_STATS_PORT: String(sp), HAPILOT_RUN_DIR: path.join(dir, 'cli-run') };
    const out = path.join(dir, 'cli', 'haproxy.cfg');
    await mkdir(path.dirname(out), { recursive: true });
    const r = await timed(process.execPath, [CLI, 'render', '--catalog', catalogFile, '--out', out, ...(templatesDir ? ['--templates', templatesDir] : [])], renderEnv);
    if (r.code !== 0) throw new Error(`hapilot render failed: ${r.stderr}`);
    const c = await timed('haproxy', ['-c', '-q', '-f', out]);
    result.cli = { renderS: r.s, renderMb: r.mb, checkS: c.s, checkMb: c.mb, configMb: (await readFile(out)).length / 1e6 };
    log(`size ${n}: in-process model/render`);
    result.inproc = await inProcess(n, entries, templatesDir, renderEnv);
    await rm(catalogFile);
    if (SKIP.has('daemon')) return result;

    // ---- the daemon, end to end ---------------------------------------------------------------
    sim = await Sim.start();
    for (let s = 0; s < n; s += 500) {
      const batch = [];
      for (let k = s; k < Math.min(n, s + 500); k++) for (let i = 0; i < INSTANCES; i++) batch.push(instance(k, i, farmPort, tags));
      await sim.register(batch);
    }
    await sim.reset();
    const [httpPort, statsPort, statusPort] = await freePorts(3) as [number, number, number];
    const runDir = path.join(dir, 'run');
    log(`size ${n}: starting hapilot`);
    const t0 = performance.now();
    // BENCH_DAEMON_NODE_ARGS: e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof` to see where hapilot's time goes.
    daemon = spawn(process.execPath, [...(process.env.BENCH_DAEMON_NODE_ARGS?.split(' ').filter(Boolean) ?? []), CLI, 'run', '--consul', sim.url, '--run-dir', runDir, '--wait', '20ms:200ms', '--min-reload-interval', '10ms',
      '--status-listen', `127.0.0.1:${statusPort}`, '--stop-haproxy-on-exit', ...(templatesDir ? ['--templates', templatesDir] : [])], {
      env: { ...process.env, ...env, HAPROXY_HTTP_PORT: String(httpPort), HAPROXY_STATS_PORT: String(statsPort) }, stdio: ['ignore', process.env.BENCH_LOG_LEVEL ? 'inherit' : 'ignore', 'inherit'],
    });
    const pid = daemon.pid as number;
    const last = n - 1;
    await until(httpPort, `${svcName(last)}.${DOMAIN}`, instAddr(last, 0), t0, 300_000).catch(async (err: unknown) => {
      // Any instance of the last service will do: roundrobin may start elsewhere.
      for (let i = 1; i < INSTANCES; i++) if ((await through(httpPort, `${svcName(last)}.${DOMAIN}`)).status === 200) return;
      throw err;
    });
    const firstConfigS = (performance.now() - t0) / 1000;
    const sc = await sim.counters();
    result.startup = { firstConfigS, requests: total(sc.requests), bytesMb: total(sc.bytes) / 1e6, rssMb: await vm(pid, 'VmHWM') };
    log(`size ${n}: first config in ${firstConfigS.toFixed(2)} s`);
    await waitIdle(pid, 1000);

    // ---- idle ---------------------------------------------------------------------------------
    await sim.reset();
    const idle0 = await cpuMs(pid);
    await sleep(10_000);
    result.idle = { cpuMs: (await cpuMs(pid)) - idle0, requests: total((await sim.counters()).requests), seconds: 10 };

    // ---- changes ------------------------------------------------------------------------------
    const measure = async (write: () => Promise<unknown>, host: string, addr: string) => {
      await waitIdle(pid);
      await sim?.reset();
      const cpu0 = await cpuMs(pid);
      const since = performance.now();
      await write();
      const ms = await until(httpPort, host, addr, since);
      await waitIdle(pid);
      const k = await (sim as Sim).counters();
      const row = { ms, requests: total(k.requests), bytes: total(k.bytes), cpu: (await cpuMs(pid)) - cpu0 };
      // Each change as it is measured: a run stopped early still says what it saw.
      log(`size ${n}: change ${host}: ${row.ms.toFixed(0)} ms, ${row.requests} requests, ${row.bytes} bytes, ${row.cpu} ms CPU`);
      return row;
    };
    if (!SKIP.has('server-only')) {
      log(`size ${n}: ${CHANGES} server-only changes`);
      const rows = [];
      for (let k = 0; k < CHANGES; k++) {
        const s = (k * 7919) % n;
        const addr = `127.100.${(k >> 8) & 255}.${k & 255}`;
        rows.push(await measure(() => (sim as Sim).register([instance(s, 100 + k, farmPort, tags, svcName(s), addr, `${svcName(s)}-new${k}`)]), `${svcName(s)}.${DOMAIN}`, addr));
      }
      result.serverOnly = changeStats(rows);
    }
    if (!SKIP.has('structural')) {
      log(`size ${n}: ${STRUCTURAL} structural changes`);
      const rows = [];
      for (let k = 0; k < STRUCTURAL; k++) {
        const name = `new${String(k).padStart(3, '0')}`;
        const addr = `127.101.${(k >> 8) & 255}.${k & 255}`;
        rows.push(await measure(() => (sim as Sim).register([instance(0, 0, farmPort, tags, name, addr, `${name}-0`)]), `${name}.${DOMAIN}`, addr));
        if (!checks && opts['structural-large'] !== undefined && rows.length >= Number(opts['structural-large'])) break;
      }
      result.structural = changeStats(rows);
    }
    result.peakRssMb = await vm(pid, 'VmHWM');
    daemon.kill('SIGTERM');
    await new Promise((r) => daemon?.once('exit', r));
    daemon = undefined;

    // ---- consul-template's design on the same simulator ---------------------------------------
    if (!SKIP.has('consul-template')) {
      log(`size ${n}: one blocking query per service`);
      result.consulTemplate = await perServiceWatches(sim, n, farmPort, tags);
    }
  } catch (err) {
    result.error = err instanceof Error ? err.message : String(err);
    log(`size ${n}: ${result.error}`);
  } finally {
    if (daemon) {
      daemon.kill('SIGTERM');
      await new Promise((r) => daemon?.once('exit', r));
    }
    sim?.stop();
    await rm(dir, { recursive: true, force: true });
  }
  return result;
}

/** Full model + render, and the incremental path for one instance change, in this process. */
async function inProcess(n: number, entries: HealthEntry[], templatesDir: string | undefined, env: Record<string, string>): Promise<SizeResult['inproc']> {
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
  for (const e of entries) byService.set(e.Service.Service, [...(byService.get(e.Service.Service) ?? []), e]);
  const model = new IncrementalModel();
  const renderer = new IncrementalRenderer();
  t = performance.now();
  let m = model.buildByService({ services: byService, settings });
  let lines = renderer.render({ model: m, templates, paths }).serverLines;
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
    lines = built.serverLines;
  }
  void lines;
  const warm = cpu.slice(10);
  return { modelMs, renderMs, renderNoProxyMs, incFirstMs, incChangeCpuP50: pct(warm, 50), incChangeCpuP99: pct(warm, 99) };
}

/** consul-template's design: one blocking query per service, each on its own connection. */
async function perServiceWatches(sim: Sim, n: number, farmPort: number, tags: string[]): Promise<NonNullable<SizeResult['consulTemplate']>> {
  await sim.reset();
  const abort = new AbortController();
  const watchAgent = new http.Agent({ keepAlive: true, maxSockets: Infinity });
  const get = (p: string) => new Promise<{ index: number }>((resolve, reject) => {
    const req = http.get(`${sim.url}${p}`, { agent: watchAgent, signal: abort.signal }, (res) => {
      res.resume();
      res.on('end', () => resolve({ index: Number(res.headers['x-consul-index'] ?? 0) }));
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
      } catch {
        return;
      }
    }
  });
  for (let waited = 0; (await sim.counters()).openBlocking < n && waited < 120_000; waited += 200) await sleep(200);
  await sim.reset();
  const connections = (await sim.counters()).connections;
  await sim.register([instance(0, 200, farmPort, tags, svcName(0), '127.102.0.1', `${svcName(0)}-ct`)]);
  await sleep(1500);
  const k = await sim.counters();
  abort.abort();
  watchAgent.destroy();
  await Promise.allSettled(loops);
  return { connections, requestsPerChange: total(k.requests), bytesPerChange: total(k.bytes), startupRequests: total(startup.requests), startupBytesMb: total(startup.bytes) / 1e6 };
}

// ---- requests/s with 10 and 10,000 HTTP services -------------------------------------------------

async function measureRps(farmPort: number): Promise<Array<{ services: number; rps: number; haproxyUsPerReq: number; p99: number }>> {
  const rows = [];
  const dir = await mkdtemp(path.join(os.tmpdir(), 'hapilot-bench-rps-'));
  try {
    const templatesDir = await noCheckTemplates(dir);
    const templates = await loadTemplates(templatesDir);
    for (const n of [10, 10_000, 10, 10_000]) {
      const [httpPort, statsPort] = await freePorts(2) as [number, number];
      const settings = loadSettings({ HAPROXY_DOM: DOMAIN, HAPROXY_HTTP_PORT: String(httpPort), HAPROXY_STATS_PORT: String(statsPort), HAPROXY_MAXCONN_GLOBAL: '2000', HAPROXY_MAXCONN: '1000' });
      const entries: HealthEntry[] = [];
      const one = entriesFor(1, farmPort, ['HAPROXY.ENABLE=true'])[0] as HealthEntry;
      for (let s = 0; s < n; s++) entries.push({ ...one, Service: { ...one.Service, Service: svcName(s), ID: `${svcName(s)}-0`, Address: '127.0.0.1' } });
      const paths = { filesDir: dir, statsSocket: path.join(dir, 'haproxy.sock'), serverState: path.join(dir, 'server-state') };
      const built = render({ model: buildModel({ entries, settings }), templates, paths });
      for (const f of built.files) await writeFile(f.path, f.contents);
      const cfg = path.join(dir, 'haproxy.cfg');
      await writeFile(cfg, built.config);
      const hap = spawn('haproxy', ['-db', '-f', cfg], { stdio: 'ignore' });
      try {
        for (let i = 0; i < 100 && (await through(httpPort, `${svcName(Math.floor(n / 2))}.${DOMAIN}`)).status !== 200; i++) await sleep(100);
        const abort = new AbortController();
        const cpu0 = await cpuMs(hap.pid as number);
        setTimeout(() => abort.abort(), Number(opts['rps-seconds']) * 1000);
        const started = performance.now();
        const stats = await runLoad({ port: httpPort, hostHeader: `${svcName(Math.floor(n / 2))}.${DOMAIN}`, concurrency: 32, mode: 'keepalive' }, abort.signal);
        const secs = (performance.now() - started) / 1000;
        const cpu = (await cpuMs(hap.pid as number)) - cpu0;
        rows.push({ services: n, rps: stats.ok / secs, haproxyUsPerReq: (cpu * 1000) / Math.max(1, stats.ok), p99: pct(stats.latenciesMs, 99) });
        log(`rps ${n} services: ${(stats.ok / secs).toFixed(0)} req/s, ${stats.ok} ok, ${stats.requests - stats.ok} failed`);
      } finally {
        hap.kill('SIGTERM');
        await new Promise((r) => hap.once('exit', r));
      }
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  return rows;
}

// ---- main ----------------------------------------------------------------------------------------

/** One server on 0.0.0.0 for every instance: it answers with the address it was reached at. */
async function startFarm(): Promise<{ port: number; close: () => Promise<void> }> {
  const server = http.createServer((req, res) => res.end(`${req.socket.localAddress?.replace(/^::ffff:/, '') ?? ''}\n`));
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve) => server.listen(0, '0.0.0.0', resolve));
  return { port: (server.address() as { port: number }).port, close: () => new Promise((r) => { server.closeAllConnections(); server.close(() => r()); }) };
}

const f0 = (x: number | undefined) => (x === undefined || Number.isNaN(x) ? '–' : x.toFixed(0));
const f1 = (x: number | undefined) => (x === undefined || Number.isNaN(x) ? '–' : x.toFixed(1));
const f2 = (x: number | undefined) => (x === undefined || Number.isNaN(x) ? '–' : x.toFixed(2));
const kb = (b: number | undefined) => (b === undefined ? '–' : b >= 1e6 ? `${(b / 1e6).toFixed(1)} MB` : `${(b / 1e3).toFixed(1)} KB`);

function report(results: SizeResult[], rps: Awaited<ReturnType<typeof measureRps>>): string {
  const lines: string[] = [];
  const row = (cells: unknown[]) => lines.push(`| ${cells.join(' | ')} |`);
  lines.push('| services (× instances) | servers | checks | CLI render s / MB | haproxy -c s / MB | config MB | in-process model / render ms (without strict view) | incremental first render ms | incremental change CPU ms p50 / p99 |');
  lines.push('|---|---|---|---|---|---|---|---|---|');
  for (const r of results) row([`${r.services} (×${INSTANCES})`, r.servers, r.checks ? 'yes' : 'no', `${f2(r.cli?.renderS)} / ${f0(r.cli?.renderMb)}`, `${f2(r.cli?.checkS)} / ${f0(r.cli?.checkMb)}`, f1(r.cli?.configMb), `${f0(r.inproc?.modelMs)} / ${f0(r.inproc?.renderMs)} (${f0(r.inproc?.renderNoProxyMs)})`, f0(r.inproc?.incFirstMs), `${f1(r.inproc?.incChangeCpuP50)} / ${f1(r.inproc?.incChangeCpuP99)}`]);
  lines.push('');
  lines.push('| services | first config s | startup Consul requests / bytes | hapilot peak RSS MB | idle 10 s: CPU ms / Consul requests | server-only change: p50 / p99 ms | requests / bytes per change | hapilot CPU ms p50 / p99 | structural change: p50 / p99 ms | requests / bytes | hapilot CPU ms p50 / p99 |');
  lines.push('|---|---|---|---|---|---|---|---|---|---|---|');
  for (const r of results) {
    const so = r.serverOnly;
    const st = r.structural;
    row([r.services, f2(r.startup?.firstConfigS), r.startup ? `${r.startup.requests} / ${f1(r.startup.bytesMb)} MB` : '–', f0(r.peakRssMb ?? r.startup?.rssMb), r.idle ? `${r.idle.cpuMs} / ${r.idle.requests}` : '–',
      so ? `${f0(so.p50)} / ${f0(so.p99)}` : '–', so ? `${so.requestsP50} / ${kb(so.bytesP50)}` : '–', so ? `${f0(so.cpuP50)} / ${f0(so.cpuP99)}` : '–',
      st ? `${f0(st.p50)} / ${f0(st.p99)}` : '–', st ? `${st.requestsP50} / ${kb(st.bytesP50)}` : '–', st ? `${f0(st.cpuP50)} / ${f0(st.cpuP99)}` : '–']);
  }
  lines.push('');
  lines.push('| services | design | long-polls (connections) held | startup requests / bytes | requests per change | bytes per change |');
  lines.push('|---|---|---|---|---|---|');
  for (const r of results) {
    if (r.startup && r.serverOnly) row([r.services, 'hapilot', '2 (+1 while re-reading)', `${r.startup.requests} / ${f1(r.startup.bytesMb)} MB`, r.serverOnly.requestsP50, kb(r.serverOnly.bytesP50)]);
    if (r.consulTemplate) row([r.services, 'one blocking query per service (consul-template)', r.consulTemplate.connections, `${r.consulTemplate.startupRequests} / ${f1(r.consulTemplate.startupBytesMb)} MB`, r.consulTemplate.requestsPerChange, kb(r.consulTemplate.bytesPerChange)]);
  }
  if (rps.length) {
    lines.push('');
    lines.push('| HTTP services (host map) | req/s (keep-alive, 32 clients) | HAProxy CPU µs per request | p99 ms |');
    lines.push('|---|---|---|---|');
    for (const r of rps) row([r.services, f0(r.rps), f1(r.haproxyUsPerReq), f1(r.p99)]);
  }
  for (const r of results) if (r.error) lines.push(`\n${r.services} services: error: ${r.error}`);
  return lines.join('\n');
}

async function main(): Promise<void> {
  const farm = await startFarm();
  const results: SizeResult[] = [];
  try {
    log(`hapilot: ${CLI}`);
    for (const n of SIZES) {
      results.push(await measureSize(n, farm.port));
      // Partial results survive an interrupted run.
      if (opts.json) await writeFile(opts.json, JSON.stringify({ cli: CLI, results, at: new Date().toISOString() }, null, 2));
      console.error(JSON.stringify(results[results.length - 1]));
    }
    const rps = SKIP.has('rps') ? [] : await measureRps(farm.port);
    const text = report(results, rps);
    console.log(text);
    if (opts.json) await writeFile(opts.json, JSON.stringify({ cli: CLI, results, rps, at: new Date().toISOString() }, null, 2));
  } finally {
    agent.destroy();
    await farm.close();
  }
}

await main();
