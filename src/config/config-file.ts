// The one path a config takes to disk, for `render --out`, `check --out` and the daemon alike: stage it
// in a temp file next to its destination (with the map files it names), let HAProxy judge that very
// file, then commit it by rename. The config is written once per apply, and the file at its path is
// always one HAProxy accepted (or, for `render --out`, one that was asked for without validation).
import { closeSync, existsSync, openSync, renameSync } from 'node:fs';
import { open, readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { ErrorCode, HapilotError, messageOf } from '../errors.js';
import { validateConfigFile, type ValidateResult } from '../haproxy/validate.js';
import { commitTemp, encodeText, tempPathFor, writeDurable, writeFileAtomic } from '../util/atomic-write.js';
import { ByteRope } from '../util/byte-rope.js';
import { HOST_MAP_PREFIX, type RenderedFile } from './render.js';

export interface StagedConfig {
  /** The temp file holding the config, next to its destination. */
  readonly tempPath: string;
  /** HAProxy's verdict on the temp file; undefined when no `haproxy` binary was given. */
  readonly validation: ValidateResult | undefined;
  /** Renames the temp file over the destination (and, when staged durable, syncs the directory). */
  commit(): Promise<void>;
  /** Flushes the committed file and its directory to disk (a no-op when staged durable: done already). */
  sync(): Promise<void>;
  /** Removes the temp file. */
  discard(): Promise<void>;
  /**
   * The bytes written, while they are still in memory (held weakly: staging keeps no 9 MB copy alive
   * through a validation and a reload); undefined once collected.
   */
  encoded(): ByteRope | undefined;
}

export interface StageInput {
  configPath: string;
  config: string;
  /** `config` in UTF-8, when the caller has it already (spliced from the running config's bytes): not encoded again. */
  bytes?: ByteRope | undefined;
  files: readonly RenderedFile[];
  /** Validate the staged file with this HAProxy binary (`haproxy -c`). */
  haproxy?: string;
  /**
   * false: write and rename without fsync, and leave `sync()` for later. The rename alone is what a
   * reload needs (it reads the page cache); fsync is only durability, and after a crash hapilot
   * renders the config again from the catalog. The Runtime API path uses it to send its commands
   * first. The write and the rename are then synchronous: about a millisecond of this thread for a
   * config of 1,000 services, where each of the four thread-pool round trips of the asynchronous
   * calls waited for a core on a loaded machine (measured at a load of 12 on 2 cores: p50 3.2 ms,
   * p90 78 ms asynchronous; p50 1.7 ms, p90 3.9 ms synchronous). Default true.
   */
  durable?: boolean;
}

/** `bytes` into a new file (replaced if there), without fsync. */
function writeSync(file: string, bytes: ByteRope): void {
  const fd = openSync(file, 'w', 0o644);
  try {
    bytes.writeTo(fd);
  } finally {
    closeSync(fd);
  }
}

/** fsync of a file or a directory; some filesystems refuse it on directories (the rename stays atomic). */
async function fsyncPath(p: string): Promise<void> {
  const handle = await open(p, 'r');
  try {
    await handle.sync();
  } catch {
    // EINVAL on a directory of some filesystems.
  } finally {
    await handle.close();
  }
}

export async function stageConfig({ configPath, config, bytes: given, files, haproxy, durable = true }: StageInput): Promise<StagedConfig> {
  // Map files are content-addressed: one that exists already has these very contents, and writing a
  // new one never changes what the running config refers to.
  for (const f of files) if (!existsSync(f.path)) await writeFileAtomic(f.path, f.contents);
  const tempPath = tempPathFor(configPath);
  const bytes = given ?? new ByteRope([encodeText(config)]);
  const written = new WeakRef(bytes);
  try {
    if (durable) await writeDurable(tempPath, bytes.parts);
    else writeSync(tempPath, bytes);
  } catch (err) {
    await rm(tempPath, { force: true });
    throw new HapilotError(ErrorCode.WRITE, `cannot write ${configPath}: ${messageOf(err)}`, { cause: err });
  }
  let validation: ValidateResult | undefined;
  try {
    validation = haproxy === undefined ? undefined : await validateConfigFile({ haproxy, file: tempPath });
  } catch (err) {
    await rm(tempPath, { force: true });
    throw err;
  }
  let done = false;
  return {
    tempPath,
    validation,
    async commit() {
      if (done) throw new Error(`staged config ${tempPath} was already committed or discarded`);
      done = true;
      try {
        if (durable) await commitTemp(tempPath, configPath);
        else renameSync(tempPath, configPath);
      } catch (err) {
        await rm(tempPath, { force: true });
        throw new HapilotError(ErrorCode.WRITE, `cannot write ${configPath}: ${messageOf(err)}`, { cause: err });
      }
    },
    async sync() {
      if (durable || !done) return;
      try {
        await fsyncPath(configPath);
        await fsyncPath(path.dirname(configPath));
      } catch (err) {
        throw new HapilotError(ErrorCode.WRITE, `cannot sync ${configPath}: ${messageOf(err)}`, { cause: err });
      }
    },
    async discard() {
      done = true;
      await rm(tempPath, { force: true });
    },
    encoded: () => written.deref(),
  };
}

/**
 * Host-map file names a config text refers to, each its own copy: a match is a slice of the text,
 * and V8 keeps the whole text (9 MB at 10,000 services) alive for as long as a slice of it is kept.
 */
export function referencedFiles(config: string): string[] {
  return [...config.matchAll(new RegExp(`${HOST_MAP_PREFIX}[0-9a-f]+\\.map`, 'g'))].map((m) => Buffer.from(m[0], 'latin1').toString('latin1'));
}

const PREFIX_BYTES = Buffer.from(HOST_MAP_PREFIX, 'latin1');
const MAP_SUFFIX = Buffer.from('.map', 'latin1');
const isHexDigit = (c: number | undefined) => c !== undefined && ((c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66));

/**
 * The same names, found in a config's bytes: a config read from disk or kept as the bytes written is
 * searched without a text of it (a 9 MB text is a large object V8 frees only at a full collection).
 */
export function referencedFilesIn(bytes: Buffer): string[] {
  const out: string[] = [];
  for (let at = bytes.indexOf(PREFIX_BYTES); at >= 0; at = bytes.indexOf(PREFIX_BYTES, at + 1)) {
    let end = at + PREFIX_BYTES.length;
    while (isHexDigit(bytes[end])) end++;
    if (end > at + PREFIX_BYTES.length && bytes.subarray(end, end + MAP_SUFFIX.length).equals(MAP_SUFFIX)) {
      out.push(bytes.toString('latin1', at, end + MAP_SUFFIX.length));
      at = end;
    }
  }
  return out;
}

/** Removes the host maps in `dir` that neither a config in `keep` nor `referenced` (names) refers to. */
export async function removeUnreferencedFiles({ dir, keep, referenced: names = [] }: { dir: string; keep: readonly string[]; referenced?: readonly string[] }): Promise<void> {
  const referenced = new Set([...keep.flatMap(referencedFiles), ...names]);
  for (const name of await readdir(dir)) {
    if (name.startsWith(HOST_MAP_PREFIX) && name.endsWith('.map') && !referenced.has(name)) await rm(path.join(dir, name), { force: true });
  }
}
