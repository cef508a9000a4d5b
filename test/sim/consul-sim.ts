// A Consul HTTP API simulator for tests: it does on demand what a real agent cannot be made to do
// (500s, refused connections, an empty or truncated answer, slowness), and it is kept honest by
// test/consul-real/conformance.test.ts, which runs the same scenarios against it and against a real
// Consul 1.16.6 (scripts/consul.sh) and requires the same answers. What it follows, as measured:
// - blocking queries: index absent/0 → answer now; index=N → hold until the endpoint's index
//   exceeds N or `wait` (default 5m, max 10m) plus up to wait/16 jitter passes, then answer with the
//   same index; an index above the current one waits the whole wait too; X-Consul-Index on every
//   answer, never 0; bad wait/index → 400, ?stale with ?consistent → 400.
// - indexes per table as Consul's state store keeps them: the services table (catalog/services),
//   the checks table (health/state/*), one per service (health/service/:name); an identical write
//   moves none; a check flip moves checks and that service, not the services table; a retag moves
//   the services table and the checks (checks carry ServiceTags); a weight or address change with an
//   identical check moves the services table and the service, not the checks; an instance
//   registered without a check moves the services table only, its deregistration both; a check's
//   ModifyIndex is the write that last changed it.
// - snapshot restore: waiting queries answer at once with the old store's answer; later queries
//   see the restored state with its lower indexes; the next write gets an index above all earlier.
// - shapes of Consul OSS 1.16 (no Namespace); catalog-registered (`external`) nodes have no
//   serfHealth; agent maintenance checks; 200 concurrent connections per client address, then 429.
// Test controls: register/deregister/setStatus/setMaintenance/setNodeMaintenance, saveSnapshot/
// restoreSnapshot, failures (HTTP errors, refused connections, an empty answer), and resetIndex
// (an index that goes backwards with every waiting query answered: not what a restore does).
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';

export interface SimNode {
  Node: string;
  Address: string;
  /** Registered through /v1/catalog/register, no Consul agent on it: no serfHealth check. */
  external?: boolean;
  Datacenter?: string;
  ID?: string;
}

export interface SimService {
  ID: string;
  Service: string;
  Tags?: string[];
  Address?: string;
  Port: number;
  Weights?: { Passing: number; Warning: number };
}

export type SimStatus = 'passing' | 'warning' | 'critical';

/** What `saveSnapshot` returns (opaque to tests). */
export interface SimSnapshot {
  instances: Array<[string, Instance]>;
  servicesIndex: number;
  checksIndex: number;
  serviceIndex: Array<[string, number]>;
}

interface Instance {
  node: SimNode;
  service: SimService;
  /** false: registered without a check (no `service:<ID>` check). */
  checked: boolean;
  status: SimStatus;
  createIndex: number;
  modifyIndex: number;
  /** ModifyIndex of its check: the write that last changed it (a status flip, a retag). */
  checkIndex: number;
  maintenance: string | undefined;
}

interface Waiter {
  check: () => boolean;
  wake: () => void;
  /** Answer now with what the query sees at this instant (the state store is being replaced). */
  abandon: () => void;
}

/** A service definition as compared for "identical registration" (defaults filled in). */
function sameShape(s: SimService): object {
  return { ID: s.ID, Service: s.Service, Tags: s.Tags ?? [], Address: s.Address ?? '', Port: s.Port, Weights: s.Weights ?? { Passing: 1, Warning: 1 } };
}

export interface RequestLog {
  method: string;
  path: string;
  blocking: boolean;
  query: string;
}

const MAX_WAIT_MS = 10 * 60_000;
const DEFAULT_WAIT_MS = 5 * 60_000;

