// Keeping the simulator honest: the same scenarios run against test/sim/consul-sim.ts and against a
// real Consul agent (scripts/consul.sh), and must give the same observable answers: which writes
// move which X-Consul-Index, which writes wake which blocking query, what a snapshot restore does
// to a waiting query, the response shapes hapilot reads, and the error codes of bad queries; and the
// node dump (/v1/internal/ui/nodes): its shape and order, its index, and that the entries built from
// it are what /v1/health/service/:name answers.
// The simulator keeps what a real agent cannot be made to do on demand (500s, refusals, slowness).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { ConsulSim, type SimSnapshot } from '../sim/consul-sim.js';
import { RealConsul } from '../helpers/real-consul.js';
import { HealthEntries, CatalogServices, HealthChecks } from '../../src/consul/schemas.js';
import { createConsulClient } from '../../src/consul/client.js';
import { loadConsulConfig } from '../../src/consul/config.js';
import { ConsulSource } from '../../src/catalog/consul-source.js';
import type { CatalogSnapshot } from '../../src/catalog/source.js';
import { testLog } from '../helpers/log.js';

type Status = 'passing' | 'warning' | 'critical';
interface Reg { node: string; id: string; service: string; tags?: string[]; port: number; serviceAddress?: string; status?: Status; weights?: { Passing: number; Warning: number }; checked?: boolean }
interface Answer { status: number; index: number; text: string; json: () => unknown }

interface Target {
  name: string;
  port: number;
  /** An instance registered with the agent (on its node), without a check. */
  agentRegister(id: string, service: string, port: number): Promise<void>;
  /** `consul maint -enable|-disable -service ID` (undefined reason: disable). */
  serviceMaint(id: string, reason: string | undefined): Promise<void>;
  /** `consul maint -enable|-disable` for the agent's node. */
  nodeMaint(reason: string | undefined): Promise<void>;
  get(pathAndQuery: string): Promise<Answer>;
  register(r: Reg): Promise<void>;
  /** A node alone (`PUT /v1/catalog/register` without a service). */
  registerNode(node: string, address: string): Promise<void>;
  /** `PUT /v1/catalog/deregister` with a node only. */
  deregisterNode(node: string): Promise<void>;
  /** A KV write (the simulator has no KV store: nothing moves there, by construction). */
  kvPut(key: string, value: string): Promise<void>;
  deregister(node: string, id: string): Promise<void>;
  setStatus(node: string, id: string, status: Status): Promise<void>;
  save(): Promise<unknown>;
  restore(snapshot: unknown): Promise<void>;
  stop(): Promise<void>;
}

async function simTarget(): Promise<Target> {
  const sim = new ConsulSim();
  await sim.start();
  const AGENT = sim.agentNode;
  return {
    name: 'simulator',
    port: sim.port,
    // As the agent's /v1/agent/service/register with no Tags and no check.
    async agentRegister(id, service, port) { sim.register({ node: AGENT, service: { ID: id, Service: service, Port: port }, checked: false }); },
    async serviceMaint(id, reason) { sim.setMaintenance(AGENT.Node, id, reason); },
    async nodeMaint(reason) { sim.setNodeMaintenance(AGENT.Node, reason); },
    // A new connection per request, as RealConsul.api does (a pooled one would dodge the connection limit).
    get: (p) => new Promise<Answer>((resolve, reject) => {
      http.get({ host: '127.0.0.1', port: sim.port, path: p, agent: false }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => { text += c; });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, index: Number(res.headers['x-consul-index'] ?? 0), text, json: () => JSON.parse(text) as unknown }));
      }).on('error', reject);
    }),
    async register(r) {
      sim.register({ node: { Node: r.node, Address: '127.0.0.1', external: true }, service: { ID: r.id, Service: r.service, Tags: r.tags ?? [], Port: r.port, Address: r.serviceAddress ?? '', ...(r.weights ? { Weights: r.weights } : {}) }, status: r.status ?? 'passing', checked: r.checked ?? true });
    },
    async deregister(node, id) { sim.deregister(node, id); },
    async registerNode(node, address) { sim.registerNode({ Node: node, Address: address, external: true }); },
    async deregisterNode(node) { sim.deregisterNode(node); },
    async kvPut() { /* no KV store in the simulator */ },
    async setStatus(node, id, status) { sim.setStatus(node, id, status); },
    async save() { return sim.saveSnapshot(); },
    async restore(s) { sim.restoreSnapshot(s as SimSnapshot); },
    stop: () => sim.stop(),
  };
}

async function consulTarget(): Promise<Target> {
  const consul = await RealConsul.start();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'hapilot-snap-'));
  let n = 0;
  const cli = async (args: string[]) => { const r = await consul.cli(args); assert.equal(r.code, 0, r.stderr); };
  return {
    name: 'consul',
    port: consul.httpPort,
    async agentRegister(id, service, port) { await consul.ok('PUT', '/v1/agent/service/register', { ID: id, Name: service, Port: port }); },
    serviceMaint: (id, reason) => cli(reason === undefined ? ['maint', '-disable', '-service', id] : ['maint', '-enable', '-service', id, '-reason', reason]),
    nodeMaint: (reason) => cli(reason === undefined ? ['maint', '-disable'] : ['maint', '-enable', '-reason', reason]),
    get: (p) => consul.api('GET', p),
    async register(r) {
      if (r.checked === false) {
        await consul.ok('PUT', '/v1/catalog/register', { Node: r.node, Address: '127.0.0.1', Service: { ID: r.id, Service: r.service, Tags: r.tags ?? [], Port: r.port, Address: r.serviceAddress ?? '', ...(r.weights ? { Weights: r.weights } : {}) } });
        return;
      }
      await consul.register({ node: r.node, id: r.id, service: r.service, tags: r.tags ?? [], port: r.port, serviceAddress: r.serviceAddress ?? '', status: r.status ?? 'passing', ...(r.weights ? { weights: r.weights } : {}) });
    },
    deregister: (node, id) => consul.deregister(node, id),
    async registerNode(node, address) { await consul.ok('PUT', '/v1/catalog/register', { Node: node, Address: address }); },
    async deregisterNode(node) { await consul.ok('PUT', '/v1/catalog/deregister', { Node: node }); },
    async kvPut(key, value) { await consul.ok('PUT', `/v1/kv/${key}`, value); },
    setStatus: (node, id, status) => consul.setStatus(node, id, status),
    async save() {
      const file = path.join(dir, `s${++n}.snap`);
      const r = await consul.cli(['snapshot', 'save', file]);
      assert.equal(r.code, 0, r.stderr);
      return file;
    },
    async restore(file) {
      const r = await consul.cli(['snapshot', 'restore', file as string]);
      assert.equal(r.code, 0, r.stderr);
    },
    async stop() { await consul.destroy(); await rm(dir, { recursive: true, force: true }); },
  };
}

