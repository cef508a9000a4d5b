// The watch → render → validate → apply loop. It never renders half a catalog (sources emit only
// complete snapshots), never replaces the running config with one HAProxy rejects, and never stops
// serving because Consul is down: the last good config stays in place and HAProxy keeps running.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { buildModel, type Model, type Quarantined } from '../model/model.js';
import { diffModels, isEmptyChange, type ModelChanges } from '../model/diff.js';
import { haproxyTimeMs, type GlobalSettings } from '../settings.js';
import { finishConfig, type BuildResult } from '../config/build.js';
import { isHapilotError, messageOf } from '../errors.js';
import type { HaproxyController } from '../haproxy/controller.js';
import { parseShowStat, socketCommand, type StatRow } from '../haproxy/socket.js';
import { applyRuntimePlan, planRuntime } from '../haproxy/runtime-api.js';
import { selfCheck } from '../haproxy/self-check.js';
import { rewriteServerState } from '../haproxy/server-state.js';
import { validateConfigFile, type ValidateResult } from '../haproxy/validate.js';
import type { Logger } from '../log.js';
import { HOST_MAP_PREFIX, pathsFor, type RenderPaths } from '../config/render.js';
import type { TemplateSet } from '../config/templates.js';
import { commitTemp, tempPathFor, writeDurable, writeFileAtomic } from '../util/atomic-write.js';
import type { CatalogSnapshot, CatalogSource } from '../catalog/source.js';
import { findCulprits } from './bisect.js';
import { Debouncer, type WaitOptions } from './debounce.js';
import { applyGuard, type GuardOptions, type Hold } from './guard.js';
import { ConfigHistory } from './history.js';
import type { Metrics } from './metrics.js';

function readProcCmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return '';
  }
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

export interface DaemonOptions {
  source: CatalogSource;
  settings: GlobalSettings;
  templates: TemplateSet;
  configPath: string;
  runDir: string;
  haproxyBin: string;
  controller: HaproxyController;
  log: Logger;
  metrics: Metrics;
  wait: WaitOptions;
  guard: GuardOptions;
  fdLimit: number | undefined;
  historySize?: number;
  /** Stop HAProxy when hapilot stops (default: leave it serving). */
  stopHaproxyOnExit?: boolean;
  /** `auto` (default) and `runtime` apply server-only changes through the Runtime API. */
  strategy?: 'auto' | 'runtime' | 'seamless' | 'syn-drop';
  /** Check frontends and backends after every reload, and restore the last good config if they fail (default on). */
  selfCheck?: boolean;
  /** Delay a reload while this many old HAProxy processes are still draining. */
  maxOldWorkers?: number;
  /** Old processes alive longer than hard-stop-after plus this are ended (ms). */
  residualGraceMs?: number;
  /** How often old processes are looked at (ms). */
  reapIntervalMs?: number;
  now?: () => number;
}

type Action = 'start' | 'reload' | 'adopt' | 'runtime';

interface Apply {
  config: string;
  files?: Array<{ path: string; contents: string }>;
  serverLines?: ReadonlyMap<string, string>;
  model: Model | undefined;
  index: number;
  trigger: string;
  cause: string;
  changes: ModelChanges | undefined;
  /** SIGHUP: a full reload even when the Runtime API could do. */
  force?: boolean;
}

interface Outcome {
  ok: boolean;
  action: Action;
  message: string;
}

export interface ReloadRecord {
  at: string;
  trigger: string;
  cause: string;
  consulIndex: number;
  ok: boolean;
  action: Action;
  durationMs: number;
  message: string;
  changes: ModelChanges | undefined;
}

interface Applied {
  config: string;
  model: Model | undefined;
  atMs: number;
  index: number;
}

