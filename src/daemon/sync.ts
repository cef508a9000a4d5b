// One sync: the latest snapshot → candidate config → HAProxy. The server-only part of a change goes
// to the Runtime API at once; a structural part waits for quiet (--wait) and for
// --min-reload-interval, then is validated (bisecting guilty services out) and reloaded. A failure
// at any step is retried with backoff until HAProxy runs the latest catalog.
import type { CatalogSnapshot } from '../catalog/source.js';
import type { Quarantined } from '../model/model.js';
import { serverLines as renderedServerLines } from '../config/render.js';
import { stageConfig } from '../config/config-file.js';
import type { ProcessApplier, Applier } from '../haproxy/applier.js';
import { ErrorCode, isHapilotError, messageOf } from '../errors.js';
import type { Logger } from '../log.js';
import type { Applied, AppliedState } from './applied-state.js';
import type { ApplyOutcome, ApplyStep } from './apply.js';
import { serverOnlyPart, structureKey, type Candidate, type CandidateBuilder } from './candidate.js';
import type { Convergence } from './convergence.js';
import type { Hold } from './guard.js';
import type { Metrics } from './metrics.js';
import type { PoolReconciler } from '../pool/reconciler.js';
import { onlyServices } from './candidate.js';
import type { ServerOnlyChange } from './runtime-first.js';
import type { SyncRequest } from './sync-queue.js';
import { entriesByService, type QuarantineMemory, type Validator } from './validation.js';

export interface SyncOptions {
  configPath: string;
  state: AppliedState;
  builder: CandidateBuilder;
  validator: Validator;
  memory: QuarantineMemory;
  apply: ApplyStep;
  convergence: Convergence;
  /** Applies server-only changes without a reload; undefined when the strategy reloads every change. */
  runtime: Applier | undefined;
  process: ProcessApplier;
  minReloadIntervalMs: number;
  log: Logger;
  metrics: Metrics;
  now: () => number;
  /** A structural change remains: apply it after quiet (the debouncer). */
  notifyStructural: () => void;
  /** Queues a sync (retries, timers). */
  request: (r: Partial<SyncRequest> & { trigger: string }) => void;
  /** The server-only change of a snapshot for the services it names (runtime-first.ts). */
  serverOnlyChange: (applied: Applied, snapshot: CatalogSnapshot) => ServerOnlyChange | undefined;
  /** Pool states (undefined without pools). */
  pool?: PoolReconciler | undefined;
}

/** Failure stages, for logs and `hapilot_sync_failures_total{stage}`. */
type Stage = 'render' | 'write' | 'validation' | 'runtime' | 'reload';

class StageError extends Error {
  constructor(readonly stage: Stage, message: string) {
    super(message);
  }
}

export class Sync {
  snapshot: CatalogSnapshot | undefined;
  holds: Hold[] = [];
  validationError: string | undefined;
  readonly #o: SyncOptions;
  #modelQuarantined: Quarantined[] = [];
  #holdTimer: NodeJS.Timeout | undefined;
  #waitTimer: NodeJS.Timeout | undefined;

  constructor(o: SyncOptions) {
    this.#o = o;
  }

