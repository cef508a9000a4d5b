// The simulator honours the rules in ../shared/consul-fixtures/README.md and serves the documented shapes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { HealthEntries, CatalogServices } from '../../src/consul/schemas.js';
import { startSim } from '../helpers/sim.js';
import { entry, ENABLE } from '../helpers/entries.js';

const FIXTURES = new URL('../fixtures/consul/', import.meta.url);

async function fixture(name: string): Promise<unknown> {
  return JSON.parse(await readFile(new URL(name, FIXTURES), 'utf8'));
}

function keysOf(o: unknown): string[] {
  return Object.keys(o as object).filter((k) => k !== '_comment').sort();
}

test('health/service entries have the documented keys, and the docs sample parses with our schema', async () => {
  const docs = await fixture('health-service.json') as Array<Record<string, unknown>>;
  assert.equal(HealthEntries.safeParse(docs).success, true);
  const sim = await startSim([entry('redis', 'redis', [ENABLE])]);
  try {
    const body = await (await fetch(`${sim.url}/v1/health/service/redis`)).json() as Array<Record<string, unknown>>;
    assert.equal(HealthEntries.safeParse(body).success, true);
    const [d, s] = [docs[0]!, body[0]!];
    for (const part of ['Node', 'Service'] as const) {
      const missing = keysOf(d[part]).filter((k) => !keysOf(s[part]).includes(k) && !['TaggedAddresses', 'Meta', 'ID', 'Namespace'].includes(k));
      assert.deepEqual(missing, [], `${part} keys missing from the simulator`);
    }
    const docCheck = (d.Checks as object[])[0];
    const simCheck = (s.Checks as object[])[0];
    // Namespace is Consul Enterprise's: the OSS agent (test/consul-real/conformance.test.ts) has none.
    assert.deepEqual(keysOf(docCheck).filter((k) => !keysOf(simCheck).includes(k) && k !== 'Namespace'), []);
    const services = await (await fetch(`${sim.url}/v1/catalog/services`)).json();
    assert.equal(CatalogServices.safeParse(services).success, true);
    assert.equal(CatalogServices.safeParse(await fixture('catalog-services.json')).success, true);
  } finally {
    await sim.stop();
  }
});

test('X-Consul-Index is never 0; bad index, bad wait and stale+consistent are 400s', async () => {
  const sim = await startSim();
  try {
    const r = await fetch(`${sim.url}/v1/catalog/services`);
    assert.ok(Number(r.headers.get('x-consul-index')) >= 1);
    const errors = await fixture('errors.json') as Record<string, { status: number; body: string }>;
    const bad = async (q: string) => { const res = await fetch(`${sim.url}/v1/catalog/services?${q}`); return [res.status, await res.text()]; };
    assert.deepEqual(await bad('index=-1'), [400, errors.invalidIndex!.body]);
    assert.deepEqual(await bad('index=5&wait=abc'), [400, errors.invalidWait!.body]);
    assert.deepEqual(await bad('stale&consistent'), [400, errors.staleAndConsistent!.body]);
  } finally {
    await sim.stop();
  }
});

test('blocking: held until the endpoint\'s own index moves; other services do not wake it; an index that went backwards is answered', async () => {
  const sim = await startSim([entry('a', 'a1', [ENABLE]), entry('b', 'b1', [ENABLE])]);
  try {
    const first = await fetch(`${sim.url}/v1/health/service/a`);
    const idx = Number(first.headers.get('x-consul-index'));
    let answered = false;
    const pending = fetch(`${sim.url}/v1/health/service/a?index=${idx}&wait=5s`).then((r) => { answered = true; return r; });
    await new Promise((r) => setTimeout(r, 100));
    sim.setStatus('node1', 'b1', 'critical');
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(answered, false, 'a change to b does not answer a watch on a');
    sim.setStatus('node1', 'a1', 'critical');
    const res = await pending;
    assert.ok(Number(res.headers.get('x-consul-index')) > idx);
    sim.resetIndex(2);
    const after = await fetch(`${sim.url}/v1/health/service/a?index=${idx}&wait=1s`);
    assert.equal(Number(after.headers.get('x-consul-index')), 2, 'the lower index is what the client sees');
  } finally {
    await sim.stop();
  }
});

