// The status page at `GET /`: plain server-rendered HTML, no build step, no script; it refreshes
// itself. A pure function of a typed view, so it is tested from a view object alone. Every value is
// HTML-escaped: service names, reasons and notes come from Consul and from operators.
import type { PoolInstance } from '../pool/instances.js';
import type { PoolState } from '../pool/record.js';
import type { PoolDecisions, ServerDecision } from '../pool/rules.js';
import type { Model } from '../model/model.js';
import { serving } from '../haproxy/socket.js';

export interface PageServer {
  /** `<node>:<service ID>`. */
  name: string;
  /** `address:port`. */
  address: string;
  consulHealth: 'passing' | 'warning' | 'critical';
  /** Set when Consul maintenance mode takes it out ("node n1: rack move"). */
  consulMaintenance: string | undefined;
  pool: PoolState;
  /** Where the pool state came from: a record, the default, or an unreadable record kept as it was. */
  poolSource: 'record' | 'default' | 'unreadable';
  /** The operator's reason in the record. */
  poolReason: string | undefined;
  /** Why it is out of rotation (or would be, when kept by the threshold). */
  outReason: string | undefined;
  keptByThreshold: boolean;
  /** The weight hapilot wants. */
  weight: number;
  /** What HAProxy says (`show stat`); undefined when it was not reachable or the server is not there. */
  haproxy: { status: string; sessions: number; weight: number } | undefined;
}

export interface PageBackend {
  name: string;
  mode: 'http' | 'tcp';
  balance: string;
  depoolThreshold: number;
  minInRotation: number;
  inRotation: number;
  counted: number;
  servers: PageServer[];
}

export interface PageFrontend {
  name: string;
  /** `127.0.0.1:8080`. */
  bind: string;
  mode: 'http' | 'tcp';
  /** Host → backend (the shared HTTP frontend), or one backend with host undefined (a port frontend). */
  routes: Array<{ host: string | undefined; backend: string }>;
}

export interface PageReload {
  /** ISO 8601. */
  at: string;
  /** start, reload, runtime, adopt, … */
  action: string;
  ok: boolean;
  trigger: string | undefined;
  durationMs: number | undefined;
  /** HAProxy's own part of it (the reload, the start or the Runtime API commands). */
  haproxyMs?: number | undefined;
  /** What changed or what went wrong, one line. */
  summary: string;
}

export interface StatusPageView {
  generatedAt: string;
  refreshSeconds: number;
  source: string;
  consulIndex: number | undefined;
  degraded: string[];
  frontends: PageFrontend[];
  backends: PageBackend[];
  quarantined: Array<{ service: string; instance: string; tag: string | undefined; reason: string }>;
  invalidRecords: Array<{ key: string; reason: string }>;
  /** Most recent first. */
  reloads: PageReload[];
}

/** One server row of HAProxy's `show stat` (see src/pool/haproxy-stats.ts). */
export interface StatsServer {
  proxy: string;
  server: string;
  status: string;
  sessions: number;
  weight: number;
}

/**
 * The backends part of the view, from the model's backends, the pool decisions and `show stat`:
 * what the engine calls to build the page (and the `backends` of /status that `--wait` reads).
 */
