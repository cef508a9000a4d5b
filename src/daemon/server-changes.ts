// The server-only part of a sync, sent to the Runtime API without waiting: first the services the
// snapshot names as changed (runtime-first.ts), then whatever server changes the full candidate
// holds beyond them. Each is written to the config first (renamed into place; fsync follows the
// commands), so a reload at any moment loads what HAProxy runs.
import type { CatalogSnapshot } from '../catalog/source.js';
import { stageConfig } from '../config/config-file.js';
import type { RenderPaths, RenderedFile } from '../config/render.js';
import { sameValue } from '../config/backend-pieces.js';
import type { Applier } from '../haproxy/applier.js';
import type { Logger } from '../log.js';
import type { Model } from '../model/model.js';
import type { PoolReconciler } from '../pool/reconciler.js';
import type { GlobalSettings } from '../settings.js';
import { sameConfig, type Applied } from './applied-state.js';
import type { ApplyStep } from './apply.js';
import { sameStructure, serverOnlyPart, type Candidate, type CandidateBuilder } from './candidate.js';
import { StageError, writeStage } from './convergence.js';
import { serverOnlyChange, type ServerOnlyChange } from './runtime-first.js';
import type { ByteRope } from '../util/byte-rope.js';

export interface ServerChangesOptions {
  configPath: string;
  runtime: Applier;
  apply: ApplyStep;
  builder: CandidateBuilder;
  log: Logger;
  settings: GlobalSettings;
  paths: RenderPaths;
  /** The mass-removal guard's ratio: a change it would hold is left to the full sync. */
  maxRemovalRatio: number;
  pool?: PoolReconciler | undefined;
}

const ms = (from: number, to = performance.now()) => Math.round((to - from) * 10) / 10;

/** `part` (serverOnlyPart of `applied`: the same backends, in order) has `applied`'s servers in every backend. */
function sameServers(part: Model, applied: Model): boolean {
  return part.backends.length === applied.backends.length && part.backends.every((b, i) => {
    const a = applied.backends[i];
    return a !== undefined && (b === a || b.servers === a.servers || sameValue(b.servers, a.servers));
  });
}

export class ServerChanges {
  readonly #o: ServerChangesOptions;

  constructor(o: ServerChangesOptions) {
    this.#o = o;
  }

  /** The changed services' server changes, spliced into the running config and applied before anything else. Returns whether it applied one. */
  async first(applied: Applied, snapshot: CatalogSnapshot, trigger: string): Promise<boolean> {
    const started = performance.now();
    const { settings, paths, maxRemovalRatio, builder } = this.#o;
    // The changed services' entries, found from the last build's (pointer comparisons, no scan of every entry).
    const change = serverOnlyChange({ applied, snapshot, settings, templates: builder.templates, paths, maxRemovalRatio, pick: (services) => builder.pick(snapshot.entries, services), renderer: (model) => builder.render(model) });
    if (!change || !this.#poolAgrees(change, snapshot)) return false;
    const out = await this.#send({ config: change.config, bytes: change.bytes, model: change.model, serverLines: change.serverLines, files: [] }, snapshot, trigger);
    this.#o.log.debug({ services: change.services, outcome: out.kind, planMs: ms(started, out.startedAt), writeMs: ms(out.startedAt, out.committedAt), applyMs: ms(out.committedAt) }, 'runtime-first');
    return out.kind === 'applied';
  }

  /**
   * The server changes of the full candidate (applied's structure with the candidate's servers).
   * Returns whether a structural part remains for a reload.
   */
  async rest(applied: Applied & { model: Model }, cand: Candidate, snapshot: CatalogSnapshot, trigger: string): Promise<{ structural: boolean }> {
    const structural = !sameStructure(applied.model, cand.built.model);
    let part = cand.built;
    if (structural) {
      const only = serverOnlyPart(applied.model, cand.built.model);
      // No backend's servers moved: the reload takes the whole change, and there is nothing to render
      // (a render of 10,000 backends, and a 9 MB text the renderer's kept pieces would then slice).
      if (sameServers(only, applied.model)) return { structural };
      part = this.#o.builder.render(only);
    }
    // No `haproxy -c` here: only server lines differ from the validated config, and each added
    // server's keywords pass HAProxy's own `add server` parser (or the change is declined).
    if (sameConfig(applied, part)) return { structural };
    const out = await this.#send(part, snapshot, trigger);
    this.#o.log.debug({ outcome: out.kind, writeMs: ms(out.startedAt, out.committedAt), applyMs: ms(out.committedAt) }, 'server-only part');
    if (out.kind === 'declined') this.#o.log.debug({ reason: out.reason }, 'server changes need a reload');
    return { structural: structural || out.kind === 'declined' };
  }

  /** Writes `part` into the config (renamed into place, fsync later), then sends it through the Runtime API. */
  async #send(part: { config: string; bytes?: ByteRope | undefined; model: Model; serverLines: ReadonlyMap<string, string>; files: readonly RenderedFile[] }, snapshot: CatalogSnapshot, trigger: string) {
    const startedAt = performance.now();
    const staged = await writeStage(() => stageConfig({ configPath: this.#o.configPath, config: part.config, bytes: part.bytes, files: part.files, durable: false }));
    const committedAt = performance.now();
    const out = await this.#o.apply.apply({ staged, config: part.config, model: part.model, serverLines: part.serverLines, index: snapshot.index, trigger, cause: snapshot.cause, appliers: [this.#o.runtime] });
    if (out.kind === 'failed') throw new StageError('runtime', out.message);
    return { ...out, startedAt, committedAt };
  }

  /**
   * The runtime-first change renders the changed services without the pool rules: taken only when
   * the rules would leave its servers as they are (no decommissioned, threshold-kept or re-weighted
   * server among them); otherwise the full build, which applies them, takes the change.
   */
  #poolAgrees(change: ServerOnlyChange, snapshot: CatalogSnapshot): boolean {
    const pool = this.#o.pool;
    if (!pool) return true;
    // The changed backends alone (the rules read no route; no filter of 10,000 backends and routes).
    const part: Model = { ...change.model, backends: change.backends, httpRoutes: [], portFrontends: [] };
    const services = new Set(part.backends.map((b) => b.service));
    const adjusted = pool.preview(this.#o.builder.pick(snapshot.entries, services), part);
    const agrees = JSON.stringify(adjusted.backends.map((b) => b.servers)) === JSON.stringify(part.backends.map((b) => b.servers));
    if (!agrees) this.#o.log.debug({ services: change.services }, 'runtime-first: pool states change these servers; the full build takes them');
    return agrees;
  }
}
