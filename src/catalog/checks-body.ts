// A JSON array answer decoded against the previous answer's bytes: only the stretch that differs is
// parsed. Used for the node dump (node-dump.ts); the checks list of /v1/health/state/any is compared
// with the kept one as it arrives (kept-answer.ts) and decoded whole here when it does not line up.
// At 10,000 services × 10 instances the checks list is ~32 MB and JSON.parse of it alone takes
// 0.3–1.7 s of CPU on this machine, for a change that touched one check. Consul writes its lists in
// the same order every time (node, then ID), so the bytes before the first difference and after the
// last are the same elements as before: the common prefix and suffix are found with memcmp, widened
// to whole array elements (element offsets are kept from the previous answer), and only the
// elements between them are parsed and shape-checked. Anything that does not line up (no previous
// answer, a difference in the brackets, a stretch that does not parse into whole elements) falls
// back to parsing the whole answer, a batch of whole elements at a time, each made what is kept of
// it (a check's row) before the next.
import { ErrorCode, HapilotError } from '../errors.js';
import { checkHealthChecks, type HealthCheck } from '../consul/schemas.js';
import { toRow, type CheckRow } from './checks-diff.js';
import { Interner } from './held-entry.js';
import { lowerBound } from '../util/sorted.js';

/** An answer as kept for the next one: its bytes and where each element starts. */
export interface ArrayBody {
  readonly bytes: Buffer;
  /**
   * Byte offset of each element's `{`: a typed array, off the heap (100,000 offsets at 10,000
   * services are not a JS array the garbage collector walks and each change copies by pushes).
   */
  readonly starts: Uint32Array;
  /** Offset of the closing `]`. */
  readonly close: number;
}

/** The new answer: elements [from, to) of the previous one are replaced by `items`. */
export interface ArrayDecoded<T> {
  body: ArrayBody;
  from: number;
  to: number;
  items: T[];
  /** Bytes parsed (the whole answer when it could not be decoded against the previous one). */
  parsedBytes: number;
}


export interface DecodeOptions {
  /** Text parsed at once when the whole answer is parsed (BATCH_BYTES; smaller in tests). */
  batchBytes?: number;
}

/** Parses the text of a JSON array (whole, or a stretch of whole elements in brackets); throws a CONSUL_SHAPE error. */
export type ParseArray<T> = (text: string) => T[];

/** JSON's structural bytes, for the byte-level scans here and in node-dump.ts. */
export const OPEN = 0x7b; // {
export const CLOSE = 0x7d; // }
export const QUOTE = 0x22;
export const BACKSLASH = 0x5c;

/** Offsets of the objects that start at depth 0 of bytes[from, to) (outside strings). */
export function elementStarts(bytes: Buffer, from: number, to: number): number[] | undefined {
  const out: number[] = [];
  let depth = 0;
  let inString = false;
  for (let i = from; i < to; i++) {
    const b = bytes[i] as number;
    if (inString) {
      if (b === BACKSLASH) i++;
      else if (b === QUOTE) inString = false;
      continue;
    }
    if (b === QUOTE) inString = true;
    else if (b === OPEN || b === 0x5b) { if (depth === 0 && b === OPEN) out.push(i); depth++; } else if (b === CLOSE || b === 0x5d) depth--;
    if (depth < 0) return undefined;
  }
  return depth === 0 && !inString ? out : undefined;
}

export function parseChecks(text: string, endpoint: string): HealthCheck[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new HapilotError(ErrorCode.CONSUL_SHAPE, `Consul ${endpoint} answered malformed JSON (${String((err as Error).message).slice(0, 200)}): expected a complete JSON document`);
  }
  const shape = checkHealthChecks(parsed);
  if (!shape.ok) throw new HapilotError(ErrorCode.CONSUL_SHAPE, `Consul ${endpoint} answered an unexpected shape ${shape.message}`);
  return shape.data;
}

/**
 * Text parsed at once when a whole answer is parsed: a batch of elements is parsed and turned into
 * what is kept of it (`parse`) before the next, so the full objects of a 32 MB answer (100,000
 * checks with their ServiceTags, Output, Definition…) never exist all at once.
 */
const BATCH_BYTES = 1 << 20;

/** The whole answer parsed (first answer, or one that does not line up with the previous). */
function decodeWhole<T>(bytes: Buffer, parse: ParseArray<T>, previousCount: number, batchBytes: number): ArrayDecoded<T> {
  const open = bytes.indexOf(0x5b);
  const close = bytes.lastIndexOf(0x5d);
  const starts = open >= 0 && close > open ? elementStarts(bytes, open + 1, close) : undefined;
  const batched = starts && inBatches(bytes, open, close, starts, parse, batchBytes);
  // Not whole objects between the brackets (or a batch that does not parse): parsed at once, for the
  // error it gives or for the elements it holds; its offsets are not kept (the next answer is parsed whole too).
  const items = batched ?? parse(bytes.toString('utf8'));
  const ok = starts !== undefined && starts.length === items.length;
  return { body: { bytes: ok ? bytes : Buffer.alloc(0), starts: ok ? Uint32Array.from(starts) : new Uint32Array(0), close: ok ? close : -1 }, from: 0, to: previousCount, items, parsedBytes: bytes.length };
}

const blank = (bytes: Buffer, from: number, to: number) => from >= to || bytes.toString('latin1', from, to).trim() === '';

/**
 * The text of elements [a, b) of an array whose elements start at `starts` and which closes at
 * `close`: without the comma that separates it from element b; undefined when that comma is missing.
 */
