// npm run bench:soak — hapilot for a long run under churn, load and faults, then the figures that
// say whether anything leaked or was lost (issue 11, "Soak"). Everything on 127.0.0.1:
// - the Consul simulator in this process (stopping and starting it keeps its state), stopped for a
//   while every 5 minutes;
// - hapilot as a subprocess (`node dist/src/cli/main.js run`), so it can be SIGKILLed and restarted;
//   it starts HAProxy (master-worker, free loopback ports, hard-stop-after 30s) in a private run dir;
// - a churn trace at about 5 catalog changes a second (seeded), bounded (soak-churn.ts);
// - load with new-connection and keep-alive clients, paced (soak-load.ts);
// - one HAProxy worker SIGKILLed, hapilot SIGKILLed once and restarted.
// Options: --minutes N (30; times scale with it), --seed S (11), --rate R (5 changes/s), --json.
// Needs `npm run build` (dist/, copied at the start) and `haproxy` on PATH.
import { spawn, type ChildProcess } from 'node:child_process';
import { cp, mkdtemp, mkdir, open, readFile, rm, symlink, writeFile, type FileHandle } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConsulSim } from '../test/sim/consul-sim.js';
import { freePorts } from '../test/helpers/haproxy.js';
import { parseShowProc, socketCommand } from '../src/haproxy/socket.js';
import { BackendSet } from './lib/soak-backends.js';
import { Churn } from './lib/soak-churn.js';
import { emptyTotals, runSoakLoad, type LoadTotals } from './lib/soak-load.js';
import { classify, type Classified } from './lib/soak-classify.js';
import { alive, firewallRulesLeft, haproxyProcesses, sampleProc, waitGone, type ProcSample } from './lib/soak-proc.js';
import { diffMaps, expectedFromCatalog, fromHaproxy, fromStatus } from './lib/soak-compare.js';
import { arg } from './lib/args.js';

const minutes = Number(arg('minutes', '30'));
const seed = Number(arg('seed', '11'));
const rate = Number(arg('rate', '5'));
if (!(minutes > 0) || !Number.isInteger(seed) || !(rate > 0 && rate <= 50)) {
  console.error(`bench:soak: --minutes ${JSON.stringify(arg('minutes', '30'))} / --seed / --rate invalid: expected minutes > 0, an integer seed, 0 < rate <= 50`);
  process.exit(2);
}
const DURATION = minutes * 60_000;
const scale = minutes / 30;
const HARD_STOP_AFTER_S = 30;
const REMOVAL_HOLD_S = 20;
/** How long the end check waits for the config to equal the catalog (several removal holds). */
const SETTLE_S = REMOVAL_HOLD_S * 6 + 60;
const DOMAIN = 'soak.test';
const LOADED = ['web-a', 'web-b', 'web-c', 'web-d'];
const GONE_WINDOW_MS = 20_000;
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

