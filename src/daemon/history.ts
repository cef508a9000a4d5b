// A small history of the configs hapilot applied, each with its diff from the one before, in
// `<run-dir>/history/`: what an operator reads after the fact ("what changed at 03:12?").
import { randomBytes } from 'node:crypto';
import { linkSync, mkdirSync } from 'node:fs';
import { mkdir, open, readdir, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { formatPatch, structuredPatch } from 'diff';
import { blockStretches, ByteRope } from '../util/byte-rope.js';

export class ConfigHistory {
  readonly dir: string;
  readonly #keep: number;
  #seq = 0;

  constructor({ runDir, keep = 10 }: { runDir: string; keep?: number }) {
    this.dir = path.join(path.resolve(runDir), 'history');
    this.#keep = keep;
  }

  #captures = 0;
  /** This history's own captures: random, as a pid is reused (hapilot is often pid 1 in a container). */
  readonly #capturePrefix = `.capture-${randomBytes(6).toString('hex')}-`;

  /**
   * A hard link to the config file as it is now (call it right after committing the config that
   * `record` will be given): the history keeps that very file instead of writing a copy, 10 MB per
   * change at 10,000 services. Undefined when the file cannot be linked (another filesystem): `record`
   * then writes the copy.
   */
  capture(configPath: string): string | undefined {
    const link = path.join(this.dir, `${this.#capturePrefix}${++this.#captures}`);
    try {
      mkdirSync(this.dir, { recursive: true });
      linkSync(configPath, link);
      return link;
    } catch {
      return undefined;
    }
  }

  /** Drops a capture whose config was not applied. */
  async discard(captured: string | undefined): Promise<void> {
    if (captured) await rm(captured, { force: true });
  }

  /**
   * Records `next` and its diff from `previous` (texts, or the UTF-8 bytes of both). `captured`: the
   * file `capture` linked for `next`.
   */
  async record({ previous, next, label, captured }: { previous: Text | Buffer | undefined; next: Text | Buffer; label: string; captured?: string | undefined }): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    const base = path.join(this.dir, `${stamp}-${String(++this.#seq).padStart(4, '0')}`);
    const moved = captured !== undefined && await rename(captured, `${base}.cfg`).then(() => true, async () => {
      await rm(captured, { force: true });
      return false;
    });
    if (!moved) await writeFile(`${base}.cfg`, next instanceof ByteRope ? next.parts : next);
    const diff = await open(`${base}.diff`, 'w');
    try {
      for (const part of configPatchParts(previous ?? '', next, label)) await diff.write(part);
    } finally {
      await diff.close();
    }
    await this.#prune();
  }

  async #prune(): Promise<void> {
    const names = await readdir(this.dir);
    // Links an earlier hapilot captured and never recorded (it was stopped in between).
    for (const f of names) if (f.startsWith('.capture-') && !f.startsWith(this.#capturePrefix)) await rm(path.join(this.dir, f), { force: true });
    const cfgs = names.filter((f) => f.endsWith('.cfg')).sort();
    for (const f of cfgs.slice(0, Math.max(0, cfgs.length - this.#keep))) {
      await rm(path.join(this.dir, f), { force: true });
      await rm(path.join(this.dir, f.replace(/\.cfg$/, '.diff')), { force: true });
    }
  }
}

const CONTEXT = 2;
const NEWLINE = 10;
/** Characters (or bytes) compared at once when looking for the common prefix and suffix (native compares). */
const CHUNK = 1 << 14;

/**
 * A config as text, or as its UTF-8 bytes (the ones kept with the applied config: a spliced config
 * is then compared without being flattened or copied). Offsets are in characters or in bytes; the
 * cuts made are at line starts, and a newline byte is never part of a longer UTF-8 character.
 */
type Text = string | ByteRope;

/** The next (or last) newline at or after (before) `from`: searched for as a byte in bytes (a string to look for costs a conversion per call). */
const newlineAfter = (t: Text, from?: number): number => (typeof t === 'string' ? t.indexOf('\n', from) : t.indexOf(NEWLINE, from));
const newlineBefore = (t: Text, from: number): number => (typeof t === 'string' ? t.lastIndexOf('\n', from) : t.lastIndexOf(NEWLINE, Math.max(0, from)));
const codeAt = (t: Text, i: number): number | undefined => (typeof t === 'string' ? t.charCodeAt(i) : t.at(i));
const textOf = (t: Text, from: number, to: number): string => (typeof t === 'string' ? t.slice(from, to) : t.toString(from, to));

/** `n` characters (bytes) of `a` from `aFrom` equal those of `b` from `bFrom` (both in range). */
function sameRun(a: Text, aFrom: number, b: Text, bFrom: number, n: number): boolean {
  if (typeof a === 'string' || typeof b === 'string') return textOf(a, aFrom, aFrom + n) === textOf(b, bFrom, bFrom + n);
  return a.sameRun(aFrom, b, bFrom, n);
}

/** Length of the common prefix of `a` and `b`. */
function commonPrefix(a: Text, b: Text): number {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i + CHUNK <= n && sameRun(a, i, b, i, CHUNK)) i += CHUNK;
  while (i < n && codeAt(a, i) === codeAt(b, i)) i++;
  return i;
}

/** Length of the common suffix of `a` and `b`, at most `max`. */
function commonSuffix(a: Text, b: Text, max: number): number {
  let k = 0;
  while (k + CHUNK <= max && sameRun(a, a.length - k - CHUNK, b, b.length - k - CHUNK, CHUNK)) k += CHUNK;
  while (k < max && codeAt(a, a.length - 1 - k) === codeAt(b, b.length - 1 - k)) k++;
  return k;
}

/** Newlines in a buffer. */
function newlinesIn(bytes: Buffer): number {
  let n = 0;
  for (let at = bytes.indexOf(NEWLINE); at >= 0; at = bytes.indexOf(NEWLINE, at + 1)) n++;
  return n;
}

/** Where a buffer's stretches counted start: every 256 KB of it (a splice's cut is counted again within one). */
const LINE_BLOCK = 1 << 18;
/**
 * Newlines in the stretches of rope parts counted before, by their memory (buffer, from, to): a
 * config spliced from the last one is mostly its very parts (rope parts are never written to).
 * Dropped with their buffer.
 */
const newlinesKnown = new WeakMap<ArrayBufferLike, Map<string, number>>();

/** Newlines in the first `end` characters (bytes) of `text`: in bytes, the stretches counted before are not counted again. */
function countLines(text: Text, end: number): number {
  let n = 0;
  if (typeof text === 'string') {
    for (let at = newlineAfter(text); at >= 0 && at < end; at = newlineAfter(text, at + 1)) n++;
    return n;
  }
  let start = 0; // of the part in the rope
  for (const part of text.parts) {
    if (start >= end) break;
    let known = newlinesKnown.get(part.buffer);
    if (!known) newlinesKnown.set(part.buffer, (known = new Map()));
    for (const [from, to] of blockStretches(part, LINE_BLOCK, end - start)) {
      const bytes = part.subarray(from - part.byteOffset, to - part.byteOffset);
      // The stretch `end` falls in is counted as far as `end`, and not remembered.
      if (to % LINE_BLOCK !== 0 && to !== part.byteOffset + part.length) n += newlinesIn(bytes);
      else {
        const key = `${from}:${to}`;
        let k = known.get(key);
        if (k === undefined) known.set(key, (k = newlinesIn(bytes)));
        n += k;
      }
    }
    start += part.length;
  }
  return n;
}

/** Characters of the first config turned into added lines at a time (not a second 10 MB text, with a `+` per line). */
const ADDED_SLICE = 1 << 20;

/**
 * The unified diff (2 lines of context) of two configs, as `createTwoFilesPatch` gives it, for the
 * cost of what changed: the lines both share at the start and at the end (past the context) are
 * left out of the diff and its line numbers shifted, instead of diffing two 10 MB texts line by line.
 */
export function configPatch(previous: Text | Buffer, next: Text | Buffer, label: string): string {
  return [...configPatchParts(previous, next, label)].join('');
}

/** configPatch in parts, to be written one after the other. */
export function* configPatchParts(before: Text | Buffer, after: Text | Buffer, label: string, slice = ADDED_SLICE): Generator<string> {
  let previous: Text = Buffer.isBuffer(before) ? ByteRope.of(before) : before;
  let next: Text = Buffer.isBuffer(after) ? ByteRope.of(after) : after;
  // Text against bytes: both as text.
  if (typeof previous !== typeof next) {
    previous = previous.toString();
    next = next.toString();
  }
  // The first config: every line added (written out slice by slice, not diffed line by line).
  if (previous.length === 0 && codeAt(next, next.length - 1) === NEWLINE) {
    yield `===================================================================\n--- haproxy.cfg (before)\n+++ haproxy.cfg (after)\t${label}\n@@ -0,0 +1,${countLines(next, next.length)} @@\n`;
    for (let at = 0; at < next.length;) {
      // Whole lines: up to the last newline within the slice, or the end of a longer line.
      const nl = newlineBefore(next, at + slice - 1);
      const end = nl >= at ? nl + 1 : newlineAfter(next, at) + 1;
      yield `+${textOf(next, at, end - 1).replaceAll('\n', '\n+')}\n`;
      at = end;
    }
    return;
  }
  // The first line that differs, then CONTEXT lines before it: a line start in both texts.
  const prefix = commonPrefix(previous, next);
  let start = prefix === 0 ? 0 : newlineBefore(previous, prefix - 1) + 1;
  for (let k = 0; k < CONTEXT && start > 0; k++) start = start < 2 ? 0 : newlineBefore(previous, start - 2) + 1;
  // The text after the last line that differs, then CONTEXT lines after it: a line start in both.
  const same = commonSuffix(previous, next, Math.min(previous.length, next.length) - start);
  let end = previous.length - same;
  const nextEnd = next.length - same;
  if (!(end > start && nextEnd > start && codeAt(previous, end - 1) === NEWLINE && codeAt(next, nextEnd - 1) === NEWLINE)) {
    const nl = newlineAfter(previous, end);
    end = nl < 0 ? previous.length : nl + 1;
  }
  for (let k = 0; k < CONTEXT && end < previous.length; k++) {
    const nl = newlineAfter(previous, end);
    end = nl < 0 ? previous.length : nl + 1;
  }
  const tail = previous.length - end;
  const patch = structuredPatch('haproxy.cfg (before)', 'haproxy.cfg (after)', textOf(previous, start, end), textOf(next, start, next.length - tail), undefined, label, { context: CONTEXT });
  const shift = countLines(previous, start);
  for (const h of patch.hunks) {
    h.oldStart += shift;
    h.newStart += shift;
  }
  yield formatPatch(patch);
}
