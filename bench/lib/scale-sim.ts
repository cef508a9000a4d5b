// The Consul simulator of test/sim/consul-sim.ts, indexed for large catalogs: the same endpoints,
// index rules and response shapes (a health entry of ~1 KB, every check in /v1/health/state/any),
// but each service's instances are kept apart, so answering for one service costs that service, not
// the catalog (the test simulator scans every instance per request: ~10 ms at 100,000 instances,
// which would make its own time the bulk of a 10,000-service startup). Each instance's JSON is
// serialized once. It counts what it serves (requests and bytes per endpoint, connections), runs
// in its own process (bench/lib/scale-sim-main.ts) and takes writes on /bench/* from the harness.
// KV is empty (hapilot reads its pool records there): a 404 carrying the KV index, blocking as Consul does.
// `?filter=` on /v1/health/state/any and /v1/catalog/services: the simple part of Consul's filter
// language (parseFilter), counted as an endpoint of its own; any other is a 400, so a byte count is
// never silently wrong.
// /v1/internal/ui/nodes (the node dump, as test/sim/consul-sim.ts and Consul 1.16.6 give it: 69.5 MB
// at 10,000 services × 10 instances): built from the per-instance JSON already made (the service
// object's JSON is also a part of its health entry's, shared), nodes/services/checks sorted
// case-insensitively as Consul's indexes, index = max of the services and checks tables (nodes come
// with their first service here). Each node's part is a Buffer cached until a write touches that node
// (a flip rebuilds one node, not the catalog); the answer is those parts written one after the other
// (no 60 MB copy), the list cached per index.
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface SimNode { Node: string; Address: string }
export interface SimService { ID: string; Service: string; Tags: string[]; Address?: string; Port: number }

interface Instance {
  node: SimNode;
  service: SimService;
  status: 'passing' | 'critical';
  createIndex: number;
  modifyIndex: number;
  /** Serialized health entry and service check (made once per write). */
  entryJson: string;
  checkJson: string;
  /** The Service object of `entryJson`: the node dump's service element. */
  serviceJson: string;
}

interface Service {
  instances: Map<string, Instance>;
  index: number;
  /** `Instance` keys in Consul's answer order (node, then ID, case-insensitively as its indexes). */
  sorted: string[] | undefined;
}

interface Waiter {
  check: () => boolean;
  wake: () => void;
}

export interface Counters {
  requests: Record<string, number>;
  blocking: Record<string, number>;
  bytes: Record<string, number>;
  connections: number;
  maxConnections: number;
  openBlocking: number;
  /** Blocking queries held now, by endpoint (filled in when the counters are read). */
  held?: Record<string, number>;
}

const KV_INDEX = 5;

const endpointOf = (path: string): string => (path.startsWith('/v1/health/service/') ? '/v1/health/service/:name' : path);

export class ScaleSim {
  readonly #services = new Map<string, Service>();
  readonly #nodes = new Map<string, SimNode>();
  /** Each node's instances by service ID, for the node dump; `sorted`: IDs in Consul's order (case-insensitive). */
  readonly #byNode = new Map<string, NodeInstances>();
  /** Node names in Consul's order (case-insensitive), the agent's own included. */
  #sortedNodes: string[] | undefined;
  #raft = 10;
  #servicesIndex = 1;
  #checksIndex = 1;
  #waiters = new Set<Waiter>();
  #cache: { services?: { index: number; body: string }; checks?: { index: number; body: string }; dump?: { index: number; body: Buffer[] } } = {};
  #filtered = new Map<string, string>();
  readonly #held = new Map<string, number>();
  #server: http.Server | undefined;
  #sockets = new Set<Socket>();
  counters: Counters = { requests: {}, blocking: {}, bytes: {}, connections: 0, maxConnections: 0, openBlocking: 0 };

  get url(): string {
    return `http://127.0.0.1:${(this.#server?.address() as AddressInfo).port}`;
  }

