// The rows of a per-server listing (`show servers state`, `show stat`) found by backend and server
// name, without a key, a map or a set per row: 100,000 rows at 10,000 services, after every reload.
// HAProxy lists a backend's servers together and in the config's order, which is the model's (by
// name) and the pool decisions' order, so a lookup is most often the row after the last one found in
// that backend: a comparison. Out of order (a server added at runtime is listed last), that
// backend's rows are indexed by name, once.

interface Row {
  readonly backend: string;
  readonly server: string;
}

export class ListedServers<T extends Row> {
  readonly #rows: readonly T[];
  /** Per backend, where its rows are: [from, to) pairs (one pair unless HAProxy split its listing). */
  readonly #runs = new Map<string, number[]>();
  readonly #byName = new Map<string, Map<string, number>>();
  #backend: string | undefined;
  #next = 0;

  constructor(rows: readonly T[]) {
    this.#rows = rows;
    for (let i = 0; i < rows.length;) {
      const backend = (rows[i] as T).backend;
      let j = i + 1;
      while (j < rows.length && (rows[j] as T).backend === backend) j++;
      const runs = this.#runs.get(backend);
      if (runs) runs.push(i, j);
      else this.#runs.set(backend, [i, j]);
      i = j;
    }
  }

  /** The backends listed, in the listing's order. */
  backends(): IterableIterator<string> {
    return this.#runs.keys();
  }

  find(backend: string, server: string): T | undefined {
    if (backend !== this.#backend) {
      const runs = this.#runs.get(backend);
      if (!runs) return undefined;
      this.#backend = backend;
      this.#next = runs[0] as number;
    }
    const guess = this.#rows[this.#next];
    if (guess !== undefined && guess.server === server && guess.backend === backend) {
      this.#next += 1;
      return guess;
    }
    const i = this.#indexOf(backend).get(server);
    if (i === undefined) return undefined;
    this.#next = i + 1;
    return this.#rows[i];
  }

  #indexOf(backend: string): Map<string, number> {
    let index = this.#byName.get(backend);
    if (!index) {
      index = new Map();
      const runs = this.#runs.get(backend) ?? [];
      for (let r = 0; r < runs.length; r += 2) {
        for (let i = runs[r] as number; i < (runs[r + 1] as number); i++) index.set((this.#rows[i] as T).server, i);
      }
      this.#byName.set(backend, index);
    }
    return index;
  }
}