test('snapshot restore: waiting queries get the old answer at once; the client asks again without an index and sees the restored state', async () => {
  const { createConsulClient } = await import('../../src/consul/client.js');
  const { loadConsulConfig } = await import('../../src/consul/config.js');
  const { runBlockingLoop } = await import('../../src/consul/blocking-query.js');
  const sim = await startSim([entry('a', 'a1', [ENABLE])]);
  const client = createConsulClient(loadConsulConfig({ flagUrl: sim.url, env: {} }));
  const abort = new AbortController();
  const seen: Array<{ services: string[]; index: number }> = [];
  const loop = runBlockingLoop({
    name: 'catalog/services', signal: abort.signal,
    fetch: (index, signal) => client.catalogServices({ index, wait: '30s', signal }),
    fingerprint: (d) => JSON.stringify(Object.keys(d).sort()),
    onData: (d, index) => { seen.push({ services: Object.keys(d).sort(), index }); },
    onError: () => undefined,
  });
  try {
    const snap = sim.saveSnapshot();
    await new Promise((r) => setTimeout(r, 100));
    sim.register({ node: { Node: 'node1', Address: '10.0.0.1' }, service: { ID: 'b1', Service: 'b', Tags: [ENABLE], Port: 80 } });
    const until = Date.now() + 5000;
    while (!seen.some((s) => s.services.includes('b')) && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    const high = seen.at(-1)!.index;
    await new Promise((r) => setTimeout(r, 200)); // the loop is waiting at `high` again
    const started = Date.now();
    sim.restoreSnapshot(snap);
    while (seen.at(-1)!.services.includes('b') && Date.now() - started < 5000) await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(seen.at(-1)!.services, ['a', 'consul'], 'the restored catalog is seen');
    assert.ok(Date.now() - started < 2000, 'at once, not after the 30 s wait');
    assert.ok(seen.at(-1)!.index < high, 'with the lower index');
  } finally {
    abort.abort();
    await loop;
    client.close();
    await sim.stop();
  }
});

test('node dump: the simulator answers /v1/internal/ui/nodes as the recorded Consul 1.16.6 answer (fixtures/consul/ui-nodes.json) for the same catalog', async () => {
  const recorded = await fixture('ui-nodes.json') as Array<Record<string, unknown>>;
  const sim = await startSim();
  try {
    const ENABLE_TAG = 'HAPROXY.ENABLE=true';
    sim.register({ node: { Node: 'web-node-1', Address: '10.0.1.1', external: true }, service: { ID: 'web-1', Service: 'web', Tags: [ENABLE_TAG, 'HAPROXY.DOMAIN=web.example.test'], Port: 8080 } });
    sim.register({ node: { Node: 'web-node-2', Address: '10.0.1.2', external: true }, service: { ID: 'web-2', Service: 'web', Tags: [ENABLE_TAG], Port: 8080, Weights: { Passing: 5, Warning: 1 } }, status: 'warning' });
    sim.register({ node: { Node: 'web-node-2', Address: '10.0.1.2', external: true }, service: { ID: 'api-1', Service: 'api', Tags: [ENABLE_TAG], Port: 9090, Address: '10.0.2.2' } });
    sim.register({ node: { Node: 'web-node-2', Address: '10.0.1.2', external: true }, service: { ID: 'bare-1', Service: 'bare', Port: 7000 }, checked: false });
    sim.registerNode({ Node: 'empty-node', Address: '10.0.1.9', external: true });
    sim.register({ node: sim.agentNode, service: { ID: 'local-1', Service: 'local', Tags: [ENABLE_TAG], Port: 6000 }, checked: false });
    sim.setMaintenance(sim.agentNode.Node, 'local-1', 'deploy');
    const res = await fetch(`${sim.url}/v1/internal/ui/nodes`);
    const index = Number(res.headers.get('x-consul-index'));
    const body = await res.json() as Array<Record<string, unknown>>;
    // What differs by nature: the agent's name, ID and server port, and the raw indexes.
    const normalize = (dump: Array<Record<string, unknown>>, max?: number) => {
      const agent = dump.find((n) => (n.Services as Array<{ ID: string }>).some((s) => s.ID === 'consul'))!.Node;
      const text = JSON.stringify(dump, (k, v: unknown) => {
        if (k === 'CreateIndex' || k === 'ModifyIndex') {
          if (max !== undefined) assert.ok(typeof v === 'number' && v >= 1 && v <= max, `${k} ${String(v)} within 1..${max}`);
          return 0;
        }
        if (k === 'ID' && typeof v === 'string' && /^[0-9a-f-]{36}$/.test(v)) return '<uuid>';
        return v === agent ? '<agent>' : v;
      });
      const out = JSON.parse(text) as Array<{ Services: Array<{ ID: string; Port: number }> }>;
      for (const s of out.flatMap((n) => n.Services)) if (s.ID === 'consul') s.Port = 0;
      return out;
    };
    assert.deepEqual(normalize(body, index), normalize(recorded));
    // Key order too (JSON.stringify keeps it): node, service and check objects as Consul writes them.
    assert.equal(JSON.stringify(normalize(body)), JSON.stringify(normalize(recorded)));
  } finally {
    await sim.stop();
  }
});

test('node dump: index and blocking (a flip and a weight change wake it), a node outlives its services, filters, the 500 of a bad filter', async () => {
  const sim = await startSim();
  try {
    const dump = async (q = '') => { const r = await fetch(`${sim.url}/v1/internal/ui/nodes${q}`); return { status: r.status, index: Number(r.headers.get('x-consul-index')), text: await r.text() }; };
    const n1 = { Node: 'n1', Address: '10.0.0.1' };
    sim.register({ node: n1, service: { ID: 'a1', Service: 'a', Tags: [ENABLE], Port: 1 } });
    const before = await dump();
    const pending = dump(`?index=${before.index}&wait=5s`);
    await new Promise((r) => setTimeout(r, 100));
    sim.setStatus('n1', 'a1', 'critical');
    const woken = await pending;
    assert.ok(woken.index > before.index && woken.text.includes('"Status":"critical"'), 'a check flip wakes the dump');
    const w = dump(`?index=${woken.index}&wait=5s`);
    await new Promise((r) => setTimeout(r, 100));
    sim.register({ node: n1, service: { ID: 'a1', Service: 'a', Tags: [ENABLE], Port: 1, Weights: { Passing: 3, Warning: 1 } }, status: 'critical' });
    assert.ok((await w).index > woken.index, 'a weight change wakes the dump');
    sim.deregister('n1', 'a1');
    const left = (JSON.parse((await dump()).text) as Array<{ Node: string; Services: unknown[]; Checks: Array<{ CheckID: string }> }>).find((n) => n.Node === 'n1');
    assert.deepEqual([left?.Services, left?.Checks.map((c) => c.CheckID)], [[], ['serfHealth']], 'the node stays, with its serfHealth');
    sim.deregisterNode('n1');
    const names = async (q: string) => (JSON.parse((await dump(`?filter=${encodeURIComponent(q)}`)).text) as Array<{ Node: string }>).map((n) => n.Node);
    assert.deepEqual(await names('Node == "n1"'), []);
    sim.register({ node: { Node: 'n2', Address: '10.0.0.2' }, service: { ID: 'b1', Service: 'b', Tags: [ENABLE], Port: 1 } });
    assert.deepEqual(await names('Services.Service contains "b"'), ['n2']);
    assert.deepEqual(await names('Node != "n2"'), [sim.agentNode.Node]);
    const bad = await dump(`?filter=${encodeURIComponent('Nope == "x"')}`);
    assert.deepEqual([bad.status, bad.text], [500, 'Failed to create boolean expression evaluator: Selector "Nope" is not valid']);
  } finally {
    await sim.stop();
  }
});

test('an index-only move (an instance without checks deregistered) wakes no held health/state query; it answers its start index at the end of its wait; a check write wakes it', async () => {
  const sim = await startSim([entry('a', 'a1', [ENABLE])]);
  try {
    sim.register({ node: { Node: 'node1', Address: '10.0.0.1' }, service: { ID: 'bare', Service: 'a', Tags: [ENABLE], Port: 1 }, checked: false });
    const get = async (p: string) => { const r = await fetch(`${sim.url}${p}`); return Number(r.headers.get('x-consul-index')); };
    const start = await get('/v1/health/state/any');
    const started = Date.now();
    const held = get(`/v1/health/state/any?index=${start}&wait=1s`);
    const dumpHeld = get(`/v1/internal/ui/nodes?index=${await get('/v1/internal/ui/nodes')}&wait=5s`);
    await new Promise((r) => setTimeout(r, 100));
    sim.deregister('node1', 'bare');
    assert.ok(await dumpHeld > start, 'the node dump wakes');
    assert.equal(await held, start, 'answered at the end of its wait with the index it started at');
    assert.ok(Date.now() - started >= 950);
    const moved = await get('/v1/health/state/any');
    assert.ok(moved > start, 'though the checks index moved');
    const again = get(`/v1/health/state/any?index=${moved}&wait=5s`);
    await new Promise((r) => setTimeout(r, 100));
    sim.setStatus('node1', 'a1', 'critical');
    assert.ok(await again > moved, 'a check write wakes it');
  } finally {
    await sim.stop();
  }
});
