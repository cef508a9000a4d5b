// The model file on disk: `<run-dir>/applied-model.json`, the whole model (a base), and
// `<run-dir>/applied-model.journal`, one line appended per change since that base naming the
// backends that changed. A server-only change at 10,000 services changes one backend in 10,000: it
// appends about 1 KB of backend and the config's digests instead of writing 13 MB of model again.
// The base is written again (and the journal emptied) when anything but backends changed, when
// many did, and when the journal has grown to half the base.
//
// Each line names its base (a random id written in the base) and its place after it: a journal left
// from another base, or a line torn by a crash, is not applied. What is read back is then an older
// state, whose config digests do not match the config on disk, and the model is not used: as after a
// crash before any write.
import { randomBytes } from 'node:crypto';
import { open, readFile, rm } from 'node:fs/promises';
import { ErrorCode, HapilotError, messageOf } from '../errors.js';
import type { Backend, Model } from '../model/model.js';
import { writeFileAtomic, writeParts } from '../util/atomic-write.js';
import type { PartDigests } from '../util/part-digest.js';

const COMMA = Buffer.from(',');
const NEWLINE = Buffer.from('\n');

/** The JSON of each model part (a backend, the routes, …), UTF-8, kept while the part lives: models are never mutated. */
const jsonOf = new WeakMap<object, Buffer>();

function partJson(v: object): Buffer {
  let json = jsonOf.get(v);
  if (json === undefined) {
    json = Buffer.from(JSON.stringify(v));
    jsonOf.set(v, json);
  }
  return json;
}

/**
 * `JSON.stringify(model)` in UTF-8, byte for byte, as pieces: the JSON of each backend is kept
 * between calls, so a change serializes the backends it touched, and the pieces are written as they
 * are (no 15 MB string joined and encoded per change).
 */
export function modelJsonParts(model: Model): Buffer[] {
  const out: Buffer[] = [];
  const text = (t: string) => out.push(Buffer.from(t));
  let first = true;
  text('{');
  for (const [key, value] of Object.entries(model) as Array<[string, unknown]>) {
    if (value === undefined || typeof value === 'function' || typeof value === 'symbol') continue;
    text(`${first ? '' : ','}${JSON.stringify(key)}:`);
    first = false;
    if (key === 'backends' && Array.isArray(value)) {
      text('[');
      value.forEach((b: unknown, i) => {
        // One comma for all (writev takes the same buffer twice): not 10,000 small buffers per write.
        if (i > 0) out.push(COMMA);
        if (b !== null && typeof b === 'object') out.push(partJson(b));
        else text(JSON.stringify(b) ?? 'null');
      });
      text(']');
    } else if (value !== null && typeof value === 'object') out.push(partJson(value));
    else text(JSON.stringify(value));
  }
  text('}');
  return out;
}

/** `JSON.stringify(model)` (for tests and small models). */
export function modelJson(model: Model): string {
  return Buffer.concat(modelJsonParts(model)).toString('utf8');
}

/** Backends a journal line may carry; more changed at once are a new base. */
const MAX_LINE_BACKENDS = 64;

/** What a model file holds when read back, before its schema is checked. */
export interface ReadBack {
  /** The base's JSON, with the journal's backends put in place (and its last line's config digests). */
  json: unknown;
  /** Journal lines applied. */
  lines: number;
}

/** Whether two values of a model's fields are the same (the same object, or the same JSON). */
const same = (a: unknown, b: unknown): boolean => a === b || (a !== null && b !== null && typeof a === 'object' && typeof b === 'object' ? partJson(a).equals(partJson(b)) : JSON.stringify(a) === JSON.stringify(b));

export class ModelFile {
  readonly path: string;
  readonly journalPath: string;
  /** The base on disk and what was written since: the model of the last line, the lines' count and bytes. */
  #written: { id: string; baseBytes: number; model: Model; lines: number; journalBytes: number } | undefined;
  /** Writes of each kind (for tests and the benchmark's account). */
  readonly counts = { bases: 0, lines: 0 };

  constructor(file: string) {
    this.path = file;
    this.journalPath = file.replace(/\.json$/, '') + '.journal';
  }