  register(node: SimNode, service: SimService, status: 'passing' | 'critical' = 'passing'): void {
    const svc = this.#services.get(service.Service) ?? { instances: new Map(), index: 0, sorted: undefined };
    this.#services.set(service.Service, svc);
    const key = `${node.Node}/${service.ID}`;
    const existing = svc.instances.get(key);
    const sameService = existing !== undefined && JSON.stringify([existing.service, existing.node]) === JSON.stringify([service, node]);
    if (sameService && existing.status === status) return;
    const sameTags = existing !== undefined && JSON.stringify(existing.service.Tags) === JSON.stringify(service.Tags);
    this.#raft += 1;
    if (!sameService) this.#servicesIndex = this.#raft;
    if (!existing || existing.status !== status || !sameTags) this.#checksIndex = this.#raft;
    svc.index = this.#raft;
    if (!this.#nodes.has(node.Node)) this.#sortedNodes = undefined;
    this.#nodes.set(node.Node, node);
    const inst: Instance = { node, service, status, createIndex: existing?.createIndex ?? this.#raft, modifyIndex: this.#raft, entryJson: '', checkJson: '', serviceJson: '' };
    inst.checkJson = JSON.stringify(serviceCheck(inst));
    const head = `{"Node":${JSON.stringify(healthNode(inst))},"Service":`;
    inst.serviceJson = JSON.stringify(nodeService(inst));
    inst.entryJson = `${head}${inst.serviceJson},"Checks":[${JSON.stringify(serfCheck(node))},${inst.checkJson}]}`;
    if (!existing) svc.sorted = undefined;
    svc.instances.set(key, inst);
    let onNode = this.#byNode.get(node.Node);
    if (!onNode) this.#byNode.set(node.Node, (onNode = { instances: new Map(), sorted: undefined, part: undefined }));
    if (!onNode.instances.has(service.ID)) onNode.sorted = undefined;
    onNode.instances.set(service.ID, inst);
    onNode.part = undefined;
    this.#notify();
  }

  deregister(node: string, serviceName: string, id: string): void {
    const svc = this.#services.get(serviceName);
    if (!svc?.instances.delete(`${node}/${id}`)) return;
    svc.sorted = undefined;
    const onNode = this.#byNode.get(node);
    if (onNode?.instances.delete(id)) {
      onNode.sorted = undefined;
      onNode.part = undefined;
    }
    this.#raft += 1;
    this.#servicesIndex = this.#checksIndex = svc.index = this.#raft;
    if (svc.instances.size === 0) this.#services.delete(serviceName);
    this.#notify();
  }

  #notify(): void {
    for (const w of [...this.#waiters]) if (w.check()) w.wake();
  }

  #servicesBody(): string {
    if (this.#cache.services?.index !== this.#servicesIndex) {
      const out: Record<string, string[]> = { consul: [] };
      for (const [name, svc] of this.#services) {
        const tags = new Set<string>();
        for (const i of svc.instances.values()) for (const t of i.service.Tags) tags.add(t);
        out[name] = [...tags].sort();
      }
      this.#cache.services = { index: this.#servicesIndex, body: JSON.stringify(out) };
    }
    return this.#cache.services.body;
  }

  /** `/v1/catalog/services` through a `?filter=` on its instances (ServiceName, ServiceID, Node, …): the services with one that matches. */
  #filteredServicesBody(pred: Predicate): string {
    const out: Record<string, string[]> = {};
    for (const [name, svc] of this.#services) {
      const tags = new Set<string>();
      let hit = false;
      for (const i of svc.instances.values()) {
        if (!pred({ ServiceName: name, ServiceID: i.service.ID, Node: i.node.Node, Address: i.node.Address, ServiceAddress: i.service.Address ?? '' })) continue;
        hit = true;
        for (const t of i.service.Tags) tags.add(t);
      }
      if (hit) out[name] = [...tags].sort();
    }
    return JSON.stringify(out);
  }

  /** The checks list through a `?filter=` (the check fields as selectors), cached per index and filter. */
  #filteredChecksBody(filter: string, pred: Predicate): string {
    const key = `${this.#checksIndex}\n${filter}`;
    const hit = this.#filtered.get(key);
    if (hit !== undefined) return hit;
    const parts: string[] = [];
    for (const n of this.#nodes.values()) {
      const c = serfCheck(n) as Record<string, unknown>;
      if (pred(c)) parts.push(JSON.stringify(c));
    }
    for (const svc of this.#services.values()) for (const i of svc.instances.values()) {
      if (pred({ Node: i.node.Node, CheckID: `service:${i.service.ID}`, Name: `Service '${i.service.Service}' check`, Status: i.status, ServiceID: i.service.ID, ServiceName: i.service.Service, Notes: '', Output: '', Type: '' })) parts.push(i.checkJson);
    }
    const body = `[${parts.join(',')}]`;
    this.#filtered.clear();
    this.#filtered.set(key, body);
    return body;
  }

