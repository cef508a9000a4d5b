// bench:scale's results as markdown tables: per size, the curves through the sizes (a line per
// figure that grows, and the check of that line against the largest size), and the extrapolation
// to what cannot run here (10,000 services × 10 with health checks: about 100,000 descriptors for
// the checks alone under a hard limit of 20,000). Extrapolated figures are labelled as such.
import { at, fitLine, type Line } from './scale-fit.js';
import type { HaproxyAlone } from './scale-haproxy.js';

export interface ChangeStats {
  n: number;
  /** Changes asked for; fewer when the phase's time budget ran out or a change failed. */
  planned: number;
  /** The change that did not converge in time (it ended the phase). */
  failed: string | undefined;
  timeoutMs: number;
  p50: number;
  p99: number;
  max: number;
  requestsP50: number;
  bytesP50: number;
  cpuP50: number;
  cpuP99: number;
  /**
   * Changes that reloaded: HAProxy's own reload in each (from the daemon's /status, `timings.haproxyMs`)
   * and the latency minus it, ms. undefined for server-only changes.
   */
  reloads?: { n: number; haproxyP50: number; haproxyMax: number; ownP50: number; ownP99: number } | undefined;
}

/** Consul's own part of a change: write → the held checks long-poll's headers and last byte (ms). */
export interface ConsulAnswer { headersP50: number; completeP50: number; completeMax: number; n: number }

export interface SizeResult {
  services: number;
  servers: number;
  /** The daemon ran with health checks (the servers' checks fit the descriptor limit). */
  checks: boolean;
  /** Measured for the render and HAProxy curves only (no daemon). */
  curveOnly: boolean;
  seconds: number;
  loadStart: number[];
  loadEnd: number[];
  cli: {
    /** The built-in templates, with checks, as a user renders them. */
    renderS: number; renderMb: number; configMb: number; checkS: number; checkMb: number;
    /** The same catalog through the templates without `check` (what runs where checks do not fit). */
    noCheckRenderS: number; noCheckCheckS: number; noCheckCheckMb: number;
  } | undefined;
  haproxy: { checks: HaproxyAlone | undefined; noChecks: HaproxyAlone | undefined; checksError: string | undefined } | undefined;
  inproc: { modelMs: number; renderMs: number; renderNoProxyMs: number; incFirstMs: number; incChangeCpuP50: number; incChangeCpuP99: number } | undefined;
  /** What any design that reads the whole checks list pays per change: JSON.parse of it. */
  floor: {
    checksBytes: number; checksParseMs: number; checksReceiveCpuMs?: number; checksReceiveReusedCpuMs?: number; serviceBytes: number; serviceParseMs: number;
    wake?: ConsulAnswer;
  } | undefined;
  /** `cpuMs`: hapilot's CPU time (all its threads) from its start to the first config served. */
  startup: { firstConfigS: number; requests: number; bytesMb: number; rssMb: number; cpuMs?: number } | undefined;
  /** Also the long-polls hapilot holds while idle, and its connections to the simulator. */
  idle: { cpuMs: number; requests: number; seconds: number; longPolls: number; connections: number; held: Record<string, number> } | undefined;
  serverOnly: ChangeStats | undefined;
  structural: ChangeStats | undefined;
  peakRssMb: number | undefined;
  /** The quiet after the first config (--rest-seconds): RSS 1 s into it and at its end, the second from which it stayed within 5 MB of the end, the CPU of it all. */
  rest: { seconds: number; startMb: number; endMb: number; settledS: number; cpuMs: number } | undefined;
  /** The status server asked 3 times per path after the changes: p50 wall time and hapilot CPU per request, and VmHWM after it all. */
  endpoints: { paths: Array<{ path: string; status: number; bytes: number; msP50: number; cpuP50: number; heldMsP50: number }>; hwmMb: number } | undefined;
  consulTemplate: { connections: number; requestsPerChange: number; bytesPerChange: number; startupRequests: number; startupBytesMb: number } | undefined;
  consulTemplateError: string | undefined;
  /** What stopped a phase or the size (each one line). */
  errors: string[];
}

