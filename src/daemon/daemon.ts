// The daemon: follows a catalog source and keeps HAProxy in step with it. It only composes the jobs
// of the modules next to it (applied state, sync queue, candidate, validation, apply, map cleanup,
// supervision, status). It never renders half a catalog (sources emit complete snapshots), never
// replaces the running config with one HAProxy rejects, and never stops serving because Consul is
// down: the last good config stays in place and HAProxy keeps running.
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { pathsFor, serverLines } from '../config/render.js';
import { stageConfig } from '../config/config-file.js';
import type { TemplateSet } from '../config/templates.js';
import type { Applier, ProcessApplier } from '../haproxy/applier.js';
import type { Logger } from '../log.js';
import { haproxyTimeMs } from '../settings.js';
import { createAppliers } from './appliers.js';
import { AppliedState } from './applied-state.js';
import { ApplyStep } from './apply.js';
import { CandidateBuilder } from './candidate.js';
import { Convergence } from './convergence.js';
import type { DaemonConfig } from './daemon-config.js';
import { Debouncer } from './debounce.js';
import { ConfigHistory } from './history.js';
import { cleanUnreferencedMaps } from './map-cleanup.js';
import { Metrics } from './metrics.js';
import { StatusReport } from './report.js';
import { serverOnlyChange } from './runtime-first.js';
import { Supervisor } from './supervision.js';
import { Sync } from './sync.js';
import { SyncQueue, type SyncRequest } from './sync-queue.js';
import { QuarantineMemory, Validator } from './validation.js';

export type { DaemonConfig };

export function createDaemon(config: DaemonConfig): Daemon {
  return new Daemon(config);
}

export class Daemon {
  readonly metrics: Metrics;
  /** The HAProxy process applier (start, reload, processes, stop). */
  readonly haproxy: ProcessApplier;
  readonly appliers: readonly Applier[];
  readonly #c: DaemonConfig;
  readonly #log: Logger;
  readonly #state: AppliedState;
  readonly #queue: SyncQueue;
  readonly #sync: Sync;
  readonly #builder: CandidateBuilder;
  readonly #debouncer: Debouncer;
  readonly #convergence: Convergence;
  readonly #apply: ApplyStep;
  readonly #supervisor: Supervisor;
  readonly #report: StatusReport;
  #coalesce: NodeJS.Timeout | undefined;