let targets: Target[] = [];

/** Runs a scenario on the simulator and on Consul; asserts both observed the same, returns it. */
async function same<T>(what: string, scenario: (t: Target) => Promise<T>): Promise<T> {
  const [sim, real] = await Promise.all(targets.map((t) => scenario(t)));
  assert.deepEqual(sim, real, `${what}: the simulator (actual) differs from Consul (expected)`);
  return real as T;
}

/** Polls until `fn` holds (the agent syncs its own services and checks to the catalog asynchronously). */
async function until(fn: () => Promise<boolean>, what: string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!await fn()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const DUMP = '/v1/internal/ui/nodes';
const ENDPOINTS = (a: string, b: string) => ({ services: '/v1/catalog/services', checks: '/v1/health/state/any', a: `/v1/health/service/${a}`, b: `/v1/health/service/${b}`, dump: DUMP });

async function indexes(t: Target, a: string, b: string): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const [k, p] of Object.entries(ENDPOINTS(a, b))) out[k] = (await t.get(p)).index;
  return out;
}

/** Which endpoints' X-Consul-Index moved (up, down or not) across `write`. */
async function moved(t: Target, a: string, b: string, write: () => Promise<void>): Promise<Record<string, 'up' | 'down' | 'same'>> {
  const before = await indexes(t, a, b);
  await write();
  const after = await indexes(t, a, b);
  return Object.fromEntries(Object.keys(before).map((k) => [k, after[k]! > before[k]! ? 'up' : after[k]! < before[k]! ? 'down' : 'same']));
}

/** Opens a blocking query at the endpoint's current index; resolves whether it returned before `wait` ran out. */
async function blockingWoken(t: Target, p: string, write: () => Promise<void>, waitS = 4): Promise<{ woke: boolean; indexUp: boolean }> {
  const { index } = await t.get(p);
  const sep = p.includes('?') ? '&' : '?';
  const started = Date.now();
  const pending = t.get(`${p}${sep}index=${index}&wait=${waitS}s`);
  await new Promise((r) => setTimeout(r, 300));
  await write();
  const r = await pending;
  const ms = Date.now() - started;
  return { woke: ms < waitS * 1000 - 500, indexUp: r.index > index };
}

// ---- the node dump (/v1/internal/ui/nodes) ------------------------------------------------------

interface DumpService { ID: string; Service: string; Tags: string[] | null; Address: string; Port: number; Weights: { Passing: number; Warning: number }; ModifyIndex: number }
interface DumpCheck { Node: string; CheckID: string; Status: string; Notes: string; ServiceID: string; ModifyIndex: number }
interface DumpNode { Node: string; Address: string; Services: DumpService[]; Checks: DumpCheck[] }

/** The fields hapilot reads of a health entry, as a health/service answer or the node dump gives them. */
function projectEntry(node: { Node: string; Address: string }, s: DumpService, checks: DumpCheck[]) {
  return {
    Node: { Node: node.Node, Address: node.Address },
    // The dump gives Tags as stored (null when none were given), health/service gives [].
    Service: { ID: s.ID, Service: s.Service, Tags: s.Tags ?? [], Address: s.Address, Port: s.Port, Weights: s.Weights, ModifyIndex: s.ModifyIndex },
    Checks: checks.map((c) => ({ Node: c.Node, CheckID: c.CheckID, Status: c.Status, Notes: c.Notes, ServiceID: c.ServiceID, ModifyIndex: c.ModifyIndex })),
  };
}

/**
 * The entries of `/v1/health/service/:name` built from the node dump: each instance of the service,
 * nodes in the dump's order (services sorted by ID within a node), with the node's own checks
 * (ServiceID "") and then that instance's checks, each group in the dump's CheckID order.
 */
function entriesFromDump(dump: DumpNode[], service: string): Array<ReturnType<typeof projectEntry>> {
  const out: Array<ReturnType<typeof projectEntry>> = [];
  for (const n of dump) {
    for (const s of n.Services) {
      if (s.Service !== service) continue;
      out.push(projectEntry(n, s, [...n.Checks.filter((c) => c.ServiceID === ''), ...n.Checks.filter((c) => c.ServiceID === s.ID)]));
    }
  }
  return out;
}

/** health/service/:name and the node dump read at the same index (read again while a write slipped in between). */
async function dumpAndHealth(t: Target, services: string[]): Promise<{ dump: DumpNode[]; index: number; health: Record<string, Array<ReturnType<typeof projectEntry>>> }> {
  for (let attempt = 0; ; attempt++) {
    const first = await t.get(DUMP);
    const health: Record<string, Array<ReturnType<typeof projectEntry>>> = {};
    for (const name of services) {
      const entries = (await t.get(`/v1/health/service/${name}`)).json() as Array<{ Node: DumpNode; Service: DumpService; Checks: DumpCheck[] }>;
      health[name] = entries.map((e) => projectEntry(e.Node, e.Service, e.Checks));
    }
    const second = await t.get(DUMP);
    if (second.index === first.index || attempt >= 20) return { dump: second.json() as DumpNode[], index: second.index, health };
  }
}

/** A dump node with its indexes replaced by what they are relative to the dump's index (the raw numbers differ between targets). */
function normalizeDumpNode(n: Record<string, unknown>, index: number): unknown {
  const rel = (v: unknown) => (typeof v === 'number' && v > 0 && v <= index ? 'valid' : `bad:${String(v)}`);
  const fix = (o: Record<string, unknown>) => Object.fromEntries(Object.entries(o).map(([k, v]) => [k, k === 'CreateIndex' || k === 'ModifyIndex' ? rel(v) : v]));
  return { ...n, Services: (n.Services as Array<Record<string, unknown>>).map(fix), Checks: (n.Checks as Array<Record<string, unknown>>).map(fix) };
}

const isDumpTestNode = (n: { Node: string }) => n.Node.toLowerCase().startsWith('dmp-');