export interface RpsRow { services: number; rps: number; haproxyUsPerReq: number; p99: number }

const ok = (x: number | undefined): x is number => x !== undefined && Number.isFinite(x);
const f0 = (x: number | undefined) => (ok(x) ? x.toFixed(0) : '–');
const f1 = (x: number | undefined) => (ok(x) ? x.toFixed(1) : '–');
const f2 = (x: number | undefined) => (ok(x) ? x.toFixed(2) : '–');
const fs = (x: number | undefined) => (ok(x) ? (Math.abs(x) >= 100 ? x.toFixed(0) : Math.abs(x) >= 10 ? x.toFixed(1) : x.toFixed(2)) : '–');
const kb = (b: number | undefined) => (!ok(b) ? '–' : b >= 1e6 ? `${(b / 1e6).toFixed(1)} MB` : `${(b / 1e3).toFixed(1)} KB`);
const p50 = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor((v.length - 1) / 2)];
const n = (x: number) => x.toLocaleString('en-US');

function reloadCell(times: number[] | undefined): string {
  if (!times?.length) return '–';
  return `${f2(p50(times))} / ${f2(Math.max(...times))} (${times.length})`;
}

function changeCell(s: ChangeStats | undefined): string {
  if (!s) return '–';
  const timedOut = `> ${n(s.timeoutMs)} ms`;
  if (s.n === 0) return `${timedOut}: the first did not converge (0 of ${s.planned})`;
  return `${f0(s.p50)} / ${f0(s.p99)} / ${f0(s.max)} (${s.n}${s.n < s.planned ? ` of ${s.planned}: ${s.failed ? `then one took ${timedOut}` : 'time budget'}` : ''})`;
}

interface Curve { name: string; unit: string; value: (r: SizeResult) => number | undefined }

const CURVES: Curve[] = [
  { name: 'first config', unit: 's', value: (r) => r.startup?.firstConfigS },
  { name: 'startup bytes from Consul', unit: 'MB', value: (r) => r.startup?.bytesMb },
  { name: 'hapilot peak RSS', unit: 'MB', value: (r) => r.peakRssMb ?? r.startup?.rssMb },
  { name: 'CLI render (checks)', unit: 's', value: (r) => r.cli?.renderS },
  { name: 'CLI render max RSS', unit: 'MB', value: (r) => r.cli?.renderMb },
  { name: 'in-process full render', unit: 'ms', value: (r) => r.inproc?.renderMs },
  { name: 'incremental first render', unit: 'ms', value: (r) => r.inproc?.incFirstMs },
  { name: 'haproxy -c (checks)', unit: 's', value: (r) => r.cli?.checkS },
  { name: 'haproxy -c (no checks)', unit: 's', value: (r) => r.cli?.noCheckCheckS },
  { name: 'HAProxy start (no checks)', unit: 's', value: (r) => r.haproxy?.noChecks?.startS },
  { name: 'HAProxy reload p50 (no checks)', unit: 's', value: (r) => (r.haproxy?.noChecks ? p50(r.haproxy.noChecks.reloadS) : undefined) },
  { name: 'HAProxy reload with the state file p50 (no checks)', unit: 's', value: (r) => (r.haproxy?.noChecks?.reloadStateS.length ? p50(r.haproxy.noChecks.reloadStateS) : undefined) },
  { name: 'HAProxy worker RSS (no checks)', unit: 'MB', value: (r) => r.haproxy?.noChecks?.workerMb },
  { name: 'Consul bytes per server-only change', unit: 'MB', value: (r) => (r.serverOnly ? r.serverOnly.bytesP50 / 1e6 : undefined) },
  { name: 'hapilot CPU per server-only change p50', unit: 'ms', value: (r) => r.serverOnly?.cpuP50 },
  { name: 'hapilot CPU per structural change p50', unit: 'ms', value: (r) => r.structural?.cpuP50 },
  { name: 'JSON.parse of /v1/health/state/any', unit: 'ms', value: (r) => r.floor?.checksParseMs },
  { name: 'server-only change p50', unit: 'ms', value: (r) => r.serverOnly?.p50 },
  { name: 'structural change p50', unit: 'ms', value: (r) => r.structural?.p50 },
];

