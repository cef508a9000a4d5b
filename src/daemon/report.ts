// What the status server shows: readiness (HAProxy runs the current config, serves through its own
// frontend and has a server up), the /status document and the gauges read at scrape time. Reads the
// daemon's state; changes nothing.
import type { GlobalSettings } from '../settings.js';
import type { CatalogSource } from '../catalog/source.js';
import type { Quarantined } from '../model/model.js';
import type { Applier, ProcessApplier } from '../haproxy/applier.js';
import type { PoolReconciler } from '../pool/reconciler.js';
import { buildStatusPageView, refreshSeconds, statusPageParts, type StatsServer, type StatusPageView } from '../server/page.js';
import { probeMonitorUri } from '../haproxy/self-check.js';
import { scanServerRows, serving, someServerRow } from '../haproxy/socket.js';
import { observeBackends } from '../pool/observe.js';
import type { AppliedState } from './applied-state.js';
import type { ApplyStep } from './apply.js';
import type { Convergence } from './convergence.js';
import type { Hold } from './guard.js';
import type { Metrics } from './metrics.js';

export interface ReportSources {
  source: CatalogSource;
  settings: GlobalSettings;
  configPath: string;
  statsSocket: string;
  state: AppliedState;
  process: ProcessApplier;
  appliers: readonly Applier[];
  apply: ApplyStep;
  convergence: Convergence;
  metrics: Metrics;
  holds: () => Hold[];
  quarantined: () => Quarantined[];
  validationError: () => string | undefined;
  /** Pool states (undefined without pools). */
  pool?: PoolReconciler | undefined;
}

export class StatusReport {
  readonly #s: ReportSources;
  /** What the last whole status page took to build, for its refresh interval. */
  #pageCostMs = 0;

  constructor(s: ReportSources) {
    this.#s = s;
  }

