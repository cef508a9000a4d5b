// Applying a committed config to HAProxy: through the first applier that takes the change (the
// Runtime API for server-only changes, else a reload), with operator state saved for the new worker,
// a self-check after each start or reload, and the last good config put back when a reload fails.
// Every attempt is recorded (/status, metrics, history).
import { readFile, rename, rm } from 'node:fs/promises';
import type { Model } from '../model/model.js';
import { CHANGES_SHOWN, diffModels, isEmptyChange, type ModelChanges } from '../model/diff.js';
import { serverLines, type RenderPaths } from '../config/render.js';
import { stageConfig, type StagedConfig } from '../config/config-file.js';
import type { Action, Applier, ApplyResult, ProcessApplier } from '../haproxy/applier.js';
import { selfCheck } from '../haproxy/self-check.js';
import { saveServerState, sslFromConfig, type SslOf } from '../haproxy/server-state.js';
import { messageOf } from '../errors.js';
import type { StateRow } from '../haproxy/server-state.js';
import type { Logger } from '../log.js';
import type { Applied, AppliedState } from './applied-state.js';
import type { ConfigHistory } from './history.js';
import type { Metrics } from './metrics.js';

export interface ApplyRecord {
  at: string;
  trigger: string;
  cause: string;
  consulIndex: number;
  ok: boolean;
  action: Action;
  strategy: string;
  durationMs: number;
  /** Where `durationMs` went, and HAProxy's check before it; see ApplyTimings. */
  timings: ApplyTimings;
  message: string;
  changes: ModelChanges | undefined;
}

/**
 * One apply's time by who spent it, so that a slow reload says whether HAProxy or hapilot was slow.
 * At 10,000 services HAProxy's master spends 1.4–3 s of CPU re-reading the config on a reload, and
 * the same reload takes twice as long from one change to the next on this machine
 * (docs/benchmarks.md); a timing taken on a quiet HAProxy says nothing about a given reload.
 */
export interface ApplyTimings {
  /** `haproxy -c` of this config, in ms (undefined: not checked, as for a Runtime API change). */
  validateMs: number | undefined;
  /** hapilot before HAProxy was asked: the old-worker check and the operator state saved. */
  prepareMs: number;
  /** HAProxy taking the config: from the reload (or start) to its new worker listed, or the Runtime API commands. */
  haproxyMs: number;
  /** The self-check after a start or reload (HAProxy's servers and states read back). */
  selfCheckMs: number;
}

export interface ApplyInput {
  /** The config, staged (validated, or server lines only) and not yet committed. */
  staged: StagedConfig;
  config: string;
  model: Model | undefined;
  serverLines: ReadonlyMap<string, string>;
  index: number;
  trigger: string;
  cause: string;
  /** Appliers to try, in order. */
  appliers: readonly Applier[];
}

export type ApplyOutcome =
  | { kind: 'applied'; action: Action }
  /** Every applier declined (e.g. the Runtime API for a structural change): nothing changed. */
  | { kind: 'declined'; reason: string }
  /** Too many old processes are still draining: try again later. */
  | { kind: 'delayed'; reason: string }
  | { kind: 'failed'; action: Action; message: string };

export interface ApplyStepOptions {
  configPath: string;
  paths: RenderPaths;
  /** The process applier (it also reloads the last good config back after a failure). */
  process: ProcessApplier;
  state: AppliedState;
  history: ConfigHistory;
  metrics: Metrics;
  log: Logger;
  selfCheck: boolean;
  /** Delay a reload while this many old HAProxy processes are still draining. */
  maxOldWorkers: number | undefined;
  /** After every successful apply (map cleanup). */
  afterApply: () => Promise<void>;
  /**
   * After every successful apply, the Runtime API's included, with what was done (pool states back
   * in step) and the `show servers state` rows the self-check read just after a start or reload, if
   * it did.
   */
  onApplied?: (action: Action, servers?: readonly StateRow[]) => Promise<void>;
}