function lineCell(l: Line | undefined): string {
  if (!l) return '–';
  const slope = l.b * 1000;
  return `${fs(l.a)} ${slope < 0 ? '−' : '+'} ${fs(Math.abs(slope))} per 1,000 services (r² ${l.r2.toFixed(3)}, ${l.points} points)`;
}

/** `consul`: who served the catalog, as the report names it. */
export function report(results: SizeResult[], rps: RpsRow[], instances: number, consul = 'the simulator'): string {
  const lines: string[] = [];
  const row = (cells: unknown[]) => lines.push(`| ${cells.join(' | ')} |`);
  const head = (cells: string[]) => {
    lines.push('');
    row(cells);
    row(cells.map(() => '---'));
  };
  const sizes = results.map((r) => r.services);
  const largest = Math.max(...sizes);

  lines.push(`Consul: ${consul}.`, '');
  lines.push(`Sizes: ${sizes.map(n).join(', ')} services × ${instances}. Per size: wall time, load average (1 min) at its start and end:`);
  for (const r of results) lines.push(`- ${n(r.services)}: ${r.seconds.toFixed(0)} s, load ${r.loadStart.map((x) => x.toFixed(1)).join(' ')} → ${r.loadEnd.map((x) => x.toFixed(1)).join(' ')}${r.curveOnly ? ', render and HAProxy curves only (no daemon)' : r.checks ? ', daemon with health checks' : ', daemon without health checks (they do not fit the descriptor limit)'}`);

  head(['services × ' + instances, 'servers', 'CLI render s / max RSS MB (checks)', 'config MB', '`haproxy -c` s / MB (checks)', '`haproxy -c` s / MB (no checks)', 'in-process model / render ms (no strict view)', 'incremental first render ms', 'incremental change CPU ms p50 / p99']);
  for (const r of results) row([n(r.services), n(r.servers), `${f2(r.cli?.renderS)} / ${f0(r.cli?.renderMb)}`, f1(r.cli?.configMb), `${f2(r.cli?.checkS)} / ${f0(r.cli?.checkMb)}`, `${f2(r.cli?.noCheckCheckS)} / ${f0(r.cli?.noCheckCheckMb)}`,
    `${f0(r.inproc?.modelMs)} / ${f0(r.inproc?.renderMs)} (${f0(r.inproc?.renderNoProxyMs)})`, f0(r.inproc?.incFirstMs), `${f1(r.inproc?.incChangeCpuP50)} / ${f1(r.inproc?.incChangeCpuP99)}`]);

  head(['services', 'HAProxy alone', 'start s', 'reload p50 / max s (n)', 'reload with the server-state file p50 / max s (n)', 'worker RSS MB', 'master RSS MB']);
  for (const r of results) {
    const h = r.haproxy;
    if (!h) continue;
    if (h.checks) row([n(r.services), 'checks', f2(h.checks.startS), reloadCell(h.checks.reloadS), reloadCell(h.checks.reloadStateS), f0(h.checks.workerMb), f0(h.checks.masterMb)]);
    else row([n(r.services), 'checks', h.checksError ?? 'not run', '', '', '', '']);
    if (h.noChecks) row([n(r.services), 'no checks', f2(h.noChecks.startS), reloadCell(h.noChecks.reloadS), reloadCell(h.noChecks.reloadStateS), f0(h.noChecks.workerMb), f0(h.noChecks.masterMb)]);
  }

  head(['services', 'checks', 'first config s', 'startup Consul requests / bytes', 'hapilot peak RSS MB', 'idle 10 s: CPU ms / requests', 'server-only ms p50 / p99 / max (n)', 'requests / bytes per change', 'hapilot CPU ms p50 / p99', 'structural ms p50 / p99 / max (n)', 'requests / bytes', 'hapilot CPU ms p50 / p99']);
  for (const r of results) {
    const so = r.serverOnly;
    const st = r.structural;
    if (!r.startup) continue;
    row([n(r.services), r.checks ? 'yes' : 'no', f2(r.startup.firstConfigS), `${n(r.startup.requests)} / ${f1(r.startup.bytesMb)} MB`, f0(r.peakRssMb ?? r.startup.rssMb), r.idle ? `${r.idle.cpuMs} / ${r.idle.requests}` : '–',
      changeCell(so), so?.n ? `${so.requestsP50} / ${kb(so.bytesP50)}` : '–', so?.n ? `${f0(so.cpuP50)} / ${f0(so.cpuP99)}` : '–',
      changeCell(st), st?.n ? `${st.requestsP50} / ${kb(st.bytesP50)}` : '–', st?.n ? `${f0(st.cpuP50)} / ${f0(st.cpuP99)}` : '–']);
  }

  const rests = results.filter((r) => r.rest);
  if (rests.length) {
    head(['services', 'hapilot RSS at first config (VmHWM) MB', 'quiet after it: RSS at 1 s MB', 'at the end MB (s)', 'within 5 MB of the end from second', 'CPU ms of the quiet', 'peak RSS MB (whole run)']);
    for (const r of rests) {
      const rest = r.rest as NonNullable<SizeResult['rest']>;
      row([n(r.services), f0(r.startup?.rssMb), f0(rest.startMb), `${f0(rest.endMb)} (${rest.seconds})`, String(rest.settledS), f0(rest.cpuMs), f0(r.peakRssMb)]);
    }
  }

  const asked = results.filter((r) => r.endpoints);
  if (asked.length) {
    const paths = (asked[0] as SizeResult & { endpoints: NonNullable<SizeResult['endpoints']> }).endpoints.paths.map((p) => p.path);
    head(['services', ...paths.map((p) => `GET ${p}: ms / hapilot CPU ms / event loop held ms / bytes (p50 of 3)`), 'peak RSS MB before → after']);
    for (const r of asked) {
      const e = r.endpoints as NonNullable<SizeResult['endpoints']>;
      row([n(r.services), ...e.paths.map((p) => `${f0(p.msP50)} / ${f0(p.cpuP50)} / ${f0(p.heldMsP50)} / ${kb(p.bytes)}${p.status === 200 ? '' : ` (${p.status})`}`), `${f0(r.peakRssMb)} → ${f0(e.hwmMb)}`]);
    }
  }

  head(['services', '/v1/health/state/any bytes', 'CPU ms to receive it over HTTP and drop it (p50 of 7): Node\'s client / one reused read buffer', 'its JSON.parse ms (p50 of 7)', 'one service answer bytes / JSON.parse ms', 'hapilot CPU per server-only change p50 ms', 'in-process incremental change CPU p50 ms']);
  for (const r of results) if (r.floor) row([n(r.services), kb(r.floor.checksBytes), `${f1(r.floor.checksReceiveCpuMs)} / ${f1(r.floor.checksReceiveReusedCpuMs)}`, f1(r.floor.checksParseMs), `${kb(r.floor.serviceBytes)} / ${f2(r.floor.serviceParseMs)}`, f0(r.serverOnly?.cpuP50), f1(r.inproc?.incChangeCpuP50)]);

  // Consul's own part of a server-only change: every design that reads the whole checks list waits
  // for this answer before it can do anything.
  const wakes = results.filter((r) => r.floor?.wake);
  if (wakes.length) {
    head(['services', 'Consul: write → answer of the held checks long-poll, headers p50 ms', 'last byte p50 / max ms (n)', 'hapilot server-only p50 ms', 'of it after Consul\'s last byte, ms']);
    for (const r of wakes) {
      const w = r.floor?.wake as ConsulAnswer;
      row([n(r.services), f0(w.headersP50), `${f0(w.completeP50)} / ${f0(w.completeMax)} (${w.n})`, f0(r.serverOnly?.p50), r.serverOnly?.n ? f0(r.serverOnly.p50 - w.completeP50) : '–']);
    }
  }

  // HAProxy's own part of a structural change as the daemon makes it: `haproxy -c` of the new config
  // (hapilot never skips it) and the reload. With checks, every server's row is in the server-state
  // file the new worker loads; without them (2,000 services and up here) the daemon leaves out every
  // row since 2026-12-07 (they carry nothing), so its reload is the plain one. What is left of the
  // p50 is hapilot's own (render, write, state dump, waiting on its sockets). The last two columns
  // take HAProxy's reload as it happened in each change (the daemon's record of it): the same reload
  // took 1.4 s or 3 s from one change to the next here, its master's CPU in the kernel's page faults
  // (docs/benchmarks.md), and a quiet HAProxy's p50 says nothing about a given change.
  head(['services', 'structural p50 / p99 ms', 'HAProxy alone reload p50 s (same checks setting)', 'target', 'met', '`haproxy -c` + reload (with the state file\'s rows if checks) s', 'hapilot\'s own: p50 minus that, ms',
    'HAProxy\'s reload in each change p50 / max ms', 'each change minus its reload p50 / p99 ms (< 1,000 at 10,000)']);
  for (const r of results) {
    if (!r.structural) continue;
    const h = r.checks ? r.haproxy?.checks : r.haproxy?.noChecks;
    const reload = h ? (p50(h.reloadS) as number) : NaN;
    const target = r.services <= 1000 ? 1000 : reload * 1000 + 1000;
    const p99 = r.structural.failed ? `> ${n(r.structural.timeoutMs)} (one timed out)` : f0(r.structural.p99);
    const check = r.checks ? r.cli?.checkS : r.cli?.noCheckCheckS;
    const daemonReload = r.checks ? h?.reloadStateS : h?.reloadS;
    const floor = daemonReload?.length && check !== undefined ? check + (p50(daemonReload) as number) : NaN;
    row([n(r.services), `${f0(r.structural.p50)} / ${p99}`, f2(reload), r.services <= 1000 ? '< 1,000 ms' : `< reload + 1 s = ${f0(target)} ms`, !r.structural.failed && r.structural.p99 < target ? 'yes' : 'no',
      f2(floor), ok(floor) && r.structural.n ? f0(r.structural.p50 - floor * 1000) : '–',
      r.structural.reloads ? `${f0(r.structural.reloads.haproxyP50)} / ${f0(r.structural.reloads.haproxyMax)}` : '–',
      r.structural.reloads ? `${f0(r.structural.reloads.ownP50)} / ${f0(r.structural.reloads.ownP99)}${r.structural.reloads.n < r.structural.n ? ` (${r.structural.reloads.n} of ${r.structural.n})` : ''}` : '–']);
  }

  const heldBy = results.find((r) => r.idle)?.idle?.held;
  if (heldBy && Object.keys(heldBy).length) lines.push('', `hapilot's long-polls while idle, by endpoint: ${Object.entries(heldBy).map(([e, k]) => `${e} ${k}`).join(', ')}. Connections include the harness's own (about 2).`);
  head(['services', 'design', 'long-polls (connections) held', 'startup requests / bytes', 'requests per change', 'bytes per change']);
  for (const r of results) {
    if (r.startup && r.serverOnly?.n) row([n(r.services), 'hapilot', r.idle ? `${f0(r.idle.longPolls)} (${f0(r.idle.connections)})` : '–', `${n(r.startup.requests)} / ${f1(r.startup.bytesMb)} MB`, r.serverOnly.requestsP50, kb(r.serverOnly.bytesP50)]);
    if (r.consulTemplate) row([n(r.services), 'one blocking query per service', n(r.consulTemplate.connections), `${n(r.consulTemplate.startupRequests)} / ${f1(r.consulTemplate.startupBytesMb)} MB`, r.consulTemplate.requestsPerChange, kb(r.consulTemplate.bytesPerChange)]);
    else if (r.consulTemplateError) row([n(r.services), 'one blocking query per service', `could not run: ${r.consulTemplateError}`, '', '', '']);
  }

  // Curves: a line through every measured size, and the same method checked at the largest size.
  head(['figure', 'measured (by size)', 'line through all sizes', `line through sizes < ${n(largest)} predicts at ${n(largest)}`, `measured at ${n(largest)}`]);
  for (const c of CURVES) {
    const pts = results.map((r) => [r.services, c.value(r)] as [number, number | undefined]).filter((p): p is [number, number] => ok(p[1]));
    if (pts.length < 2) continue;
    const all = fitLine(pts);
    const smaller = fitLine(pts.filter(([x]) => x < largest));
    const measured = pts.find(([x]) => x === largest)?.[1];
    row([`${c.name} (${c.unit})`, pts.map(([x, y]) => `${n(x)}: ${fs(y)}`).join(', '), lineCell(all), smaller && measured !== undefined ? fs(at(smaller, largest)) : '–', fs(measured)]);
  }

  // 10,000 × 10 with health checks cannot start here: HAProxy's figures with checks extrapolated
  // from the sizes where they ran, hapilot's (independent of checks) measured without them.
  const checked = results.filter((r) => r.haproxy?.checks);
  if (checked.length >= 2) {
    const big = results.filter((r) => !r.haproxy?.checks && r.haproxy?.noChecks);
    const lineOf = (f: (h: HaproxyAlone) => number) => fitLine(checked.map((r) => [r.services, f(r.haproxy?.checks as HaproxyAlone)] as [number, number]));
    const start = lineOf((h) => h.startS);
    const reload = lineOf((h) => p50(h.reloadS) as number);
    const worker = lineOf((h) => h.workerMb);
    // The same method without checks, checked against the largest size measured.
    const nc = results.filter((r) => r.haproxy?.noChecks && checked.includes(r));
    const ncReload = fitLine(nc.map((r) => [r.services, p50(r.haproxy?.noChecks?.reloadS ?? []) as number] as [number, number]));
    lines.push('');
    lines.push(`EXTRAPOLATED (cannot run here): HAProxy with health checks, lines through ${checked.map((r) => n(r.services)).join(' and ')} services (start ${lineCell(start)}; reload ${lineCell(reload)}; worker ${lineCell(worker)}).`);
    for (const r of big) {
      const h = r.haproxy?.noChecks as HaproxyAlone;
      const estStart = at(start, r.services);
      const estReload = at(reload, r.services);
      lines.push(`- ${n(r.services)} services with checks, extrapolated: HAProxy start ${f2(estStart)} s, reload ${f2(estReload)} s, worker ${f0(at(worker, r.services))} MB` +
        (r.startup ? `; first config ≈ ${f2(r.startup.firstConfigS - h.startS + estStart)} s (measured without checks ${f2(r.startup.firstConfigS)} s, minus HAProxy's start without checks ${f2(h.startS)} s, plus the extrapolated start)` : '') +
        (r.structural && !r.structural.failed && r.structural.n ? `; structural p99 ≈ ${f0(r.structural.p99 + (estReload - (p50(h.reloadS) as number)) * 1000)} ms (target: reload + 1 s = ${f0(estReload * 1000 + 1000)} ms)` : '') +
        `. Check of the method without checks: the line through the same sizes predicts a reload of ${f2(at(ncReload, r.services))} s here; measured ${f2(p50(h.reloadS))} s.`);
    }
  }

  if (rps.length) {
    head(['HTTP services (host map)', 'req/s (keep-alive, 32 clients)', 'HAProxy CPU µs per request', 'p99 ms']);
    for (const r of rps) row([n(r.services), f0(r.rps), f1(r.haproxyUsPerReq), f1(r.p99)]);
  }
  for (const r of results) {
    for (const e of r.errors) lines.push(`\n${n(r.services)} services: ${e}`);
    for (const [kind, st] of [['server-only', r.serverOnly], ['structural', r.structural]] as const) if (st?.failed) lines.push(`\n${n(r.services)} services, ${kind}: ${st.failed}`);
  }
  return lines.join('\n');
}