  constructor(c: DaemonConfig) {
    this.#c = { ...c, configPath: path.resolve(c.configPath) };
    const now = c.now ?? Date.now;
    const log = (this.#log = c.log.child({ component: 'daemon' }));
    const metrics = (this.metrics = c.metrics ?? new Metrics());
    const paths = pathsFor({ configPath: this.#c.configPath, runDir: c.runDir });
    const { process: proc, runtime, all } = createAppliers({ ...this.#c, statsSocket: paths.statsSocket });
    this.haproxy = proc;
    this.appliers = all;
    const state = (this.#state = new AppliedState({ runDir: c.runDir, settings: c.settings }));
    const history = new ConfigHistory({ runDir: c.runDir, keep: c.historySize ?? 10 });
    this.#convergence = new Convergence({ now });
    const pool = c.pool;
    this.#builder = new CandidateBuilder({ settings: c.settings, templates: c.templates, paths, fdLimit: c.fdLimit, guard: c.guard, now, pool });
    this.#apply = new ApplyStep({
      configPath: this.#c.configPath, paths, process: this.haproxy, state, history, metrics, log, selfCheck: c.selfCheck !== false, maxOldWorkers: c.maxOldWorkers,
      // After a start or a reload every server is looked at; after a Runtime API change, the backends whose pool decisions moved.
      onApplied: pool ? async (action) => { await pool.reconcile({ full: action !== 'runtime' }); } : undefined,
      afterApply: () => cleanUnreferencedMaps({ filesDir: paths.filesDir, applied: state.current?.config, historyDir: history.dir }),
    });
    const request = (r: Partial<SyncRequest> & { trigger: string }) => void this.#queue.request(r);
    this.#debouncer = new Debouncer({ o: c.wait, fire: () => request({ trigger: 'catalog change', structural: true }), lastReloadMs: () => state.lastReloadMs, now });
    const memory = new QuarantineMemory();
    this.#sync = new Sync({
      configPath: this.#c.configPath, state, builder: this.#builder, memory, apply: this.#apply, convergence: this.#convergence, runtime, process: this.haproxy,
      validator: new Validator({ haproxy: c.haproxyBin, configPath: this.#c.configPath, log, metrics }),
      minReloadIntervalMs: c.wait.minIntervalMs, log, metrics, now, notifyStructural: () => this.#debouncer.notify(), request,
      pool,
      serverOnlyChange: (applied, snapshot) => serverOnlyChange({ applied, snapshot, settings: c.settings, templates: this.#builder.templates, paths, maxRemovalRatio: c.guard.maxRemovalRatio }),
    });
    this.#queue = new SyncQueue((job) => this.#sync.run(job));
    this.#supervisor = new Supervisor({
      process: this.haproxy, log, metrics, intervalMs: c.reapIntervalMs ?? 5000,
      residualLimitSeconds: (haproxyTimeMs(c.settings.hardStopAfter) + (c.residualGraceMs ?? 60_000)) / 1000,
      shouldBeRunning: () => state.haproxyRunning && state.current !== undefined && !this.#queue.busy,
      restart: () => request({ trigger: 'HAProxy not running', structural: true, force: true }),
    });
    this.#report = new StatusReport({
      source: c.source, settings: c.settings, configPath: this.#c.configPath, statsSocket: paths.statsSocket, state, process: this.haproxy, appliers: this.appliers,
      apply: this.#apply, convergence: this.#convergence, metrics, holds: () => this.#sync.holds, quarantined: () => this.#sync.quarantined(),
      validationError: () => this.#sync.validationError, pool,
    });
    // A KV change that alters what the config holds (decommission, threshold-kept servers, weights).
    pool?.setSyncRequester(() => void this.requestSync({ trigger: 'pool change' }));
  }

  /** Serves the last good config if there is one, then follows the source. */
  async start(): Promise<void> {
    await mkdir(this.#c.runDir, { recursive: true });
    await mkdir(path.dirname(this.#c.configPath), { recursive: true });
    await this.#serveLastGood();
    this.#supervisor.start();
    // No config before the pool records are read: a first config must not pool every server.
    const pool = this.#c.pool;
    let poolRead = pool === undefined;
    if (pool) {
      pool.start();
      void pool.ready().then(() => {
        poolRead = true;
        this.#log.info({ component: 'pool' }, 'pool records read');
        if (this.#sync.snapshot) void this.requestSync({ trigger: this.#state.current?.model ? 'pool records read' : 'initial sync', structural: true });
      });
    }
    this.#c.source.start((snapshot) => {
      this.#sync.snapshot = snapshot;
      this.#convergence.snapshotSeen();
      this.#log.debug({ index: snapshot.index, cause: snapshot.cause, entries: snapshot.entries.length }, 'snapshot');
      if (!poolRead) return;
      if (!this.#state.current?.model) return void this.requestSync({ trigger: 'initial sync', structural: true });
      // A pending retry runs now; otherwise server changes go out after a few ms of gathering.
      if (this.#convergence.retryNow()) return;
      this.#coalesce ??= setTimeout(() => {
        this.#coalesce = undefined;
        void this.requestSync({ trigger: 'catalog change' });
      }, this.#c.coalesceMs ?? 5);
    });
  }

  /** At start, the last good config at --config (with its model, so the guard protects it too) is served while the source catches up. */
  async #serveLastGood(): Promise<void> {
    const last = await this.#state.loadLastGood({ configPath: this.#c.configPath, haproxy: this.#c.haproxyBin, log: this.#log });
    if (!last) return;
    const out = await this.#apply.apply({
      staged: await stageConfig({ configPath: this.#c.configPath, config: last.config, files: [] }), config: last.config, model: last.model,
      serverLines: serverLines(last.config), index: 0, trigger: 'startup', cause: 'last good config', appliers: [this.haproxy],
    });
    if (out.kind !== 'applied') this.#log.error({ outcome: out }, 'could not serve the last good config; waiting for the first complete snapshot');
  }

  /** New templates (SIGHUP after an operator edited them); used from the next render on. */
  setTemplates(templates: TemplateSet): void {
    this.#builder.setTemplates(templates);
  }

  /** Queues a sync of the latest snapshot; `structural` may reload, `force` reloads even when nothing changed (SIGHUP). */
  requestSync(r: Partial<SyncRequest> & { trigger: string }): Promise<void> {
    return this.#queue.request({ structural: r.force, ...r });
  }

  /** Waits for the current and pending syncs. */
  async idle(): Promise<void> {
    await this.#queue.idle();
    await this.#apply.flush();
  }

  ready(): Promise<{ ready: boolean; reason: string }> {
    return this.#report.ready();
  }

  status(): Promise<object> {
    return this.#report.status();
  }

  /** The status page (`GET /`). */
  page(): Promise<string> {
    return this.#report.page();
  }

  /** Prometheus text, with the gauges read from HAProxy and the daemon at this moment. */
  async metricsText(): Promise<{ contentType: string; body: string }> {
    await this.#report.refreshMetrics();
    return { contentType: this.metrics.registry.contentType, body: await this.metrics.registry.metrics() };
  }

  async stop(): Promise<void> {
    clearTimeout(this.#coalesce);
    this.#supervisor.stop();
    this.#debouncer.cancel();
    this.#convergence.cancelRetry();
    this.#sync.stop();
    await this.#c.source.stop();
    this.#queue.stop();
    await this.idle();
    await this.#c.pool?.stop();
    if (this.#c.stopHaproxyOnExit) await this.haproxy.stop();
  }
}