const t0 = Date.now();
const el = () => ((Date.now() - t0) / 60_000).toFixed(2);
const say = (msg: string) => process.stderr.write(`[soak ${el()} min] ${msg}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ---- everything started here, stopped on every path -------------------------------------------
const sim = new ConsulSim();
const backends = new BackendSet();
const loadAc = new AbortController();
let churn: Churn | undefined;
let churnStop = false;
let hapilot: ChildProcess | undefined;
let hapilotExited: Promise<void> = Promise.resolve();
let workDir = '';
let runDir = '';
let appDir = '';
let logFile: FileHandle | undefined;
let cleaning: Promise<void> | undefined;

async function stopHapilot(sig: NodeJS.Signals): Promise<void> {
  const p = hapilot;
  if (!p?.pid || p.exitCode !== null || p.signalCode !== null) return;
  p.kill(sig);
  await Promise.race([hapilotExited, sleep(15_000)]);
  if (p.exitCode === null && p.signalCode === null) {
    p.kill('SIGKILL');
    await hapilotExited;
  }
}

function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    churnStop = true;
    loadAc.abort();
    churn?.stop();
    await stopHapilot('SIGTERM').catch(() => undefined);
    // HAProxy was started for this run (its command line names our private run dir): end what is left.
    if (runDir) {
      for (const sig of ['SIGTERM', 'SIGKILL'] as const) {
        const left = await haproxyProcesses(runDir);
        for (const p of left) try { process.kill(p.pid, sig); } catch { /* gone */ }
        for (const p of left) await waitGone(p.pid, 3000);
      }
    }
    await backends.closeAll().catch(() => undefined);
    await sim.stop().catch(() => undefined);
    await logFile?.close().catch(() => undefined);
    if (workDir) await rm(workDir, { recursive: true, force: true }).catch(() => undefined);
  })();
  return cleaning;
}

for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.once(sig, () => {
    say(`${sig}: stopping everything this bench started`);
    void cleanup().finally(() => process.exit(130));
  });
}

// ---- hapilot as a subprocess -------------------------------------------------------------------
interface Ports { http: number; stats: number; status: number }

async function startHapilot(ports: Ports, logPath: string): Promise<ChildProcess> {
  logFile ??= await open(logPath, 'a');
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^(CONSUL_|HAPILOT_|HAPROXY_)/.test(k)) env[k] = v;
  Object.assign(env, {
    HAPROXY_DOM: DOMAIN, HAPROXY_HTTP_PORT: String(ports.http), HAPROXY_STATS_PORT: String(ports.stats),
    HAPROXY_HARD_STOP_AFTER: `${HARD_STOP_AFTER_S}s`, HAPROXY_MAXCONN_GLOBAL: '4000', HAPROXY_MAXCONN: '2000',
  });
  const child = spawn(process.execPath, [path.join(appDir, 'dist/src/cli/main.js'), 'run', '--consul', sim.url, '--run-dir', runDir,
    '--status-listen', `127.0.0.1:${ports.status}`, '--stop-haproxy-on-exit', '--removal-hold', `${REMOVAL_HOLD_S}s`, '--log-level', process.env.HAPILOT_SOAK_LOG ?? 'info'],
  { env, stdio: ['ignore', logFile.fd, logFile.fd], detached: true });
  hapilot = child;
  hapilotExited = new Promise((resolve) => child.once('exit', () => resolve()));
  return child;
}

async function waitReady(statusPort: number, ms: number): Promise<number> {
  const start = Date.now();
  while (Date.now() - start < ms) {
    const ok = await fetch(`http://127.0.0.1:${statusPort}/ready`).then((r) => r.ok, () => false);
    if (ok) return Date.now() - start;
    await sleep(100);
  }
  throw new Error(`hapilot not ready after ${ms} ms (see its log)`);
}

async function masterProcs(): Promise<ReturnType<typeof parseShowProc>> {
  return parseShowProc(await socketCommand(path.join(runDir, 'master.sock'), 'show proc', 3000));
}

async function haproxyServes(statsPort: number): Promise<boolean> {
  return fetch(`http://127.0.0.1:${statsPort}/healthz`, { signal: AbortSignal.timeout(1000) }).then((r) => r.ok, () => false);
}

// ---- the run -----------------------------------------------------------------------------------
interface Sample { minute: number; label: string; hapilot?: ProcSample; worker?: ProcSample; oldWorkers?: number; load1: number }

