// What HAProxy runs: the applied config, the model it was rendered from and the Consul index it came
// from, kept in memory and in `<run-dir>/applied-model.json` (versioned, schema-checked when read
// back), so that a restarted hapilot knows the model of the last good config it serves.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import type { Model } from '../model/model.js';
import type { GlobalSettings } from '../settings.js';
import { validateConfigFile } from '../haproxy/validate.js';
import type { Logger } from '../log.js';
import { encodeText, textIs } from '../util/atomic-write.js';
import { ModelFile, type ReadBack } from './model-file.js';
import type { ByteRope } from '../util/byte-rope.js';
import { JoinedLines } from '../config/backend-pieces.js';
import { matchesDigests, PartHasher } from '../util/part-digest.js';

export interface Applied {
  config: string;
  /** Undefined for a config served at startup without a matching model file. */
  model: Model | undefined;
  /** The rendered `server` lines of `config` (empty when not known, as after a restart). */
  serverLines: ReadonlyMap<string, string>;
  /**
   * `config` in UTF-8, the very bytes written to the file, when they were at hand: a server-only
   * change splices them (runtime-first.ts), the model file hashes them and the history compares
   * them, none of which then encodes or flattens 9 MB of text. Kept for as long as `config`. A
   * rope: a splice is the running bytes' stretches and the new sections, not a copy.
   */
  bytes?: ByteRope | undefined;
  index: number;
  atMs: number;
}

const Server = z.object({
  name: z.string(), address: z.string(), port: z.number().int(), weight: z.number().int(),
  hostname: z.boolean(), node: z.string(), serviceId: z.string(),
}).loose();
const Backend = z.object({
  name: z.string(), service: z.string(), mode: z.enum(['http', 'tcp']), balance: z.string(),
  maxconn: z.number().int().optional(), sticky: z.literal('src').optional(),
  check: z.object({ inter: z.string(), fall: z.number().int(), rise: z.number().int() }).loose(),
  httpchk: z.string().optional(), servers: z.array(Server),
}).loose();

type Compared = Pick<Applied, 'config' | 'bytes'> & { serverLines?: Applied['serverLines'] };

/**
 * Whether two applied states hold the same config: the same assembly of the incremental renderer
 * (the same lines object); else by their bytes when both are kept, so that a text made of pieces is
 * not flattened to be compared; else by text.
 */
export function sameConfig(a: Compared, b: Compared): boolean {
  // One assembly of the incremental renderer: one config (its lines are made with it), not read.
  if (a.serverLines instanceof JoinedLines && a.serverLines === b.serverLines) return true;
  if (a.bytes && b.bytes) return a.bytes.equals(b.bytes);
  if (a.bytes) return textIs(b.config, a.bytes);
  if (b.bytes) return textIs(a.config, b.bytes);
  return a.config === b.config;
}

/**
 * `<run-dir>/applied-model.json` (with the journal of the changes since, model-file.ts): the model
 * and which config it rendered. Version 2 (written since 2026-12-07) says it by the config's length
 * in stretches and each one's SHA-256 (part-digest.ts); version 1, by the SHA-256 of the whole
 * config (read still, from a hapilot of before).
 */
export function appliedModelSchema(settings: GlobalSettings) {
  // Settings are ours (from the environment), not the file's: the file must carry the same keys
  // with values of the same types, or it is not used.
  // (JSON drops undefined values: a key may be missing.)
  const settingsShape = Object.fromEntries(Object.entries(settings).map(([k, v]) => [k, z.unknown().optional().refine((x) => x === undefined || v === undefined || typeof x === typeof v, { message: `expected a ${typeof v}` })]));
  const sha = z.string().regex(/^[0-9a-f]{64}$/);
  const config = z.discriminatedUnion('version', [
    z.object({ version: z.literal(1), configSha256: sha }),
    z.object({ version: z.literal(2), id: z.string().optional(), configParts: z.array(z.tuple([z.number().int().nonnegative(), sha])) }),
  ]);
  return z.object({
    model: z.object({
      settings: z.object(settingsShape),
      backends: z.array(Backend),
      httpRoutes: z.array(z.object({ host: z.string(), backend: z.string() })),
      portFrontends: z.array(z.object({ name: z.string(), port: z.number().int(), mode: z.enum(['http', 'tcp']), backend: z.string() })),
      quarantined: z.array(z.object({ service: z.string(), instance: z.string(), tag: z.string().optional(), reason: z.string() })),
      warnings: z.array(z.string()),
    }),
  }).and(config);
}

/** SHA-256 of `text` in UTF-8. */
export function sha256(text: string): string {
  return createHash('sha256').update(encodeText(text)).digest('hex');
}

