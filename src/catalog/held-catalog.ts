// The entries the Consul source holds for each candidate service (trimmed by held-entry.ts), with
// the services that have an instance on each node (a node check that changes concerns all of them),
// and how they compare with a checks list (after the initial read or a restore, before lists are
// diffed one against the next).
import type { HealthEntry } from '../consul/schemas.js';
import type { CheckRow } from './checks-diff.js';
import { recordSplice } from '../model/spliced-lists.js';

/** Key of a check as held in an entry (node checks have no service ID). */
const heldKey = (node: string, id: string, status: string, notes: string) => `${node}\u0000${id}\u0000${status}\u0000${notes}`;

/** An `all()` list, with where each service's run starts (by its place in sorted order; one more for the end). */
interface AllList {
  list: readonly HealthEntry[];
  starts: Int32Array;
  place: ReadonlyMap<string, number>;
}

export class HeldCatalog {
  readonly #entries = new Map<string, HealthEntry[]>();
  readonly #onNode = new Map<string, Map<string, number>>();
  #sortedNames: string[] | undefined;
  /**
   * The last `all()`, with where each service's entries start in it (by its place in `#sortedNames`,
   * one more for the end), and the services set since: while no service comes or goes, the next
   * list is the last one's stretches with those services' runs put in between (a few native copies,
   * not 100,000 pushes per change).
   */
  #lastAll: AllList | undefined;
  readonly #setSince = new Set<string>();

  get(name: string): HealthEntry[] | undefined {
    return this.#entries.get(name);
  }

  names(): string[] {
    return [...this.#entries.keys()];
  }

  /** The services with an instance on `node`. */
  servicesOn(node: string): Iterable<string> {
    return this.#onNode.get(node)?.keys() ?? [];
  }

  /** Holds `entries` for `name` (undefined: the service is gone). */
  set(name: string, entries: HealthEntry[] | undefined): void {
    const old = this.#entries.get(name);
    for (const e of old ?? []) {
      const m = this.#onNode.get(e.Node.Node);
      const n = (m?.get(name) ?? 0) - 1;
      if (n > 0) m?.set(name, n); else m?.delete(name);
    }
    this.#setSince.add(name);
    if (entries === undefined) {
      this.#entries.delete(name);
      this.#sortedNames = undefined;
      return;
    }
    if (!old) this.#sortedNames = undefined;
    this.#entries.set(name, entries);
    for (const e of entries) {
      let m = this.#onNode.get(e.Node.Node);
      if (!m) this.#onNode.set(e.Node.Node, (m = new Map()));
      m.set(name, (m.get(name) ?? 0) + 1);
    }
  }

  /** Every held entry, by service name (a new array each time). */
  all(): HealthEntry[] {
    const last = this.#lastAll;
    const set = [...this.#setSince];
    this.#setSince.clear();
    // Many services set (a read of everything): built again, as cheap as splicing that many runs.
    if (this.#sortedNames && last && set.length <= Math.max(64, last.place.size / 16)) return this.#spliced(last, set);
    const names = (this.#sortedNames = [...this.#entries.keys()].sort());
    const out: HealthEntry[] = [];
    const starts = new Int32Array(names.length + 1);
    names.forEach((n, i) => {
      starts[i] = out.length;
      for (const e of this.#entries.get(n) ?? []) out.push(e);
    });
    starts[names.length] = out.length;
    this.#lastAll = { list: out, starts, place: new Map(names.map((n, i) => [n, i])) };
    return out;
  }

  /** `all()` from the last one when the same services are held: the runs of `set` replaced. */
  #spliced(last: AllList, set: readonly string[]): HealthEntry[] {
    const places = set.map((n) => last.place.get(n) as number).sort((a, b) => a - b);
    const names = this.#sortedNames as string[];
    const pieces: Array<readonly HealthEntry[]> = [];
    const starts = new Int32Array(last.starts.length);
    let from = 0;
    let shift = 0;
    let done = 0;
    for (const p of places) {
      const run = this.#entries.get(names[p] as string) ?? [];
      const start = last.starts[p] as number;
      const end = last.starts[p + 1] as number;
      pieces.push(last.list.slice(from, start), run);
      for (; done <= p; done++) starts[done] = (last.starts[done] as number) + shift;
      shift += run.length - (end - start);
      from = end;
    }
    pieces.push(last.list.slice(from));
    for (; done < starts.length; done++) starts[done] = (last.starts[done] as number) + shift;
    const out = ([] as HealthEntry[]).concat(...pieces);
    this.#lastAll = { list: out, starts, place: last.place };
    // What changed from the last list, for the incremental model (no walk of every entry).
    recordSplice(out, { base: last.list, runs: new Map(places.map((p) => [names[p] as string, [starts[p] as number, starts[p + 1] as number] as const])) });
    return out;
  }

  /** Those of `names` whose held checks (their own and their nodes') differ from the checks list `rows`. */
  differFrom(rows: readonly CheckRow[], names: Iterable<string>): string[] {
    const byService = new Map<string, string[]>();
    const byNode = new Map<string, string[]>();
    for (const r of rows) {
      const key = heldKey(r.node, r.id, r.status, r.notes);
      const map = r.service ? byService : byNode;
      const k = r.service || r.node;
      const list = map.get(k);
      if (list) list.push(key); else map.set(k, [key]);
    }
    const out: string[] = [];
    for (const name of names) {
      const held = this.#entries.get(name) ?? [];
      const live = new Set(byService.get(name) ?? []);
      const nodes = new Set<string>();
      for (const e of held) nodes.add(e.Node.Node);
      for (const n of nodes) for (const k of byNode.get(n) ?? []) live.add(k);
      const mine = new Set<string>();
      for (const e of held) for (const c of e.Checks ?? []) mine.add(heldKey(c.Node ?? e.Node.Node, c.CheckID, c.Status, c.Notes ?? ''));
      if (mine.size !== live.size || [...mine].some((k) => !live.has(k))) out.push(name);
    }
    return out;
  }
}
