// A Consul KV simulator for the pool tests (test/sim/consul-sim.ts has no KV). It follows the
// documented behaviour of the endpoints hapilot uses (https://developer.hashicorp.com/consul/api-docs/kv):
// - GET /v1/kv/<key>[?recurse]: array of {Key, Value (base64 or null), ModifyIndex, ...}; 404 when
//   nothing matches; X-Consul-Index on every answer.
// - blocking queries (?index=N&wait=D): held until a key under the path is written or deleted
//   after N, or wait passes; then answered with the same index.
// - PUT /v1/kv/<key>?cas=N: writes only if ModifyIndex is N (0: only if absent); answers true/false.
// - DELETE /v1/kv/<key>[?cas=N].
// Any other request is forwarded to `fallback` (a ConsulSim), so one address serves catalog and KV.
import http from 'node:http';
import type { AddressInfo } from 'node:net';

interface Pair {
  value: string | null;
  createIndex: number;
  modifyIndex: number;
}

interface Waiter {
  check: () => boolean;
  wake: () => void;
}

export class KvSim {
  #server: http.Server | undefined;
  #pairs = new Map<string, Pair>();
  /** Last write or delete index of every key ever touched (deletes are tombstones). */
  #touched = new Map<string, number>();
  #raft = 100;
  #waiters = new Set<Waiter>();
  #failures: Array<{ status: number; body: string }> = [];
  /** Forward non-KV requests here (e.g. a ConsulSim's url). */
  fallback: string | undefined;
  readonly writes: Array<{ key: string; cas: string | null; ok: boolean }> = [];
  /** Called before a CAS write is judged: lets a test slip in a concurrent write. */
  beforeCas: ((key: string) => void) | undefined;

  get url(): string {
    const a = this.#server?.address() as AddressInfo | undefined;
    return `http://127.0.0.1:${a?.port ?? 0}`;
  }

  async start(): Promise<void> {
    const server = http.createServer((req, res) => void this.#handle(req, res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    this.#server = server;
  }

  async stop(): Promise<void> {
    for (const w of [...this.#waiters]) w.wake();
    const s = this.#server;
    this.#server = undefined;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }

  /** Writes a value directly (as another operator, or `consul kv put`). Returns the new ModifyIndex. */
  put(key: string, value: string | null): number {
    this.#raft += 1;
    const old = this.#pairs.get(key);
    this.#pairs.set(key, { value, createIndex: old?.createIndex ?? this.#raft, modifyIndex: this.#raft });
    this.#touched.set(key, this.#raft);
    this.#notify();
    return this.#raft;
  }

  delete(key: string): void {
    if (!this.#pairs.delete(key)) return;
    this.#raft += 1;
    this.#touched.set(key, this.#raft);
    this.#notify();
  }

  keys(prefix = ''): string[] {
    return [...this.#pairs.keys()].filter((k) => k.startsWith(prefix)).sort();
  }

  value(key: string): string | null | undefined {
    return this.#pairs.get(key)?.value;
  }

  failNext(count: number, status = 500, body = 'rpc error: No cluster leader'): void {
    for (let i = 0; i < count; i++) this.#failures.push({ status, body });
  }

  #notify(): void {
    for (const w of [...this.#waiters]) if (w.check()) w.wake();
  }

  /** Index of a path: the last change under it (recurse) or of it; the table's index when nothing matches. */
  #index(path: string, recurse: boolean): number {
    let max = 0;
    for (const [k, i] of this.#touched) if ((recurse ? k.startsWith(path) : k === path) && i > max) max = i;
    return max || this.#raft;
  }

  async #handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://sim');
    if (!url.pathname.startsWith('/v1/kv/')) return this.#forward(req, res);
    const key = decodeURIComponent(url.pathname.slice('/v1/kv/'.length));
    const q = url.searchParams;
    const send = (status: number, body: string, index?: number) => {
      const headers: Record<string, string> = { 'Content-Type': 'application/json' };
      if (index !== undefined) Object.assign(headers, { 'X-Consul-Index': String(Math.max(1, index)), 'X-Consul-Knownleader': 'true', 'X-Consul-Lastcontact': '0' });
      res.writeHead(status, headers);
      res.end(body);
    };
    const failure = this.#failures.shift();
    if (failure) return send(failure.status, failure.body);

    if (req.method === 'PUT' || req.method === 'DELETE') {
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      this.beforeCas?.(key);
      const cas = q.get('cas');
      const cur = this.#pairs.get(key);
      if (cas !== null) {
        if (!/^\d+$/.test(cas)) return send(400, 'Invalid cas index');
        const want = Number(cas);
        const ok = want === 0 ? cur === undefined : cur?.modifyIndex === want;
        if (!ok) {
          this.writes.push({ key, cas, ok: false });
          return send(200, 'false');
        }
      }
      if (req.method === 'PUT') this.put(key, Buffer.concat(chunks).toString('utf8'));
      else this.delete(key);
      this.writes.push({ key, cas, ok: true });
      return send(200, 'true');
    }
    if (req.method !== 'GET') return send(405, 'method not allowed');

    const recurse = q.has('recurse');
    const want = q.has('index') ? Number(q.get('index')) : 0;
    if (!Number.isInteger(want) || want < 0) return send(400, 'Invalid index');
    const waitRaw = q.get('wait');
    const waitMs = waitRaw === null ? 300_000 : parseWait(waitRaw);
    if (waitMs === undefined) return send(400, 'Invalid wait time');
    if (want > 0 && this.#index(key, recurse) <= want) {
      await new Promise<void>((resolve) => {
        const waiter: Waiter = {
          check: () => this.#index(key, recurse) > want,
          wake: () => {
            clearTimeout(timer);
            this.#waiters.delete(waiter);
            resolve();
          },
        };
        const timer = setTimeout(waiter.wake, waitMs);
        this.#waiters.add(waiter);
        res.once('close', waiter.wake);
      });
      if (res.destroyed || !this.#server) return;
    }
    const matches = [...this.#pairs].filter(([k]) => (recurse ? k.startsWith(key) : k === key)).sort(([a], [b]) => (a < b ? -1 : 1));
    const index = this.#index(key, recurse);
    if (matches.length === 0) return send(404, '', index);
    send(200, JSON.stringify(matches.map(([k, p]) => ({
      Key: k, Flags: 0, LockIndex: 0, CreateIndex: p.createIndex, ModifyIndex: p.modifyIndex,
      Value: p.value === null ? null : Buffer.from(p.value, 'utf8').toString('base64'),
    }))), index);
  }

  #forward(req: http.IncomingMessage, res: http.ServerResponse): void {
    if (!this.fallback) {
      res.writeHead(404);
      res.end('Not found');
      return;
    }
    const target = new URL(req.url ?? '/', this.fallback);
    const out = http.request(target, { method: req.method, headers: req.headers }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    });
    out.on('error', () => {
      if (!res.headersSent) res.writeHead(502);
      res.end();
    });
    res.on('close', () => out.destroy());
    req.pipe(out);
  }
}

function parseWait(raw: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)$/.exec(raw);
  if (!m) return undefined;
  return Number(m[1]) * (m[2] === 'ms' ? 1 : m[2] === 's' ? 1000 : 60_000);
}
