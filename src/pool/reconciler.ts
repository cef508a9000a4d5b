// The pool path as one object the engine holds: it watches the pool records in KV, decides with the
// pure rules against the engine's latest catalog and model (the decisions and what they were made
// from are kept in decision-state.ts), and brings HAProxy's admin states
// (ready/drain/maint) and weights in step through the Runtime API, without a reload. What it
// cannot do alone (leave inactive servers out of the config, put back servers the threshold keeps)
// it does through the engine: `adjust(entries, model)` in the candidate build, and
// `onConfigChange` asking the engine for a sync when a KV change needs it.
import type { HealthEntry } from '../consul/schemas.js';
import { messageOf } from '../errors.js';
import { socketCommand } from '../haproxy/socket.js';
import type { Logger } from '../log.js';
import type { Backend, Model } from '../model/model.js';
import { DecisionState } from './decision-state.js';
import type { PoolInstance } from './instances.js';
import type { KvApi } from './kv.js';
import { observeBackends, observeServers, type ObservedAdmin } from './observe.js';
import type { PoolDecisions } from './rules.js';
import { changedBackendsBy, poolRuntimeCommandsFor } from './runtime.js';
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

export class PoolReconciler {
  readonly #o: PoolReconcilerOptions;
  readonly #ac = new AbortController();
  #watching: Promise<void> | undefined;
  readonly #state: DecisionState;
  /** Decisions were applied to HAProxy once (a reconcile went through); before that, every backend is looked at. */
  #appliedOnce = false;
  #queue: Promise<unknown> = Promise.resolve();
  #firstRead: Promise<void>;
  #resolveFirst!: () => void;
  #read = false;
  /** The read error of each prefix that is failing now (cleared by its next answer, changed or not). */
  #readErrors = new Map<string, string>();
  #requestSync: (() => void) | undefined;

  constructor(o: PoolReconcilerOptions) {
    this.#o = o;
    this.#state = new DecisionState({ defaultThreshold: o.defaultThreshold, includeWarning: o.includeWarning ?? false, thresholdOf: o.thresholdOf });
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
      onChange: (snap) => this.takePool(snap),
    });
  }

  /** A read of the pool records (what the KV watch delivers): decided at once, and a sync asked for when the config must change. */
  takePool(snap: PoolSnapshot): void {
    this.#read = true;
    this.#resolveFirst();
    for (const i of snap.table.invalid) this.#o.log.warn({ key: i.key }, `pool record ${i.key} is unusable: ${i.reason}`);
    const { decided, configMoved } = this.#state.takePool(snap);
    if (!decided) return;
    if (configMoved) {
      this.#o.onConfigChange?.();
      this.#requestSync?.();
    }
    void this.reconcile();
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
    return this.#state.decommissioned();
  }

  async stop(): Promise<void> {
    this.#ac.abort();
    await this.#watching;
    await this.#queue.catch(() => undefined);
  }

  /**
   * The engine's candidate build: decides for this catalog and model, and returns the model with
   * inactive servers left out, threshold-kept servers put back and pool weights (decision-state.ts).
   */
  adjust(entries: readonly HealthEntry[], model: Model, entriesOf?: (service: string) => readonly HealthEntry[] | undefined): Model {
    return this.#state.adjust(entries, model, entriesOf);
  }

  /** What `adjust` would make of a part of the catalog, without taking it as the engine's state. */
  preview(entries: readonly HealthEntry[], model: Model): Model {
    return this.#state.preview(entries, model);
  }

  /** The decisions, as `applyPoolStates` gives them for every instance. */
  decisions(): PoolDecisions | undefined {
    return this.#state.decisions();
  }

  /** Every backend's instances, or `only`'s. */
  instances(only?: ReadonlySet<string>): readonly PoolInstance[] {
    return this.#state.instances(only);
  }

  /**
   * Brings HAProxy's admin states and weights in step with the decisions. `full` looks at every
   * backend (after a start or a reload); otherwise only at backends whose decisions moved.
   * `observed`: every server as HAProxy showed it a moment ago (the self-check's `show servers state`
   * after a reload), looked at instead of asking again when every backend is to be looked at.
   */
  reconcile({ full = false, observed }: { full?: boolean; observed?: readonly ObservedAdmin[] } = {}): Promise<string[]> {
    const run = async (): Promise<string[]> => {
      // Taken now; given back if HAProxy cannot be reached (what moved since stays newer).
      const taken = this.#state.takeUnapplied();
      if (!taken) return [];
      const { byBackend: d, unapplied } = taken;
      const socket = this.#o.statsSocket;
      try {
        const changed = full || !this.#appliedOnce ? undefined : changedBackendsBy(defined(unapplied), defined(new Map([...unapplied.keys()].map((name) => [name, d.get(name)]))));
        if (changed?.size === 0) return [];
        const seen = changed ? await observeBackends(socket, changed) : observed ?? await observeServers(socket);
        const commands = poolRuntimeCommandsFor(d, seen);
        for (const c of commands) {
          const answer = (await socketCommand(socket, c)).trim();
          if (answer) this.#o.log.warn({ command: c, answer }, 'pool: HAProxy did not take a runtime command');
        }
        if (commands.length) this.#o.log.info({ commands }, `pool: ${commands.length} runtime commands (no reload)`);
        this.#appliedOnce = true;
        return commands;
      } catch (err) {
        this.#state.giveBack(unapplied);
        throw err;
      }
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

/** The entries of `map` with a value. */
function defined<K, V>(map: ReadonlyMap<K, V | undefined>): Map<K, V> {
  const out = new Map<K, V>();
  for (const [k, v] of map) if (v !== undefined) out.set(k, v);
  return out;
}