describe('conformance: simulator vs real Consul', { concurrency: false }, () => {
  before(async () => {
    targets = await Promise.all([simTarget(), consulTarget()]);
  });
  after(async () => {
    await Promise.all(targets.map((t) => t.stop()));
  });

  test('every answer carries an X-Consul-Index >= 1; an unknown service is an empty list', async () => {
    await same('indexes present', async (t) => {
      const out: Array<[string, number, boolean, string]> = [];
      for (const p of ['/v1/catalog/services', '/v1/health/state/any', '/v1/health/service/no-such-service', '/v1/health/state/critical']) {
        const r = await t.get(p);
        out.push([p, r.status, r.index >= 1, p.includes('no-such') ? r.text.trim() : '']);
      }
      return out;
    });
  });

  test('error codes: bad wait, bad index, stale with consistent', async () => {
    const answers = await same('error answers', async (t) => {
      const out: Array<[string, number, string]> = [];
      for (const q of ['wait=abc', 'wait=10', 'index=abc', 'index=-1', 'stale&consistent', 'stale=&consistent=']) {
        const r = await t.get(`/v1/catalog/services?${q}`);
        out.push([q, r.status, r.text.trim()]);
      }
      const r = await t.get('/v1/health/service/web?index=1&wait=xyz');
      out.push(['health/service wait=xyz', r.status, r.text.trim()]);
      return out;
    });
    assert.ok(answers.every(([, status]) => status === 400), JSON.stringify(answers));
  });

  test('which writes move which index (services table, checks table, per service)', async () => {
    const a = 'conf-a';
    const b = 'conf-b';
    const result = await same('index movement', async (t) => {
      await t.register({ node: 'conf-n2', id: 'b1', service: b, tags: ['x'], port: 2000 });
      const out: Record<string, unknown> = {};
      out.register = await moved(t, a, b, () => t.register({ node: 'conf-n1', id: 'a1', service: a, tags: ['x'], port: 1000 }));
      out.secondInstance = await moved(t, a, b, () => t.register({ node: 'conf-n3', id: 'a2', service: a, tags: ['x'], port: 1001 }));
      out.flip = await moved(t, a, b, () => t.setStatus('conf-n1', 'a1', 'critical'));
      out.flipSame = await moved(t, a, b, () => t.setStatus('conf-n1', 'a1', 'critical'));
      out.reregisterIdentical = await moved(t, a, b, () => t.register({ node: 'conf-n1', id: 'a1', service: a, tags: ['x'], port: 1000, status: 'critical' }));
      out.retag = await moved(t, a, b, () => t.register({ node: 'conf-n1', id: 'a1', service: a, tags: ['x', 'y'], port: 1000, status: 'critical' }));
      out.readdress = await moved(t, a, b, () => t.register({ node: 'conf-n1', id: 'a1', service: a, tags: ['x', 'y'], port: 1000, serviceAddress: '10.1.1.1', status: 'critical' }));
      out.deregister = await moved(t, a, b, () => t.deregister('conf-n3', 'a2'));
      out.deregisterLast = await moved(t, a, b, () => t.deregister('conf-n1', 'a1'));
      return out;
    });
    // The rules hapilot's watcher relies on.
    assert.deepEqual(result.flip, { services: 'same', checks: 'up', a: 'up', b: 'same', dump: 'up' }, 'a check flip: checks and the service, not the services table');
    assert.equal((result.register as Record<string, string>).services, 'up');
    assert.equal((result.register as Record<string, string>).checks, 'up');
  });

  test('blocking queries: which writes wake catalog/services, health/state/any and health/service/:name', async () => {
    const s = 'conf-block';
    const result = await same('wake-ups', async (t) => {
      await t.register({ node: 'blk-n1', id: 'k1', service: s, tags: ['t'], port: 3000 });
      const out: Record<string, unknown> = {};
      let st: Status = 'critical';
      const flip = () => { const w = t.setStatus('blk-n1', 'k1', st); st = st === 'critical' ? 'passing' : 'critical'; return w; };
      out.flipServices = await blockingWoken(t, '/v1/catalog/services', flip);
      out.flipChecks = await blockingWoken(t, '/v1/health/state/any', flip);
      out.flipService = await blockingWoken(t, `/v1/health/service/${s}`, flip);
      out.flipOtherService = await blockingWoken(t, '/v1/health/service/conf-b', flip);
      let n = 1;
      const add = () => t.register({ node: `blk-n${++n}`, id: `k${n}`, service: s, tags: ['t'], port: 3000 + n });
      out.registerServices = await blockingWoken(t, '/v1/catalog/services', add);
      out.registerChecks = await blockingWoken(t, '/v1/health/state/any', add);
      out.registerService = await blockingWoken(t, `/v1/health/service/${s}`, add);
      out.nothingServices = await blockingWoken(t, '/v1/catalog/services', async () => undefined, 2);
      return out;
    });
    assert.deepEqual(result.flipServices, { woke: false, indexUp: false }, 'a check flip does not wake catalog/services');
    assert.deepEqual(result.flipChecks, { woke: true, indexUp: true });
    assert.deepEqual(result.registerServices, { woke: true, indexUp: true });
    assert.deepEqual(result.registerChecks, { woke: true, indexUp: true });
    assert.deepEqual(result.nothingServices, { woke: false, indexUp: false }, 'wait expiry: same index');
  });

  test('a blocking query returns no later than wait + wait/16 (plus scheduling) with the same index', async () => {
    await same('wait bound', async (t) => {
      const { index } = await t.get('/v1/health/state/any');
      const started = Date.now();
      const r = await t.get(`/v1/health/state/any?index=${index}&wait=1600ms`);
      const ms = Date.now() - started;
      return { atLeastWait: ms >= 1550, withinJitter: ms <= 1600 + 100 + 1500, sameIndex: r.index === index };
    });
  });

  test('snapshot restore: waiting queries return at once with the old answer; the index then goes backwards; a query above it waits its whole wait; later writes move it past the old index', async () => {
    const result = await same('snapshot restore', async (t) => {
      await t.register({ node: 'snap-n1', id: 's1', service: 'conf-snap', tags: ['t'], port: 4000 });
      const snap = await t.save();
      await t.register({ node: 'snap-n1', id: 's2', service: 'conf-snap-after', tags: ['t'], port: 4001 });
      const before = await t.get('/v1/catalog/services');
      const beforeChecks = await t.get('/v1/health/state/any');
      const started = Date.now();
      const pending = t.get(`/v1/catalog/services?index=${before.index}&wait=20s`);
      const pendingChecks = t.get(`/v1/health/state/any?index=${beforeChecks.index}&wait=20s`);
      await new Promise((r) => setTimeout(r, 300));
      await t.restore(snap);
      const [woken, wokenChecks] = await Promise.all([pending, pendingChecks]);
      const ms = Date.now() - started;
      const now = await t.get('/v1/catalog/services');
      const body = now.json() as Record<string, unknown>;
      const blockStarted = Date.now();
      const stuck = await t.get(`/v1/catalog/services?index=${before.index}&wait=1500ms`);
      const stuckMs = Date.now() - blockStarted;
      await t.register({ node: 'snap-n1', id: 's3', service: 'conf-snap-later', tags: ['t'], port: 4002 });
      const later = await t.get('/v1/catalog/services');
      return {
        wokenPromptly: ms < 10_000,
        wokenWithTheOldIndex: woken.index === before.index && wokenChecks.index === beforeChecks.index,
        wokenWithTheOldContent: 'conf-snap-after' in (woken.json() as object),
        thenIndexWentBack: now.index < before.index,
        thenRestoredContent: 'conf-snap' in body && !('conf-snap-after' in body),
        aboveTheIndexWaitsTheWholeWait: stuckMs >= 1450,
        andAnswersTheLowerIndex: stuck.index === now.index,
        laterWriteAbovePreRestore: later.index > before.index,
      };
    });
    assert.ok(Object.values(result).every((v) => v === true), JSON.stringify(result));
  });

  test('maintenance: the agent\'s _service_maintenance and _node_maintenance checks, and what they move', async () => {
    const result = await same('maintenance', async (t) => {
      const maintChecks = async () => {
        const entries = HealthEntries.parse((await t.get('/v1/health/service/conf-maint')).json());
        return (entries[0]?.Checks ?? []).filter((c) => c.CheckID.includes('maintenance'))
          .map((c) => ({ CheckID: c.CheckID, Name: c.Name, Status: c.Status, Notes: c.Notes, Type: (c as { Type?: string }).Type, ServiceID: c.ServiceID, ServiceName: c.ServiceName }))
          .sort((x, y) => x.CheckID.localeCompare(y.CheckID));
      };
      await t.agentRegister('maint-1', 'conf-maint', 6000);
      await until(async () => HealthEntries.parse((await t.get('/v1/health/service/conf-maint')).json()).length === 1, 'maint-1 in the catalog');
      const out: Record<string, unknown> = {};
      out.serviceMaintMoves = await moved(t, 'conf-maint', 'conf-b', async () => {
        await t.serviceMaint('maint-1', 'because');
        await until(async () => (await maintChecks()).length === 1, 'service maintenance check');
      });
      out.serviceMaint = await maintChecks();
      await t.nodeMaint('node work');
      await until(async () => (await maintChecks()).length === 2, 'node maintenance check');
      out.bothMaint = await maintChecks();
      await t.serviceMaint('maint-1', undefined);
      await t.nodeMaint(undefined);
      await until(async () => (await maintChecks()).length === 0, 'maintenance over');
      return out;
    });
    assert.deepEqual(result.serviceMaintMoves, { services: 'same', checks: 'up', a: 'up', b: 'same', dump: 'up' });
    assert.deepEqual((result.bothMaint as Array<{ CheckID: string }>).map((c) => c.CheckID), ['_node_maintenance', '_service_maintenance:maint-1']);
  });

  test('connection limit: past 200 concurrent connections from one address, Consul answers 429', async () => {
    const result = await same('connection limit', async (t) => {
      const sockets: net.Socket[] = [];
      try {
        for (let i = 0; i < 205; i++) sockets.push(net.connect(t.port, '127.0.0.1').on('error', () => undefined));
        await new Promise((r) => setTimeout(r, 500));
        const over = await t.get('/v1/catalog/services');
        return { over: [over.status, over.text.trim()] };
      } finally {
        for (const s of sockets) s.destroy();
        await new Promise((r) => setTimeout(r, 500));
      }
    });
    assert.equal((result.over as [number, string])[0], 429);
    await same('after the connections closed', async (t) => (await t.get('/v1/catalog/services')).status);
  });

  test('response shapes: the fields hapilot reads, with the same values', async () => {
    const keys = (o: unknown) => Object.keys(o as object).sort();
    const shapes: Array<{ services: unknown; entryKeys: Record<string, string[]>; values: unknown; checks: unknown }> = [];
    for (const t of targets) {
      await t.register({ node: 'shape-n1', id: 'shape-1', service: 'conf-shape', tags: ['HAPROXY.ENABLE=true', 'b-tag', 'a-tag'], port: 5000, serviceAddress: '10.2.2.2' });
      await t.register({ node: 'shape-n2', id: 'shape-2', service: 'conf-shape', tags: ['HAPROXY.ENABLE=true', 'c-tag'], port: 5001, status: 'warning' });
      const services = CatalogServices.parse((await t.get('/v1/catalog/services')).json());
      const entries = HealthEntries.parse((await t.get('/v1/health/service/conf-shape')).json());
      const checks = HealthChecks.parse((await t.get('/v1/health/state/any')).json()).filter((c) => c.ServiceName === 'conf-shape');
      const e = entries[0]!;
      shapes.push({
        // Consul builds each service's tag list from a Go map: the order is not stable, compare as sets.
        services: { 'conf-shape': [...services['conf-shape'] ?? []].sort(), consul: services.consul },
        entryKeys: { Node: keys(e.Node), Service: keys(e.Service), Check: keys(e.Checks![0]), Weights: keys(e.Service.Weights) },
        values: entries.map((x) => ({ node: x.Node.Node, address: x.Node.Address, id: x.Service.ID, tags: x.Service.Tags, sAddress: x.Service.Address, port: x.Service.Port, weights: x.Service.Weights, checks: x.Checks!.map((c) => [c.CheckID, c.Status, c.ServiceID]) })),
        checks: checks.map((c) => [c.Node, c.CheckID, c.Status, c.ServiceID, c.ServiceName]).sort(),
      });
    }
    const [sim, real] = shapes as [typeof shapes[0], typeof shapes[0]];
    assert.deepEqual(sim.services, real.services, 'catalog/services');
    assert.deepEqual(sim.values, real.values, 'health/service values');
    assert.deepEqual(sim.checks, real.checks, 'health/state/any values');
    for (const part of Object.keys(sim.entryKeys)) {
      const missing = sim.entryKeys[part]!.filter((k) => !real.entryKeys[part]!.includes(k));
      assert.deepEqual(missing, [], `${part}: fields the simulator invents`);
      const absent = real.entryKeys[part]!.filter((k) => !sim.entryKeys[part]!.includes(k));
      assert.deepEqual(absent, [], `${part}: fields Consul has and the simulator lacks`);
    }
  });
  test('weights and instances without checks: which indexes move; a check\'s ModifyIndex is the write that changed it', async () => {
    const result = await same('weights and bare instances', async (t) => {
      await t.register({ node: 'cw', id: 'cw-1', service: 'conf-w', port: 80 });
      await t.register({ node: 'cw', id: 'cx-1', service: 'conf-x', port: 80 });
      const weight = await moved(t, 'conf-w', 'conf-x', () => t.register({ node: 'cw', id: 'cw-1', service: 'conf-w', port: 80, weights: { Passing: 5, Warning: 1 } }));
      const bare = await moved(t, 'conf-w', 'conf-x', () => t.register({ node: 'cw', id: 'cw-bare', service: 'conf-w', port: 81, checked: false }));
      const bareGone = await moved(t, 'conf-w', 'conf-x', () => t.deregister('cw', 'cw-bare'));
      await t.setStatus('cw', 'cw-1', 'critical');
      const checks = await t.get('/v1/health/state/any');
      const flipped = (checks.json() as Array<{ CheckID: string; ModifyIndex: number }>).find((c) => c.CheckID === 'service:cw-1');
      return { weight, bare, bareGone, flippedCheckModifyIndexIsTheTablesIndex: flipped?.ModifyIndex === checks.index };
    });
    // What the Consul source relies on (src/catalog/consul-source.ts): a weight change and a bare
    // registration are invisible to the checks list; a check changed by a write carries its index.
    assert.deepEqual(result.weight, { services: 'up', checks: 'same', a: 'up', b: 'same', dump: 'up' });
    assert.deepEqual(result.bare, { services: 'up', checks: 'same', a: 'up', b: 'same', dump: 'up' });
    assert.deepEqual(result.bareGone, { services: 'up', checks: 'up', a: 'up', b: 'same', dump: 'up' });
    assert.equal(result.flippedCheckModifyIndexIsTheTablesIndex, true);
  });

  test('the checks-index probe: /v1/health/node/<a node that does not exist> answers [] under the checks list\'s own index after every kind of write; a real node gets its checks', async () => {
    const result = await same('checks-index probe', async (t) => {
      const probe = '/v1/health/node/hapilot-index-probe';
      const out: Record<string, unknown> = {};
      const writes: Record<string, () => Promise<void>> = {
        register: () => t.register({ node: 'pr-n1', id: 'pr-1', service: 'conf-pr', port: 80 }),
        flip: () => t.setStatus('pr-n1', 'pr-1', 'critical'),
        weight: () => t.register({ node: 'pr-n1', id: 'pr-1', service: 'conf-pr', port: 80, status: 'critical', weights: { Passing: 3, Warning: 1 } }),
        bare: () => t.register({ node: 'pr-n1', id: 'pr-bare', service: 'conf-pr', port: 81, checked: false }),
        bareGone: () => t.deregister('pr-n1', 'pr-bare'),
        nodeOnly: () => t.registerNode('pr-n2', '127.0.0.2'),
        kv: () => t.kvPut('hapilot/conformance/probe', 'x'),
        deregister: () => t.deregister('pr-n1', 'pr-1'),
      };
      for (const [name, write] of Object.entries(writes)) {
        await write();
        const [p, list] = [await t.get(probe), await t.get('/v1/health/state/any')];
        out[name] = { body: p.json(), sameIndexAsTheList: p.index === list.index };
      }
      await t.register({ node: 'pr-n3', id: 'pr-3', service: 'conf-pr', port: 80 });
      type Check = { CheckID: string; Node: string; ServiceName: string };
      const ids = (cs: Check[]) => cs.map((c) => [c.Node, c.CheckID, c.ServiceName]);
      const real = ids((await t.get('/v1/health/node/pr-n3')).json() as Check[]);
      out.realNode = { checks: real, asInTheList: JSON.stringify(real) === JSON.stringify(ids(((await t.get('/v1/health/state/any')).json() as Check[]).filter((c) => c.Node === 'pr-n3'))) };
      return out;
    });
    for (const name of ['register', 'flip', 'weight', 'bare', 'bareGone', 'nodeOnly', 'kv', 'deregister']) {
      assert.deepEqual(result[name], { body: [], sameIndexAsTheList: true }, name);
    }
    assert.deepEqual(result.realNode, { checks: [['pr-n3', 'service:pr-3', 'conf-pr']], asInTheList: true });
  });

  test('an index move no row shows: deregistering an instance without checks moves the checks index, wakes no held health/state query (it answers its start index at the end of its wait), and wakes the others', async () => {
    const result = await same('index-only move', async (t) => {
      await t.register({ node: 'io-n1', id: 'io-1', service: 'conf-io', port: 1 });
      const out: Record<string, unknown> = {};
      for (const [k, p] of Object.entries({ checks: '/v1/health/state/any', critical: '/v1/health/state/critical', services: '/v1/catalog/services', service: '/v1/health/service/conf-io', dump: DUMP })) {
        await t.register({ node: 'io-n1', id: 'io-bare', service: 'conf-io', port: 2, checked: false });
        const { index } = await t.get(p);
        const started = Date.now();
        const pending = t.get(`${p}?index=${index}&wait=2s`);
        await new Promise((r) => setTimeout(r, 300));
        await t.deregister('io-n1', 'io-bare');
        const r = await pending;
        const now = await t.get(p);
        out[k] = { woke: Date.now() - started < 1500, answeredIndex: r.index === index ? 'start' : r.index === now.index ? 'current' : 'other', indexMoved: now.index > index };
      }
      // A later check write wakes a health/state query held across such a move.
      await t.register({ node: 'io-n1', id: 'io-bare', service: 'conf-io', port: 2, checked: false });
      const { index } = await t.get('/v1/health/state/any');
      const pending = t.get(`/v1/health/state/any?index=${index}&wait=4s`);
      await new Promise((r) => setTimeout(r, 300));
      await t.deregister('io-n1', 'io-bare');
      await new Promise((r) => setTimeout(r, 300));
      const started = Date.now();
      await t.setStatus('io-n1', 'io-1', 'critical');
      const r = await pending;
      out.laterFlip = { woke: Date.now() - started < 1500, indexUp: r.index > index };
      return out;
    });
    assert.deepEqual(result.checks, { woke: false, answeredIndex: 'start', indexMoved: true }, 'health/state/any');
    assert.deepEqual(result.services, { woke: true, answeredIndex: 'current', indexMoved: true }, 'catalog/services');
    assert.deepEqual(result.dump, { woke: true, answeredIndex: 'current', indexMoved: true }, 'the node dump');
    assert.deepEqual(result.laterFlip, { woke: true, indexUp: true });
  });

  test('the Consul source sees the same changes, each naming exactly its service, on both', async () => {
    const result = await same('Consul source', async (t) => {
      const consul = createConsulClient(loadConsulConfig({ flagUrl: `http://127.0.0.1:${t.port}`, env: {} }));
      const snapshots: CatalogSnapshot[] = [];
      let fullResyncs = 0;
      const source = new ConsulSource({ consul, log: testLog, wait: '30s', onFullResync: () => { fullResyncs += 1; } });
      const ENABLE = ['HAPROXY.ENABLE=true'];
      const steps: Array<{ step: string; changed: string[]; fullResyncs: number }> = [];
      try {
        for (const s of ['a', 'b', 'c', 'd', 'e']) await t.register({ node: 'src1', id: `src-${s}-1`, service: `src-${s}`, tags: ENABLE, port: 80 });
        source.start((s) => snapshots.push(s));
        await until(async () => snapshots.length > 0, 'first snapshot');
        const step = async (name: string, write: () => Promise<void>, seen: (s: CatalogSnapshot) => boolean) => {
          const n = snapshots.length;
          const f = fullResyncs;
          await write();
          await until(async () => snapshots.slice(n).some(seen), name);
          await new Promise((r) => setTimeout(r, 600));
          steps.push({ step: name, changed: [...new Set(snapshots.slice(n).flatMap((s) => s.changed ?? []))].sort(), fullResyncs: fullResyncs - f });
        };
        const has = (s: CatalogSnapshot, id: string) => s.entries.some((e) => e.Service.ID === id);
        await step('registration', () => t.register({ node: 'src2', id: 'src-a-2', service: 'src-a', tags: ENABLE, port: 81 }), (s) => has(s, 'src-a-2'));
        await step('flip', () => t.setStatus('src1', 'src-b-1', 'critical'), (s) => s.entries.some((e) => e.Service.ID === 'src-b-1' && e.Checks?.some((c) => c.Status === 'critical')));
        await step('deregistration', () => t.deregister('src2', 'src-a-2'), (s) => !has(s, 'src-a-2'));
        await step('weight', () => t.register({ node: 'src1', id: 'src-c-1', service: 'src-c', tags: ENABLE, port: 80, weights: { Passing: 4, Warning: 1 } }), (s) => s.entries.some((e) => e.Service.ID === 'src-c-1' && e.Service.Weights?.Passing === 4));
        await step('bare registration', () => t.register({ node: 'src1', id: 'src-d-bare', service: 'src-d', tags: ENABLE, port: 82, checked: false }), (s) => has(s, 'src-d-bare'));
        await step('bare deregistration', () => t.deregister('src1', 'src-d-bare'), (s) => !has(s, 'src-d-bare'));
        return steps;
      } finally {
        await source.stop();
        consul.close();
      }
    });
    assert.deepEqual(result.map((s) => [s.step, s.changed.join(), s.fullResyncs]), [
      ['registration', 'src-a', 0], ['flip', 'src-b', 0], ['deregistration', 'src-a', 0],
      ['weight', 'src-c', 1], ['bare registration', 'src-d', 1], ['bare deregistration', 'src-d', 1],
    ]);
  });
  test('node dump: the agent answers /v1/internal/ui/nodes with the UI disabled; field set and order, value and order of nodes, services and checks', async () => {
    const result = await same('node dump shape', async (t) => {
      await t.register({ node: 'dmp-b', id: 'dmp-b1', service: 'dmp-web', tags: ['x', 'a'], port: 7001 });
      await t.register({ node: 'dmp-A', id: 'dmp-a2', service: 'dmp-web', tags: [], port: 7002, weights: { Passing: 5, Warning: 2 }, status: 'warning' });
      await t.register({ node: 'dmp-A', id: 'Dmp-a1', service: 'dmp-api', port: 7003, serviceAddress: '10.3.3.3' });
      await t.register({ node: 'dmp-A', id: 'dmp-bare', service: 'dmp-api', port: 7004, checked: false });
      await t.registerNode('dmp-empty', '10.9.9.9');
      await t.registerNode('dmp-c', '127.0.0.1');
      await t.agentRegister('dmp-agent-1', 'dmp-web', 7005);
      await until(async () => (await t.get('/v1/health/service/dmp-web')).text.includes('dmp-agent-1'), 'dmp-agent-1 in the catalog');
      const r = await t.get(DUMP);
      const dump = r.json() as Array<Record<string, unknown>>;
      const agent = dump.find((n) => (n.Services as DumpService[]).some((s) => s.ID === 'dmp-agent-1'))!;
      const keys = (o: unknown) => Object.keys(o as object);
      const names = dump.map((n) => n.Node as string);
      return {
        status: r.status,
        indexIsTheMaxModifyIndex: dump.flatMap((n) => [...n.Services as DumpService[], ...n.Checks as DumpCheck[]]).every((x) => x.ModifyIndex <= r.index),
        nodeKeys: [...new Set(dump.map((n) => keys(n).join()))],
        serviceKeys: [...new Set(dump.flatMap((n) => (n.Services as object[]).map((x) => keys(x).join())))],
        checkKeys: [...new Set(dump.flatMap((n) => (n.Checks as object[]).map((x) => keys(x).join())))],
        nodesSortedCaseInsensitively: names.every((n, i) => i === 0 || names[i - 1]!.toLowerCase() < n.toLowerCase()),
        testNodes: dump.filter((n) => isDumpTestNode(n as { Node: string })).map((n) => normalizeDumpNode(n, r.index)),
        agent: {
          hasID: /^[0-9a-f-]{36}$/.test(agent.ID as string), address: agent.Address, taggedAddresses: agent.TaggedAddresses, meta: agent.Meta,
          services: (agent.Services as DumpService[]).map((s) => [s.ID, s.Service, s.Tags]),
          consulService: keys((agent.Services as Array<{ ID: string; Meta: object }>).find((s) => s.ID === 'consul')?.Meta ?? {}),
          checks: (agent.Checks as Array<DumpCheck & { ServiceTags: unknown }>).map((c) => [c.CheckID, c.Status, c.ServiceID, c.ServiceTags]),
        },
      };
    });
    // What the lead's client relies on (recorded from Consul 1.16.6; the simulator must follow).
    assert.equal(result.status, 200);
    assert.equal(result.indexIsTheMaxModifyIndex, true);
    assert.deepEqual(result.nodeKeys, ['ID,Node,Address,TaggedAddresses,Meta,Services,Checks'], 'no Datacenter, no node indexes');
    assert.deepEqual((result.testNodes as DumpNode[]).map((n) => n.Node), ['dmp-A', 'dmp-b', 'dmp-c', 'dmp-empty']);
    assert.deepEqual((result.testNodes as DumpNode[])[0]!.Services.map((s) => s.ID), ['Dmp-a1', 'dmp-a2', 'dmp-bare'], 'services by ID, case-insensitively');
    assert.deepEqual((result.testNodes as DumpNode[]).find((n) => n.Node === 'dmp-empty'), { ID: '', Node: 'dmp-empty', Address: '10.9.9.9', TaggedAddresses: null, Meta: null, Services: [], Checks: [] });
    assert.deepEqual(result.agent.services.find(([id]) => id === 'dmp-agent-1'), ['dmp-agent-1', 'dmp-web', null], 'an agent registration without tags: Tags null in the dump');
  });

  test('node dump: for every service, the entries built from the dump are what /v1/health/service/:name answers (maintenance included)', async () => {
    const result = await same('node dump vs health/service', async (t) => {
      const services = ['dmp-web', 'dmp-api', 'dmp-none'];
      const compare = async () => {
        const { dump, health } = await dumpAndHealth(t, services);
        // The agent's own node is named differently on each target.
        const agent = dump.find((n) => n.Services.some((s) => s.ID === 'consul'))?.Node;
        const name = (n: string) => (n === agent ? '<agent>' : n);
        return Object.fromEntries(services.map((svc) => {
          const built = entriesFromDump(dump, svc);
          const strip = (es: typeof built) => es.map((e) => ({ Node: { ...e.Node, Node: name(e.Node.Node) }, Service: { ...e.Service, ModifyIndex: 0 }, Checks: e.Checks.map((c) => ({ ...c, Node: name(c.Node), ModifyIndex: 0 })) }));
          return [svc, { equal: JSON.stringify(built) === JSON.stringify(health[svc]), built: strip(built), health: strip(health[svc]!) }];
        }));
      };
      const out: Record<string, unknown> = {};
      out.plain = await compare();
      await t.setStatus('dmp-b', 'dmp-b1', 'critical');
      out.flipped = await compare();
      await t.serviceMaint('dmp-agent-1', 'dump test');
      await t.nodeMaint('dump node work');
      await until(async () => { const x = (await t.get('/v1/health/service/dmp-web')).text; return x.includes('_node_maintenance') && x.includes('_service_maintenance:dmp-agent-1'); }, 'maintenance checks');
      out.maintenance = await compare();
      await t.serviceMaint('dmp-agent-1', undefined);
      await t.nodeMaint(undefined);
      await until(async () => !(await t.get('/v1/health/service/dmp-web')).text.includes('maintenance'), 'maintenance over');
      await t.setStatus('dmp-b', 'dmp-b1', 'passing');
      return out;
    });
    for (const [step, perService] of Object.entries(result)) {
      for (const [name, r] of Object.entries(perService as Record<string, { equal: boolean; built: unknown; health: unknown }>)) {
        assert.deepEqual(r.built, r.health, `${step}/${name}: entries from the dump differ from health/service`);
        assert.equal(r.equal, true, `${step}/${name}: the ModifyIndexes differ`);
      }
    }
    const agentEntry = (result.maintenance as Record<string, { built: Array<ReturnType<typeof projectEntry>> }>)['dmp-web']!.built.find((e) => e.Service.ID === 'dmp-agent-1')!;
    assert.deepEqual(agentEntry.Checks.map((c) => c.CheckID), ['_node_maintenance', 'serfHealth', '_service_maintenance:dmp-agent-1'], 'node checks first, then the instance\'s');
  });

  test('node dump: its index is the max of the nodes, services and checks tables; blocking on it wakes for each of them, not for KV', async () => {
    const result = await same('node dump index', async (t) => {
      await t.register({ node: 'dmpi-n1', id: 'dmpi-1', service: 'dmpi-a', port: 1 });
      await t.register({ node: 'dmpi-n1', id: 'dmpi-b1', service: 'dmpi-b', port: 1 });
      const m = (w: () => Promise<void>) => moved(t, 'dmpi-a', 'dmpi-b', w);
      const out: Record<string, unknown> = {};
      out.register = await m(() => t.register({ node: 'dmpi-n2', id: 'dmpi-2', service: 'dmpi-a', port: 2 }));
      out.identical = await m(() => t.register({ node: 'dmpi-n2', id: 'dmpi-2', service: 'dmpi-a', port: 2 }));
      out.flip = await m(() => t.setStatus('dmpi-n2', 'dmpi-2', 'critical'));
      out.weight = await m(() => t.register({ node: 'dmpi-n2', id: 'dmpi-2', service: 'dmpi-a', port: 2, status: 'critical', weights: { Passing: 7, Warning: 1 } }));
      out.kv = await m(() => t.kvPut('dmpi/k', 'v'));
      out.nodeOnly = await m(() => t.registerNode('dmpi-empty', '10.8.8.8'));
      out.nodeAddress = await m(() => t.registerNode('dmpi-empty', '10.8.8.9'));
      out.nodeGone = await m(() => t.deregisterNode('dmpi-empty'));
      out.deregister = await m(() => t.deregister('dmpi-n2', 'dmpi-2'));
      const flipBack = (() => { let st: Status = 'critical'; return () => { const w = t.setStatus('dmpi-n1', 'dmpi-1', st); st = st === 'passing' ? 'critical' : 'passing'; return w; }; })();
      out.wakeFlip = await blockingWoken(t, DUMP, () => flipBack().then(() => undefined));
      let w = 1;
      out.wakeWeight = await blockingWoken(t, DUMP, () => t.register({ node: 'dmpi-n1', id: 'dmpi-1', service: 'dmpi-a', port: 1, status: 'passing', weights: { Passing: ++w, Warning: 1 } }));
      out.wakeNode = await blockingWoken(t, DUMP, () => t.registerNode('dmpi-empty2', '10.8.8.7'));
      out.wakeKv = await blockingWoken(t, DUMP, () => t.kvPut('dmpi/k', 'w'), 2);
      out.wakeNothing = await blockingWoken(t, DUMP, async () => undefined, 2);
      const { index } = await t.get(DUMP);
      const started = Date.now();
      const above = await t.get(`${DUMP}?index=${index + 1000}&wait=1s`);
      out.aboveWaitsTheWholeWait = { waited: Date.now() - started >= 950, sameIndex: above.index === index };
      return out;
    });
    assert.deepEqual(result.flip, { services: 'same', checks: 'up', a: 'up', b: 'same', dump: 'up' });
    assert.deepEqual(result.weight, { services: 'up', checks: 'same', a: 'up', b: 'same', dump: 'up' });
    assert.deepEqual(result.identical, { services: 'same', checks: 'same', a: 'same', b: 'same', dump: 'same' });
    assert.equal((result.kv as Record<string, string>).dump, 'same');
    assert.equal((result.nodeOnly as Record<string, string>).dump, 'up');
    assert.equal((result.deregister as Record<string, string>).dump, 'up');
    assert.deepEqual(result.wakeFlip, { woke: true, indexUp: true });
    assert.deepEqual(result.wakeWeight, { woke: true, indexUp: true });
    assert.deepEqual(result.wakeNode, { woke: true, indexUp: true });
    assert.deepEqual(result.wakeKv, { woke: false, indexUp: false });
    assert.deepEqual(result.wakeNothing, { woke: false, indexUp: false });
  });

  test('node dump: ?filter= (a node selector, a service one) and the 500 of a bad filter; bad wait/index are 400s', async () => {
    const result = await same('node dump filter', async (t) => {
      await t.register({ node: 'dmpf-1', id: 'dmpf-a', service: 'dmpf-x', port: 1 });
      await t.register({ node: 'dmpf-2', id: 'dmpf-b', service: 'dmpf-y', port: 1 });
      const names = async (q: string) => {
        const r = await t.get(`${DUMP}?filter=${encodeURIComponent(q)}`);
        return [r.status, (r.json() as DumpNode[]).map((n) => n.Node).filter((n) => n.startsWith('dmpf-'))];
      };
      const err = async (q: string) => {
        const r = await t.get(`${DUMP}?${q}`);
        return [r.status, r.text.trim().split(':')[0], r.index];
      };
      return {
        node: await names('Node == "dmpf-2"'),
        notNode: await names('Node != "dmpf-2"'),
        service: await names('Services.Service contains "dmpf-x"'),
        either: await names('Node == "dmpf-1" or Node == "dmpf-2"'),
        syntax: await err(`filter=${encodeURIComponent('Node ===')}`),
        selector: await t.get(`${DUMP}?filter=${encodeURIComponent('Nope == "x"')}`).then((r) => [r.status, r.text.trim()]),
        badWait: await err('index=1&wait=abc'),
        badIndex: await err('index=abc'),
      };
    });
    assert.deepEqual(result.node, [200, ['dmpf-2']]);
    assert.deepEqual(result.selector, [500, 'Failed to create boolean expression evaluator: Selector "Nope" is not valid']);
  });
});