/** Go duration as Consul's parseWait accepts it (a subset: ns, us, ms, s, m, h, decimals). */
export function parseGoDuration(s: string): number | undefined {
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g;
  if (!/^((\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h))+$/.test(s)) return undefined;
  let total = 0;
  for (const m of s.matchAll(re)) {
    const n = Number(m[1]);
    const unit = m[2];
    total += n * (unit === 'ns' ? 1e-6 : unit === 'us' || unit === 'µs' ? 1e-3 : unit === 'ms' ? 1 : unit === 's' ? 1000 : unit === 'm' ? 60_000 : 3_600_000);
  }
  return total;
}

export class ConsulSim {
  #server: http.Server | https.Server | undefined;
  /** Serve HTTPS (Consul's TLS listener); with `ca`, client certificates are required too. */
  tls: { key: Buffer; cert: Buffer; ca?: Buffer } | undefined;
  #port = 0;
  #instances = new Map<string, Instance>();
  #raft = 10;
  /** Index of the services table (register/deregister/tags). */
  #servicesIndex = 1;
  /** Index of each service's health (its instances and their checks). */
  #serviceIndex = new Map<string, number>();
  /** Index of all checks. */
  #checksIndex = 1;
  #waiters = new Set<Waiter>();
  #nodeMaintenance = new Map<string, string>();
  /** Open connections per client address. */
  #conns = new Map<string, number>();
  /** Consul's http_max_conns_per_client: more concurrent connections from one address get a 429. */
  maxConnsPerClient = 200;
  #overLimit = new WeakSet<object>();
  #failures: Array<{ status: number; body: string }> = [];
  #empty = false;
  #pathFailures: Array<{ re: RegExp; count: number; status: number; body: string }> = [];
  /** Requests seen, for assertions. */
  readonly requests: RequestLog[] = [];
  /** The X-Consul-Token of the last request, to check that the token is sent. */
  lastToken: string | undefined;
  /** Blocking queries being held right now. */
  openBlocking = 0;
  /** Scale of wait jitter (tests make it 0 for determinism). */
  jitter = true;

  get port(): number {
    return this.#port;
  }

  get url(): string {
    return `${this.tls ? 'https' : 'http'}://127.0.0.1:${this.#port}`;
  }

