// The pool path as one object the engine holds: it watches the pool records in KV, decides with the
// pure rules against the engine's latest catalog and model, and brings HAProxy's admin states
// (ready/drain/maint) and weights in step through the Runtime API, without a reload. What it
// cannot do alone (leave inactive servers out of the config, put back servers the threshold keeps)
// it does through the engine: `adjust(entries, model)` in the candidate build, and
// `onConfigChange` asking the engine for a sync when a KV change needs it.
import type { HealthEntry } from '../consul/schemas.js';
import { messageOf } from '../errors.js';
import { socketCommand } from '../haproxy/socket.js';
import type { Logger } from '../log.js';
import type { Backend, Model } from '../model/model.js';
import type { PoolInstance } from './instances.js';
import type { KvApi } from './kv.js';
import { poolInstancesFor, withPoolDecisions } from './model-adapter.js';
import { observeBackends, observeServers } from './observe.js';
import { applyPoolStates, decisionKey, type PoolDecisions, type ServerDecision } from './rules.js';
import { changedBackends, poolRuntimeCommands } from './runtime.js';
import { watchPool, type PoolSnapshot } from './watch.js';

export interface PoolReconcilerOptions {
  kv: KvApi;
  prefix: string;
  dockerWeights?: boolean;
  /** `wait` of the KV blocking queries. */
  wait?: string;
  statsSocket: string;
  defaultThreshold: number;
  includeWarning?: boolean;
  log: Logger;
  /** The backend's own threshold; default: its HAPROXY.BACKEND.DEPOOL_THRESHOLD tag (`Backend.depoolThreshold`). */
  thresholdOf?: (backend: Backend) => number | undefined;
  /** A KV change altered what the config must hold (inactive, kept servers, weights): sync, please. */
  onConfigChange?: () => void;
}

/** The part of a decision that shows in the config (the rest is admin state, applied at runtime). */
function configKey(d: PoolDecisions): string {
  return JSON.stringify(d.servers.map((s) => [s.backend, s.server, s.inConfig, s.weight, s.keptByThreshold]));
}

export class PoolReconciler {
  readonly #o: PoolReconcilerOptions;
  readonly #ac = new AbortController();
  #watching: Promise<void> | undefined;
  #pool: PoolSnapshot | undefined;
  #entries: readonly HealthEntry[] | undefined;
  #model: Model | undefined;
  #instances: PoolInstance[] = [];
  #decisions: PoolDecisions | undefined;
  #previous = new Map<string, ServerDecision>();
  /** Decisions as last applied to HAProxy (for asking it only about backends that moved). */
  #applied: Map<string, ServerDecision> | undefined;
  #queue: Promise<unknown> = Promise.resolve();
  #firstRead: Promise<void>;
  #resolveFirst!: () => void;
  #read = false;
  /** The last KV read error, cleared by the next good read. */
  /** The read error of each prefix that is failing now (cleared by its next answer, changed or not). */
  #readErrors = new Map<string, string>();
  #requestSync: (() => void) | undefined;

  constructor(o: PoolReconcilerOptions) {
    this.#o = o;
    this.#firstRead = new Promise((resolve) => { this.#resolveFirst = resolve; });
  }

  /** Starts watching KV. `ready()` resolves after the first complete read. */
  start(): void {
    this.#watching = watchPool({
      kv: this.#o.kv, prefix: this.#o.prefix, dockerWeights: this.#o.dockerWeights, wait: this.#o.wait, signal: this.#ac.signal,
      onError: (err, attempt, delayMs, prefix) => {
        this.#readErrors.set(prefix, `${prefix}/: ${messageOf(err)}`);
        this.#o.log.warn({ err: messageOf(err), attempt, retryInMs: delayMs, prefix }, this.#read ? 'pool records: KV read failed; the last pool states stay applied' : 'pool records: KV read failed; the first config waits for them');
      },
      onContact: (prefix) => {
        if (this.#readErrors.delete(prefix)) this.#o.log.info({ prefix }, 'pool records: KV read works again');
      },
      onChange: (snap) => {
        const before = this.#decisions;
        this.#pool = snap;
        this.#read = true;
        this.#resolveFirst();
        for (const i of snap.table.invalid) this.#o.log.warn({ key: i.key }, `pool record ${i.key} is unusable: ${i.reason}`);
        if (!this.#entries || !this.#model) return;
        this.#decide();
        if (before && this.#decisions && configKey(before) !== configKey(this.#decisions)) {
          this.#o.onConfigChange?.();
          this.#requestSync?.();
        }
        void this.reconcile();
      },
    });
  }

