// The daemon: follows a catalog source and keeps HAProxy in step with it, by composing the modules
// next to it (snapshot intake, sync queue, sync, server changes, candidate, validation, apply, map
// cleanup, lingering servers, supervision, status). It never renders half a catalog, never replaces
// the running config with one HAProxy rejects, and never stops serving because Consul is down.
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { pathsFor } from '../config/render.js';
import type { TemplateSet } from '../config/templates.js';
import type { Applier, ProcessApplier } from '../haproxy/applier.js';
import { haproxyTimeMs } from '../settings.js';
import { createAppliers } from './appliers.js';
import { LingeringSweep } from './lingering.js';
import { AppliedState } from './applied-state.js';
import { ApplyStep } from './apply.js';
import { CandidateBuilder } from './candidate.js';
import { Convergence } from './convergence.js';
import type { DaemonConfig } from './daemon-config.js';
import { ConfigHistory } from './history.js';
import { cleanUnreferencedMaps } from './map-cleanup.js';
import { Metrics } from './metrics.js';
import { StatusReport } from './report.js';
import { ServerChanges } from './server-changes.js';
import { SnapshotIntake } from './snapshot-intake.js';
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
  readonly #queue: SyncQueue;
  readonly #sync: Sync;
  readonly #builder: CandidateBuilder;
  readonly #intake: SnapshotIntake;
  readonly #apply: ApplyStep;
  readonly #supervisor: Supervisor;
  readonly #report: StatusReport;
  readonly #lingering: LingeringSweep;

  constructor(c: DaemonConfig) {
    const configPath = path.resolve(c.configPath);
    this.#c = { ...c, configPath };
    const { pool, now = Date.now } = c;
    const log = c.log.child({ component: 'daemon' });
    const metrics = (this.metrics = c.metrics ?? new Metrics());
    const paths = pathsFor({ configPath, runDir: c.runDir });
    const { process: proc, runtime, all } = createAppliers({ ...this.#c, statsSocket: paths.statsSocket, socketGroup: c.settings.socketGroup });
    [this.haproxy, this.appliers] = [proc, all];
    const state = new AppliedState({ runDir: c.runDir, settings: c.settings });
    const history = new ConfigHistory({ runDir: c.runDir, keep: c.historySize ?? 10 });
    const convergence = new Convergence({ now });
    const builder = (this.#builder = new CandidateBuilder({ settings: c.settings, templates: c.templates, paths, fdLimit: c.fdLimit, guard: c.guard, now, pool }));
    const apply = (this.#apply = new ApplyStep({
      configPath, paths, process: proc, state, history, metrics, log, selfCheck: c.selfCheck !== false, maxOldWorkers: c.maxOldWorkers,
      // After a start or a reload every server is looked at (in the self-check's `show servers state`
      // when it read one); after a Runtime API change, the backends whose pool decisions moved.
      onApplied: pool ? async (action, servers) => { await pool.reconcile({ full: action !== 'runtime', observed: servers }); } : undefined,
      afterApply: () => cleanUnreferencedMaps({ filesDir: paths.filesDir, applied: state.current?.bytes ?? state.current?.config, historyDir: history.dir }),
    }));
    const request = (r: Partial<SyncRequest> & { trigger: string }) => void this.#queue.request(r);
    const sync = (this.#sync = new Sync({
      configPath, state, builder, memory: new QuarantineMemory(), apply, convergence, process: proc, pool, log, metrics, now, request,
      servers: runtime ? { runtime, step: new ServerChanges({ configPath, runtime, apply, builder, log, pool, settings: c.settings, paths, maxRemovalRatio: c.guard.maxRemovalRatio }) } : undefined,
      validator: new Validator({ haproxy: c.haproxyBin, configPath, log, metrics }), wait: c.wait,
    }));
    const lingering = (this.#lingering = new LingeringSweep({ runtime, request, log }));
    this.#queue = new SyncQueue((job) => lingering.around(() => sync.run(job)));
    this.#intake = new SnapshotIntake({
      state, convergence, log, request, coalesceMs: c.coalesceMs ?? 0, waitForPool: pool !== undefined,
      keep: (snapshot) => { [sync.snapshot, sync.snapshotAtMs] = [snapshot, now()]; }, latest: () => sync.snapshot,
    });
    this.#supervisor = new Supervisor({
      process: proc, log, metrics, intervalMs: c.reapIntervalMs ?? 5000,
      residualLimitSeconds: (haproxyTimeMs(c.settings.hardStopAfter) + (c.residualGraceMs ?? 60_000)) / 1000,
      shouldBeRunning: () => state.haproxyRunning && state.current !== undefined && !this.#queue.busy,
      restart: () => request({ trigger: 'HAProxy not running', structural: true, force: true }),
    });
    this.#report = new StatusReport({
      source: c.source, settings: c.settings, configPath, statsSocket: paths.statsSocket, state, process: proc, appliers: all, apply, convergence, metrics,
      holds: () => sync.holds, quarantined: () => sync.quarantined(), validationError: () => sync.validationError, pool,
    });
    // A KV change that alters what the config holds (decommission, threshold-kept servers, weights).
    pool?.setSyncRequester(() => void this.requestSync({ trigger: 'pool change' }));
  }

  /** Serves the last good config if there is one, then follows the source. */
  async start(): Promise<void> {
    await mkdir(this.#c.runDir, { recursive: true });
    await mkdir(path.dirname(this.#c.configPath), { recursive: true });
    await this.#apply.serveLastGood(this.#c.haproxyBin);
    this.#supervisor.start();
    const pool = this.#c.pool;
    if (pool) {
      pool.start();
      void pool.ready().then(() => this.#intake.poolRead());
    }
    this.#c.source.start((snapshot) => this.#intake.snapshot(snapshot));
  }

  /** New templates (SIGHUP after an operator edited them); used from the next render on. */
  setTemplates(templates: TemplateSet): void {
    this.#builder.setTemplates(templates);
  }

  /** Queues a sync of the latest snapshot; `structural` may reload, `force` reloads even when nothing changed (SIGHUP). */
  requestSync(r: Partial<SyncRequest> & { trigger: string }): Promise<void> {
    return this.#queue.request({ structural: r.force, ...r });
  }

  /** Waits for the current and pending syncs, and their bookkeeping. */
  async idle(): Promise<void> {
    await this.#queue.idle();
    await this.#apply.flush();
  }

  ready(): Promise<{ ready: boolean; reason: string }> {
    return this.#report.ready();
  }

  /** `only`: just these backends (undefined: all). */
  status(only?: ReadonlySet<string>): Promise<object> {
    return this.#report.status(only);
  }

  /** The status page (`GET /`); `only`: just these backends. */
  page(only?: ReadonlySet<string>): Promise<Iterable<string>> {
    return this.#report.page(only);
  }

  /** Prometheus text, with the gauges read from HAProxy and the daemon at this moment. */
  metricsText(): Promise<{ contentType: string; body: string }> {
    return this.#report.metricsText();
  }

  async stop(): Promise<void> {
    this.#intake.stop();
    this.#supervisor.stop();
    this.#sync.stop();
    this.#lingering.stop();
    await this.#c.source.stop();
    this.#queue.stop();
    await this.idle();
    await this.#c.pool?.stop();
    if (this.#c.stopHaproxyOnExit) await this.haproxy.stop();
  }
}
