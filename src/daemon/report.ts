// What the status server shows: readiness (HAProxy runs the current config, serves through its own
// frontend and has a server up), the /status document and the gauges read at scrape time. Reads the
// daemon's state; changes nothing.
import type { GlobalSettings } from '../settings.js';
import type { CatalogSource } from '../catalog/source.js';
import type { Quarantined } from '../model/model.js';
import type { Applier, ProcessApplier } from '../haproxy/applier.js';
import type { PoolReconciler } from '../pool/reconciler.js';
import { observeServers } from '../pool/observe.js';
import { buildStatusPageView, renderStatusPage, type StatsServer, type StatusPageView } from '../server/page.js';
import { probeMonitorUri } from '../haproxy/self-check.js';
import { parseShowStat, socketCommand, type StatRow } from '../haproxy/socket.js';
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

  constructor(s: ReportSources) {
    this.#s = s;
  }

  /** HAProxy's view of every server (stats socket), or undefined when it does not answer. */
  async serverStats(): Promise<StatRow[] | undefined> {
    try {
      return parseShowStat(await socketCommand(this.#s.statsSocket, 'show stat', 2000));
    } catch {
      return undefined;
    }
  }

  /** For /ready (keepalived): HAProxy runs the current config, serves through its own frontend, and some backend has a server up. */
  async ready(): Promise<{ ready: boolean; reason: string }> {
    const { state } = this.#s;
    if (!state.haproxyRunning || !state.current) return { ready: false, reason: 'HAProxy is not running a config yet' };
    const failed = this.#lastFailure();
    if (failed) return { ready: false, reason: `last reload failed: ${failed}` };
    const serving = await probeMonitorUri({ port: this.#s.settings.statsPort });
    if (!serving.ok) return { ready: false, reason: serving.reason };
    const stats = await this.serverStats();
    if (!stats) return { ready: false, reason: 'HAProxy stats socket does not answer' };
    const up = stats.some((r) => !r.proxy.startsWith('hapilot_') && r.status.startsWith('UP'));
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

  /** Every server row of `show stat`, with its current sessions (none when HAProxy does not answer). */
  async #stats(): Promise<StatsServer[]> {
    if (!this.#s.state.haproxyRunning) return [];
    try {
      return (await observeServers(this.#s.statsSocket, 2000)).map((r) => ({ proxy: r.backend, server: r.server, status: r.status, sessions: r.sessions, weight: r.weight }));
    } catch {
      return [];
    }
  }

  /** The page's view: frontends, backends with pool states and HAProxy's view, quarantine, invalid records, reloads. */
  #view(stats: readonly StatsServer[], degraded: string[]): StatusPageView {
    const { source, state, pool } = this.#s;
    const decisions = pool?.decisions();
    return buildStatusPageView({
      now: new Date(), source: source.kind, consulIndex: source.kind === 'consul' ? source.health().index : undefined, degraded,
      model: state.current?.model, pool: pool && decisions ? { decisions, instances: pool.instances() } : undefined, stats,
      quarantined: this.#s.quarantined(), reloads: this.#s.apply.records,
    });
  }

  /** `GET /`: the status page. */
  async page(): Promise<string> {
    return renderStatusPage(this.#view(await this.#stats(), this.degradedReasons()));
  }

  /** Everything /status shows; holds no secret (no token ever reaches the model). */
  async status(): Promise<object> {
    const { source, state, process: proc } = this.#s;
    const health = source.health();
    const procs = state.haproxyRunning ? await proc.processes().catch(() => undefined) : undefined;
    const model = state.current?.model;
    const degraded = this.degradedReasons();
    this.#s.metrics.degraded.set(degraded.length ? 1 : 0);
    // Every server with its Consul health, pool state and HAProxy's view: what `hapilot depool --wait --haproxy-status` reads.
    const view = this.#view(await this.#stats(), degraded);
    return {
      source: { kind: source.kind, synced: health.synced, consulIndex: health.index, lastContact: health.lastSuccessMs ? new Date(health.lastSuccessMs).toISOString() : null },
      degraded,
      convergence: this.#s.convergence.view(),
      haproxy: {
        running: state.haproxyRunning, strategies: this.#s.appliers.map((a) => a.strategy), config: this.#s.configPath,
        appliedConsulIndex: state.current?.index ?? null, processes: procs ?? null,
      },
      services: (model?.backends ?? []).map((b) => ({ name: b.name, mode: b.mode, balance: b.balance, servers: b.servers.map((s) => ({ name: s.name, address: s.address, port: s.port, weight: s.weight })) })),
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
    m.backendServers.reset();
    const stats = state.haproxyRunning ? await this.serverStats() : undefined;
    for (const r of stats ?? []) {
      if (r.proxy.startsWith('hapilot_')) continue;
      const st = r.status.split(' ')[0]?.toLowerCase() || 'unknown';
      m.backendServers.inc({ backend: r.proxy, state: st });
    }
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