// The simulator has no ACLs: what the node dump answers under `default_policy = "deny"` is checked on
// the real agent alone. hapilot's documented minimum policy (test/consul-real/security.test.ts,
// README) must be enough for it, as it is for health/service.
describe('node dump under ACLs (real Consul only)', { concurrency: false }, () => {
  let consul: RealConsul;
  before(async () => {
    consul = await RealConsul.start({ acl: true });
    await consul.register({ node: 'acl-n1', id: 'acl-w1', service: 'acl-web', port: 1 });
    await consul.register({ node: 'acl-n2', id: 'acl-a1', service: 'acl-api', port: 2 });
  });
  after(async () => { await consul?.destroy(); });

  test('the minimum policy (service_prefix and node_prefix read) sees the whole dump; without node read it is empty and says so; anonymous gets []; a wrong token 403', async () => {
    const token = async (name: string, rules: string) => {
      await consul.ok('PUT', '/v1/acl/policy', { Name: name, Rules: rules });
      return ((await consul.ok('PUT', '/v1/acl/token', { Description: name, Policies: [{ Name: name }] })).json() as { SecretID: string }).SecretID;
    };
    const minimum = await token('hapilot', 'service_prefix "" { policy = "read" }\nnode_prefix "" { policy = "read" }\nkey_prefix "hapilot/" { policy = "read" }\n');
    const servicesOnly = await token('services-only', 'service_prefix "" { policy = "read" }\n');
    const nodesOnly = await token('nodes-only', 'node_prefix "" { policy = "read" }\n');
    const read = async (t: string | null | undefined) => {
      const r = await consul.api('GET', DUMP, undefined, { token: t });
      const body = r.status === 200 ? (r.json() as DumpNode[]).map((n) => [n.Node, n.Services.map((s) => s.ID), n.Checks.map((c) => c.CheckID)]) : r.text.trim();
      return { status: r.status, filtered: r.headers['x-consul-results-filtered-by-acls'] ?? null, body };
    };
    const management = await read(undefined);
    assert.ok((management.body as unknown[]).length >= 3, JSON.stringify(management));
    assert.deepEqual(await read(minimum), management, 'the minimum policy sees what the management token sees');
    assert.deepEqual(await read(servicesOnly), { status: 200, filtered: 'true', body: [] }, 'no node read: every node is filtered out');
    const nodes = await read(nodesOnly);
    assert.equal(nodes.filtered, 'true');
    assert.deepEqual((nodes.body as Array<[string, string[], string[]]>).filter(([n]) => n.startsWith('acl-')), [['acl-n1', [], []], ['acl-n2', [], []]], 'no service read: nodes without their services or service checks');
    assert.deepEqual(await read(null), { status: 200, filtered: null, body: [] }, 'anonymous (no token): an empty list, no filtered header');
    assert.deepEqual(await read('00000000-0000-4000-8000-000000000000'), { status: 403, filtered: null, body: 'ACL not found' });
    // The checks-index probe under the minimum policy: the checks list's index, nothing filtered, no 403.
    const probe = await consul.api('GET', '/v1/health/node/hapilot-index-probe', undefined, { token: minimum });
    const list = await consul.api('GET', '/v1/health/state/any', undefined, { token: minimum });
    assert.deepEqual([probe.status, probe.text.trim(), probe.index], [200, '[]', list.index]);
  });
});