export class Daemon {
  #o: DaemonOptions;
  readonly #log: Logger;
  readonly #paths: RenderPaths;
  readonly #history: ConfigHistory;
  readonly #debouncer: Debouncer;
  readonly #guardSince = new Map<string, number>();
  #snapshot: CatalogSnapshot | undefined;
  #applied: Applied | undefined;
  #haproxyRunning = false;
  #holds: Hold[] = [];
  #quarantined: Quarantined[] = [];
  #bisected: Array<{ service: string; message: string }> = [];
  #validationError: string | undefined;
  #reloadError: string | undefined;
  #reloads: ReloadRecord[] = [];
  #lastReloadMs: number | undefined;
  #pending: { trigger: string; force: boolean } | undefined;
  #busy: Promise<void> | undefined;
  #stopped = false;
  #reaper: NodeJS.Timeout | undefined;
  #holdTimer: NodeJS.Timeout | undefined;

  constructor(o: DaemonOptions) {
    this.#o = o;
    this.#log = o.log.child({ component: 'daemon' });
    this.#paths = pathsFor({ configPath: o.configPath, runDir: o.runDir });
    this.#history = new ConfigHistory({ runDir: o.runDir, keep: o.historySize ?? 10 });
    this.#debouncer = new Debouncer({
      o: o.wait,
      fire: () => this.requestSync({ trigger: 'catalog change', force: false }),
      lastReloadMs: () => this.#lastReloadMs,
      now: o.now,
    });
  }

  /** New templates (SIGHUP after an operator edited them); used from the next render on. */
  setTemplates(templates: TemplateSet): void {
    this.#o.templates = templates;
  }

  get #now(): number {
    return (this.#o.now ?? Date.now)();
  }

  /** Serves the last good config if there is one, then follows the source. */
  async start(): Promise<void> {
    await mkdir(this.#o.runDir, { recursive: true });
    await mkdir(path.dirname(path.resolve(this.#o.configPath)), { recursive: true });
    await this.#serveLastGood();
    this.#reaper = setInterval(() => void this.#reapResidual(), this.#o.reapIntervalMs ?? 5000);
    this.#reaper.unref();
    this.#o.source.start((snapshot) => {
      this.#snapshot = snapshot;
      this.#log.debug({ index: snapshot.index, cause: snapshot.cause, entries: snapshot.entries.length }, 'snapshot');
      // The first snapshot is applied at once; later ones wait for quiet (--wait).
      if (!this.#applied?.model) this.requestSync({ trigger: 'initial sync', force: false });
      else this.#debouncer.notify();
    });
  }

  async #serveLastGood(): Promise<void> {
    if (!existsSync(this.#o.configPath)) return;
    const verdict = await validateConfigFile({ haproxy: this.#o.haproxyBin, file: this.#o.configPath });
    if (!verdict.ok) {
      this.#log.warn({ config: this.#o.configPath, haproxy: verdict.message }, 'the existing config is not valid; waiting for the first complete snapshot');
      return;
    }
    const config = await readFile(this.#o.configPath, 'utf8');
    // The model it was rendered from, so the mass-removal guard protects it across restarts too.
    const model = await this.#loadAppliedModel(config);
    await this.#applyToHaproxy({ config, model, index: 0, trigger: 'startup', cause: 'last good config', changes: undefined, force: true });
  }

  get #modelFile(): string {
    return path.join(path.resolve(this.#o.runDir), 'applied-model.json');
  }

  async #loadAppliedModel(config: string): Promise<Model | undefined> {
    try {
      const saved = JSON.parse(await readFile(this.#modelFile, 'utf8')) as { sha: string; model: Model };
      return saved.sha === sha256(config) ? saved.model : undefined;
    } catch {
      return undefined;
    }
  }

  /** Renders and applies the latest snapshot now; `force` reloads even when nothing changed (SIGHUP). */
  requestSync({ trigger, force }: { trigger: string; force: boolean }): Promise<void> {
    this.#pending = { trigger, force: force || (this.#pending?.force ?? false) };
    this.#busy ??= (async () => {
      try {
        while (this.#pending && !this.#stopped) {
          const job = this.#pending;
          this.#pending = undefined;
          try {
            await this.#sync(job);
          } catch (err) {
            this.#log.error({ err: messageOf(err), code: isHapilotError(err) ? err.code : undefined }, 'sync failed; keeping the running config');
          }
        }
      } finally {
        this.#busy = undefined;
      }
    })();
    return this.#busy;
  }

  /** Waits for the current and pending syncs. */
  async idle(): Promise<void> {
    while (this.#busy) await this.#busy;
  }

  async #sync({ trigger, force }: { trigger: string; force: boolean }): Promise<void> {
    const snapshot = this.#snapshot;
    if (!snapshot) {
      if (force && this.#applied) await this.#reloadOnly(trigger);
      return;
    }
    const started = performance.now();
    const candidate = buildModel({ entries: snapshot.entries, settings: this.#o.settings });
    const guarded = applyGuard({ previous: this.#applied?.model, next: candidate, nowMs: this.#now, since: this.#guardSince, options: this.#o.guard });
    this.#holds = guarded.holds;
    this.#o.metrics.holds.set(guarded.holds.length);
    for (const h of guarded.holds) {
      this.#log.warn({ backend: h.backend, from: h.from, to: h.to, releaseAt: new Date(h.releaseAtMs).toISOString() }, `mass-removal guard: keeping the ${h.from} previous servers of ${h.backend} (the catalog has ${h.to})`);
    }
    for (const h of guarded.released) this.#log.warn({ backend: h.backend, from: h.from, to: h.to }, `mass-removal guard: ${h.backend} has had ${h.to} servers since ${new Date(h.sinceMs).toISOString()}; applying`);
    if (guarded.holds.length) {
      // Re-evaluate when the earliest hold may be released, even if the catalog stays quiet.
      const next = Math.min(...guarded.holds.map((h) => h.releaseAtMs));
      clearTimeout(this.#holdTimer);
      this.#holdTimer = setTimeout(() => void this.requestSync({ trigger: 'guard hold expired', force: false }), Math.max(0, next - this.#now) + 10);
      this.#holdTimer.unref();
    }

    let built = finishConfig({ model: guarded.model, templates: this.#o.templates, paths: this.#paths, fdLimit: this.#o.fdLimit });
    // Byte-for-byte equal to what HAProxy runs: no validation, no reload (unless forced).
    const same = this.#applied !== undefined && this.#applied.config === built.config && this.#haproxyRunning;
    this.#bisected = same ? this.#bisected : [];
    if (!same) {
      const verdict = await this.#validate(built);
      if (!verdict.ok) {
        this.#o.metrics.validationFailures.inc();
        this.#log.warn({ haproxy: verdict.message }, 'haproxy -c rejected the rendered config; looking for the services responsible');
        const repaired = await this.#quarantineByBisect(guarded.model, verdict);
        if (!repaired) {
          this.#validationError = verdict.message;
          this.#log.error({ haproxy: verdict.message }, 'the rendered config is invalid and no service could be isolated; keeping the running config');
          return;
        }
        built = repaired.built;
      }
    }
    this.#validationError = undefined;
    this.#quarantined = [...built.model.quarantined, ...this.#bisected.map((c) => ({ service: c.service, instance: '*', tag: undefined, reason: `haproxy -c: ${c.message}` }))];
    this.#o.metrics.quarantined.set(this.#quarantined.length);
    this.#o.metrics.renderDuration.observe((performance.now() - started) / 1000);

    const changes = diffModels(this.#applied?.model, built.model);
    if (same && this.#applied && !force) {
      if (!this.#applied.model) await writeFileAtomic(this.#modelFile, JSON.stringify({ sha: sha256(built.config), model: built.model }));
      this.#applied = { ...this.#applied, model: built.model, index: snapshot.index };
      this.#markSynced(snapshot.index);
      this.#log.debug({ index: snapshot.index }, 'rendered config unchanged; nothing to do');
      return;
    }
    for (const w of built.model.warnings) this.#log.warn({ stage: 'model' }, w);
    for (const q of this.#quarantined) this.#log.warn({ service: q.service, instance: q.instance, tag: q.tag }, `quarantined service ${q.service} instance ${q.instance}${q.tag !== undefined ? ` tag ${JSON.stringify(q.tag)}` : ''}: ${q.reason}`);
    await this.#applyToHaproxy({ config: built.config, files: built.files, serverLines: built.serverLines, model: built.model, index: snapshot.index, trigger, cause: snapshot.cause, changes, force });
  }

  async #validate(built: BuildResult): Promise<ValidateResult> {
    for (const f of built.files) if (!existsSync(f.path)) await writeFileAtomic(f.path, f.contents);
    const temp = tempPathFor(this.#o.configPath);
    try {
      await writeDurable(temp, built.config);
      return await validateConfigFile({ haproxy: this.#o.haproxyBin, file: temp });
    } finally {
      await rm(temp, { force: true });
    }
  }

  async #quarantineByBisect(model: Model, failure: ValidateResult): Promise<{ built: BuildResult; verdict: ValidateResult } | undefined> {
    const only = (names: readonly string[]): Model => {
      const keep = new Set(names);
      return {
        ...model,
        backends: model.backends.filter((b) => keep.has(b.name)),
        httpRoutes: model.httpRoutes.filter((r) => keep.has(r.backend)),
        portFrontends: model.portFrontends.filter((f) => keep.has(f.backend)),
      };
    };
    const render = (m: Model) => finishConfig({ model: m, templates: this.#o.templates, paths: this.#paths, fdLimit: this.#o.fdLimit });
    const names = model.backends.map((b) => b.name);
    const result = await findCulprits(names, async (subset) => {
      const v = await this.#validate(render(only(subset)));
      return { ok: v.ok, message: v.message };
    });
    this.#log.info({ validations: result.validations, culprits: result.culprits.map((c) => c.service), isolated: result.isolated }, 'bisection done');
    if (!result.isolated || result.culprits.length === 0) {
      this.#validationError = failure.message;
      return undefined;
    }
    const bad = new Set(result.culprits.map((c) => c.service));
    const built = render(only(names.filter((n) => !bad.has(n))));
    const verdict = await this.#validate(built);
    if (!verdict.ok) return undefined;
    this.#bisected = result.culprits;
    return { built, verdict };
  }

  async #applyToHaproxy(a: Apply): Promise<void> {
    // Too many old processes still draining: wait rather than add one more.
    if (this.#haproxyRunning && this.#o.maxOldWorkers !== undefined) {
      const old = (await this.#o.controller.processes().catch(() => undefined))?.oldWorkers.length ?? 0;
      if (old >= this.#o.maxOldWorkers) {
        this.#log.warn({ oldWorkers: old, max: this.#o.maxOldWorkers }, 'reload delayed: too many old HAProxy processes still draining');
        this.#o.metrics.reloadsDelayed.inc();
        setTimeout(() => void this.requestSync({ trigger: `${a.trigger} (delayed)`, force: a.force ?? false }), 1000).unref();
        return;
      }
    }
    const previousConfig = existsSync(this.#o.configPath) ? await readFile(this.#o.configPath, 'utf8') : undefined;
    const previousModel = this.#applied?.model;
    const started = performance.now();
    let outcome = await this.#tryRuntime(a, previousModel);
    if (!outcome) {
      await this.#writeConfig(a, previousConfig);
      outcome = await this.#startOrReload(a.model);
    }
    if (outcome.ok && this.#o.selfCheck !== false) {
      const check = await selfCheck({ config: a.config, model: a.model, statsSocket: this.#paths.statsSocket });
      if (!check.ok) {
        this.#o.metrics.selfCheckFailures.inc();
        outcome = { ...outcome, ok: false, message: `self-check failed after ${outcome.action}: ${check.problems.join('; ')}` };
      }
    }
    const durationMs = performance.now() - started;
    this.#o.metrics.reloadDuration.observe(durationMs / 1000);
    this.#o.metrics.reloads.inc({ result: outcome.ok ? 'success' : 'failure', trigger: a.trigger, action: outcome.action });
    const record: ReloadRecord = { at: new Date().toISOString(), trigger: a.trigger, cause: a.cause, consulIndex: a.index, ok: outcome.ok, action: outcome.action, durationMs: Math.round(durationMs), message: outcome.message, changes: a.changes };
    this.#reloads = [record, ...this.#reloads].slice(0, 20);
    const summary = a.changes && !isEmptyChange(a.changes) ? a.changes : undefined;
    if (outcome.ok) {
      this.#haproxyRunning = true;
      this.#reloadError = undefined;
      this.#lastReloadMs = this.#now;
      this.#applied = { config: a.config, model: a.model, atMs: this.#now, index: a.index };
      this.#markSynced(a.index);
      if (a.model) await writeFileAtomic(this.#modelFile, JSON.stringify({ sha: sha256(a.config), model: a.model }));
      const diff = await this.#history.record({ previous: previousConfig, next: a.config, label: `${a.trigger}: ${a.cause}` });
      const verb = outcome.action === 'start' ? 'started' : outcome.action === 'runtime' ? 'updated through the Runtime API (no reload)' : 'reloaded';
      this.#log.info({ action: outcome.action, trigger: a.trigger, cause: a.cause, consulIndex: a.index, durationMs: record.durationMs, changes: summary, diffLines: diff.split('\n').length }, `HAProxy ${verb} (${a.trigger})`);
      await this.#cleanMaps(a.config);
      return;
    }
    this.#reloadError = outcome.message;
    this.#log.error({ action: outcome.action, trigger: a.trigger, error: outcome.message }, `HAProxy ${outcome.action} failed`);
    if (previousConfig !== undefined && previousConfig !== a.config) {
      // Put back the last good config, and make HAProxy run it again: the file always says what is served.
      await writeFileAtomic(this.#o.configPath, previousConfig);
      if (outcome.action !== 'start' && (await this.#o.controller.running())) {
        const back = await this.#o.controller.reload().catch((err: unknown) => ({ ok: false, message: messageOf(err) }));
        this.#log.error({ restored: back.ok, message: back.message }, back.ok ? 'RESTORED the last good config after a failed reload' : 'could not restore the last good config');
        this.#o.metrics.reloads.inc({ result: back.ok ? 'success' : 'failure', trigger: 'restore last good config', action: 'reload' });
        if (back.ok) this.#applied = this.#applied ? { ...this.#applied, model: previousModel } : this.#applied;
      }
    }
    if (outcome.action === 'start') this.#haproxyRunning = await this.#o.controller.running();
  }

  /** The `runtime` strategy: server-only changes through the Runtime API; undefined when it does not apply. */
  async #tryRuntime(a: Apply, previousModel: Model | undefined): Promise<Outcome | undefined> {
    const strategy = this.#o.strategy ?? 'auto';
    if ((strategy !== 'auto' && strategy !== 'runtime') || a.force || !this.#haproxyRunning || !previousModel || !a.model) return undefined;
    const plan = planRuntime({ previous: previousModel, next: a.model, serverLines: a.serverLines ?? new Map() });
    if ('reason' in plan) {
      this.#log.debug({ reason: plan.reason }, 'reload needed');
      return undefined;
    }
    if (plan.ops.length === 0) return undefined;
    // The file first, so that a reload at any moment from now on loads the same state.
    await this.#writeConfig(a, undefined);
    const r = await applyRuntimePlan({ socket: this.#paths.statsSocket, plan });
    if (!r.ok) {
      this.#log.warn({ error: r.message, commands: r.log.length }, 'Runtime API change failed; reloading instead');
      return undefined;
    }
    if (r.lingering.length) this.#log.info({ servers: r.lingering }, 'removed servers still have connections: left in maintenance until the next reload');
    return { ok: true, action: 'runtime', message: r.message };
  }

  async #writeConfig(a: Apply, previousConfig: string | undefined): Promise<void> {
    const current = previousConfig ?? (existsSync(this.#o.configPath) ? await readFile(this.#o.configPath, 'utf8') : undefined);
    if (a.config === current) return;
    for (const f of a.files ?? []) if (!existsSync(f.path)) await writeFileAtomic(f.path, f.contents);
    const temp = tempPathFor(this.#o.configPath);
    await writeDurable(temp, a.config);
    await commitTemp(temp, this.#o.configPath);
  }

  async #startOrReload(nextModel: Model | undefined): Promise<Outcome> {
    try {
      if (this.#haproxyRunning && !(await this.#o.controller.running())) {
        this.#log.error('HAProxy is not running any more: starting it again');
        this.#haproxyRunning = false;
      }
      if (!this.#haproxyRunning) {
        await rm(this.#paths.serverState, { force: true }); // never a stale state file at start
        const { adopted } = await this.#o.controller.start();
        if (!adopted) return { ok: true, action: 'start', message: 'started' };
        // An adopted HAProxy runs a config we did not see load: reload it onto ours.
        await this.#saveServerState(nextModel);
        const r = await this.#o.controller.reload();
        return { ok: r.ok, action: 'adopt', message: r.ok ? 'adopted the running HAProxy and reloaded it' : r.message };
      }
      await this.#saveServerState(nextModel);
      const r = await this.#o.controller.reload();
      return { ok: r.ok, action: 'reload', message: r.message };
    } catch (err) {
      return { ok: false, action: this.#haproxyRunning ? 'reload' : 'start', message: messageOf(err) };
    }
  }

  /** Operator state (drain, maint, weights) for the next worker, with no stale address (see server-state.ts). */
  async #saveServerState(nextModel: Model | undefined): Promise<void> {
    // Rows are matched with the servers of the config about to load.
    const model = nextModel ?? this.#applied?.model;
    let dump: string | undefined;
    try {
      dump = model ? await socketCommand(this.#paths.statsSocket, 'show servers state', 3000) : undefined;
    } catch {
      dump = undefined;
    }
    if (dump === undefined || !model) {
      await rm(this.#paths.serverState, { force: true });
      return;
    }
    await writeFileAtomic(this.#paths.serverState, rewriteServerState(dump, model));
  }

  async #reloadOnly(trigger: string): Promise<void> {
    const applied = this.#applied;
    if (!applied) return;
    await this.#applyToHaproxy({ config: applied.config, model: applied.model, index: applied.index, trigger, cause: 'forced reload', changes: undefined, force: true });
  }

  #markSynced(index: number): void {
    this.#o.metrics.lastSync.set(Date.now() / 1000);
    this.#o.metrics.consulIndex.set(index);
  }

  /** Removes map files that neither the applied config nor the history refers to. */
  async #cleanMaps(config: string): Promise<void> {
    const dir = this.#paths.filesDir;
    const keep = new Set<string>();
    const histories = [config];
    try {
      for (const f of await readdir(this.#history.dir)) if (f.endsWith('.cfg')) histories.push(await readFile(path.join(this.#history.dir, f), 'utf8'));
    } catch { /* no history yet */ }
    for (const text of histories) for (const m of text.matchAll(new RegExp(`${HOST_MAP_PREFIX}[0-9a-f]+\\.map`, 'g'))) keep.add(m[0]);
    for (const f of await readdir(dir)) {
      if (f.startsWith(HOST_MAP_PREFIX) && f.endsWith('.map') && !keep.has(f)) await rm(path.join(dir, f), { force: true });
    }
  }

  /** HAProxy's view of every server (stats socket), or undefined when it does not answer. */
  async serverStats(): Promise<StatRow[] | undefined> {
    try {
      return parseShowStat(await socketCommand(this.#paths.statsSocket, 'show stat', 2000));
    } catch {
      return undefined;
    }
  }

  /** For /ready: HAProxy runs the current config and some backend has a server up. */
  async ready(): Promise<{ ready: boolean; reason: string }> {
    if (!this.#haproxyRunning || !this.#applied) return { ready: false, reason: 'HAProxy is not running a config yet' };
    if (this.#reloadError) return { ready: false, reason: `last reload failed: ${this.#reloadError}` };
    const stats = await this.serverStats();
    if (!stats) return { ready: false, reason: 'HAProxy stats socket does not answer' };
    const up = stats.some((r) => !r.proxy.startsWith('hapilot_') && r.status.startsWith('UP'));
    return up ? { ready: true, reason: 'ok' } : { ready: false, reason: 'no backend has a server up' };
  }

  degradedReasons(): string[] {
    const reasons = [...this.#o.source.health().degraded];
    if (this.#validationError) reasons.push(`last render rejected by haproxy -c: ${this.#validationError}`);
    if (this.#reloadError) reasons.push(`last reload failed: ${this.#reloadError}`);
    if (!this.#o.source.health().synced) reasons.push('waiting for the first complete catalog snapshot');
    return reasons;
  }

  /** Everything /status shows; holds no secret (no token ever reaches the model). */
  async status(): Promise<object> {
    const source = this.#o.source.health();
    const procs = this.#haproxyRunning ? await this.#o.controller.processes().catch(() => undefined) : undefined;
    const model = this.#applied?.model;
    const degraded = this.degradedReasons();
    this.#o.metrics.degraded.set(degraded.length ? 1 : 0);
    return {
      source: { kind: this.#o.source.kind, synced: source.synced, consulIndex: source.index, lastContact: source.lastSuccessMs ? new Date(source.lastSuccessMs).toISOString() : null },
      degraded,
      haproxy: { running: this.#haproxyRunning, strategy: this.#o.controller.strategy, config: this.#o.configPath, appliedConsulIndex: this.#applied?.index ?? null, processes: procs ?? null },
      services: (model?.backends ?? []).map((b) => ({ name: b.name, mode: b.mode, balance: b.balance, servers: b.servers.map((s) => ({ name: s.name, address: s.address, port: s.port, weight: s.weight })) })),
      quarantined: this.#quarantined,
      holds: this.#holds.map((h) => ({ ...h, since: new Date(h.sinceMs).toISOString(), releaseAt: new Date(h.releaseAtMs).toISOString() })),
      lastValidationError: this.#validationError ?? null,
      reloads: this.#reloads,
    };
  }

  /** Updates the gauges that come from HAProxy (called at scrape time). */
  async refreshHaproxyMetrics(): Promise<void> {
    const m = this.#o.metrics;
    m.backendServers.reset();
    const stats = this.#haproxyRunning ? await this.serverStats() : undefined;
    for (const r of stats ?? []) {
      if (r.proxy.startsWith('hapilot_')) continue;
      const state = r.status.split(' ')[0]?.toLowerCase() || 'unknown';
      m.backendServers.inc({ backend: r.proxy, state });
    }
    const procs = this.#haproxyRunning ? await this.#o.controller.processes().catch(() => undefined) : undefined;
    m.oldWorkers.set(procs?.oldWorkers.length ?? 0);
    m.oldestWorkerAge.set(Math.max(0, ...(procs?.oldWorkers.map((w) => w.ageSeconds) ?? [])));
    m.degraded.set(this.degradedReasons().length ? 1 : 0);
  }

  /**
   * Ends old HAProxy processes that outlived hard-stop-after plus the grace period (versions or
   * configs without the directive leave them forever). Only processes HAProxy reports as its own old
   * workers, by pid.
   */
  async #reapResidual(): Promise<void> {
    if (!this.#haproxyRunning || this.#stopped) return;
    // Watchdog: an HAProxy that died (crash, OOM kill, an operator's kill) is started again.
    if (!this.#busy && this.#applied && !(await this.#o.controller.running())) {
      this.#log.error('HAProxy is not running: starting it again with the last good config');
      this.#o.metrics.haproxyRestarts.inc();
      void this.requestSync({ trigger: 'HAProxy not running', force: true });
      return;
    }
    const procs = await this.#o.controller.processes().catch(() => undefined);
    if (!procs) return;
    const limitS = (haproxyTimeMs(this.#o.settings.hardStopAfter) + (this.#o.residualGraceMs ?? 60_000)) / 1000;
    for (const w of procs.oldWorkers) {
      if (w.ageSeconds <= limitS) continue;
      this.#log.error({ pid: w.pid, ageSeconds: w.ageSeconds, limitSeconds: limitS }, 'ending an old HAProxy process that outlived hard-stop-after');
      try {
        process.kill(w.pid, 'SIGTERM');
        this.#o.metrics.residualKilled.inc();
        setTimeout(() => {
          // Only if that pid is still an HAProxy (pids are reused).
          if (/haproxy/.test(readProcCmdline(w.pid))) { try { process.kill(w.pid, 'SIGKILL'); } catch { /* gone */ } }
        }, 5000).unref();
      } catch { /* already gone */ }
    }
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#reaper);
    clearTimeout(this.#holdTimer);
    this.#debouncer.cancel();
    await this.#o.source.stop();
    await this.idle();
    if (this.#o.stopHaproxyOnExit) await this.#o.controller.stop();
  }
}