  /** Instances left out by the tag rules, and services left out because HAProxy rejected them. */
  quarantined(): Quarantined[] {
    const guilty = this.#o.memory.list().map((c) => ({ service: c.service, instance: '*', tag: undefined, reason: `haproxy -c: ${c.message}` }));
    return [...this.#modelQuarantined, ...guilty];
  }

  /** Runs one queued sync; a failure is recorded and retried, never thrown. */
  async run(job: SyncRequest): Promise<void> {
    try {
      await this.#sync(job);
    } catch (err) {
      this.#failed(err, job);
    }
  }

  stop(): void {
    clearTimeout(this.#holdTimer);
    clearTimeout(this.#waitTimer);
  }

  async #sync(job: SyncRequest): Promise<void> {
    const { state, convergence, log } = this.#o;
    const snapshot = this.snapshot;
    if (!snapshot) {
      if (job.force && state.current) await this.#reapply(job.trigger);
      return;
    }
    const started = performance.now();
    const runtimeNow = !job.force && !job.noRuntime && this.#o.runtime !== undefined && state.haproxyRunning;
    if (runtimeNow && state.current) await this.#runtimeFirst(state.current, snapshot, job);
    const cand = this.#candidate(snapshot);
    this.#o.metrics.renderDuration.observe((performance.now() - started) / 1000);
    const applied = state.current;
    if (!job.force && applied && state.haproxyRunning && cand.built.config === applied.config) {
      // Byte for byte what HAProxy runs: nothing to do.
      await state.set({ ...applied, model: applied.model ?? cand.built.model, serverLines: cand.built.serverLines, index: snapshot.index });
      this.validationError = undefined;
      this.#inStep(snapshot);
      // A pure pool change (yes ↔ no, drain) leaves the config as it is: HAProxy's admin states still follow.
      await this.#o.pool?.reconcile();
      log.debug({ index: snapshot.index }, 'rendered config unchanged; nothing to do');
      return;
    }

    // The server-only part, through the Runtime API, without waiting.
    if (runtimeNow && this.#o.runtime && applied?.model) {
      const structural = structureKey(applied.model) !== structureKey(cand.built.model);
      const part = structural ? this.#o.builder.render(serverOnlyPart(applied.model, cand.built.model)) : cand.built;
      if (part.config !== applied.config) {
        // No `haproxy -c` here: only server lines differ from the validated config, and each added
        // server's keywords pass HAProxy's own `add server` parser (or the change is declined).
        const staging = performance.now();
        const staged = await this.#stage(() => stageConfig({ configPath: this.#o.configPath, config: part.config, files: part.files }));
        const applying = performance.now();
        const out = await this.#o.apply.apply({ staged, config: part.config, model: part.model, serverLines: part.serverLines, index: snapshot.index, trigger: job.trigger, cause: snapshot.cause, appliers: [this.#o.runtime] });
        log.debug({ candidateMs: Math.round(staging - started), stageMs: Math.round(applying - staging), applyMs: Math.round(performance.now() - applying), outcome: out.kind }, 'server-only part');
        if (out.kind === 'failed') throw new StageError('runtime', out.message);
        if (out.kind === 'declined') log.debug({ reason: out.reason }, 'server changes need a reload');
        else if (!structural) return this.#inStep(snapshot);
      } else if (!structural) {
        return this.#inStep(snapshot);
      }
    }

    if (!job.structural && !job.force) {
      convergence.waiting('a change that needs a reload waits for quiet (--wait)');
      this.#o.notifyStructural();
      return;
    }
    const last = state.lastReloadMs;
    if (!job.force && last !== undefined && this.#o.now() < last + this.#o.minReloadIntervalMs) {
      convergence.waiting('a reload waits for --min-reload-interval');
      this.#later(last + this.#o.minReloadIntervalMs - this.#o.now(), { trigger: job.trigger, structural: true, noRuntime: job.noRuntime });
      return;
    }

    const entries = entriesByService(snapshot.entries);
    const valid = await this.#stage(() => this.#o.validator.validConfig({ model: cand.model, built: cand.built, render: (m) => this.#o.builder.render(m) })).catch((err: unknown) => {
      if (isHapilotError(err, ErrorCode.HAPROXY_INVALID)) {
        this.validationError = err.detail ?? err.message;
        throw new StageError('validation', err.message);
      }
      throw err;
    });
    this.validationError = undefined;
    for (const c of valid.culprits) {
      const list = entries.get(c.service);
      if (list) this.#o.memory.remember(c.service, list, this.#o.builder.templatesGeneration, c.message);
    }
    for (const w of valid.built.model.warnings) log.warn({ stage: 'model' }, w);
    for (const q of this.quarantined()) log.warn({ service: q.service, instance: q.instance, tag: q.tag }, `quarantined service ${q.service} instance ${q.instance}${q.tag !== undefined ? ` tag ${JSON.stringify(q.tag)}` : ''}: ${q.reason}`);
    const useRuntime = !job.force && !job.noRuntime && this.#o.runtime && state.haproxyRunning;
    const out = await this.#o.apply.apply({
      staged: valid.staged, config: valid.built.config, model: valid.built.model, serverLines: valid.built.serverLines, index: snapshot.index,
      trigger: job.trigger, cause: snapshot.cause, appliers: useRuntime && this.#o.runtime ? [this.#o.runtime, this.#o.process] : [this.#o.process],
    });
    this.#settle(out, snapshot, job);
  }

  /** Server changes of the services the snapshot names, spliced into the running config and sent to the Runtime API before anything else. */
  async #runtimeFirst(applied: Applied, snapshot: CatalogSnapshot, job: SyncRequest): Promise<void> {
    const runtime = this.#o.runtime;
    const started = performance.now();
    const change = runtime ? this.#o.serverOnlyChange(applied, snapshot) : undefined;
    if (!runtime || !change) return;
    if (!this.#poolAgrees(change, snapshot)) return;
    const planned = performance.now();
    const staged = await this.#stage(() => stageConfig({ configPath: this.#o.configPath, config: change.config, files: [] }));
    const written = performance.now();
    const out = await this.#o.apply.apply({ staged, config: change.config, model: change.model, serverLines: change.serverLines, index: snapshot.index, trigger: job.trigger, cause: snapshot.cause, appliers: [runtime] });
    const ms = (a: number, b: number) => Math.round((b - a) * 10) / 10;
    this.#o.log.debug({ services: change.services, outcome: out.kind, planMs: ms(started, planned), writeMs: ms(planned, written), applyMs: ms(written, performance.now()) }, 'runtime-first');
    if (out.kind === 'failed') throw new StageError('runtime', out.message);
  }

  /**
   * The runtime-first change renders the changed services without the pool rules: taken only when
   * the rules would leave its servers as they are (no decommissioned, threshold-kept or re-weighted
   * server among them); otherwise the full build, which applies them, takes the change.
   */
  #poolAgrees(change: ServerOnlyChange, snapshot: CatalogSnapshot): boolean {
    const pool = this.#o.pool;
    if (!pool) return true;
    const part = onlyServices(change.model, new Set(change.services));
    const services = new Set(part.backends.map((b) => b.service));
    const adjusted = pool.preview(snapshot.entries.filter((e) => services.has(e.Service.Service)), part);
    const agrees = JSON.stringify(adjusted.backends.map((b) => b.servers)) === JSON.stringify(part.backends.map((b) => b.servers));
    if (!agrees) this.#o.log.debug({ services: change.services }, 'runtime-first: pool states change these servers; the full build takes them');
    return agrees;
  }

  /** The candidate for `snapshot`: guarded, guilty services left out; holds re-evaluated when due. */
  #candidate(snapshot: CatalogSnapshot): Candidate {
    const guilty = this.#o.memory.guilty(entriesByService(snapshot.entries), this.#o.builder.templatesGeneration);
    let cand: Candidate;
    try {
      cand = this.#o.builder.build({ snapshot, applied: this.#o.state.current?.model, guilty });
    } catch (err) {
      throw new StageError('render', messageOf(err));
    }
    this.holds = cand.holds;
    this.#modelQuarantined = cand.built.model.quarantined;
    this.#o.metrics.holds.set(cand.holds.length);
    this.#o.metrics.quarantined.set(this.quarantined().length);
    for (const h of cand.holds) this.#o.log.warn({ backend: h.backend, from: h.from, to: h.to, releaseAt: new Date(h.releaseAtMs).toISOString() }, `mass-removal guard: keeping the ${h.from} previous servers of ${h.backend} (the catalog has ${h.to})`);
    for (const h of cand.released) this.#o.log.warn({ backend: h.backend, from: h.from, to: h.to }, `mass-removal guard: ${h.backend} has had ${h.to} servers since ${new Date(h.sinceMs).toISOString()}; applying`);
    clearTimeout(this.#holdTimer);
    if (cand.holds.length) {
      // Re-evaluate when the earliest hold may be released, even if the catalog stays quiet.
      const next = Math.min(...cand.holds.map((h) => h.releaseAtMs));
      this.#holdTimer = setTimeout(() => this.#o.request({ trigger: 'guard hold expired', structural: true }), Math.max(0, next - this.#o.now()) + 10);
      this.#holdTimer.unref();
    }
    return cand;
  }

  /** Staging (writing) the config: its failures are write failures. */
  async #stage<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof StageError) throw err;
      if (isHapilotError(err, ErrorCode.WRITE)) throw new StageError('write', err.message);
      throw err;
    }
  }

  #settle(out: ApplyOutcome, snapshot: CatalogSnapshot | undefined, job: SyncRequest): void {
    if (out.kind === 'failed') throw new StageError(out.action === 'runtime' ? 'runtime' : 'reload', out.message);
    if (out.kind === 'delayed') {
      this.#o.convergence.waiting(out.reason);
      this.#later(1000, { trigger: `${job.trigger} (delayed)`, structural: true, force: job.force, noRuntime: job.noRuntime });
      return;
    }
    if (out.kind === 'declined') throw new StageError('reload', `no applier took the change: ${out.reason}`);
    this.#inStep(snapshot);
  }

  /** HAProxy runs `snapshot`; in step unless a newer one arrived meanwhile (its own sync follows). */
  #inStep(snapshot: CatalogSnapshot | undefined): void {
    if (snapshot !== this.snapshot) return;
    this.#o.metrics.lastSync.set(Date.now() / 1000);
    this.#o.metrics.consulIndex.set(snapshot?.index ?? 0);
    this.#o.convergence.inStep();
  }

  #later(ms: number, r: Partial<SyncRequest> & { trigger: string }): void {
    clearTimeout(this.#waitTimer);
    this.#waitTimer = setTimeout(() => this.#o.request(r), Math.max(0, ms));
    this.#waitTimer.unref();
  }

  /** SIGHUP or a dead HAProxy before any snapshot: load the applied config again. */
  async #reapply(trigger: string): Promise<void> {
    const applied = this.#o.state.current;
    if (!applied) return;
    const staged = await this.#stage(() => stageConfig({ configPath: this.#o.configPath, config: applied.config, files: [] }));
    const serverLines = applied.serverLines.size ? applied.serverLines : renderedServerLines(applied.config);
    const out = await this.#o.apply.apply({ staged, config: applied.config, model: applied.model, serverLines, index: applied.index, trigger, cause: 'forced reload', appliers: [this.#o.process] });
    this.#settle(out, this.snapshot, { trigger, structural: true, force: true, noRuntime: true });
  }

  #failed(err: unknown, job: SyncRequest): void {
    const stage: Stage = err instanceof StageError ? err.stage : isHapilotError(err, ErrorCode.WRITE) ? 'write' : isHapilotError(err, ErrorCode.TEMPLATE) ? 'render' : 'reload';
    const message = messageOf(err);
    this.#o.metrics.syncFailures.inc({ stage });
    // A failed Runtime API call leaves the worker in an unknown state: the retry reloads it.
    const retry: SyncRequest = { trigger: 'retry', structural: job.structural || stage === 'runtime', force: job.force, noRuntime: job.noRuntime || stage === 'runtime' };
    const delay = this.#o.convergence.failed(`${stage}: ${message}`, () => this.#o.request(retry));
    this.#o.log.error({ stage, err: message, code: isHapilotError(err) ? err.code : undefined, retryInMs: delay }, `sync failed at ${stage}; HAProxy keeps its running config; retrying`);
  }
}