/** Lets pending I/O callbacks (a status request, a socket answer) run before more work on this thread. */
export function yieldToIo(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

export class ApplyStep {
  records: ApplyRecord[] = [];
  readonly #o: ApplyStepOptions;
  #background: Promise<void> = Promise.resolve();
  #toFlush: StagedConfig | undefined;
  #flushing = false;
  /** What the operator state was saved ahead for (`prepareAhead`): the model to load, over the running one. */
  #ahead: { model: Model | undefined; running: Model | undefined } | undefined;
  /** The last save started ahead, and whether it succeeded: the next save waits for it (one writer at a time). */
  #saving: Promise<boolean> = Promise.resolve(true);
  /** A state file was put in place for this apply's reload: it is removed once the apply is over. */
  #stateInPlace = false;

  constructor(o: ApplyStepOptions) {
    this.#o = o;
  }

  async apply(a: ApplyInput): Promise<ApplyOutcome> {
    const previous = this.#o.state.current;
    // The file first: from now on a reload at any moment loads this state.
    await a.staged.commit();
    // The history keeps this very file (a link) if it is applied.
    const captured = this.#o.history.capture(this.#o.configPath);
    let outcome: ApplyOutcome | undefined;
    try {
      outcome = await this.#applyCommitted(a, previous, captured);
      return outcome;
    } finally {
      // Saved ahead for this apply if at all: not kept past it (it holds two models).
      this.#ahead = undefined;
      if (outcome?.kind !== 'applied') await this.#o.history.discard(captured);
      await this.#stateUsed();
    }
  }

  async #applyCommitted(a: ApplyInput, previous: Applied | undefined, captured: string | undefined): Promise<ApplyOutcome> {
    const { state, process: proc, log, metrics } = this.#o;
    const started = performance.now();
    let result: ApplyResult | undefined;
    let prepareMs = 0;
    let haproxyMs = 0;
    for (const applier of a.appliers) {
      if (applier === proc) {
        const preparing = performance.now();
        const busy = await this.#tooManyOldWorkers();
        if (busy) {
          if (previous && previous.config !== a.config) await this.#restoreFile(previous.config);
          return { kind: 'delayed', reason: busy };
        }
        await this.#prepared(a.model, previous?.model, sslFromConfig(a.config, a.serverLines));
        prepareMs = performance.now() - preparing;
      }
      const asked = performance.now();
      result = await applier.apply({ config: a.config, previous: previous?.model, next: a.model, serverLines: a.serverLines });
      haproxyMs = performance.now() - asked;
      if (result.kind !== 'declined') break;
      log.debug({ strategy: applier.strategy, reason: result.reason }, 'applier declined the change');
    }
    // A config committed without fsync is flushed now that HAProxy has it, in the background: durability, not correctness.
    this.#flushToDisk(a.staged);
    if (!result || result.kind === 'declined') {
      // Nothing runs this file yet: put back the one HAProxy runs, so the file keeps saying what is served.
      if (previous && previous.config !== a.config) await this.#restoreFile(previous.config);
      return { kind: 'declined', reason: result?.kind === 'declined' ? result.reason : 'no applier' };
    }
    let ok = result.kind === 'applied';
    let message = result.message;
    const checking = performance.now();
    let servers: StateRow[] | undefined;
    if (ok && result.action !== 'runtime' && this.#o.selfCheck) {
      const check = await selfCheck({ config: a.config, model: a.model, statsSocket: this.#o.paths.statsSocket });
      servers = check.rows;
      if (!check.ok) {
        metrics.selfCheckFailures.inc();
        ok = false;
        message = `self-check failed after ${result.action}: ${check.problems.join('; ')}`;
      }
    }
    const durationMs = performance.now() - started;
    const validateMs = a.staged.validation?.durationMs;
    const timings: ApplyTimings = {
      validateMs: validateMs === undefined ? undefined : Math.round(validateMs), prepareMs: Math.round(prepareMs), haproxyMs: Math.round(haproxyMs), selfCheckMs: Math.round(performance.now() - checking),
    };
    metrics.reloadDuration.observe(durationMs / 1000);
    if (result.action !== 'runtime') metrics.haproxyReloadDuration.observe({ action: result.action }, haproxyMs / 1000);
    metrics.reloads.inc({ result: ok ? 'success' : 'failure', trigger: a.trigger, action: result.action });
    const record: ApplyRecord = {
      at: new Date().toISOString(), trigger: a.trigger, cause: a.cause, consulIndex: a.index, ok, action: result.action, strategy: result.strategy,
      durationMs: Math.round(durationMs), timings, message, changes: undefined,
    };
    this.records = [record, ...this.records].slice(0, 20);
    if (ok) {
      state.haproxyRunning = true;
      if (result.action !== 'runtime') state.lastReloadMs = Date.now();
      // The bytes just written, if still in memory, are kept with the config (see Applied.bytes).
      const applied = { config: a.config, model: a.model, serverLines: a.serverLines, index: a.index, atMs: Date.now(), bytes: a.staged.encoded() };
      const persisted = state.set(applied);
      // What changed, the log line, the model file and the history: bookkeeping, off the critical
      // path of a Runtime API change (the next change need not wait for it), in order. A reload
      // costs far more than this, and its map cleanup needs the history first: done at once.
      const bookkeeping = async () => {
        // Lists cut at CHANGES_SHOWN names (with counts of the rest): the first config adds every server.
        const changes = a.model ? diffModels(previous?.model, a.model, CHANGES_SHOWN) : undefined;
        record.changes = changes;
        const verb = result.action === 'start' ? 'started' : result.action === 'runtime' ? 'updated through the Runtime API (no reload)' : 'reloaded';
        log.info({ action: result.action, strategy: result.strategy, trigger: a.trigger, cause: a.cause, consulIndex: a.index, durationMs: record.durationMs, timings, changes: changes && !isEmptyChange(changes) ? changes : undefined }, `HAProxy ${verb} (${a.trigger})`);
        await persisted;
        // Bytes on both sides when both are kept: compared without flattening a spliced text.
        const texts = previous?.bytes && applied.bytes ? { previous: previous.bytes, next: applied.bytes } : { previous: previous?.config, next: a.config };
        await this.#o.history.record({ ...texts, label: `${a.trigger}: ${a.cause}`, captured });
      };
      this.#background = this.#background
        .then(async () => {
          if (result.action === 'runtime') await yieldToIo();
          await bookkeeping();
        })
        .catch((err: unknown) => log.warn({ err: err instanceof Error ? err.message : String(err) }, 'could not record the applied config (history, model file or fsync)'));
      // Maps change only with routes (a reload); cleaned here, in the sync, so never while another config is staged.
      if (result.action !== 'runtime') {
        await this.flush();
        await this.#o.afterApply();
      }
      await this.#o.onApplied?.(result.action, servers);
      return { kind: 'applied', action: result.action };
    }
    log.error({ action: result.action, strategy: result.strategy, trigger: a.trigger, timings, error: message }, `HAProxy ${result.action} failed`);
    if (result.action !== 'runtime') await this.#rollback(result.action, previous?.config);
    return { kind: 'failed', action: result.action, message };
  }

  /**
   * fsync of committed configs, one at a time: a config committed while one is being flushed is
   * flushed once after it (each flush covers the file now at the path, so the latest one wins).
   */
  #flushToDisk(staged: StagedConfig): void {
    this.#toFlush = staged;
    if (this.#flushing) return;
    this.#flushing = true;
    void (async () => {
      for (let next = this.#toFlush; next; next = this.#toFlush) {
        this.#toFlush = undefined;
        await next.sync().catch((err: unknown) => this.#o.log.warn({ err: err instanceof Error ? err.message : String(err) }, 'could not fsync the config (it is in place; only durability is affected)'));
      }
      this.#flushing = false;
    })();
  }

  /** At start, the last good config at --config (with its model, so the guard protects it too) is served while the source catches up. */
  async serveLastGood(haproxy: string): Promise<void> {
    const { state, configPath, log } = this.#o;
    const last = await state.loadLastGood({ configPath, haproxy, log });
    if (!last) return;
    const out = await this.apply({
      staged: await stageConfig({ configPath, config: last.config, files: [] }), config: last.config, model: last.model,
      serverLines: serverLines(last.config), index: 0, trigger: 'startup', cause: 'last good config', appliers: [this.#o.process],
    });
    if (out.kind !== 'applied') log.error({ outcome: out }, 'could not serve the last good config; waiting for the first complete snapshot');
  }

  /** Waits for the bookkeeping of the applies so far (history, model file, map cleanup). */
  async flush(): Promise<void> {
    await this.#background;
  }

  /** Why a reload must wait (old processes still draining), or undefined. */
  async #tooManyOldWorkers(): Promise<string | undefined> {
    const { state, process: proc, maxOldWorkers, metrics, log } = this.#o;
    if (!state.haproxyRunning || maxOldWorkers === undefined) return undefined;
    const old = (await proc.processes().catch(() => undefined))?.oldWorkers.length ?? 0;
    if (old < maxOldWorkers) return undefined;
    metrics.reloadsDelayed.inc();
    log.warn({ oldWorkers: old, max: maxOldWorkers }, 'reload delayed: too many old HAProxy processes still draining');
    return `reload delayed: ${old} old HAProxy processes still draining (--max-old-workers ${maxOldWorkers})`;
  }

  /**
   * Starts saving the operator state for a reload to `model` now, while its config is still being
   * validated (`haproxy -c` takes about a second at 100,000 servers; the dump and its rewrite 0.2–0.3
   * s more), rather than after. The apply that reloads to this very model, over the same running
   * model, uses it; any other apply saves the state again. Only while HAProxy runs: a fresh start
   * loads no state.
   */
  prepareAhead(model: Model | undefined, sslOf?: SslOf): void {
    if (!this.#o.state.haproxyRunning) return;
    const running = this.#o.state.current?.model;
    // One writer of the state file at a time: after the one before, whatever became of it. Saved
    // beside the state file, not in it: `haproxy -c` loads the state file too (0.25 s of its 0.75 at
    // 100,000 servers), and the check under way must not find one.
    this.#saving = this.#saving.then(() => this.#prepareReload(model, running, this.#aheadFile, sslOf)).then(() => true, () => false);
    this.#ahead = { model, running };
  }

  /** Where the state saved ahead waits for the reload it is for. */
  get #aheadFile(): string {
    return `${this.#o.paths.serverState}.ahead`;
  }

  /**
   * The state file is for one reload: removed once the apply (and its rollback, if any) is over, so
   * that no `haproxy -c` loads it for nothing and no later start or reload loads an old state.
   */
  async #stateUsed(): Promise<void> {
    if (!this.#stateInPlace) return;
    this.#stateInPlace = false;
    await rm(this.#o.paths.serverState, { force: true }).catch((err: unknown) => this.#o.log.warn({ err: messageOf(err), file: this.#o.paths.serverState }, 'could not remove the server-state file'));
  }

  /** The state saved ahead is not used (validation failed): its models are let go. */
  forgetAhead(): void {
    this.#ahead = undefined;
  }

  /** The operator state for a reload to `model`: saved ahead for this model, or saved now. */
  async #prepared(model: Model | undefined, running: Model | undefined, sslOf: SslOf): Promise<void> {
    const ahead = this.#ahead;
    this.#ahead = undefined;
    const saved = await this.#saving;
    this.#stateInPlace = this.#o.process.confirmsLoad;
    if (ahead && saved && ahead.model === model && ahead.running === running && this.#o.state.haproxyRunning) {
      // No file saved ahead (nothing answered the dump) is no state file: never an older one.
      await rename(this.#aheadFile, this.#o.paths.serverState).catch(() => rm(this.#o.paths.serverState, { force: true }));
      return;
    }
    await this.#prepareReload(model, running, this.#o.paths.serverState, sslOf);
  }

  /**
   * Operator state for the next worker, for the servers the running config already has: a server
   * new to the config starts as the config says, whatever the old worker holds under its name (an
   * operator's `add server`, or a Runtime API change that failed halfway). Never a stale state file
   * for a fresh start.
   */
  async #prepareReload(model: Model | undefined, running: Model | undefined, file: string, sslOf: SslOf | undefined): Promise<void> {
    if (!this.#o.state.haproxyRunning) return rm(file, { force: true });
    await saveServerState({ statsSocket: this.#o.paths.statsSocket, file, model, running, sslOf });
  }

  async #restoreFile(config: string): Promise<void> {
    const staged = await stageConfig({ configPath: this.#o.configPath, config, files: [] });
    await staged.commit();
  }

  /** After a failed start or reload: the last good config back in the file, and in HAProxy. */
  async #rollback(action: Action, previousConfig: string | undefined): Promise<void> {
    const { state, process: proc, log, metrics } = this.#o;
    if (previousConfig === undefined) {
      if (action === 'start') state.haproxyRunning = await proc.running();
      return;
    }
    const current = await readFile(this.#o.configPath, 'utf8').catch(() => undefined);
    if (current !== previousConfig) await this.#restoreFile(previousConfig);
    if (action === 'start' || !(await proc.running())) {
      state.haproxyRunning = await proc.running();
      return;
    }
    const back = await proc.reload().catch((err: unknown) => ({ ok: false, message: err instanceof Error ? err.message : String(err) }));
    log.error({ restored: back.ok, message: back.message }, back.ok ? 'RESTORED the last good config after a failed reload' : 'could not restore the last good config');
    metrics.reloads.inc({ result: back.ok ? 'success' : 'failure', trigger: 'restore last good config', action: 'reload' });
  }
}
