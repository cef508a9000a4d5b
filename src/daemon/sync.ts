// One sync: the latest snapshot → candidate config → HAProxy. The server-only part of a change goes
// to the Runtime API at once; a structural part waits for quiet (--wait) and for
// --min-reload-interval, then is validated (bisecting guilty services out) and reloaded. A failure
// at any step is retried with backoff until HAProxy runs the latest catalog.
import type { CatalogSnapshot } from '../catalog/source.js';
import { showName, type Quarantined } from '../model/model.js';
import { serverLines as renderedServerLines } from '../config/render.js';
import { stageConfig } from '../config/config-file.js';
import type { Applier, ProcessApplier } from '../haproxy/applier.js';
import { sslFromConfig } from '../haproxy/server-state.js';
import { ErrorCode, isHapilotError, messageOf } from '../errors.js';
import type { Logger } from '../log.js';
import { sameConfig, type AppliedState } from './applied-state.js';
import { yieldToIo, type ApplyOutcome, type ApplyStep } from './apply.js';
import type { Candidate, CandidateBuilder } from './candidate.js';
import { StageError, stageOf, writeStage, type Convergence } from './convergence.js';
import { Debouncer, type WaitOptions } from './debounce.js';
import type { Hold } from './guard.js';
import type { Metrics } from './metrics.js';
import type { PoolReconciler } from '../pool/reconciler.js';
import type { ServerChanges } from './server-changes.js';
import type { SyncRequest } from './sync-queue.js';
import { EarlyValidation, entriesByService, type QuarantineMemory, type Validator } from './validation.js';

export interface SyncOptions {
  configPath: string;
  state: AppliedState;
  builder: CandidateBuilder;
  validator: Validator;
  memory: QuarantineMemory;
  apply: ApplyStep;
  convergence: Convergence;
  /** Server-only changes through the Runtime API; undefined when the strategy reloads every change. */
  servers: { step: ServerChanges; runtime: Applier } | undefined;
  process: ProcessApplier;
  /** --wait and --min-reload-interval: when a structural change is applied. */
  wait: WaitOptions;
  log: Logger;
  metrics: Metrics;
  now: () => number;
  /** Queues a sync (retries, timers). */
  request: (r: Partial<SyncRequest> & { trigger: string }) => void;
  /** Pool states (undefined without pools). */
  pool?: PoolReconciler | undefined;
}

export class Sync {
  snapshot: CatalogSnapshot | undefined;
  /** When `snapshot` arrived (the quiet of --wait counts from there). */
  snapshotAtMs: number | undefined;
  holds: Hold[] = [];
  validationError: string | undefined;
  readonly #o: SyncOptions;
  #modelQuarantined: Quarantined[] = [];
  #holdTimer: NodeJS.Timeout | undefined;
  #waitTimer: NodeJS.Timeout | undefined;
  /** A structural change is applied after quiet (--wait), once per burst. */
  readonly #debouncer: Debouncer;
  /** The waiting structural candidate, validated during the wait. */
  readonly #early: EarlyValidation;

  constructor(o: SyncOptions) {
    this.#o = o;
    this.#early = new EarlyValidation(o.validator);
    this.#debouncer = new Debouncer({ o: o.wait, fire: () => o.request({ trigger: 'catalog change', structural: true }), lastReloadMs: () => o.state.lastReloadMs, now: o.now });
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
    this.#debouncer.cancel();
    this.#o.convergence.cancelRetry();
    this.#early.discard();
  }

  async #sync(job: SyncRequest): Promise<void> {
    const { state, convergence, log } = this.#o;
    const snapshot = this.snapshot;
    if (!snapshot) {
      if (job.force && state.current) await this.#reapply(job.trigger);
      return;
    }
    const started = performance.now();
    const servers = !job.force && !job.noRuntime && state.haproxyRunning ? this.#o.servers : undefined;
    // Runtime-first; then pending I/O runs before the full build (a status request, an answer).
    if (servers && state.current && await servers.step.first(state.current, snapshot, job.trigger)) await yieldToIo();
    const cand = this.#candidate(snapshot);
    this.#o.metrics.renderDuration.observe((performance.now() - started) / 1000);
    const applied = state.current;
    // The renderer's very assembly runtime-first applied (its lines object), else compared with the
    // running config's bytes when kept: neither reads a text made of pieces.
    if (!job.force && applied && state.haproxyRunning && sameConfig(applied, { config: cand.built.config, serverLines: cand.built.serverLines })) {
      // Byte for byte what HAProxy runs: nothing to do.
      // The candidate's text and lines are kept (most often the very ones runtime-first applied; else
      // the renderer holds them anyway, and a spliced text runtime-first left can go).
      await state.set({ ...applied, config: cand.built.config, model: applied.model ?? cand.built.model, serverLines: cand.built.serverLines, index: snapshot.index });
      this.validationError = undefined;
      this.#inStep(snapshot);
      // A pure pool change (yes ↔ no, drain) leaves the config as it is: HAProxy's admin states still follow.
      await this.#o.pool?.reconcile();
      log.debug({ index: snapshot.index }, 'rendered config unchanged; nothing to do');
      return;
    }
    // The rest of the server changes, through the Runtime API, without waiting.
    if (servers && applied?.model && !(await servers.step.rest({ ...applied, model: applied.model }, cand, snapshot, job.trigger)).structural) return this.#inStep(snapshot);