  /** Saves `model` for the config of these digests: a journal line when only a few backends changed since the last write, else a new base. */
  async write(model: Model, configParts: PartDigests): Promise<void> {
    const w = this.#written;
    const changed = w && w.journalBytes < w.baseBytes / 2 ? changedBackends(w.model, model) : undefined;
    if (!w || !changed) return this.#writeBase(model, configParts);
    const line = [
      Buffer.from(`{"base":${JSON.stringify(w.id)},"line":${w.lines + 1},"configParts":${JSON.stringify(configParts)},"backends":[`),
      ...changed.flatMap((i, k) => [...(k > 0 ? [COMMA] : []), Buffer.from(`[${i},`), partJson(model.backends[i] as Backend), Buffer.from(']')]),
      Buffer.from(']}'),
      NEWLINE,
    ];
    try {
      const handle = await open(this.journalPath, 'a', 0o644);
      try {
        await writeParts(handle, line);
        await handle.datasync();
      } finally {
        await handle.close();
      }
    } catch (err) {
      // The journal is in an unknown state: the next write is a new base.
      this.#written = undefined;
      throw new HapilotError(ErrorCode.WRITE, `cannot write ${this.journalPath}: ${messageOf(err)}`, { cause: err });
    }
    this.#written = { ...w, model, lines: w.lines + 1, journalBytes: w.journalBytes + line.reduce((n, b) => n + b.length, 0) };
    this.counts.lines += 1;
  }

  async #writeBase(model: Model, configParts: PartDigests): Promise<void> {
    const id = randomBytes(8).toString('hex');
    const parts = [Buffer.from(`{"version":2,"id":"${id}","configParts":${JSON.stringify(configParts)},"model":`), ...modelJsonParts(model), Buffer.from('}')];
    this.#written = undefined;
    await writeFileAtomic(this.path, parts);
    // A journal left beside it names the base before: not applied to this one, removed all the same.
    await rm(this.journalPath, { force: true });
    this.#written = { id, baseBytes: parts.reduce((n, b) => n + b.length, 0), model, lines: 0, journalBytes: 0 };
    this.counts.bases += 1;
  }

  /** The base's JSON with the journal's lines that follow it applied; undefined when there is no base. Throws on a base that is not JSON. */
  async read(): Promise<ReadBack | undefined> {
    const text = await readFile(this.path, 'utf8').catch(() => undefined);
    if (text === undefined) return undefined;
    const json = JSON.parse(text) as unknown;
    const journal = await readFile(this.journalPath, 'utf8').catch(() => '');
    if (!isRecord(json) || typeof json.id !== 'string' || !isRecord(json.model) || !Array.isArray(json.model.backends) || journal === '') return { json, lines: 0 };
    const backends = [...(json.model.backends as unknown[])];
    let configParts = json.configParts;
    let lines = 0;
    for (const raw of journal.split('\n')) {
      let line: unknown;
      try {
        line = JSON.parse(raw);
      } catch {
        break; // torn by a crash (or the end)
      }
      if (!isRecord(line) || line.base !== json.id || line.line !== lines + 1 || !Array.isArray(line.backends)) break;
      const put = line.backends as unknown[];
      if (!put.every((p) => Array.isArray(p) && p.length === 2 && Number.isInteger(p[0]) && (p[0] as number) >= 0 && (p[0] as number) < backends.length)) break;
      for (const [i, b] of put as Array<[number, unknown]>) backends[i] = b;
      configParts = line.configParts;
      lines += 1;
    }
    return { json: { ...json, configParts, model: { ...json.model, backends } }, lines };
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** Indexes of the backends of `next` that are not those of `last`, when nothing else differs and they are few; else undefined. */
function changedBackends(last: Model, next: Model): number[] | undefined {
  if (last.backends.length !== next.backends.length) return undefined;
  const keys = new Set([...Object.keys(last), ...Object.keys(next)]);
  for (const k of keys) {
    if (k === 'backends') continue;
    if (!same((last as unknown as Record<string, unknown>)[k], (next as unknown as Record<string, unknown>)[k])) return undefined;
  }
  const changed: number[] = [];
  for (let i = 0; i < next.backends.length; i++) {
    if (last.backends[i] === next.backends[i]) continue;
    changed.push(i);
    if (changed.length > MAX_LINE_BACKENDS) return undefined;
  }
  return changed;
}