  /** For /ready (keepalived): HAProxy runs the current config, serves through its own frontend, and some backend has a server it would send traffic to. */
  async ready(): Promise<{ ready: boolean; reason: string }> {
    const { state } = this.#s;
    if (!state.haproxyRunning || !state.current) return { ready: false, reason: 'HAProxy is not running a config yet' };
    const failed = this.#lastFailure();
    if (failed) return { ready: false, reason: `last reload failed: ${failed}` };
    const frontend = await probeMonitorUri({ port: this.#s.settings.statsPort });
    if (!frontend.ok) return { ready: false, reason: frontend.reason };
    let up: boolean;
    try {
      up = await someServerRow(this.#s.statsSocket, (r) => serving(r.status), 2000);
    } catch {
      return { ready: false, reason: 'HAProxy stats socket does not answer' };
    }
    return up ? { ready: true, reason: 'ok' } : { ready: false, reason: 'no backend has a server up' };
  }

  /** The message of the last start or reload when it failed (a failed Runtime API call is retried as a reload, not a readiness matter). */
  #lastFailure(): string | undefined {
    const last = this.#s.apply.records.find((r) => r.action !== 'runtime');
    return last && !last.ok ? last.message : undefined;
  }

  degradedReasons(): string[] {
    const { source, convergence } = this.#s;
    const reasons = [...source.health().degraded];
    const validation = this.#s.validationError();
    if (validation) reasons.push(`last render rejected by haproxy -c: ${validation}`);
    const failed = this.#lastFailure();
    if (failed) reasons.push(`last reload failed: ${failed}`);
    else if (convergence.lastError && !validation) reasons.push(`behind the catalog: ${convergence.lastError}`);
    if (!source.health().synced) reasons.push('waiting for the first complete catalog snapshot');
    const pool = this.#s.pool?.degradedReason();
    if (pool) reasons.push(pool);
    return reasons;
  }

  /** The server rows of `show stat` (of `only`'s backends when given), with their current sessions (none when HAProxy does not answer). */
  async #stats(only: ReadonlySet<string> | undefined): Promise<StatsServer[]> {
    if (!this.#s.state.haproxyRunning) return [];
    const rows: StatsServer[] = [];
    try {
      if (only) return (await observeBackends(this.#s.statsSocket, only, 2000)).map((r) => ({ proxy: r.backend, server: r.server, status: r.status, sessions: r.sessions, weight: r.weight }));
      await scanServerRows(this.#s.statsSocket, (r) => {
        rows.push({ proxy: r.proxy, server: r.server, status: r.status, sessions: r.sessions, weight: r.weight });
      }, 2000);
      return rows;
    } catch {
      return [];
    }
  }

  /** The page's view: frontends, backends with pool states and HAProxy's view, quarantine, invalid records, reloads. */
  #view(stats: readonly StatsServer[], degraded: string[], only: ReadonlySet<string> | undefined, refresh?: number): StatusPageView {
    const { source, state, pool } = this.#s;
    const decisions = pool?.decisions();
    return buildStatusPageView({
      now: new Date(), source: source.kind, consulIndex: source.kind === 'consul' ? source.health().index : undefined, degraded,
      model: state.current?.model, pool: pool && decisions ? { decisions, instances: pool.instances(only) } : undefined, stats,
      quarantined: this.#s.quarantined(), reloads: this.#s.apply.records, only, refreshSeconds: refresh,
    });
  }

  /**
   * `GET /`: the status page (of `only`'s backends when given), in parts rendered as they are taken.
   * A page of some backends is cheap: every 5 s. The whole page refreshes after what it last cost:
   * the view and the parts' rendering, not the waits between parts.
   */
  async page(only?: ReadonlySet<string>): Promise<Iterable<string>> {
    const stats = await this.#stats(only);
    const started = performance.now();
    const view = this.#view(stats, this.degradedReasons(), only, refreshSeconds(only ? 0 : this.#pageCostMs));
    const viewMs = performance.now() - started;
    return timedParts(statusPageParts(view), (ms) => {
      if (!only) this.#pageCostMs = viewMs + ms;
    });
  }

  /** Everything /status shows (of `only`'s backends when given); holds no secret (no token ever reaches the model). */
  async status(only?: ReadonlySet<string>): Promise<object> {
    const { source, state, process: proc } = this.#s;
    const health = source.health();
    const procs = state.haproxyRunning ? await proc.processes().catch(() => undefined) : undefined;
    const model = state.current?.model;
    const degraded = this.degradedReasons();
    this.#s.metrics.degraded.set(degraded.length ? 1 : 0);
    // Every server with its Consul health, pool state and HAProxy's view: what `hapilot depool --wait --haproxy-status` reads.
    const view = this.#view(await this.#stats(only), degraded, only);
    return {
      source: { kind: source.kind, synced: health.synced, consulIndex: health.index, lastContact: health.lastSuccessMs ? new Date(health.lastSuccessMs).toISOString() : null },
      degraded,
      convergence: this.#s.convergence.view(),
      haproxy: {
        running: state.haproxyRunning, strategies: this.#s.appliers.map((a) => a.strategy), config: this.#s.configPath,
        appliedConsulIndex: state.current?.index ?? null, processes: procs ?? null,
      },
      services: (model?.backends ?? []).filter((b) => !only || only.has(b.name)).map((b) => ({ name: b.name, mode: b.mode, balance: b.balance, servers: b.servers.map((s) => ({ name: s.name, address: s.address, port: s.port, weight: s.weight })) })),
      backends: view.backends.map((b) => ({ ...b, servers: b.servers.map((s) => ({ ...s, consulMaintenance: s.consulMaintenance ?? null, poolReason: s.poolReason ?? null, outReason: s.outReason ?? null, haproxy: s.haproxy ?? null })) })),
      poolInvalid: view.invalidRecords,
      quarantined: this.#s.quarantined(),
      holds: this.#s.holds().map((h) => ({ ...h, since: new Date(h.sinceMs).toISOString(), releaseAt: new Date(h.releaseAtMs).toISOString() })),
      lastValidationError: this.#s.validationError() ?? null,
      reloads: this.#s.apply.records,
    };
  }

  /** Updates the gauges that come from HAProxy and from the daemon's state (called at scrape time). */
  /** Prometheus text, with the gauges read from HAProxy and the daemon at this moment. */
  async metricsText(): Promise<{ contentType: string; body: string }> {
    await this.refreshMetrics();
    const { registry } = this.#s.metrics;
    return { contentType: registry.contentType, body: await registry.metrics() };
  }

  async refreshMetrics(): Promise<void> {
    const { metrics: m, state, process: proc } = this.#s;
    // Counted as `show stat` streams by, then one gauge value per backend and state: 100,000 rows
    // at 10,000 services, never held (docs/benchmarks.md "The status server at scale").
    const counts = new Map<string, Map<string, number>>();
    if (state.haproxyRunning) {
      await scanServerRows(this.#s.statsSocket, (r) => {
        if (r.proxy.startsWith('hapilot_')) return;
        const st = r.status.split(' ')[0]?.toLowerCase() || 'unknown';
        let byState = counts.get(r.proxy);
        if (!byState) counts.set(r.proxy, (byState = new Map()));
        byState.set(st, (byState.get(st) ?? 0) + 1);
      }, 2000).catch(() => counts.clear());
    }
    m.backendServers.reset();
    for (const [backend, byState] of counts) for (const [st, count] of byState) m.backendServers.set({ backend, state: st }, count);
    const procs = state.haproxyRunning ? await proc.processes().catch(() => undefined) : undefined;
    m.oldWorkers.set(procs?.oldWorkers.length ?? 0);
    m.oldestWorkerAge.set(Math.max(0, ...(procs?.oldWorkers.map((w) => w.ageSeconds) ?? [])));
    m.degraded.set(this.degradedReasons().length ? 1 : 0);
    m.behindSeconds.set(this.#s.convergence.behindSeconds());
    const decisions = this.#s.pool?.decisions();
    m.poolKept.reset();
    for (const b of decisions?.backends ?? []) if (b.kept.length) m.poolKept.set({ backend: b.backend }, b.kept.length);
    m.poolInvalid.set(decisions?.invalid.length ?? 0);
  }
}

/** The parts, and once they are all taken, the time spent making them (not the time between). */
function* timedParts(parts: Iterable<string>, done: (ms: number) => void): Generator<string> {
  const it = parts[Symbol.iterator]();
  let ms = 0;
  for (;;) {
    const t = performance.now();
    const next = it.next();
    ms += performance.now() - t;
    if (next.done) break;
    yield next.value;
  }
  done(ms);
}
