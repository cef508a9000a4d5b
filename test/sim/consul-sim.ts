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
// - a held health/state/* query wakes only for a write that changes a check row (memdb watches the
//   rows, not the table's index): the deregistration of an instance without checks moves the checks
//   index but wakes none of them; held to the end of its wait, such a query answers the index it
//   started at (the last run of the query), below the table's; a later check write wakes it.
// - snapshot restore: waiting queries answer at once with the old store's answer; later queries
//   see the restored state with its lower indexes; the next write gets an index above all earlier.
// - shapes of Consul OSS 1.16 (no Namespace); catalog-registered (`external`) nodes have no
//   serfHealth; agent maintenance checks; 200 concurrent connections per client address, then 429.
// - /v1/internal/ui/nodes (Internal.NodeDump, the node dump of the Consul UI; served with the UI
//   disabled too): every node, the agent's own (`agentNode`, with the `consul` service) included,
//   with its services and all its checks; nodes sorted by name, services by ID, checks by CheckID,
//   each case-insensitively (memdb's lowercase indexes); no Datacenter; Tags/ServiceTags as stored
//   (null when never given, where health/service says []); Meta gains `consul-version` when the
//   node's address is an agent's (the UI endpoint matches serf members by address). Index: the max
//   of the nodes, services and checks tables (a flip, a weight change, a maintenance toggle, a node
//   write each move it; a KV write does not). A node stays after its last service is deregistered
//   (`Services: []`) until `deregisterNode`. `?filter=`: `==`/`!=` on ID, Node, Address and
//   `contains` on Services.ID/Service and Checks.CheckID/Status/ServiceID/ServiceName, joined by
//   and/or; an unknown selector or a syntax error is a 500, as Consul answers a bad filter here.
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
  nodes: Array<[string, SimNode]>;
  nodesIndex: number;
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
  /** A health/state/* query: only a write that changes a check row wakes it (memdb watches rows). */
  checkRowsOnly: boolean;
  /** End of the wait, a closed connection, a failure to answer: the query answers as of its last run. */
  wake: () => void;
  /** Woken by a write (or a test control): the query runs again and answers what it sees now. */
  answer: () => void;
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

/** Consul's memdb indexes are lowercase: the node dump and health/service come in this order. */
const byLower = (a: string, b: string): number => {
  const x = a.toLowerCase();
  const y = b.toLowerCase();
  return x < y ? -1 : x > y ? 1 : 0;
};

const CONSUL_VERSION = '1.16.6';

type DumpFilter = { ok: (node: DumpNode) => boolean } | { error: string };

interface DumpNode {
  ID: string;
  Node: string;
  Address: string;
  TaggedAddresses: Record<string, string> | null;
  Meta: Record<string, string> | null;
  Services: Array<Record<string, unknown>>;
  Checks: Array<Record<string, unknown>>;
}

const DUMP_CHECK_KEYS = ['Node', 'CheckID', 'Name', 'Status', 'Notes', 'Output', 'ServiceID', 'ServiceName', 'ServiceTags', 'Type', 'Interval', 'Timeout', 'ExposedPort', 'Definition', 'CreateIndex', 'ModifyIndex'];
const DUMP_SERVICE_FIELDS = ['ID', 'Service', 'Tags', 'Address', 'Meta', 'Port', 'Weights', 'EnableTagOverride', 'Proxy', 'Connect', 'PeerName', 'Kind', 'TaggedAddresses', 'SocketPath', 'LocallyRegisteredAsSidecar', 'CreateIndex', 'ModifyIndex'];
const DUMP_CHECK_FIELDS = ['Node', 'CheckID', 'Name', 'Status', 'Notes', 'Output', 'ServiceID', 'ServiceName', 'ServiceTags', 'Type', 'Interval', 'Timeout', 'ExposedPort', 'Definition', 'PeerName', 'CreateIndex', 'ModifyIndex'];

/**
 * The part of Consul's filter language (go-bexpr over the node dump) the simulator evaluates:
 * `ID|Node|Address (==|!=) "v"`, `Services.(ID|Service) contains "v"`,
 * `Checks.(CheckID|Status|ServiceID|ServiceName) contains "v"` (also `not contains`), joined by
 * `and`/`or` (and binds tighter). A selector the node dump lacks, or a syntax error: Consul's 500.
 * A valid selector outside that subset: a 500 that says so (never a silently wrong answer).
 */