    if (!job.structural && !job.force) {
      convergence.waiting('a change that needs a reload waits for quiet (--wait)');
      this.#debouncer.notify(this.snapshotAtMs);
      this.#early.start(cand.built);
      log.debug({ index: snapshot.index, sinceSnapshotMs: this.snapshotAtMs === undefined ? undefined : this.#o.now() - this.snapshotAtMs, syncMs: Math.round(performance.now() - started) }, 'structural: validating during the wait');
      return;
    }
    const last = state.lastReloadMs;
    const { minIntervalMs } = this.#o.wait;
    if (!job.force && last !== undefined && this.#o.now() < last + minIntervalMs) {
      convergence.waiting('a reload waits for --min-reload-interval');
      this.#early.start(cand.built);
      this.#later(last + minIntervalMs - this.#o.now(), { trigger: job.trigger, structural: true, noRuntime: job.noRuntime });
      return;
    }
    await this.#validateAndApply(cand, snapshot, job, servers?.runtime);
  }

  /** A structural change: validated (guilty services bisected out and remembered), then applied (the Runtime API first when it can take it). */
  async #validateAndApply(cand: Candidate, snapshot: CatalogSnapshot, job: SyncRequest, runtime: Applier | undefined): Promise<void> {
    const { log, memory, builder } = this.#o;
    const validating = performance.now();
    // The running worker's operator state is saved while HAProxy checks the config (see prepareAhead).
    this.#o.apply.prepareAhead(cand.built.model, sslFromConfig(cand.built.config, cand.built.serverLines));
    const early = await this.#early.take(cand.built);
    const valid = early ? { built: cand.built, staged: early, culprits: [] } : await writeStage(() => this.#o.validator.validConfig({ model: cand.model, built: cand.built, render: (m) => builder.render(m) })).catch((err: unknown) => {
      this.#o.apply.forgetAhead();
      if (isHapilotError(err, ErrorCode.HAPROXY_INVALID)) {
        this.validationError = err.detail ?? err.message;
        throw new StageError('validation', err.message);
      }
      throw err;
    });
    this.validationError = undefined;
    log.debug({ validateMs: Math.round(performance.now() - validating), early: early !== undefined, culprits: valid.culprits.length }, 'validated');
    // Grouped only when there is a culprit to remember (a pass over every entry: 100,000 at scale).
    const entries = valid.culprits.length ? entriesByService(snapshot.entries) : undefined;
    for (const c of valid.culprits) {
      const list = entries?.get(c.service);
      if (list) memory.remember(c.service, list, builder.templatesGeneration, c.message);
    }
    for (const w of valid.built.model.warnings) log.warn({ stage: 'model' }, w);
    for (const q of this.quarantined()) {
      // Names from Consul may hold anything (control characters included): shown safely.
      const tag = q.tag !== undefined ? ` tag ${JSON.stringify(q.tag)}` : '';
      log.warn({ service: q.service, instance: q.instance, tag: q.tag }, `quarantined service ${showName(q.service)} instance ${showName(q.instance)}${tag}: ${q.reason}`);
    }
    const out = await this.#o.apply.apply({
      staged: valid.staged, config: valid.built.config, model: valid.built.model, serverLines: valid.built.serverLines, index: snapshot.index,
      trigger: job.trigger, cause: snapshot.cause, appliers: runtime ? [runtime, this.#o.process] : [this.#o.process],
    });
    this.#settle(out, snapshot, job);
  }

  /** The candidate for `snapshot`: guarded, guilty services left out; holds re-evaluated when due. */
  #candidate(snapshot: CatalogSnapshot): Candidate {
    const { memory } = this.#o;
    const guilty = memory.size === 0 ? new Set<string>() : memory.guilty(entriesByService(snapshot.entries), this.#o.builder.templatesGeneration);
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
    const staged = await writeStage(() => stageConfig({ configPath: this.#o.configPath, config: applied.config, files: [] }));
    const serverLines = applied.serverLines.size ? applied.serverLines : renderedServerLines(applied.config);
    const out = await this.#o.apply.apply({ staged, config: applied.config, model: applied.model, serverLines, index: applied.index, trigger, cause: 'forced reload', appliers: [this.#o.process] });
    this.#settle(out, this.snapshot, { trigger, structural: true, force: true, noRuntime: true });
  }

  #failed(err: unknown, job: SyncRequest): void {
    const stage = stageOf(err);
    const message = messageOf(err);
    this.#o.metrics.syncFailures.inc({ stage });
    // A failed Runtime API call leaves the worker in an unknown state: the retry reloads it.
    const retry: SyncRequest = { trigger: 'retry', structural: job.structural || stage === 'runtime', force: job.force, noRuntime: job.noRuntime || stage === 'runtime' };
    const delay = this.#o.convergence.failed(`${stage}: ${message}`, () => this.#o.request(retry));
    this.#o.log.error({ stage, err: message, code: isHapilotError(err) ? err.code : undefined, retryInMs: delay }, `sync failed at ${stage}; HAProxy keeps its running config; retrying`);
  }
}