  /** Resolves once the pool records have been read (so a first config does not pool everything). */
  ready(): Promise<void> {
    return this.#firstRead;
  }

  /** The engine that holds this reconciler: asked for a sync when a KV change alters what the config must hold. */
  setSyncRequester(request: () => void): void {
    this.#requestSync = request;
  }

  /** Why the pool path is not in step with KV (for /status's degraded reasons), or undefined. */
  degradedReason(): string | undefined {
    const readError = [...this.#readErrors.values()].join('; ');
    if (!this.#read) return `waiting for the first read of the pool records in Consul KV (${this.#o.prefix}/)${readError ? `: ${readError}` : ''}`;
    if (readError) return `pool records: Consul KV read failing (${readError}); the last pool states stay applied`;
    return undefined;
  }

  /** `backend/server` of every decommissioned server (pool state inactive): left out of the config on purpose. */
  decommissioned(): Set<string> {
    return new Set((this.#decisions?.servers ?? []).filter((s) => !s.inConfig).map((s) => decisionKey(s.backend, s.server)));
  }

  async stop(): Promise<void> {
    this.#ac.abort();
    await this.#watching;
    await this.#queue.catch(() => undefined);
  }

  /**
   * The engine's candidate build: decides for this catalog and model, and returns the model with
   * inactive servers left out, threshold-kept servers put back and pool weights.
   */
  adjust(entries: readonly HealthEntry[], model: Model): Model {
    this.#entries = entries;
    this.#model = model;
    this.#instances = poolInstancesFor(entries, model);
    this.#decide();
    return this.#decisions ? withPoolDecisions(model, this.#decisions, this.#instances) : model;
  }

  /**
   * What `adjust` would make of a part of the catalog (some services' entries and a model of their
   * backends), without taking it as the engine's state: for a fast path that renders a few services
   * alone and must agree with the full build.
   */
  preview(entries: readonly HealthEntry[], model: Model): Model {
    if (!this.#pool) return model;
    const instances = poolInstancesFor(entries, model);
    return withPoolDecisions(model, this.#rules(instances, model), instances);
  }

  #rules(instances: readonly PoolInstance[], model: Model): PoolDecisions {
    const pool = this.#pool;
    if (!pool) throw new Error('pool records not read yet');
    return applyPoolStates({
      instances, table: pool.table, dockerWeights: pool.dockerWeights, defaultThreshold: this.#o.defaultThreshold,
      includeWarning: this.#o.includeWarning ?? false, previous: this.#previous,
      thresholds: new Map(model.backends.flatMap((b) => {
        const t = this.#o.thresholdOf ? this.#o.thresholdOf(b) : b.depoolThreshold;
        return t === undefined ? [] : [[b.name, t] as const];
      })),
    });
  }

  #decide(): void {
    if (!this.#entries || !this.#model || !this.#pool) return;
    this.#decisions = this.#rules(this.#instances, this.#model);
    this.#previous = new Map(this.#decisions.servers.map((s) => [decisionKey(s.backend, s.server), s]));
  }

  decisions(): PoolDecisions | undefined {
    return this.#decisions;
  }

  instances(): readonly PoolInstance[] {
    return this.#instances;
  }

  /**
   * Brings HAProxy's admin states and weights in step with the decisions. `full` looks at every
   * backend (after a start or a reload); otherwise only at backends whose decisions moved.
   */
  reconcile({ full = false }: { full?: boolean } = {}): Promise<string[]> {
    const run = async (): Promise<string[]> => {
      const d = this.#decisions;
      if (!d) return [];
      const socket = this.#o.statsSocket;
      const observed = full || !this.#applied ? await observeServers(socket) : await observeBackends(socket, changedBackends(this.#applied, d));
      const commands = poolRuntimeCommands(d, observed);
      for (const c of commands) {
        const answer = (await socketCommand(socket, c)).trim();
        if (answer) this.#o.log.warn({ command: c, answer }, 'pool: HAProxy did not take a runtime command');
      }
      if (commands.length) this.#o.log.info({ commands }, `pool: ${commands.length} runtime commands (no reload)`);
      this.#applied = new Map(d.servers.map((s) => [decisionKey(s.backend, s.server), s]));
      return commands;
    };
    // Never rejects: HAProxy out of reach is logged, and the next change or reload tries again.
    const p = this.#queue.then(run, run).catch((err: unknown) => {
      this.#o.log.warn({ err: messageOf(err) }, 'pool: could not reach HAProxy; the next change or reload retries');
      return [] as string[];
    });
    this.#queue = p;
    return p;
  }
}