  #checksBody(): string {
    if (this.#cache.checks?.index !== this.#checksIndex) {
      const parts: string[] = [...this.#nodes.values()].map((n) => JSON.stringify(serfCheck(n)));
      for (const svc of this.#services.values()) for (const i of svc.instances.values()) parts.push(i.checkJson);
      this.#cache.checks = { index: this.#checksIndex, body: `[${parts.join(',')}]` };
    }
    return this.#cache.checks.body;
  }

  /**
   * `/v1/internal/ui/nodes`: every node (it stays when its last service goes, as in Consul) with its
   * services and all its checks, as the list of each node's part (and the separators), cached per
   * index. Nothing is parsed or re-serialized: the pieces are the JSON strings made at registration.
   */
  #dumpBody(): Buffer[] {
    const index = Math.max(this.#servicesIndex, this.#checksIndex);
    if (this.#cache.dump?.index !== index) {
      this.#sortedNodes ??= sortLower([AGENT_NODE.Node, ...this.#nodes.keys()], (n) => n);
      const body: Buffer[] = [OPEN];
      for (const [i, name] of this.#sortedNodes.entries()) {
        if (i > 0) body.push(COMMA);
        body.push(name === AGENT_NODE.Node ? AGENT_NODE_BUF : this.#nodePart(name));
      }
      body.push(CLOSE);
      this.#cache.dump = { index, body };
    }
    return this.#cache.dump.body;
  }

  /** One node of the dump, made again only after a write on that node. */
  #nodePart(name: string): Buffer {
    let onNode = this.#byNode.get(name);
    if (!onNode) this.#byNode.set(name, (onNode = { instances: new Map(), sorted: undefined, part: undefined }));
    if (onNode.part) return onNode.part;
    const node = this.#nodes.get(name) as SimNode;
    const byId = onNode.instances;
    const insts = (onNode.sorted ??= sortLower([...byId.keys()], (id) => id)).map((id) => byId.get(id) as Instance);
    const parts: string[] = [`{"ID":"","Node":${JSON.stringify(node.Node)},"Address":${JSON.stringify(node.Address)},"TaggedAddresses":${JSON.stringify(taggedAddresses(node))},"Meta":${DUMP_NODE_META},"Services":[`];
    for (const [i, inst] of insts.entries()) {
      if (i > 0) parts.push(',');
      parts.push(inst.serviceJson);
    }
    parts.push('],"Checks":[');
    // Checks by CheckID, case-insensitively: serfHealth goes among the `service:<ID>` checks (already
    // in ID order) where it sorts.
    const serf = dumpSerfCheck(node);
    let serfAt = insts.findIndex((inst) => byLower('serfHealth', `service:${inst.service.ID}`) < 0);
    if (serfAt < 0) serfAt = insts.length;
    for (let i = 0; i <= insts.length; i++) {
      if (i === serfAt) parts.push(i > 0 ? ',' : '', serf);
      const inst = insts[i];
      if (inst) parts.push(i > 0 || serfAt === 0 ? ',' : '', inst.checkJson);
    }
    parts.push(']}');
    onNode.part = Buffer.from(parts.join(''), 'utf8');
    return onNode.part;
  }

  #nodeChecksBody(name: string): string {
    const node = this.#nodes.get(name);
    if (!node) return '[]';
    const insts = [...(this.#byNode.get(name)?.instances.values() ?? [])];
    const rows: Array<[string, string]> = [['serfHealth', JSON.stringify(serfCheck(node))], ...insts.map((i): [string, string] => [`service:${i.service.ID}`, i.checkJson])];
    return `[${sortLower(rows, ([id]) => id).map(([, json]) => json).join(',')}]`;
  }

  #serviceBody(name: string): string {
    const svc = this.#services.get(name);
    if (!svc) return '[]';
    svc.sorted ??= [...svc.instances].sort(([, a], [, b]) => byLower(a.node.Node, b.node.Node) || byLower(a.service.ID, b.service.ID)).map(([k]) => k);
    return `[${svc.sorted.map((k) => (svc.instances.get(k) as Instance).entryJson).join(',')}]`;
  }

  async start(port = 0): Promise<void> {
    const server = http.createServer((req, res) => void this.#handle(req, res));
    server.keepAliveTimeout = 60_000;
    server.on('connection', (s) => {
      this.#sockets.add(s);
      this.counters.connections = this.#sockets.size;
      this.counters.maxConnections = Math.max(this.counters.maxConnections, this.#sockets.size);
      s.on('close', () => {
        this.#sockets.delete(s);
        this.counters.connections = this.#sockets.size;
      });
    });
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    this.#server = server;
  }

  async stop(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    await new Promise<void>((resolve) => this.#server?.close(() => resolve()));
  }

  async #handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://sim');
    if (url.pathname.startsWith('/bench/')) return this.#admin(url.pathname, req, res);
    const q = url.searchParams;
    const filter = q.get('filter');
    // A filtered query is its own endpoint in the counters: its bytes are not the full list's.
    const endpoint = `${endpointOf(url.pathname)}${filter !== null ? '?filter' : ''}`;
    const pred = filter !== null ? parseFilter(filter) : undefined;
    if (filter !== null && (!pred || (url.pathname !== '/v1/health/state/any' && url.pathname !== '/v1/catalog/services'))) {
      // Consul's answer to a filter it cannot evaluate; here also a filter on another endpoint,
      // which this simulator does not evaluate: loud rather than a wrong byte count.
      res.writeHead(400).end(`Failed to create boolean expression evaluator: ${filter} (bench simulator: only Field ==/!= "value" joined by and/or, on /v1/health/state/any and /v1/catalog/services)`);
      return;
    }
    const blocking = q.has('index') && q.get('index') !== '0';
    const c = this.counters;
    c.requests[endpoint] = (c.requests[endpoint] ?? 0) + 1;
    if (blocking) c.blocking[endpoint] = (c.blocking[endpoint] ?? 0) + 1;
    // Counters may be reset while a query is held: answer bytes go to the counters of the moment.
    const now = () => this.counters;
    let route: { index: () => number; body: () => string | Buffer[]; status?: number } | undefined;
    const m = /^\/v1\/health\/service\/([^/]+)$/.exec(url.pathname);
    if (url.pathname === '/v1/catalog/services') route = { index: () => this.#servicesIndex, body: () => (filter !== null && pred ? this.#filteredServicesBody(pred) : this.#servicesBody()) };
    else if (url.pathname === '/v1/internal/ui/nodes') route = { index: () => Math.max(this.#servicesIndex, this.#checksIndex), body: () => this.#dumpBody() };
    else if (url.pathname === '/v1/health/state/any') route = { index: () => this.#checksIndex, body: () => (filter !== null && pred ? this.#filteredChecksBody(filter, pred) : this.#checksBody()) };
    else if (url.pathname.startsWith('/v1/health/node/')) {
      // One node's checks under the checks table's index (hapilot's index probe asks for a node that does not exist).
      const name = decodeURIComponent(url.pathname.slice('/v1/health/node/'.length));
      route = { index: () => this.#checksIndex, body: () => this.#nodeChecksBody(name) };
    } else if (m) {
      const name = decodeURIComponent(m[1] ?? '');
      route = { index: () => this.#services.get(name)?.index ?? this.#servicesIndex, body: () => this.#serviceBody(name) };
    } else if (url.pathname.startsWith('/v1/kv/')) {
      // An empty KV store (hapilot's pool records, none here): Consul answers a missing prefix 404
      // with the KV index, and blocks on it like any other read.
      route = { index: () => KV_INDEX, body: () => '', status: 404 };
    } else if (url.pathname === '/v1/status/leader') {
      res.end('"127.0.0.1:8300"');
      return;
    }
    if (!route) {
      res.writeHead(404).end('Not found');
      return;
    }
    const want = Number(q.get('index') ?? 0);
    const waitMs = Math.min(parseWait(q.get('wait')) ?? 300_000, 600_000);
    if (want > 0 && route.index() <= want) {
      now().openBlocking++;
      this.#held.set(endpoint, (this.#held.get(endpoint) ?? 0) + 1);
      await new Promise<void>((resolve) => {
        const w: Waiter = {
          check: () => route.index() > want,
          wake: () => {
            clearTimeout(timer);
            this.#waiters.delete(w);
            resolve();
          },
        };
        const timer = setTimeout(w.wake, waitMs + Math.random() * (waitMs / 16));
        this.#waiters.add(w);
        res.once('close', w.wake);
      });
      now().openBlocking--;
      this.#held.set(endpoint, (this.#held.get(endpoint) ?? 1) - 1);
      if (res.destroyed) return;
    }
    const body = route.body();
    const length = typeof body === 'string' ? Buffer.byteLength(body) : body.reduce((n, b) => n + b.length, 0);
    const k = now();
    k.bytes[endpoint] = (k.bytes[endpoint] ?? 0) + length + 150;
    res.writeHead(route.status ?? 200, { 'Content-Type': 'application/json', 'Content-Length': String(length), 'X-Consul-Index': String(Math.max(1, route.index())), 'X-Consul-Knownleader': 'true', 'X-Consul-Lastcontact': '0' });
    if (typeof body === 'string') {
      res.end(body);
      return;
    }
    // The parts one after the other (Node copies none of them into one 60 MB buffer).
    for (const b of body) res.write(b);
    res.end();
  }

  async #admin(path: string, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    let raw = '';
    for await (const chunk of req) raw += String(chunk);
    const body = raw ? JSON.parse(raw) as Record<string, unknown> : {};
    if (path === '/bench/register') {
      for (const r of body.instances as Array<{ node: SimNode; service: SimService; status?: 'passing' | 'critical' }>) this.register(r.node, r.service, r.status);
    } else if (path === '/bench/deregister') {
      for (const r of body.instances as Array<{ node: string; service: string; id: string }>) this.deregister(r.node, r.service, r.id);
    } else if (path === '/bench/counters') {
      const held = Object.fromEntries([...this.#held].filter(([, k]) => k > 0));
      res.end(JSON.stringify({ ...this.counters, held }));
      return;
    } else if (path === '/bench/reset') {
      this.counters = { requests: {}, blocking: {}, bytes: {}, connections: this.#sockets.size, maxConnections: this.#sockets.size, openBlocking: this.counters.openBlocking };
    }
    res.end('{}');
  }
}

type Predicate = (check: Record<string, unknown>) => boolean;

/**
 * The part of Consul's filter language (https://developer.hashicorp.com/consul/api-docs/features/filtering)
 * hapilot may use: `Selector == "value"` and `Selector != "value"` on top-level fields, joined by
 * `and` / `or` (and binds tighter), no parentheses. Anything else: undefined (a 400).
 */
export function parseFilter(expr: string): Predicate | undefined {
  const term = /^\s*([A-Za-z][A-Za-z0-9]*)\s*(==|!=)\s*"((?:[^"\\]|\\.)*)"\s*$/;
  const ors: Predicate[] = [];
  for (const orPart of expr.split(/\s+or\s+/)) {
    const ands: Predicate[] = [];
    for (const t of orPart.split(/\s+and\s+/)) {
      const m = term.exec(t);
      if (!m) return undefined;
      const [, field = '', op, raw = ''] = m;
      const value = JSON.parse(`"${raw}"`) as string;
      ands.push(op === '==' ? (c) => c[field] === value : (c) => c[field] !== value);
    }
    ors.push((c) => ands.every((p) => p(c)));
  }
  return (c) => ors.some((p) => p(c));
}

function parseWait(s: string | null): number | undefined {
  if (!s) return undefined;
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)$/.exec(s);
  if (!m) return undefined;
  return Number(m[1]) * (m[2] === 'ms' ? 1 : m[2] === 's' ? 1000 : 60_000);
}

/** Consul's memdb indexes are lowercase: the node dump and health/service come in this order. */
function byLower(a: string, b: string): number {
  const x = a.toLowerCase();
  const y = b.toLowerCase();
  return x < y ? -1 : x > y ? 1 : 0;
}

/** `xs` sorted by `key(x)` lowercased (each key lowercased once: 10,000 IDs on a node sort in a few ms). */
function sortLower<T>(xs: T[], key: (x: T) => string): T[] {
  return xs.map((x) => [key(x).toLowerCase(), x] as const).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, x]) => x);
}

interface NodeInstances {
  instances: Map<string, Instance>;
  /** Service IDs in Consul's order (case-insensitive). */
  sorted: string[] | undefined;
  /** The node's part of the dump, until a write on the node. */
  part: Buffer | undefined;
}

const OPEN = Buffer.from('[');
const COMMA = Buffer.from(',');
const CLOSE = Buffer.from(']');

function taggedAddresses(n: SimNode): Record<string, string> {
  return { lan: n.Address, lan_ipv4: n.Address, wan: n.Address, wan_ipv4: n.Address };
}

// Shapes as test/sim/consul-sim.ts (and a Consul 1.16 agent) give them.
/** The node dump adds `consul-version` to an agent's node (these nodes all run one: they have serfHealth). */
const DUMP_NODE_META = JSON.stringify({ 'consul-network-segment': '', 'consul-version': '1.16.6' });

/** The agent this simulator plays, with the `consul` service, as Consul's dump has it. */
const AGENT_NODE: SimNode = { Node: 'consul-scale-sim', Address: '127.0.0.1' };

/** serfHealth as the node dump gives it: ServiceTags null (the stored nil), where health endpoints say []. */
function dumpSerfCheck(node: SimNode): string {
  return JSON.stringify({ ...serfCheck(node), ServiceTags: null });
}

function serfCheck(node: SimNode): object {
  return { Node: node.Node, CheckID: 'serfHealth', Name: 'Serf Health Status', Status: 'passing', Notes: '', Output: 'Agent alive and reachable', ServiceID: '', ServiceName: '', ServiceTags: [], Type: '', Interval: '', Timeout: '', ExposedPort: 0, Definition: {}, CreateIndex: 1, ModifyIndex: 1 };
}

function serviceCheck(inst: InstanceData): object {
  return {
    Node: inst.node.Node, CheckID: `service:${inst.service.ID}`, Name: `Service '${inst.service.Service}' check`, Status: inst.status, Notes: '', Output: '',
    ServiceID: inst.service.ID, ServiceName: inst.service.Service, ServiceTags: inst.service.Tags, Type: '', Interval: '', Timeout: '', ExposedPort: 0, Definition: {},
    CreateIndex: inst.createIndex, ModifyIndex: inst.modifyIndex,
  };
}

type InstanceData = Omit<Instance, 'entryJson' | 'checkJson' | 'serviceJson'>;

/** A health entry's Node (the node dump's node has no Datacenter nor indexes). */
function healthNode(inst: InstanceData): object {
  const n = inst.node;
  return {
    ID: '', Node: n.Node, Address: n.Address, Datacenter: 'dc1', TaggedAddresses: taggedAddresses(n),
    Meta: { 'consul-network-segment': '' }, CreateIndex: inst.createIndex, ModifyIndex: inst.modifyIndex,
  };
}

/** The service as a health entry and the node dump both give it. */
function nodeService(inst: InstanceData): object {
  return {
    ID: inst.service.ID, Service: inst.service.Service, Tags: inst.service.Tags, Address: inst.service.Address ?? '', Meta: null, Port: inst.service.Port,
    Weights: { Passing: 1, Warning: 1 }, EnableTagOverride: false, Proxy: { Mode: '', MeshGateway: {}, Expose: {} }, Connect: {}, PeerName: '',
    CreateIndex: inst.createIndex, ModifyIndex: inst.modifyIndex,
  };
}

const AGENT_NODE_BUF = Buffer.from(JSON.stringify({
  ID: '6b0f3c1e-2d4a-4f7b-9e8c-1a2b3c4d5e6f', Node: AGENT_NODE.Node, Address: AGENT_NODE.Address, TaggedAddresses: taggedAddresses(AGENT_NODE),
  Meta: JSON.parse(DUMP_NODE_META) as object,
  Services: [{
    ID: 'consul', Service: 'consul', Tags: null, Address: '',
    Meta: { non_voter: 'false', raft_version: '3', read_replica: 'false', serf_protocol_current: '2', serf_protocol_max: '5', serf_protocol_min: '1', version: '1.16.6' },
    Port: 8300, Weights: { Passing: 1, Warning: 1 }, EnableTagOverride: false, Proxy: { Mode: '', MeshGateway: {}, Expose: {} }, Connect: {}, PeerName: '', CreateIndex: 1, ModifyIndex: 1,
  }],
  Checks: [JSON.parse(dumpSerfCheck(AGENT_NODE)) as object],
}));
