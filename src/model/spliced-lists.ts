// Where a list of entries was spliced from. A source that makes each list from its last one (the
// runs of some services replaced, every other service's entries the same objects in one run each,
// no service come or gone) says so here, and the incremental model looks at those services alone
// instead of walking 100,000 entries to find which runs moved.
import type { HealthEntry } from '../consul/schemas.js';

export interface Splice {
  /** The list this one was made from. */
  readonly base: readonly HealthEntry[];
  /** The services whose runs were put in again, with where each run lies in the new list. */
  readonly runs: ReadonlyMap<string, readonly [number, number]>;
}

const splices = new WeakMap<readonly HealthEntry[], Splice>();

/**
 * Records that `list` was spliced from `splice.base`. The base's own splice is dropped: it held the
 * list before it, and so on back to the last list built whole, a chain of every list of a run of
 * server-only changes (0.8 MB each at 100,000 servers) that nothing let go of. The incremental model
 * only compares the newest list with the one it built last; a model behind by more lists walks them.
 */
export function recordSplice(list: readonly HealthEntry[], splice: Splice): void {
  splices.delete(splice.base);
  splices.set(list, splice);
}

export function spliceOf(list: readonly HealthEntry[]): Splice | undefined {
  return splices.get(list);
}
