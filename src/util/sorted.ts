// Searches of ascending offsets (where each element of a list or each part of a rope starts).

/** First index i with xs[i] >= v (xs ascending); xs.length when there is none. */
export function lowerBound(xs: ArrayLike<number>, v: number): number {
  let lo = 0;
  let hi = xs.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((xs[mid] as number) < v) lo = mid + 1; else hi = mid;
  }
  return lo;
}