export function parseDumpFilter(expr: string): DumpFilter {
  const bad = (why: string): DumpFilter => ({ error: `Failed to create boolean expression evaluator: ${why}` });
  const term = /^\s*([A-Za-z][A-Za-z0-9]*(?:\.[A-Za-z][A-Za-z0-9]*)?)\s*(==|!=|not contains|contains)\s*"((?:[^"\\]|\\.)*)"\s*$/;
  const ors: Array<Array<(n: DumpNode) => boolean>> = [];
  for (const orPart of expr.split(/\s+or\s+/)) {
    const ands: Array<(n: DumpNode) => boolean> = [];
    for (const t of orPart.split(/\s+and\s+/)) {
      const m = term.exec(t);
      if (!m) return bad(`simulator: cannot parse ${JSON.stringify(t.trim())}`);
      const [, selector = '', op = '', raw = ''] = m;
      const value = JSON.parse(`"${raw}"`) as string;
      const [head = '', field] = selector.split('.');
      const valid = field === undefined
        ? ['ID', 'Node', 'Partition', 'PeerName', 'Address', 'TaggedAddresses', 'Meta', 'Services', 'Checks'].includes(head)
        : (head === 'Services' && DUMP_SERVICE_FIELDS.includes(field)) || (head === 'Checks' && DUMP_CHECK_FIELDS.includes(field)) || head === 'Meta' || head === 'TaggedAddresses';
      if (!valid) return bad(`Selector ${JSON.stringify(selector)} is not valid`);
      if (field === undefined && ['ID', 'Node', 'Address'].includes(head) && (op === '==' || op === '!=')) {
        const k = head as 'ID' | 'Node' | 'Address';
        ands.push(op === '==' ? (n) => n[k] === value : (n) => n[k] !== value);
      } else if ((head === 'Services' && (field === 'ID' || field === 'Service')) || (head === 'Checks' && ['CheckID', 'Status', 'ServiceID', 'ServiceName'].includes(field ?? ''))) {
        if (op !== 'contains' && op !== 'not contains') return bad(`simulator: only contains / not contains on ${selector}`);
        const list = head === 'Services' ? (n: DumpNode) => n.Services : (n: DumpNode) => n.Checks;
        const has = (n: DumpNode) => list(n).some((x) => x[field as string] === value);
        ands.push(op === 'contains' ? has : (n) => !has(n));
      } else {
        return bad(`simulator: ${selector} ${op} is valid for Consul but not evaluated here`);
      }
    }
    ors.push(ands);
  }
  return { ok: (n) => ors.some((ands) => ands.every((p) => p(n))) };
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
  /** Every node registered (it outlives its services, as in Consul's nodes table), by name. */
  #nodes = new Map<string, SimNode>();
  /** Index of the nodes table (registerNode/deregisterNode; a node's first service moves the services table too). */
  #nodesIndex = 1;
  /** The node of the agent this simulator plays: the `consul` service runs there (node dump only). */
  readonly agentNode: SimNode = { Node: 'consul-sim', Address: '127.0.0.1', ID: '3f1c9a52-7d0e-4b8a-9c61-5e2f0d4b7a10' };
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
  #bump(serviceName: string, { catalog, checks, checkRows = checks }: { catalog: boolean; checks: boolean; checkRows?: boolean }): number {
    this.#raft += 1;
    if (catalog) this.#servicesIndex = this.#raft;
    if (checks) this.#checksIndex = this.#raft;
    this.#serviceIndex.set(serviceName, this.#raft);
    this.#notify(checkRows);
    return this.#raft;
  }

  /** Wakes the held queries the write concerns; `checkRows`: the write added, changed or removed a check row. */
  #notify(checkRows = true): void {
    for (const w of [...this.#waiters]) {
      if (w.checkRowsOnly && !checkRows) continue;
      if (w.check()) w.answer();
    }
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
    this.#nodes.set(node.Node, node);
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

  /**
   * A node alone (`PUT /v1/catalog/register` with no service): it moves the nodes table only; a
   * changed address or flag moves it again, an identical one nothing.
   */
  registerNode(node: SimNode): void {
    const existing = this.#nodes.get(node.Node);
    if (existing && JSON.stringify(existing) === JSON.stringify(node)) return;
    this.#nodes.set(node.Node, node);
    this.#raft += 1;
    this.#nodesIndex = this.#raft;
    this.#notify(false);
  }

  /** `PUT /v1/catalog/deregister` with a node only: the node, its services and its checks go. */
  deregisterNode(nodeName: string): void {
    const node = this.#nodes.get(nodeName);
    if (!node || !this.#nodes.delete(nodeName)) return;
    const gone = [...this.#instances].filter(([, i]) => i.node.Node === nodeName);
    for (const [k] of gone) this.#instances.delete(k);
    this.#nodeMaintenance.delete(nodeName);
    this.#raft += 1;
    this.#nodesIndex = this.#raft;
    if (gone.length > 0) {
      this.#servicesIndex = this.#raft;
      this.#checksIndex = this.#raft;
      for (const [, i] of gone) this.#serviceIndex.set(i.service.Service, this.#raft);
    }
    // Check rows went: the node's serfHealth (an agent's node), its instances' checks.
    this.#notify(!node.external || gone.some(([, i]) => i.checked || i.maintenance !== undefined));
  }

  deregister(nodeName: string, serviceId: string): void {
    const key = `${nodeName}/${serviceId}`;
    const existing = this.#instances.get(key);
    if (!existing) return;
    this.#instances.delete(key);
    // As Consul: the checks table's index moves even for an instance without checks, but no check
    // row changes then, so no held health/state query wakes.
    this.#bump(existing.service.Service, { catalog: true, checks: true, checkRows: existing.checked || existing.maintenance !== undefined });
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
    this.#nodesIndex = Math.min(this.#nodesIndex, to);
    for (const k of this.#serviceIndex.keys()) this.#serviceIndex.set(k, to);
    this.#notify();
    for (const w of [...this.#waiters]) w.answer();
  }

  /** `consul snapshot save`: the catalog and its table indexes as they are now. */
  saveSnapshot(): SimSnapshot {
    return {
      instances: [...this.#instances].map(([k, i]) => [k, structuredClone(i)]),
      nodes: [...this.#nodes].map(([k, n]) => [k, structuredClone(n)]),
      nodesIndex: this.#nodesIndex,
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
    this.#nodes = new Map(s.nodes.map(([k, n]) => [k, structuredClone(n)]));
    this.#nodesIndex = s.nodesIndex;
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
  #serfCheck(node: SimNode, dump = false): object[] {
    if (node.external) return [];
    // The node dump gives the stored (nil) ServiceTags: null; the health endpoints give [].
    const ServiceTags = dump ? null : [];
    const maint = this.#nodeMaintenance.get(node.Node);
    const nodeMaint = maint === undefined ? [] : [{ Node: node.Node, CheckID: '_node_maintenance', Name: 'Node Maintenance Mode', Status: 'critical', Notes: maint, Output: '', ServiceID: '', ServiceName: '', ServiceTags, Type: 'maintenance', Interval: '', Timeout: '', ExposedPort: 0, Definition: {}, CreateIndex: this.#raft, ModifyIndex: this.#raft }];
    return [...nodeMaint, { Node: node.Node, CheckID: 'serfHealth', Name: 'Serf Health Status', Status: 'passing', Notes: '', Output: 'Agent alive and reachable', ServiceID: '', ServiceName: '', ServiceTags, Type: '', Interval: '', Timeout: '', ExposedPort: 0, Definition: {}, CreateIndex: 1, ModifyIndex: 1 }];
  }

  /** The instance's own checks (Consul OSS answers have no Namespace field). */
  #serviceChecks(inst: Instance, dump = false): object[] {
    const tags = inst.service.Tags ?? (dump ? null : []);
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

  /** The index of Internal.NodeDump: the max of the nodes, services and checks tables. */
  #dumpIndex(): number {
    return Math.max(this.#nodesIndex, this.#servicesIndex, this.#checksIndex);
  }

  /** `/v1/internal/ui/nodes`: every node with its services and all its checks, in Consul's order. */
  #nodeDump(): DumpNode[] {
    if (this.#empty) return [];
    const nodes = new Map<string, SimNode>([[this.agentNode.Node, this.agentNode], ...this.#nodes]);
    const byNode = new Map<string, Instance[]>();
    for (const i of this.#instances.values()) {
      const list = byNode.get(i.node.Node);
      if (list) list.push(i); else byNode.set(i.node.Node, [i]);
    }
    // The UI endpoint adds `consul-version` to a node whose address is a serf member's (an agent's).
    const agents = new Set([...nodes.values()].filter((n) => !n.external).map((n) => n.Address));
    const consulService = {
      ID: 'consul', Service: 'consul', Tags: null, Address: '',
      Meta: { non_voter: 'false', raft_version: '3', read_replica: 'false', serf_protocol_current: '2', serf_protocol_max: '5', serf_protocol_min: '1', version: CONSUL_VERSION },
      Port: 8300, Weights: { Passing: 1, Warning: 1 }, EnableTagOverride: false, Proxy: { Mode: '', MeshGateway: {}, Expose: {} }, Connect: {}, PeerName: '', CreateIndex: 1, ModifyIndex: 1,
    };
    return [...nodes.values()].sort((a, b) => byLower(a.Node, b.Node)).map((n): DumpNode => {
      const insts = (byNode.get(n.Node) ?? []).sort((a, b) => byLower(a.service.ID, b.service.ID));
      const services: Array<Record<string, unknown>> = insts.map((i) => ({
        ID: i.service.ID, Service: i.service.Service, Tags: i.service.Tags ?? null, Address: i.service.Address ?? '', Meta: null, Port: i.service.Port,
        Weights: i.service.Weights ?? { Passing: 1, Warning: 1 }, EnableTagOverride: false, Proxy: { Mode: '', MeshGateway: {}, Expose: {} }, Connect: {}, PeerName: '',
        CreateIndex: i.createIndex, ModifyIndex: i.modifyIndex,
      }));
      if (n.Node === this.agentNode.Node) services.push(consulService);
      services.sort((a, b) => byLower(a.ID as string, b.ID as string));
      // In Consul's field order (HealthCheck's JSON), whichever way the check was put together here.
      const checks = ([...this.#serfCheck(n, true), ...insts.flatMap((i) => this.#serviceChecks(i, true))] as Array<Record<string, unknown>>)
        .map((c) => Object.fromEntries(DUMP_CHECK_KEYS.map((k) => [k, c[k]])));
      checks.sort((a, b) => byLower(a.CheckID as string, b.CheckID as string));
      const member = agents.has(n.Address);
      return {
        ID: n.ID ?? '', Node: n.Node, Address: n.Address,
        TaggedAddresses: n.external ? null : { lan: n.Address, lan_ipv4: n.Address, wan: n.Address, wan_ipv4: n.Address },
        Meta: n.external ? (member ? { 'consul-version': CONSUL_VERSION } as Record<string, string> : null) : { 'consul-network-segment': '', 'consul-version': CONSUL_VERSION },
        Services: services, Checks: checks,
      };
    });
  }

  #route(pathname: string, query: URLSearchParams): { index: () => number; body: () => unknown; error?: { status: number; body: string }; checkRowsOnly?: boolean } | undefined {
    if (pathname === '/v1/internal/ui/nodes') {
      const raw = query.get('filter');
      const filter = raw === null || raw === '' ? undefined : parseDumpFilter(raw);
      if (filter && 'error' in filter) return { index: () => 1, body: () => undefined, error: { status: 500, body: filter.error } };
      return { index: () => this.#dumpIndex(), body: () => (filter ? this.#nodeDump().filter(filter.ok) : this.#nodeDump()) };
    }
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
          .sort((a, b) => byLower(a.node.Node, b.node.Node) || byLower(a.service.ID, b.service.ID))
          .map((i) => this.#healthEntry(i)),
      };
    }
    m = /^\/v1\/health\/node\/([^/]+)$/.exec(pathname);
    if (m) {
      // One node's checks, under the whole checks table's index (Consul's NodeChecks).
      const node = decodeURIComponent(m[1]!);
      return { index: () => this.#checksIndex, body: () => this.#allChecks().filter((c) => (c as { Node: string }).Node === node), checkRowsOnly: true };
    }
    m = /^\/v1\/health\/state\/(any|passing|warning|critical)$/.exec(pathname);
    if (m) {
      // `?filter=` in its simplest form (`Field == "value"` / `!=` on a check field; one that matches
      // nothing answers `[]` with the table's index); anything else is refused as Consul refuses a
      // filter it cannot evaluate.
      const raw = query.get('filter');
      let checkFilter: ((c: Record<string, unknown>) => boolean) | undefined;
      if (raw !== null && raw !== '') {
        const f = /^\s*(\w+)\s*(==|!=)\s*"([^"]*)"\s*$/.exec(raw);
        if (!f) return { index: () => 1, body: () => undefined, error: { status: 400, body: `Failed to create boolean expression evaluator: ${raw} (simulator: only Field ==/!= "value")` } };
        const [, field, op, value] = f;
        checkFilter = (c) => (String(c[field!] ?? '') === value) === (op === '==');
      }
      const state = m[1];
      return {
        index: () => this.#checksIndex,
        body: () => this.#allChecks().filter((c) => (state === 'any' || (c as { Status: string }).Status === state) && (!checkFilter || checkFilter(c as Record<string, unknown>))),
        checkRowsOnly: true,
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

    // Consul evaluates a filter in the RPC, after parsing index and wait: its error comes here.
    if (route.error) return send(route.error.status, route.error.body, 1);

    if (wantIndex > 0 && route.index() <= wantIndex) {
      const jitter = this.jitter ? Math.random() * (waitMs / 16) : 0;
      let abandoned: { body: unknown; index: number } | undefined;
      // The index of the query's last run: what it answers when nothing woke it.
      const startIndex = route.index();
      let answered = false;
      this.openBlocking += 1;
      try {
        await new Promise<void>((resolve) => {
          const waiter: Waiter = {
            check: () => route.index() > wantIndex || this.#failures.length > 0,
            checkRowsOnly: route.checkRowsOnly === true,
            wake: () => {
              clearTimeout(timer);
              this.#waiters.delete(waiter);
              resolve();
            },
            answer: () => {
              answered = true;
              waiter.wake();
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
      // Not woken: Consul answers its last run. Only index-only moves (no check row changed, so the
      // body is the same) can lie between it and now.
      if (route.checkRowsOnly && !answered) return send(200, route.body(), startIndex);
    }
    send(200, route.body(), route.index());
  }
}