export class AppliedState {
  readonly modelFile: string;
  /** The model file and its journal. */
  readonly saved: ModelFile;
  readonly #settings: GlobalSettings;
  current: Applied | undefined;
  /** HAProxy runs `current.config` (it was started or reloaded onto it, and not seen dead since). */
  haproxyRunning = false;
  /** When HAProxy last loaded a config (start or reload; Runtime API changes do not count). */
  lastReloadMs: number | undefined;
  #persisting: Promise<void> = Promise.resolve();
  /** The model file's digests of the config's parts, those of the parts hashed before known (the persists run one at a time). */
  readonly #hasher = new PartHasher();

  constructor({ runDir, settings }: { runDir: string; settings: GlobalSettings }) {
    this.modelFile = path.join(path.resolve(runDir), 'applied-model.json');
    this.saved = new ModelFile(this.modelFile);
    this.#settings = settings;
  }

  /**
   * Records what HAProxy runs now (at once), and persists its model (the promise): after pending
   * I/O has run (the JSON of a large model costs milliseconds of this thread), in order, and only
   * while it is still what HAProxy runs (a newer state writes its own). The config's digests come
   * from `applied.bytes` when they are there (8.7 MB not encoded again at 10,000 services): only the
   * parts not hashed before are hashed (after a server-only change, its new sections and the parts
   * it cut).
   */
  set(applied: Applied): Promise<void> {
    const current = this.current;
    const persist = applied.model && (!current || current.model !== applied.model || !sameConfig(current, applied));
    this.current = applied;
    if (!persist || !applied.model) return Promise.resolve();
    const { config, model, bytes } = applied;
    // One failed write (EPERM) does not stop the later ones.
    this.#persisting = this.#persisting.catch(() => undefined).then(async () => {
      await new Promise((resolve) => setImmediate(resolve));
      const now = this.current;
      if (!now || now.model !== model || !sameConfig(now, applied)) return;
      const { parts } = this.#hasher.digests(bytes ?? encodeText(config));
      await this.saved.write(model, parts);
    });
    return this.#persisting;
  }

  /** The config at `configPath` if HAProxy accepts it, with its saved model when there is one. */
  async loadLastGood({ configPath, haproxy, log }: { configPath: string; haproxy: string; log: Logger }): Promise<{ config: string; model: Model | undefined } | undefined> {
    const config = await readFile(configPath, 'utf8').catch(() => undefined);
    if (config === undefined) return undefined;
    const verdict = await validateConfigFile({ haproxy, file: configPath });
    if (!verdict.ok) {
      log.warn({ config: configPath, haproxy: verdict.message }, 'the existing config is not valid; waiting for the first complete snapshot');
      return undefined;
    }
    const { model, reason } = await this.loadModel(config);
    if (!model) log.info({ reason }, 'serving the last good config without its model');
    return { config, model };
  }

  /** The model saved for `config`, when the file is ours, valid, and for that very config. */
  async loadModel(config: string): Promise<{ model: Model | undefined; reason: string }> {
    let read: ReadBack | undefined;
    try {
      read = await this.saved.read();
    } catch {
      return { model: undefined, reason: 'applied-model.json is not JSON' };
    }
    if (read === undefined) return { model: undefined, reason: 'no applied-model.json' };
    const r = appliedModelSchema(this.#settings).safeParse(read.json);
    if (!r.success) return { model: undefined, reason: `applied-model.json: ${r.error.issues.slice(0, 3).map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}` };
    const forConfig = r.data.version === 1 ? r.data.configSha256 === sha256(config) : matchesDigests(encodeText(config), r.data.configParts);
    if (!forConfig) return { model: undefined, reason: 'applied-model.json is for another config' };
    const m = r.data.model;
    // The schema checked every field the daemon reads; the settings in force are the environment's.
    const model: Model = {
      settings: { ...this.#settings, ...pickKnown(this.#settings, m.settings) },
      // Fields the schema does not name (added to the model later) are carried as saved.
      backends: m.backends.map((b) => ({ ...b, maxconn: b.maxconn, sticky: b.sticky, httpchk: b.httpchk, check: { ...b.check }, servers: b.servers.map((s) => ({ ...s })) })),
      httpRoutes: m.httpRoutes,
      portFrontends: m.portFrontends,
      quarantined: m.quarantined.map((q) => ({ service: q.service, instance: q.instance, tag: q.tag, reason: q.reason })),
      warnings: m.warnings,
    };
    return { model, reason: 'ok' };
  }
}

/** The saved values of the settings keys we know, where their type matches ours (checked by the schema). */
function pickKnown(settings: GlobalSettings, saved: Record<string, unknown>): Partial<GlobalSettings> {
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(settings)) if (k in saved && saved[k] !== undefined) out[k] = saved[k];
  return out as Partial<GlobalSettings>;
}