async function main(): Promise<void> {
  workDir = await mkdtemp(path.join(os.tmpdir(), 'hapilot-soak-'));
  runDir = path.join(workDir, 'run');
  await mkdir(runDir);
  // A frozen copy of the build: others may rebuild dist/ during a 30-minute run, and hapilot is
  // started twice (the restart after SIGKILL must run the same code).
  appDir = path.join(workDir, 'app');
  for (const p of ['dist', 'templates', 'package.json']) await cp(path.join(ROOT, p), path.join(appDir, p), { recursive: true });
  await symlink(path.join(ROOT, 'node_modules'), path.join(appDir, 'node_modules'));
  const logDir = await mkdtemp(path.join(os.tmpdir(), 'hapilot-soak-logs-'));
  const logPath = path.join(logDir, 'hapilot.log');
  const [http, stats, status] = await freePorts(3) as [number, number, number];
  const ports: Ports = { http, stats, status };
  const statusUrl = `http://127.0.0.1:${status}`;
  say(`${minutes} min, seed ${seed}, ${rate} changes/s; HAProxy http :${http}, stats :${stats}; hapilot status ${statusUrl}; log ${logPath}`);

  await sim.start();
  const bgFarm = await Promise.all(Array.from({ length: 6 }, (_, i) => backends.start('bg-farm', `l${i}`)));
  churn = new Churn({ sim, backends, seed, loadedServices: LOADED, bgPorts: bgFarm.map((b) => b.port), drainMs: 45_000 });
  await churn.init();
  for (let i = 0; i < 10; i++) await churn.step(); // some background services before the start

  const first = await startHapilot(ports, logPath);
  say(`hapilot pid ${first.pid}; ready after ${await waitReady(status, 60_000)} ms`);

  // Load: bounded rate (8 workers, each pausing between requests: a few hundred requests a second), 127.0.0.1 only.
  const totals: LoadTotals = emptyTotals();
  const load = Promise.all([
    runSoakLoad({ port: http, services: LOADED, domain: DOMAIN, workers: 4, mode: 'close', thinkMs: 20 }, totals, loadAc.signal),
    runSoakLoad({ port: http, services: LOADED, domain: DOMAIN, workers: 4, mode: 'keepalive', thinkMs: 10 }, totals, loadAc.signal),
  ]);

  // Churn: `rate` changes a second on an absolute schedule (a slow step does not cause a burst).
  let changes = 0;
  const churnLoop = (async () => {
    let due = Date.now();
    while (!churnStop && Date.now() - t0 < DURATION) {
      due += 1000 / rate;
      const wait = due - Date.now();
      if (wait > 0) await sleep(wait);
      else due = Date.now();
      if (churnStop) break;
      await churn!.step();
      changes++;
    }
  })();

  const samples: Sample[] = [];
  const loadavg = async () => Number((await readFile('/proc/loadavg', 'utf8')).split(' ')[0]);
  const sample = async (label: string): Promise<Sample> => {
    let workerPid: number | undefined;
    let oldWorkers: number | undefined;
    try {
      const ps = await masterProcs();
      workerPid = ps.find((p) => p.type === 'worker' && p.reloads === 0)?.pid;
      oldWorkers = ps.filter((p) => p.type === 'worker' && p.reloads > 0).length;
    } catch { /* none */ }
    const s: Sample = {
      minute: Number(el()), label, load1: await loadavg(), ...(oldWorkers !== undefined ? { oldWorkers } : {}),
      ...(hapilot?.pid ? { hapilot: await sampleProc(hapilot.pid) } : {}),
      ...(workerPid ? { worker: await sampleProc(workerPid) } : {}),
    };
    samples.push(s);
    return s;
  };

  // Faults and samples, in time order (times scale with --minutes).
  const haproxyDown: Array<[number, number]> = [];
  const facts: Record<string, string | number> = {};
  let restartedAt = 0;
  let metricsFirst: Record<string, number> = {};
  const plan: Array<{ at: number; name: string; run: () => Promise<void> }> = [];
  plan.push({ at: DURATION / 6, name: 'sample: hapilot (first process) at minute 5', run: async () => { await sample('first process, minute 5'); } });
  const simDownMs = Math.max(5_000, Math.round(15_000 * Math.min(1, scale * 2)));
  for (let k = 1; k <= 5; k++) {
    plan.push({
      at: (k * DURATION) / 6 + 2_000, name: `Consul simulator stopped for ${simDownMs / 1000} s (${k}/5)`, run: async () => {
        await sim.stop();
        await sleep(simDownMs);
        await sim.restart();
      },
    });
  }
  plan.push({
    at: DURATION * 0.2 + 20_000 * scale, name: 'hapilot SIGKILLed and restarted', run: async () => {
      await sample('first process, before SIGKILL');
      metricsFirst = parseMetrics(await fetch(`${statusUrl}/metrics`).then((r) => r.text()).catch(() => ''));
      const pid = hapilot!.pid!;
      hapilot!.kill('SIGKILL');
      await hapilotExited;
      const servingWhileDead = await haproxyServes(stats);
      await sleep(1000);
      const next = await startHapilot(ports, logPath);
      restartedAt = Date.now();
      const readyMs = await waitReady(status, 60_000);
      facts.hapilotKill = `pid ${pid} SIGKILLed; HAProxy ${servingWhileDead ? 'kept serving' : 'NOT serving'} while it was dead; restarted as pid ${next.pid}, ready after ${readyMs} ms`;
      const p2at = restartedAt + DURATION / 6;
      plan.push({ at: p2at - t0, name: 'sample: restarted hapilot 5 minutes after its start', run: async () => { await sample('restarted process, 5 min after its start'); } });
      plan.sort((a, b) => a.at - b.at);
    },
  });
  plan.push({
    at: DURATION * 0.75, name: 'one HAProxy worker SIGKILLed', run: async () => {
      const worker = (await masterProcs()).find((p) => p.type === 'worker' && p.reloads === 0);
      if (!worker) throw new Error('no current HAProxy worker in show proc');
      const down0 = Date.now();
      process.kill(worker.pid, 'SIGKILL');
      await sleep(200);
      const until = Date.now() + 60_000;
      let newWorker: number | undefined;
      while (Date.now() < until) {
        newWorker = await masterProcs().then((ps) => ps.find((p) => p.type === 'worker' && p.reloads === 0)?.pid, () => undefined);
        if (newWorker && newWorker !== worker.pid && await haproxyServes(stats)) break;
        newWorker = undefined;
        await sleep(100);
      }
      const down1 = Date.now();
      haproxyDown.push([down0, down1 + 1000]);
      facts.workerKill = `worker pid ${worker.pid} SIGKILLed; HAProxy serving again with worker ${newWorker ?? 'NONE'} after ${down1 - down0} ms`;
    },
  });
  plan.sort((a, b) => a.at - b.at);

  const sampleEvery = Math.max(10_000, 60_000 * scale);
  let nextSample = Date.now();
  while (Date.now() - t0 < DURATION) {
    if (Date.now() >= nextSample) {
      const s = await sample('periodic');
      const c = classify({ outcomes: totals.notable, events: churn.events, goneWindowMs: GONE_WINDOW_MS, haproxyDown });
      const sum = churn.summary();
      say(`req ${totals.requests} ok ${totals.ok} | critical ${c.critical} gone ${c.gone} haproxy-killed ${c.haproxyKilled} REAL ${c.real} | changes ${changes} | bg svcs ${sum.bg} loaded inst ${sum.loadedInstances} | hapilot rss ${s.hapilot?.rssKiB ?? '-'} KiB fds ${s.hapilot?.fds ?? '-'} | load1 ${s.load1}`);
      nextSample += sampleEvery;
    }
    const step = plan[0];
    if (step && Date.now() - t0 >= step.at) {
      plan.shift();
      say(step.name);
      await step.run();
    }
    await sleep(200);
  }
  await sample('end of the run');

  // The end: churn stops, load goes on briefly, then the checks.
  churnStop = true;
  await churnLoop;
  const churnSeconds = (Date.now() - t0) / 1000;
  await sleep(5_000);
  loadAc.abort();
  await load;
  say(`churn and load stopped; ${changes} changes in ${churnSeconds.toFixed(0)} s`);

  const convergeStart = Date.now();
  let diffStatus: string[] = ['not checked'];
  let diffHaproxy: string[] = ['not checked'];
  let st: Awaited<ReturnType<typeof fromStatus>> | undefined;
  while (Date.now() - convergeStart < SETTLE_S * 1000) {
    try {
      const want = await expectedFromCatalog(sim.url);
      st = await fromStatus(statusUrl);
      diffStatus = diffMaps(want, st.servers);
      diffHaproxy = diffMaps(want, await fromHaproxy(path.join(runDir, 'haproxy.sock')));
      if (diffStatus.length === 0 && diffHaproxy.length === 0 && st.holds === 0) break;
    } catch (err) {
      diffStatus = [`error: ${(err as Error).message}`];
    }
    await sleep(1000);
  }
  const convergeMs = Date.now() - convergeStart;
  // What hapilot said of itself at the end (source index, last contact, behind, holds): kept next to its log.
  for (const [file, url] of [['status-at-end.json', `${statusUrl}/status`], ['metrics-at-end.txt', `${statusUrl}/metrics`]] as const) {
    await fetch(url).then(async (r) => writeFile(path.join(path.dirname(logPath), file), await r.text())).catch(() => undefined);
  }
  const want = await expectedFromCatalog(sim.url);
  say(`config vs catalog: ${diffStatus.length + diffHaproxy.length === 0 ? 'equal' : `DIFFERENT (${[...diffStatus, ...diffHaproxy].slice(0, 12).join('; ')}; holds ${st?.holds})`} after ${convergeMs} ms`);

  // Old HAProxy processes: wait out hard-stop-after (plus margin) from the last reload.
  const oldStart = Date.now();
  let old = -1;
  while (Date.now() - oldStart < (HARD_STOP_AFTER_S + 20) * 1000) {
    old = await masterProcs().then((ps) => ps.filter((p) => p.type === 'worker' && p.reloads > 0).length, () => -1);
    if (old === 0) break;
    await sleep(1000);
  }
  const procs = await haproxyProcesses(runDir);
  const fw = await firewallRulesLeft();
  const end = await sample('after the checks');

  const c: Classified = classify({ outcomes: totals.notable, events: churn.events, goneWindowMs: GONE_WINDOW_MS, haproxyDown });
  const metricsRestarted = parseMetrics(await fetch(`${statusUrl}/metrics`).then((r) => r.text()).catch(() => ''));
  const metricsTotal: Record<string, number> = { ...metricsFirst };
  for (const [k, v] of Object.entries(metricsRestarted)) metricsTotal[k] = (metricsTotal[k] ?? 0) + v;
  const loads = samples.map((x) => x.load1);
  const report = {
    minutes, seed, rate, churnSeconds: Math.round(churnSeconds), changes, changesPerSecond: +(changes / churnSeconds).toFixed(2),
    churn: churn.counts, crashes: churn.events.filter((e) => e.kind === 'crash').length,
    requests: totals.requests, byMode: totals.byMode, ok: totals.ok,
    failures: { ...c, realSamples: c.realSamples.slice(0, 5) },
    drainingServed: totals.drainingServed, drainingMaxAgeS: +(totals.drainingMaxAgeMs / 1000).toFixed(1),
    samples, facts,
    restartedAtMinute: restartedAt ? +((restartedAt - t0) / 60_000).toFixed(2) : null,
    oldHaproxyWorkersAtEnd: old, oldWaitS: Math.round((Date.now() - oldStart) / 1000),
    haproxyProcessesAtEnd: procs.length, firewallRulesLeft: fw,
    configMatchesCatalog: diffStatus.length === 0 && diffHaproxy.length === 0,
    convergeS: +(convergeMs / 1000).toFixed(1), catalogBackends: want.size, catalogServers: [...want.values()].reduce((n, v) => n + v.passing.length + v.keep, 0), keptByThreshold: [...want.values()].reduce((n, v) => n + v.keep, 0),
    diffStatus: diffStatus.slice(0, 10), diffHaproxy: diffHaproxy.slice(0, 10), holdsAtEnd: st?.holds, quarantinedAtEnd: st?.quarantined, degradedAtEnd: st?.degraded,
    metrics: { firstProcess: metricsFirst, restartedProcess: metricsRestarted, total: metricsTotal },
    maxOldWorkersSeen: Math.max(0, ...samples.map((x) => x.oldWorkers ?? 0)),
    load1: { min: Math.min(...loads), max: Math.max(...loads), mean: +(loads.reduce((n, x) => n + x, 0) / loads.length).toFixed(2) },
    machine: { nproc: os.cpus().length, memTotalGiB: +(os.totalmem() / 2 ** 30).toFixed(1), node: process.version },
    endSample: end,
    logPath,
  };

  await cleanup();
  const leftAfter = await haproxyProcesses(runDir);
  console.log(formatReport(report, leftAfter.length, alive(first.pid ?? 0)));
  if (process.argv.includes('--json')) console.log(JSON.stringify(report, null, 2));
}

