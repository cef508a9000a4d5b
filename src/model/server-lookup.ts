// A model's servers found by backend and server name, for readers of HAProxy's per-server listings
// (`show servers state`, `show stat`). HAProxy lists a backend's servers in the config's order, which
// is the model's, so a lookup is most often the server after the last one found: a comparison, not
// a key built and hashed per row (100,000 rows at scale). Out of order, a backend's servers are
// indexed by name, once.
import type { Backend, Model, Server } from './types.js';

export class ServerLookup {
  readonly #backends = new Map<string, Backend>();
  readonly #byName = new Map<Backend, Map<string, number>>();
  #name: string | undefined;
  #backend: Backend | undefined;
  #next = 0;

  constructor(model: Model) {
    for (const b of model.backends) this.#backends.set(b.name, b);
  }

  /** Whether the model has this backend. */
  hasBackend(backend: string): boolean {
    return this.#backends.has(backend);
  }

  #switchTo(backend: string): void {
    if (backend === this.#name) return;
    this.#name = backend;
    this.#backend = this.#backends.get(backend);
    this.#next = 0;
  }

  /**
   * The server a `find` in `backend` expects next (the one after the last found there): a reader can
   * compare a listed name with it before it makes a string of that name.
   */
  peek(backend: string): Server | undefined {
    this.#switchTo(backend);
    return this.#backend?.servers[this.#next];
  }

  find(backend: string, server: string): Server | undefined {
    this.#switchTo(backend);
    const b = this.#backend;
    if (!b) return undefined;
    const s = b.servers[this.#next];
    if (s !== undefined && s.name === server) {
      this.#next += 1;
      return s;
    }
    let index = this.#byName.get(b);
    if (!index) {
      index = new Map(b.servers.map((x, i) => [x.name, i]));
      this.#byName.set(b, index);
    }
    const i = index.get(server);
    if (i === undefined) return undefined;
    this.#next = i + 1;
    return b.servers[i];
  }
}