export function pageBackends({ backends, decisions, instances, stats }: {
  backends: ReadonlyArray<{ name: string; mode: 'http' | 'tcp'; balance: string }>;
  decisions: PoolDecisions;
  instances: readonly PoolInstance[];
  stats: readonly StatsServer[];
}): PageBackend[] {
  const wanted = new Set(backends.map((b) => b.name));
  const inst = new Map<string, PoolInstance>();
  for (const i of instances) if (wanted.has(i.backend)) inst.set(`${i.backend}/${i.server}`, i);
  const stat = new Map(stats.map((r) => [`${r.proxy}/${r.server}`, r]));
  const summary = new Map(decisions.backends.map((b) => [b.backend, b]));
  // Grouped once: a filter of every decision per backend was 10,000 × 100,000 comparisons at
  // 10,000 services, 13 s of CPU per page or /status (docs/benchmarks.md "The status server at scale").
  const byBackend = new Map<string, ServerDecision[]>();
  for (const d of decisions.servers) {
    if (!wanted.has(d.backend)) continue;
    const list = byBackend.get(d.backend);
    if (list) list.push(d); else byBackend.set(d.backend, [d]);
  }
  return backends.map((b) => {
    const sum = summary.get(b.name);
    const servers = (byBackend.get(b.name) ?? []).map((d): PageServer => {
      const i = inst.get(`${d.backend}/${d.server}`);
      const st = stat.get(`${d.backend}/${d.server}`);
      return {
        name: d.server,
        address: i ? `${i.address.includes(':') ? `[${i.address}]` : i.address}:${i.port}` : '',
        consulHealth: i?.health ?? 'passing',
        consulMaintenance: i?.maintenance ? `${i.maintenance.scope} ${i.maintenance.scope === 'node' ? i.node : i.serviceId}${i.maintenance.reason ? `: ${i.maintenance.reason}` : ''}` : undefined,
        pool: d.pool,
        poolSource: d.poolSource,
        poolReason: d.recordReason,
        outReason: d.outReason,
        keptByThreshold: d.keptByThreshold,
        weight: d.weight,
        haproxy: st ? { status: st.status, sessions: st.sessions, weight: st.weight } : undefined,
      };
    });
    return {
      name: b.name, mode: b.mode, balance: b.balance,
      depoolThreshold: sum?.threshold ?? 0, minInRotation: sum?.minInRotation ?? 0, inRotation: sum?.inRotation ?? 0, counted: sum?.counted ?? 0,
      servers,
    };
  });
}

/** What the engine has at hand when `GET /` is asked for; `pool` is undefined until pools are wired. */
export interface StatusPageInput {
  now: Date;
  refreshSeconds?: number;
  source: string;
  consulIndex: number | undefined;
  degraded: string[];
  model: Pick<Model, 'settings' | 'backends' | 'httpRoutes' | 'portFrontends'> | undefined;
  pool: { decisions: PoolDecisions; instances: readonly PoolInstance[] } | undefined;
  stats: readonly StatsServer[];
  quarantined: ReadonlyArray<{ service: string; instance: string; tag: string | undefined; reason: string }>;
  /** The apply records, most recent first (src/daemon/apply.ts ApplyRecord has these fields). */
  reloads: ReadonlyArray<{ at: string; action: string; ok: boolean; trigger: string; durationMs: number; timings?: { haproxyMs: number }; message: string }>;
  /** Only these backends, and only the routes to them (undefined: all). */
  only?: ReadonlySet<string> | undefined;
}

function hostPort(address: string, port: number): string {
  return `${address.includes(':') && !address.startsWith('[') ? `[${address}]` : address}:${port}`;
}

/**
 * Seconds between two refreshes of an open page, given what the last page cost to build (wall ms):
 * 5, or more when that is over 2.5 % of the time. At 10,000 services a whole page costs about 1.6 s
 * of the daemon's event loop: an open tab refreshing every 5 s would take a third of it.
 */
export function refreshSeconds(lastCostMs: number): number {
  return Math.max(5, Math.ceil((lastCostMs * 40) / 1000));
}

