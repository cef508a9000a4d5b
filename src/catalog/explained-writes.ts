// Which moves of the services index the checks lists explain (consul-source.ts). A write that moves
// the services table with the same tags (a registration, a deregistration, a new weight or address)
// is explained when a checks list shows a check that this very write changed (its ModifyIndex is the
// write's index) or a check that vanished; a move that no list explains is a change only a re-read of
// everything can see. This is the bookkeeping of it, without the clocks: the recent lists and what
// they showed, the moves still waiting for a list, and the indexes between two services answers
// (writes that came back under one answer's index).

/** What one checks list showed: the indexes after the list before it up to its own, and what it explains. */
interface ListSpan {
  from: number;
  to: number;
  explains: (index: number) => boolean;
}

/** Lists remembered; a move older than all of them is not explained by any. */
const LISTS_KEPT = 32;
/** Gaps remembered; a gap of this many indexes or more counts as unexplained whole. */
const GAPS_KEPT = 64;
const GAP_SPAN = 64;

export class ExplainedWrites {
  #lists: ListSpan[] = [];
  /** Services-index moves waiting for a checks list to explain them. */
  readonly #pending = new Set<number>();
  #lastList = 0;
  /** Indexes between two services answers, [first, last]. */
  #gaps: Array<[number, number]> = [];

  /** The recent checks list whose span holds `index`, if any. */
  covering(index: number): { explains: (index: number) => boolean } | undefined {
    return this.#lists.find((x) => x.from < index && index <= x.to);
  }

  /** A move at `target` waits for the checks list. */
  await(target: number): void {
    this.#pending.add(target);
  }

  awaiting(target: number): boolean {
    return this.#pending.has(target);
  }

  /** `target` no longer waits (decided otherwise). */
  drop(target: number): void {
    this.#pending.delete(target);
  }

  /** Everything up to `index` is being read again: no move up to it waits any more. */
  readAllUpTo(index: number): void {
    for (const t of this.#pending) if (t <= index) this.#pending.delete(t);
  }

  /**
   * A checks list at `index`. `explains` says which writes it showed; undefined for a list compared
   * with the entries themselves (no list before it), which explains nothing. Returns the waiting
   * moves up to `index` it leaves unexplained (each no longer waits).
   */
  list(index: number, explains: ((index: number) => boolean) | undefined): number[] {
    const unexplained: number[] = [];
    const from = this.#lastList;
    if (explains && from < index) {
      this.#lists.push({ from, to: index, explains });
      if (this.#lists.length > LISTS_KEPT) this.#lists.shift();
    }
    for (const t of [...this.#pending]) {
      if (t > index) continue;
      this.#pending.delete(t);
      if (!explains || t <= from || !explains(t)) unexplained.push(t);
    }
    this.#lastList = index;
    return unexplained;
  }

  /** The checks index went backwards (a snapshot restore): what earlier lists showed says nothing. */
  restored(): void {
    this.#lists = [];
    this.#lastList = 0;
  }

  /** Services answers at `from` and then `to`: the writes between may have come back under `to`. */
  gap(from: number, to: number): void {
    this.#gaps.push([from + 1, to - 1]);
    if (this.#gaps.length > GAPS_KEPT) this.#gaps.shift();
  }

  /** The last index of a gap (0: none). */
  get lastGapIndex(): number {
    return this.#gaps.reduce((m, [, b]) => Math.max(m, b), 0);
  }

  /** Some index of a gap that no list explains (or a gap too wide to look at index by index). */
  gapsUnexplained(): boolean {
    return this.#gaps.some(([a, b]) => b - a >= GAP_SPAN || Array.from({ length: b - a + 1 }, (_, k) => a + k).some((t) => !this.covering(t)?.explains(t)));
  }

  clearGaps(): void {
    this.#gaps = [];
  }
}
