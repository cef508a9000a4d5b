// Searches of ascending offsets (where each element of a list or each part of a rope starts), and
// the sort of the short lists made once per instance or per service.

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

/** Lists up to this long are sorted by insertion. */
const SHORT = 16;

/**
 * `xs.sort(compare)`, in place and stable as it is, without its cost on short lists. V8's sort
 * allocates about 870 bytes and takes about 1 µs for a list of two (a script, 100,000 lists: 87 MB
 * and 92 ms; by insertion, nothing and 3–4 ms). hapilot sorts such lists per instance (its checks)
 * and per service (its entries, its servers): 100,000 and several times 10,000 of them at 10,000
 * services.
 */
export function sortShort<T>(xs: T[], compare: (a: T, b: T) => number): T[] {
  if (xs.length > SHORT) return xs.sort(compare);
  for (let i = 1; i < xs.length; i++) {
    const x = xs[i] as T;
    let j = i - 1;
    while (j >= 0 && compare(xs[j] as T, x) > 0) {
      xs[j + 1] = xs[j] as T;
      j--;
    }
    xs[j + 1] = x;
  }
  return xs;
}