/** hapilot's counters worth reporting, summed over their labels: `reloads{action=…,result=…}` and a few totals. */
function parseMetrics(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const m = /^(hapilot_[a-z_]+_total)(?:\{([^}]*)\})? (\d+(?:\.\d+)?)$/.exec(line);
    if (!m) continue;
    const [, name, labels = '', value] = m;
    let key = name!.replace(/^hapilot_|_total$/g, '');
    if (name === 'hapilot_reloads_total') key = `reloads{${/action="([^"]*)"/.exec(labels)?.[1]},${/result="([^"]*)"/.exec(labels)?.[1]}}`;
    else if (!['hapilot_reloads_delayed_total', 'hapilot_self_check_failures_total', 'hapilot_haproxy_restarts_total', 'hapilot_haproxy_residual_killed_total', 'hapilot_validation_failures_total', 'hapilot_consul_full_resyncs_total', 'hapilot_consul_errors_total'].includes(name!)) continue;
    out[key] = (out[key] ?? 0) + Number(value);
  }
  return out;
}

function formatReport(r: Record<string, unknown> & { samples: Sample[] }, leftAfter: number, firstAlive: boolean): string {
  const f = r.failures as Classified;
  const s = (label: string) => r.samples.find((x) => x.label === label);
  const mem = (x: Sample | undefined) => x?.hapilot ? `${(x.hapilot.rssKiB / 1024).toFixed(1)} MiB, ${x.hapilot.fds} fds (min ${x.minute})` : 'n/a';
  const rows = [
    ['failed requests, real (target 0)', `${f.real}${f.real ? ` ${JSON.stringify(f.realBy)}` : ''}`],
    ['answered 500 by an instance the churn had made critical', `${f.critical} (at most ${(f.criticalMaxAgeMs / 1000).toFixed(1)} s after the flip)`],
    ['failed on a service right after one of its servers crashed', String(f.gone)],
    ['failed while the killed HAProxy worker was being replaced', `${f.haproxyKilled} ${JSON.stringify(f.haproxyKilledBy)}`],
    ['requests (new connection / keep-alive)', `${r.requests} (${(r.byMode as Record<string, number>).close} / ${(r.byMode as Record<string, number>).keepalive})`],
    ['catalog changes', `${r.changes} in ${r.churnSeconds} s (${r.changesPerSecond}/s)`],
    ['hapilot RSS, fds: first process, minute 5', mem(s('first process, minute 5'))],
    ['hapilot RSS, fds: first process, before SIGKILL', mem(s('first process, before SIGKILL'))],
    ['hapilot RSS, fds: restarted process, 5 min after its start', mem(s('restarted process, 5 min after its start'))],
    ['hapilot RSS, fds: restarted process, end of run', mem(s('end of the run'))],
    ['HAProxy worker RSS at 5 min / end', `${((s('first process, minute 5')?.worker?.rssKiB ?? 0) / 1024).toFixed(1)} / ${((s('end of the run')?.worker?.rssKiB ?? 0) / 1024).toFixed(1)} MiB`],
    ['old HAProxy processes at the end (target 0)', `${r.oldHaproxyWorkersAtEnd} (HAProxy processes of the run: ${r.haproxyProcessesAtEnd}, master + worker = 2)`],
    ['firewall rules left (target 0)', String(r.firewallRulesLeft)],
    ['config matches the catalog at the end', `${r.configMatchesCatalog ? 'yes' : 'NO'} (${r.catalogBackends} backends, ${r.catalogServers} servers of which ${r.keptByThreshold} failing ones the depool threshold keeps; /status and HAProxy show stat; ${r.configMatchesCatalog ? `equal ${r.convergeS} s after the churn stopped (+5 s)` : `still different ${r.convergeS} s after the churn stopped (+5 s): ${(r.diffStatus as string[]).join('; ')}; holds ${r.holdsAtEnd}`})`],
    ['hapilot SIGKILL', String((r.facts as Record<string, string>).hapilotKill ?? 'not done')],
    ['HAProxy worker SIGKILL', String((r.facts as Record<string, string>).workerKill ?? 'not done')],
    ['hapilot counters (both processes)', Object.entries((r.metrics as { total: Record<string, number> }).total).map(([k, v]) => `${k} ${v}`).join(', ')],
    ['most old HAProxy workers seen at a sample', String(r.maxOldWorkersSeen)],
    ['load average (1 min) over the samples', JSON.stringify(r.load1)],
    ['processes left after the bench', `${leftAfter} HAProxy, first hapilot ${firstAlive ? 'ALIVE' : 'gone'}`],
  ];
  return ['| figure | value |', '|---|---|', ...rows.map(([a, b]) => `| ${a} | ${b} |`)].join('\n');
}

main().catch(async (err: unknown) => {
  say(`failed: ${(err as Error).stack ?? String(err)}`);
  await cleanup();
  process.exit(1);
});
