// The entries the Consul source holds for each candidate service (trimmed by held-entry.ts), with
// the services that have an instance on each node (a node check that changes concerns all of them),
// and how they compare with a checks list (after the initial read or a restore, before lists are
// diffed one against the next).
import type { HealthEntry } from '../consul/schemas.js';
import type { CheckRow } from './checks-diff.js';

/** Key of a check as held in an entry (node checks have no service ID). */
const heldKey = (node: string, id: string, status: string, notes: string) => `${node}\u0000${id}\u0000${status}\u0000${notes}`;

export class HeldCatalog {
  readonly #entries = new Map<string, HealthEntry[]>();
  readonly #onNode = new Map<string, Map<string, number>>();
  #sortedNames: string[] | undefined;
  /**
   * The last `all()` with where each service's entries lie in it, and the services set since: a
   * change that keeps every count copies that list and overwrites those runs (100,000 entries are
   * not pushed one by one per change).
   */
  #lastAll: { list: readonly HealthEntry[]; at: Map<string, readonly [number, number]> } | undefined;
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
  all(): readonly HealthEntry[] {
    const last = this.#lastAll;
    const set = [...this.#setSince];
    this.#setSince.clear();
    if (this.#sortedNames && last && set.every((n) => this.#entries.get(n)?.length === last.at.get(n)?.[1])) {
      // The same services with as many entries each: the runs of those set are overwritten in a copy.
      const out = last.list.slice();
      for (const n of set) {
        const [at] = last.at.get(n) as readonly [number, number];
        (this.#entries.get(n) as HealthEntry[]).forEach((e, i) => { out[at + i] = e; });
      }
      this.#lastAll = { list: out, at: last.at };
      return out;
    }
    this.#sortedNames ??= [...this.#entries.keys()].sort();
    const out: HealthEntry[] = [];
    const at = new Map<string, readonly [number, number]>();
    for (const n of this.#sortedNames) {
      const list = this.#entries.get(n) ?? [];
      at.set(n, [out.length, list.length]);
      for (const e of list) out.push(e);
    }
    this.#lastAll = { list: out, at };
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