/** The whole view from the engine's state: what `GET /` renders. */
export function buildStatusPageView(i: StatusPageInput): StatusPageView {
  const m = i.model;
  const { only } = i;
  const shown = (backend: string) => !only || only.has(backend);
  const frontends: PageFrontend[] = [];
  if (m) {
    const bind = m.settings.bindAddress;
    frontends.push({ name: 'hapilot_stats', bind: hostPort('127.0.0.1', m.settings.statsPort), mode: 'http', routes: [] });
    frontends.push({ name: 'hapilot_http', bind: hostPort(bind, m.settings.httpPort), mode: 'http', routes: m.httpRoutes.filter((r) => shown(r.backend)).map((r) => ({ host: r.host, backend: r.backend })) });
    for (const f of m.portFrontends) if (shown(f.backend)) frontends.push({ name: f.name, bind: hostPort(bind, f.port), mode: f.mode, routes: [{ host: undefined, backend: f.backend }] });
  }
  const modelBackends = m ? (only ? m.backends.filter((b) => only.has(b.name)) : m.backends) : [];
  let backends: PageBackend[] = [];
  if (m && i.pool) {
    backends = pageBackends({ backends: modelBackends, decisions: i.pool.decisions, instances: i.pool.instances, stats: i.stats });
  } else if (m) {
    // Without pool decisions: the model's servers, as in the config, with HAProxy's view.
    const stat = new Map(i.stats.map((r) => [`${r.proxy}/${r.server}`, r]));
    backends = modelBackends.map((b) => ({
      name: b.name, mode: b.mode, balance: b.balance, depoolThreshold: 0, minInRotation: 0, inRotation: b.servers.length, counted: b.servers.length,
      servers: b.servers.map((s): PageServer => {
        const st = stat.get(`${b.name}/${s.name}`);
        return {
          name: s.name, address: `${s.address}:${s.port}`, consulHealth: 'passing', consulMaintenance: undefined, pool: 'yes', poolSource: 'default', poolReason: undefined,
          outReason: undefined, keptByThreshold: false, weight: s.weight, haproxy: st ? { status: st.status, sessions: st.sessions, weight: st.weight } : undefined,
        };
      }),
    }));
  }
  return {
    generatedAt: i.now.toISOString(),
    refreshSeconds: i.refreshSeconds ?? 5,
    source: i.source,
    consulIndex: i.consulIndex,
    degraded: i.degraded,
    frontends,
    backends,
    quarantined: i.quarantined.map((q) => ({ ...q })),
    invalidRecords: i.pool?.decisions.invalid ?? [],
    reloads: i.reloads.map((r) => ({ at: r.at, action: r.action, ok: r.ok, trigger: r.trigger, durationMs: r.durationMs, haproxyMs: r.timings?.haproxyMs, summary: r.message })),
  };
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function escapeHtml(value: unknown): string {
  return String(value).replace(/[&<>"']/g, (c) => ESCAPES[c] ?? c);
}

/** Tagged template: every interpolated value is escaped unless it is already-rendered `Html`. */
class Html {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text;
  }
}

function html(strings: TemplateStringsArray, ...values: unknown[]): Html {
  let out = strings[0] ?? '';
  values.forEach((v, i) => {
    out += render(v) + (strings[i + 1] ?? '');
  });
  return new Html(out);
}

function render(v: unknown): string {
  if (v instanceof Html) return v.text;
  if (Array.isArray(v)) return v.map(render).join('');
  if (v === undefined || v === null || v === false) return '';
  return escapeHtml(v);
}

/** The label an operator reads for the pool column. */
export function poolLabel(s: PageServer): { text: string; cls: string } {
  if (s.keptByThreshold) return { text: 'kept in rotation (depool threshold)', cls: 'kept' };
  if (s.consulMaintenance !== undefined) return { text: 'maintenance in Consul', cls: 'out' };
  if (s.pool === 'no') return { text: 'depooled', cls: 'out' };
  if (s.pool === 'drain') return { text: 'draining', cls: 'drain' };
  if (s.pool === 'inactive') return { text: 'decommissioned', cls: 'out' };
  return { text: 'pooled', cls: 'ok' };
}

function haproxyClass(status: string): string {
  if (serving(status) || status === 'OPEN') return 'ok';
  if (/^DRAIN|NOLB/.test(status)) return 'drain';
  if (/MAINT/.test(status)) return 'out';
  return 'bad';
}

function serverRow(b: PageBackend, s: PageServer): Html {
  const pool = poolLabel(s);
  const health = s.consulMaintenance !== undefined ? 'maintenance' : s.consulHealth;
  const notes = [s.outReason, s.poolReason ? `operator: ${s.poolReason}` : undefined, s.poolSource === 'unreadable' ? 'pool record unreadable: kept as it was' : undefined].filter((x) => x);
  return html`<tr class="srv ${pool.cls}" data-backend="${b.name}" data-server="${s.name}" data-pool="${s.pool}" data-kept="${s.keptByThreshold ? 'yes' : 'no'}">
<td class="name">${s.name}</td><td>${s.address}</td>
<td><span class="pill ${health === 'passing' ? 'ok' : health === 'warning' ? 'drain' : health === 'maintenance' ? 'out' : 'bad'}">${health}</span></td>
<td><span class="pill ${pool.cls}" data-role="pool">${pool.text}</span></td>
<td class="num">${s.weight}</td>
<td>${s.haproxy ? html`<span class="pill ${haproxyClass(s.haproxy.status)}" data-role="haproxy">${s.haproxy.status}</span>` : html`<span class="muted">not in HAProxy</span>`}</td>
<td class="num" data-role="sessions">${s.haproxy ? s.haproxy.sessions : '–'}</td>
<td class="notes">${notes.join(' · ')}</td></tr>
`;
}

function backendSection(b: PageBackend): Html {
  const low = b.inRotation < b.minInRotation;
  const kept = b.servers.filter((s) => s.keptByThreshold).length;
  return html`<section class="backend" id="backend-${b.name}">
<h3>${b.name} <small>${b.mode} · ${b.balance} · ${b.inRotation}/${b.counted} in rotation · depool threshold ${b.depoolThreshold} (min ${b.minInRotation})</small>${kept ? html` <span class="pill kept">${kept} kept by the threshold</span>` : ''}${low ? html` <span class="pill bad">below threshold</span>` : ''}</h3>
${b.servers.length === 0 ? html`<p class="muted">no servers: clients get 503</p>` : html`<table><thead><tr><th>server</th><th>address</th><th>Consul</th><th>pool</th><th>weight</th><th>HAProxy</th><th>sessions</th><th>why</th></tr></thead><tbody>
${b.servers.map((s) => serverRow(b, s))}</tbody></table>`}
</section>
`;
}

function reloadItem(r: PageReload): Html {
  return html`<li class="${r.ok ? 'ok' : 'bad'}"><time datetime="${r.at}">${r.at.replace('T', ' ').replace(/\.\d+Z$/, 'Z')}</time> <b>${r.action}</b> ${r.ok ? 'ok' : 'failed'}${r.trigger ? html` · ${r.trigger}` : ''}${r.durationMs !== undefined ? html` · ${Math.round(r.durationMs)} ms` : ''}${r.haproxyMs !== undefined ? html` (HAProxy ${Math.round(r.haproxyMs)} ms)` : ''}<div>${r.summary}</div></li>
`;
}

const STYLE = `
body{font:14px/1.4 system-ui,-apple-system,"DejaVu Sans",sans-serif;margin:1.5rem;color:#1d2430;background:#f7f8fa}
h1{font-size:1.4rem;margin:0 0 .2rem}h2{font-size:1.1rem;margin:1.6rem 0 .5rem;border-bottom:1px solid #d6dae1}
h3{font-size:1rem;margin:1rem 0 .3rem}h3 small{font-weight:normal;color:#5b6575}
table{border-collapse:collapse;width:100%;background:#fff;box-shadow:0 1px 2px #0001}
th,td{padding:.3rem .55rem;border-bottom:1px solid #e6e9ee;text-align:left;vertical-align:top}
th{background:#eef1f5;font-weight:600;font-size:.85rem}td.num{text-align:right;font-variant-numeric:tabular-nums}
td.name{font-family:ui-monospace,"DejaVu Sans Mono",monospace;white-space:nowrap}td.notes{color:#5b6575;font-size:.85rem}
tr.out td,tr.drain td{background:#fafafa}tr.out td.name{text-decoration:line-through;color:#7a828f}
.pill{display:inline-block;padding:0 .45rem;border-radius:.6rem;font-size:.8rem;font-weight:600;white-space:nowrap}
.pill.ok{background:#dcf3e3;color:#136c33}.pill.bad{background:#fbdcdc;color:#a11d1d}
.pill.out{background:#e3e5e9;color:#3d4450}.pill.drain{background:#fdf0cf;color:#855c00}.pill.kept{background:#e8defa;color:#5a2aa8}
.muted{color:#7a828f}.banner{padding:.5rem .8rem;border-radius:.3rem;margin:.6rem 0;background:#fbdcdc;color:#7d1414}
ol.timeline{list-style:none;padding:0;border-left:3px solid #c8cdd5;margin-left:.4rem}
ol.timeline li{margin:0 0 .6rem;padding-left:.8rem;position:relative}
ol.timeline li::before{content:"";position:absolute;left:-.5rem;top:.35rem;width:.65rem;height:.65rem;border-radius:50%;background:#2f9e57}
ol.timeline li.bad::before{background:#c62828}ol.timeline time{font-family:ui-monospace,"DejaVu Sans Mono",monospace;color:#5b6575}
ol.timeline div{color:#5b6575;font-size:.85rem}
`;

/** The status page as one string (tests, small pages). */
export function renderStatusPage(view: StatusPageView): string {
  return [...statusPageParts(view)].join('');
}

/**
 * The status page in parts: the head and frontends, each backend's section, the rest. The server
 * writes them as they are made (48 MB of HTML at 10,000 services, never one string).
 */
export function* statusPageParts(view: StatusPageView): Generator<string> {
  yield html`<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="refresh" content="${Math.max(1, Math.round(view.refreshSeconds))}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>hapilot status</title><style>${new Html(STYLE)}</style></head>
<body>
<h1>hapilot</h1>
<p class="muted">source ${view.source}${view.consulIndex !== undefined ? html` · Consul index ${view.consulIndex}` : ''} · generated <time datetime="${view.generatedAt}">${view.generatedAt}</time> · refreshes every ${view.refreshSeconds} s</p>
${view.degraded.map((d) => html`<div class="banner" data-role="degraded">${d}</div>`)}
<h2>Frontends</h2>
${view.frontends.length === 0 ? html`<p class="muted">none</p>` : html`<table><thead><tr><th>frontend</th><th>bind</th><th>mode</th><th>routes</th></tr></thead><tbody>
${view.frontends.map((f) => html`<tr data-frontend="${f.name}"><td class="name">${f.name}</td><td>${f.bind}</td><td>${f.mode}</td><td>${f.routes.map((r, i) => html`${i ? ', ' : ''}${r.host !== undefined ? html`${r.host} → ` : ''}<a href="#backend-${r.backend}">${r.backend}</a>`)}</td></tr>
`)}</tbody></table>`}
<h2>Backends</h2>
`.text;
  if (view.backends.length === 0) yield html`<p class="muted">none</p>`.text;
  for (const b of view.backends) yield backendSection(b).text;
  yield html`
<h2>Quarantined services</h2>
${view.quarantined.length === 0 ? html`<p class="muted">none</p>` : html`<table><thead><tr><th>service</th><th>instance</th><th>tag</th><th>reason</th></tr></thead><tbody>
${view.quarantined.map((q) => html`<tr data-quarantined="${q.service}"><td class="name">${q.service}</td><td>${q.instance}</td><td>${q.tag ?? ''}</td><td>${q.reason}</td></tr>
`)}</tbody></table>`}
<h2>Unreadable pool records</h2>
${view.invalidRecords.length === 0 ? html`<p class="muted">none</p>` : html`<table><thead><tr><th>key</th><th>reason</th></tr></thead><tbody>
${view.invalidRecords.map((r) => html`<tr data-invalid-key="${r.key}"><td class="name">${r.key}</td><td>${r.reason}</td></tr>
`)}</tbody></table>`}
<h2>Recent reloads</h2>
${view.reloads.length === 0 ? html`<p class="muted">none yet</p>` : html`<ol class="timeline">
${view.reloads.map(reloadItem)}</ol>`}
</body></html>
`.text;
}
