// The SHA-256 of a config's bytes in stretches, for the model file to say which config it is for.
// A config spliced by a server-only change is a rope of the running config's stretches and the new
// sections (byte-rope.ts): its parts are mostly the very views of memory the last config was made
// of. Each part is hashed in blocks at fixed places of its buffer (every BLOCK bytes from the
// buffer's start), so a part a splice cuts shares its whole blocks with the part it was cut from.
// Only the new sections and the blocks holding a cut are hashed again, where one SHA-256 of the
// whole config hashed 9 MB per change (about 6 ms at 10,000 services). A block is known by its
// memory (buffer, offset, length): rope parts are never written to.
import { createHash } from 'node:crypto';
import { blockStretches, ByteRope } from './byte-rope.js';

/** Each stretch's length and SHA-256 (hex), in order: together, the whole bytes. */
export type PartDigests = ReadonlyArray<readonly [length: number, sha256: string]>;

/** Where blocks start in a buffer: every 256 KB (a 9 MB config: about 36 digests, a cut rehashes at most 512 KB). */
const BLOCK = 1 << 18;

const sha256 = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');

export class PartHasher {
  readonly #block: number;
  /** Digests of the blocks hashed last, by their memory. */
  #known = new WeakMap<ArrayBufferLike, Map<string, string>>();

  constructor(block = BLOCK) {
    this.#block = block;
  }

  /** The digests of `input`, block by block; `hashedBytes`: how many bytes were hashed (the others were known). */
  digests(input: Buffer | ByteRope): { parts: PartDigests; hashedBytes: number } {
    const known = this.#known;
    // Only the blocks of these bytes are kept: the cache holds one config's worth of digests.
    const next = new WeakMap<ArrayBufferLike, Map<string, string>>();
    const parts: Array<readonly [number, string]> = [];
    let hashedBytes = 0;
    for (const part of ByteRope.of(input).parts) {
      let byKey = next.get(part.buffer);
      if (!byKey) next.set(part.buffer, (byKey = new Map()));
      for (const [from, to] of blockStretches(part, this.#block)) {
        const key = `${from}:${to}`;
        let digest = known.get(part.buffer)?.get(key);
        if (digest === undefined) {
          digest = sha256(part.subarray(from - part.byteOffset, to - part.byteOffset));
          hashedBytes += to - from;
        }
        byKey.set(key, digest);
        parts.push([to - from, digest]);
      }
    }
    this.#known = next;
    return { parts, hashedBytes };
  }
}

/** The digests of `bytes` cut into parts of `parts`' lengths. */
export function digestsOf(bytes: Buffer, lengths: readonly number[]): PartDigests {
  let at = 0;
  return lengths.map((n) => {
    const d = [n, sha256(bytes.subarray(at, at + n))] as const;
    at += n;
    return d;
  });
}

/** Whether `bytes` are the bytes the digests were made of: the same length, each part the same hash. */
export function matchesDigests(bytes: Buffer, parts: PartDigests): boolean {
  let total = 0;
  for (const [n] of parts) total += n;
  if (total !== bytes.length) return false;
  return digestsOf(bytes, parts.map(([n]) => n)).every(([, d], i) => d === parts[i]?.[1]);
}
