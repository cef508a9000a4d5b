// Bytes as a rope cut at given fractions of their length (in any order, repeated, at the ends): what
// a config spliced from a splice looks like.
import { ByteRope } from '../../src/util/byte-rope.js';

export function cutRope(bytes: Buffer, fractions: readonly number[]): ByteRope {
  const at = [0, ...fractions.map((f) => Math.floor(f * bytes.length)).sort((x, y) => x - y), bytes.length];
  return new ByteRope(at.slice(1).map((to, i) => bytes.subarray(at[i], to)));
}
