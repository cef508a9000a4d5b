// Atomic file replacement: write a temp file in the same directory, fsync it, rename it over the
// target, fsync the directory. A reader (HAProxy, an operator) sees the old file or the new one,
// never half of one.
import { randomBytes } from 'node:crypto';
import { open, rename, rm, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { ErrorCode, HapilotError, messageOf } from '../errors.js';
import { ByteRope } from './byte-rope.js';

export function tempPathFor(target: string): string {
  return path.join(path.dirname(target), `.${path.basename(target)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
}

const utf8 = new TextEncoder();

/**
 * `text` in UTF-8. A config is ASCII: encoded into a buffer of one byte per character, it fills it
 * exactly (any other character takes 2 to 4 bytes, and the encoder stops short), in one pass of the
 * text and without flattening a spliced one first (8.7 MB at 10,000 services, spliced: 6.0 ms,
 * against 12.9 ms for counting its UTF-8 bytes and then copying its Latin-1 bytes, of which 7 ms
 * made a flat copy of the text only to count it). Anything else is encoded again, in full.
 */
export function encodeText(text: string): Buffer {
  const bytes = Buffer.allocUnsafe(text.length);
  const { read, written } = utf8.encodeInto(text, bytes);
  return read === text.length && written === text.length ? bytes : Buffer.from(text, 'utf8');
}

/** Characters compared at a time by `textIs` (a 64 KB scratch buffer, not a second copy of the text). */
const COMPARE_CHUNK = 1 << 16;
const scratch = Buffer.allocUnsafe(COMPARE_CHUNK * 3);

/**
 * Whether `text` in UTF-8 is `bytes`, compared a slice at a time: no encoded copy of the text. The
 * daemon compares a freshly rendered (flat) config with the bytes kept of the running one this way,
 * rather than with the running text, which after a server-only change is spliced: comparing a flat
 * text with a spliced one flattens the spliced one (8 ms and a 9 MB copy at 10,000 services).
 */
export function textIs(text: string, bytes: Buffer | ByteRope): boolean {
  if (text.length > bytes.length) return false;
  if (text.length !== bytes.length) return ByteRope.of(bytes).equals(Buffer.from(text));
  // As many bytes as characters: equal only if the text is ASCII, each slice written byte for character.
  const rope = ByteRope.of(bytes);
  const written = new ByteRope([scratch]);
  for (let at = 0; at < text.length; at += COMPARE_CHUNK) {
    const part = text.slice(at, at + COMPARE_CHUNK);
    const n = scratch.write(part, 0, 'utf8');
    if (n !== part.length || !written.sameRun(0, rope, at, n)) return false;
  }
  return true;
}

/**
 * Buffers written at the handle's position one after the other (writev, in batches: the system's
 * IOV_MAX is 1024). A short write (a disk filling up) goes on from where it stopped, so that the
 * next call fails with the reason (ENOSPC).
 */
export async function writeParts(handle: FileHandle, parts: readonly Buffer[]): Promise<void> {
  let pending = parts.filter((p) => p.length > 0);
  while (pending.length > 0) {
    let { bytesWritten } = await handle.writev(pending.slice(0, 1024));
    if (bytesWritten === 0) throw new Error('nothing written');
    let k = 0;
    while (k < pending.length && bytesWritten >= (pending[k] as Buffer).length) bytesWritten -= (pending[k++] as Buffer).length;
    pending = bytesWritten > 0 ? [(pending[k] as Buffer).subarray(bytesWritten), ...pending.slice(k + 1)] : pending.slice(k);
  }
}

/** `contents` into a new file (replaced if there), fsynced. Pieces (a spliced config, a model's JSON) are written as they are, not joined first. */
export async function writeDurable(file: string, contents: string | Buffer | readonly Buffer[], mode = 0o644): Promise<void> {
  const handle = await open(file, 'w', mode);
  try {
    if (typeof contents === 'string' || Buffer.isBuffer(contents)) await handle.writeFile(typeof contents === 'string' ? encodeText(contents) : contents);
    else await writeParts(handle, contents);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function syncDir(dir: string): Promise<void> {
  try {
    const handle = await open(dir, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch {
    // Some filesystems refuse fsync on directories; the rename is still atomic.
  }
}

/** Moves an already written temp file over `target` atomically. */
export async function commitTemp(temp: string, target: string): Promise<void> {
  await rename(temp, target);
  await syncDir(path.dirname(target));
}

export async function writeFileAtomic(target: string, contents: string | readonly Buffer[], mode = 0o644): Promise<void> {
  const temp = tempPathFor(target);
  try {
    await writeDurable(temp, contents, mode);
    await commitTemp(temp, target);
  } catch (err) {
    await rm(temp, { force: true });
    throw new HapilotError(ErrorCode.WRITE, `cannot write ${target}: ${messageOf(err)}`, { cause: err });
  }
}