export function elementsText(bytes: Buffer, starts: ArrayLike<number>, a: number, b: number, close: number): string | undefined {
  const text = bytes.toString('utf8', starts[a] as number, b < starts.length ? (starts[b] as number) : close).trimEnd();
  if (b >= starts.length) return text;
  return text.endsWith(',') ? text.slice(0, -1) : undefined;
}

/**
 * The elements of the array at bytes[open, close], parsed `batchBytes` at a time; undefined when
 * anything but whole objects separated by commas lies between the brackets or a batch fails.
 */
function inBatches<T>(bytes: Buffer, open: number, close: number, starts: ArrayLike<number>, parse: ParseArray<T>, batchBytes: number): T[] | undefined {
  if (!blank(bytes, 0, open) || !blank(bytes, close + 1, bytes.length) || !blank(bytes, open + 1, starts[0] ?? close)) return undefined;
  const items: T[] = [];
  for (let a = 0; a < starts.length;) {
    let b = a + 1;
    while (b < starts.length && (starts[b] as number) - (starts[a] as number) < batchBytes) b++;
    const text = elementsText(bytes, starts, a, b, close);
    if (text === undefined) return undefined;
    let batch: T[];
    try {
      batch = parse(`[${text}]`);
    } catch {
      return undefined;
    }
    if (batch.length !== b - a) return undefined;
    for (const x of batch) items.push(x);
    a = b;
  }
  return items;
}

/** Length of the common prefix of a and b (memcmp in blocks, then byte by byte). */
function commonPrefix(a: Buffer, b: Buffer, limit: number): number {
  const BLOCK = 65_536;
  let p = 0;
  while (p + BLOCK <= limit && a.compare(b, p, p + BLOCK, p, p + BLOCK) === 0) p += BLOCK;
  while (p < limit && a[p] === b[p]) p++;
  return p;
}

function commonSuffix(a: Buffer, b: Buffer, limit: number): number {
  const BLOCK = 65_536;
  let s = 0;
  while (s + BLOCK <= limit && a.compare(b, b.length - s - BLOCK, b.length - s, a.length - s - BLOCK, a.length - s) === 0) s += BLOCK;
  while (s < limit && a[a.length - 1 - s] === b[b.length - 1 - s]) s++;
  return s;
}

/** `src[from, to)` written into `out` from `at`, each moved by `shift` (the offsets after an edit). */
export function shiftedInto(out: Uint32Array, at: number, src: Uint32Array, from: number, to: number, shift: number): void {
  out.set(src.subarray(from, to), at);
  if (shift !== 0) for (let i = at, end = at + (to - from); i < end; i++) out[i] = (out[i] as number) + shift;
}


/** Parses a stretch of a checks list into rows (checks-diff.ts), its strings shared within the answer. */
export function checkRowsParser(endpoint = '/v1/health/state/any'): ParseArray<CheckRow> {
  const strings = new Interner();
  return (text) => parseChecks(text, endpoint).map((c) => toRow(c, strings));
}

/**
 * The new answer's elements that differ from the previous answer's elements [from, to), parsing only
 * the bytes between the common prefix and suffix (widened to whole elements). An empty previous
 * answer (no starts) means the whole answer is parsed.
 */
export function decodeArray<T>(previous: ArrayBody | undefined, bytes: Buffer, previousCount: number, parse: ParseArray<T>, o: DecodeOptions = {}): ArrayDecoded<T> {
  const whole = () => decodeWhole(bytes, parse, previousCount, o.batchBytes ?? BATCH_BYTES);
  if (!previous || previous.starts.length === 0 || previous.starts.length !== previousCount) return whole();
  const old = previous.bytes;
  const p = commonPrefix(old, bytes, Math.min(old.length, bytes.length));
  if (p === old.length && p === bytes.length) return { body: previous, from: 0, to: 0, items: [], parsedBytes: 0 };
  const s = commonSuffix(old, bytes, Math.min(old.length, bytes.length) - p);
  const starts = previous.starts;
  const first = starts[0] as number;
  if (p <= first || old.length - s > previous.close) return whole(); // a bracket differs
  const from = lowerBound(starts, p + 1) - 1; // the element holding the first differing byte
  const to = Math.max(from, lowerBound(starts, old.length - s)); // the first element wholly in the common suffix
  const delta = bytes.length - old.length;
  const start = starts[from] as number;
  const oldEnd = to < starts.length ? (starts[to] as number) : previous.close;
  const newEnd = oldEnd + delta;
  const newClose = previous.close + delta;
  if (newEnd < start || bytes[newClose] !== 0x5d) return whole();
  const inner = elementStarts(bytes, start, newEnd);
  if (inner === undefined) return whole();
  // The stretch is whole elements separated by commas (and one trailing comma when more follow).
  let text = bytes.toString('utf8', start, newEnd).trimEnd();
  if (to < starts.length) {
    if (!text.endsWith(',') && text.length > 0) return whole();
    text = text.slice(0, -1);
  }
  let items: T[];
  try {
    items = parse(`[${text}]`);
  } catch {
    return whole();
  }
  if (items.length !== inner.length) return whole();
  const nextStarts = new Uint32Array(from + inner.length + starts.length - to);
  nextStarts.set(starts.subarray(0, from));
  nextStarts.set(inner, from);
  shiftedInto(nextStarts, from + inner.length, starts, to, starts.length, delta);
  return { body: { bytes, starts: nextStarts, close: newClose }, from, to, items, parsedBytes: newEnd - start };
}