  async start(port = 0): Promise<void> {
    const handler = (req: http.IncomingMessage, res: http.ServerResponse) => void this.#handle(req, res);
    const server = this.tls
      ? https.createServer({ key: this.tls.key, cert: this.tls.cert, ...(this.tls.ca ? { ca: this.tls.ca, requestCert: true, rejectUnauthorized: true } : {}) }, handler)
      : http.createServer(handler);
    server.keepAliveTimeout = 60_000;
    // As Consul's connlimit: a connection over the per-client limit is answered 429 and closed.
    server.on(this.tls ? 'secureConnection' : 'connection', (socket: import('node:net').Socket) => {
      const who = socket.remoteAddress ?? '';
      const n = (this.#conns.get(who) ?? 0) + 1;
      this.#conns.set(who, n);
      socket.once('close', () => this.#conns.set(who, (this.#conns.get(who) ?? 1) - 1));
      if (n > this.maxConnsPerClient) {
        this.#overLimit.add(socket);
        const body = 'Your IP is issuing too many concurrent connections, please rate limit your calls\n';
        socket.end(`HTTP/1.1 429 Too Many Requests\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
      }
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    this.#server = server;
    this.#port = (server.address() as AddressInfo).port;
  }

  /** Stops listening (connections are refused) and ends held queries; `start()` again on the same port. */
  async stop(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    if (!server) return;
    for (const w of this.#waiters) w.wake();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  async restart(): Promise<void> {
    await this.start(this.#port);
  }

  // ---- catalog changes ---------------------------------------------------------------------------

  /** One raft write: the tables it touched get the new index (the services table, the checks table). */
  #bump(serviceName: string, { catalog, checks }: { catalog: boolean; checks: boolean }): number {
    this.#raft += 1;
    if (catalog) this.#servicesIndex = this.#raft;
    if (checks) this.#checksIndex = this.#raft;
    this.#serviceIndex.set(serviceName, this.#raft);
    this.#notify();
    return this.#raft;
  }

  #notify(): void {
    for (const w of [...this.#waiters]) if (w.check()) w.wake();
  }

  /**
   * `checked: false` registers the instance without a check: as Consul, that moves the services table,
   * not the checks table (its deregistration moves both).
   */
  register({ node, service, status = 'passing', checked = true }: { node: SimNode; service: SimService; status?: SimStatus; checked?: boolean }): void {
    const key = `${node.Node}/${service.ID}`;
    const existing = this.#instances.get(key);
    // As Consul's state store: an identical registration writes nothing (no index moves); a changed
    // service row moves the services table; the check row is rewritten (checks table) when it is new,
    // its status changed, or it carries changed ServiceTags.
    const sameService = existing !== undefined && JSON.stringify(sameShape(existing.service)) === JSON.stringify(sameShape(service))
      && JSON.stringify(existing.node) === JSON.stringify(node);
    const sameTags = existing !== undefined && JSON.stringify(existing.service.Tags ?? []) === JSON.stringify(service.Tags ?? []);
    if (sameService && existing.status === status && existing.checked === checked) return;
    const checkRewritten = checked && (!existing || !existing.checked || existing.status !== status || !sameTags);
    const raft = this.#bump(service.Service, { catalog: !sameService, checks: checkRewritten || (existing?.checked === true && !checked) });
    this.#instances.set(key, {
      node,
      service,
      checked,
      status,
      createIndex: existing?.createIndex ?? raft,
      modifyIndex: raft,
      checkIndex: checkRewritten ? raft : existing?.checkIndex ?? raft,
      maintenance: existing?.maintenance,
    });
  }

  deregister(nodeName: string, serviceId: string): void {
    const key = `${nodeName}/${serviceId}`;
    const existing = this.#instances.get(key);
    if (!existing) return;
    this.#instances.delete(key);
    this.#bump(existing.service.Service, { catalog: true, checks: true });
  }

  setStatus(nodeName: string, serviceId: string, status: SimStatus): void {
    const inst = this.#instances.get(`${nodeName}/${serviceId}`);
    if (!inst) throw new Error(`no instance ${nodeName}/${serviceId}`);
    if (inst.status === status) return; // the same status again writes nothing (as Consul)
    inst.status = status;
    inst.checkIndex = this.#bump(inst.service.Service, { catalog: false, checks: true });
  }

  /** Agent maintenance mode: a synthetic critical check `_service_maintenance:<id>`. */
  setMaintenance(nodeName: string, serviceId: string, reason: string | undefined): void {
    const inst = this.#instances.get(`${nodeName}/${serviceId}`);
    if (!inst) throw new Error(`no instance ${nodeName}/${serviceId}`);
    inst.maintenance = reason;
    this.#bump(inst.service.Service, { catalog: false, checks: true });
  }

  /**
   * `consul maint -enable` on a node's agent: a synthetic critical node check `_node_maintenance`
   * (every service on the node fails). `undefined` ends it.
   */
  setNodeMaintenance(nodeName: string, reason: string | undefined): void {
    const insts = [...this.#instances.values()].filter((i) => i.node.Node === nodeName);
    if (insts.length === 0) throw new Error(`no node ${nodeName}`);
    if (reason === undefined) this.#nodeMaintenance.delete(nodeName); else this.#nodeMaintenance.set(nodeName, reason);
    this.#raft += 1;
    this.#checksIndex = this.#raft;
    for (const i of insts) this.#serviceIndex.set(i.service.Service, this.#raft);
    this.#notify();
  }

  /**
   * Makes every index go backwards with the same data, and answers every waiting query with it: a
   * test control for the client's reset rule. Not what Consul does on a snapshot restore (see
   * `restoreSnapshot`, which the conformance test checks against a real agent).
   */
  resetIndex(to = 2): void {
    this.#raft = to;
    this.#servicesIndex = to;
    this.#checksIndex = to;
    for (const k of this.#serviceIndex.keys()) this.#serviceIndex.set(k, to);
    this.#notify();
    for (const w of [...this.#waiters]) w.wake();
  }

  /** `consul snapshot save`: the catalog and its table indexes as they are now. */
  saveSnapshot(): SimSnapshot {
    return {
      instances: [...this.#instances].map(([k, i]) => [k, structuredClone(i)]),
      servicesIndex: this.#servicesIndex,
      checksIndex: this.#checksIndex,
      serviceIndex: [...this.#serviceIndex],
    };
  }

  /**
   * `consul snapshot restore`: the catalog and its table indexes go back to the snapshot's (so
   * X-Consul-Index goes backwards), while the raft index keeps counting (the next write gets an index
   * above every earlier one). Consul abandons its old state store: every waiting query answers at
   * once with what the OLD store held (the index it was waiting on, the old content); only a later
   * query sees the restored state and its lower index, and a blocking query at an index above it waits
   * for its whole `wait` (or a later write) before answering with the lower index.
   */
  restoreSnapshot(s: SimSnapshot): void {
    for (const w of [...this.#waiters]) w.abandon();
    this.#instances = new Map(s.instances.map(([k, i]) => [k, structuredClone(i)]));
    this.#servicesIndex = s.servicesIndex;
    this.#checksIndex = s.checksIndex;
    this.#serviceIndex = new Map(s.serviceIndex);
    this.#raft += 1;
  }

  /** Raises every index without changing any data (a return is no proof of a change). */
  touch(): void {
    this.#raft += 1;
    this.#servicesIndex = this.#raft;
    this.#checksIndex = this.#raft;
    for (const k of this.#serviceIndex.keys()) this.#serviceIndex.set(k, this.#raft);
    this.#notify();
  }

  /** The next `count` requests whose path matches answer with this HTTP status. */
  failPath(re: RegExp, count: number, status = 500, body = 'rpc error: rpc failed'): void {
    this.#pathFailures.push({ re, count, status, body });
  }

  /** The next `count` requests answer with this HTTP status. */
  failNext(count: number, status = 500, body = 'rpc error: No cluster leader'): void {
    for (let i = 0; i < count; i++) this.#failures.push({ status, body });
    for (const w of [...this.#waiters]) w.wake();
  }

  /** While set, Consul answers as if the catalog were empty (an agent that lost its state). */
  setEmpty(empty: boolean): void {
    this.#empty = empty;
    this.#raft += 1;
    this.#servicesIndex = this.#raft;
    this.#checksIndex = this.#raft;
    for (const k of this.#serviceIndex.keys()) this.#serviceIndex.set(k, this.#raft);
    this.#notify();
  }

  clearRequests(): void {
    this.requests.length = 0;
  }

  // ---- HTTP --------------------------------------------------------------------------------------

  #visible(): Instance[] {
    return this.#empty ? [] : [...this.#instances.values()];
  }

  #servicesBody(): Record<string, string[]> {
    const out: Record<string, string[]> = this.#empty ? {} : { consul: [] };
    for (const inst of this.#visible()) {
      const tags = new Set(out[inst.service.Service] ?? []);
      for (const t of inst.service.Tags ?? []) tags.add(t);
      out[inst.service.Service] = [...tags].sort();
    }
    return out;
  }

  /** The node check of a node running a Consul agent (catalog-registered external nodes have none). */
  #serfCheck(node: SimNode): object[] {
    if (node.external) return [];
    const maint = this.#nodeMaintenance.get(node.Node);
    const nodeMaint = maint === undefined ? [] : [{ Node: node.Node, CheckID: '_node_maintenance', Name: 'Node Maintenance Mode', Status: 'critical', Notes: maint, Output: '', ServiceID: '', ServiceName: '', ServiceTags: [], Type: 'maintenance', Interval: '', Timeout: '', ExposedPort: 0, Definition: {}, CreateIndex: this.#raft, ModifyIndex: this.#raft }];
    return [...nodeMaint, { Node: node.Node, CheckID: 'serfHealth', Name: 'Serf Health Status', Status: 'passing', Notes: '', Output: 'Agent alive and reachable', ServiceID: '', ServiceName: '', ServiceTags: [], Type: '', Interval: '', Timeout: '', ExposedPort: 0, Definition: {}, CreateIndex: 1, ModifyIndex: 1 }];
  }

  /** The instance's own checks (Consul OSS answers have no Namespace field). */
  #serviceChecks(inst: Instance): object[] {
    const tags = inst.service.Tags ?? [];
    const base = { Node: inst.node.Node, Notes: '', Output: '', ServiceID: inst.service.ID, ServiceName: inst.service.Service, ServiceTags: tags, Type: '', Interval: '', Timeout: '', ExposedPort: 0, Definition: {}, CreateIndex: inst.createIndex, ModifyIndex: inst.checkIndex };
    const checks: object[] = inst.checked ? [{ ...base, CheckID: `service:${inst.service.ID}`, Name: `Service '${inst.service.Service}' check`, Status: inst.status }] : [];
    if (inst.maintenance !== undefined) {
      checks.push({ ...base, CheckID: `_service_maintenance:${inst.service.ID}`, Name: 'Service Maintenance Mode', Status: 'critical', Notes: inst.maintenance, Type: 'maintenance' });
    }
    return checks;
  }

  #checks(inst: Instance): object[] {
    return [...this.#serfCheck(inst.node), ...this.#serviceChecks(inst)];
  }

  /** Every check once: each node's serfHealth once, whatever its number of instances. */
  #allChecks(): object[] {
    const nodes = new Map<string, SimNode>();
    for (const i of this.#visible()) nodes.set(i.node.Node, i.node);
    return [...[...nodes.values()].flatMap((n) => this.#serfCheck(n)), ...this.#visible().flatMap((i) => this.#serviceChecks(i))];
  }

  #healthEntry(inst: Instance): object {
    const n = inst.node;
    return {
      Node: {
        ID: n.ID ?? '', Node: n.Node, Address: n.Address, Datacenter: n.Datacenter ?? 'dc1',
        TaggedAddresses: n.external ? null : { lan: n.Address, lan_ipv4: n.Address, wan: n.Address, wan_ipv4: n.Address },
        Meta: n.external ? null : { 'consul-network-segment': '' }, CreateIndex: inst.createIndex, ModifyIndex: inst.modifyIndex,
      },
      Service: {
        ID: inst.service.ID, Service: inst.service.Service, Tags: inst.service.Tags ?? [], Address: inst.service.Address ?? '', Meta: null, Port: inst.service.Port,
        Weights: inst.service.Weights ?? { Passing: 1, Warning: 1 }, EnableTagOverride: false, Proxy: { Mode: '', MeshGateway: {}, Expose: {} }, Connect: {}, PeerName: '',
        CreateIndex: inst.createIndex, ModifyIndex: inst.modifyIndex,
      },
      Checks: this.#checks(inst),
    };
  }

  #route(pathname: string, query: URLSearchParams): { index: () => number; body: () => unknown } | undefined {
    if (pathname === '/v1/catalog/services') {
      return { index: () => this.#servicesIndex, body: () => this.#servicesBody() };
    }
    let m = /^\/v1\/health\/service\/([^/]+)$/.exec(pathname);
    if (m) {
      const name = decodeURIComponent(m[1]!);
      const passing = query.has('passing') && query.get('passing') !== 'false';
      return {
        index: () => this.#serviceIndex.get(name) ?? this.#servicesIndex,
        body: () => this.#visible()
          .filter((i) => i.service.Service === name)
          .filter((i) => !passing || (i.status === 'passing' && i.maintenance === undefined))
          .sort((a, b) => a.node.Node.localeCompare(b.node.Node) || a.service.ID.localeCompare(b.service.ID))
          .map((i) => this.#healthEntry(i)),
      };
    }
    m = /^\/v1\/health\/state\/(any|passing|warning|critical)$/.exec(pathname);
    if (m) {
      const state = m[1];
      return {
        index: () => this.#checksIndex,
        body: () => this.#allChecks().filter((c) => state === 'any' || (c as { Status: string }).Status === state),
      };
    }
    return undefined;
  }

  async #handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    if (this.#overLimit.has(req.socket)) return; // answered 429 on connect
    const url = new URL(req.url ?? '/', 'http://sim');
    const q = url.searchParams;
    const send = (status: number, body: unknown, index?: number) => {
      const headers: Record<string, string> = { 'Content-Type': typeof body === 'string' ? 'text/plain' : 'application/json' };
      if (index !== undefined) {
        headers['X-Consul-Index'] = String(Math.max(1, index));
        headers['X-Consul-Knownleader'] = 'true';
        headers['X-Consul-Lastcontact'] = '0';
      }
      res.writeHead(status, headers);
      res.end(typeof body === 'string' ? body : JSON.stringify(body));
    };
    const blocking = q.has('index') && q.get('index') !== '0';
    this.requests.push({ method: req.method ?? 'GET', path: url.pathname, blocking, query: url.search });
    const token = req.headers['x-consul-token'];
    this.lastToken = Array.isArray(token) ? token[0] : token;

    if (req.method === 'GET' && url.pathname === '/v1/status/leader') return send(200, '"127.0.0.1:8300"');
    const failure = this.#failures.shift();
    if (failure) return send(failure.status, failure.body);
    const pf = this.#pathFailures.find((f) => f.count > 0 && f.re.test(url.pathname));
    if (pf) {
      pf.count -= 1;
      return send(pf.status, pf.body);
    }

    if (q.has('stale') && q.has('consistent')) return send(400, 'Cannot specify ?stale with ?consistent, conflicting semantics.');
    if (q.has('cached') && q.has('consistent')) return send(400, 'Cannot specify ?cached with ?consistent, conflicting semantics.');
    const route = req.method === 'GET' ? this.#route(url.pathname, q) : undefined;
    if (!route) return send(404, 'Not found');

    let wantIndex = 0;
    if (q.has('index')) {
      const raw = q.get('index') ?? '';
      if (!/^\d+$/.test(raw)) return send(400, 'Invalid index');
      wantIndex = Number(raw);
    }
    let waitMs = DEFAULT_WAIT_MS;
    if (q.has('wait')) {
      const parsed = parseGoDuration(q.get('wait') ?? '');
      if (parsed === undefined) return send(400, 'Invalid wait time');
      waitMs = Math.min(parsed, MAX_WAIT_MS);
    }

    if (wantIndex > 0 && route.index() <= wantIndex) {
      const jitter = this.jitter ? Math.random() * (waitMs / 16) : 0;
      let abandoned: { body: unknown; index: number } | undefined;
      this.openBlocking += 1;
      try {
        await new Promise<void>((resolve) => {
          const waiter: Waiter = {
            check: () => route.index() > wantIndex || this.#failures.length > 0,
            wake: () => {
              clearTimeout(timer);
              this.#waiters.delete(waiter);
              resolve();
            },
            abandon: () => {
              abandoned = { body: route.body(), index: route.index() };
              waiter.wake();
            },
          };
          const timer = setTimeout(waiter.wake, waitMs + jitter);
          this.#waiters.add(waiter);
          res.once('close', waiter.wake);
        });
      } finally {
        this.openBlocking -= 1;
      }
      if (res.destroyed || !this.#server) return;
      if (abandoned) return send(200, abandoned.body, abandoned.index);
      const late = this.#failures.shift();
      if (late) return send(late.status, late.body);
    }
    send(200, route.body(), route.index());
  }
}
