// The bench simulator's node dump (bench/lib/scale-sim.ts, /v1/internal/ui/nodes): what each service's
// entries are built from must be what its /v1/health/service/:name answers, in the field set and
// order Consul 1.16.6 gives (test/fixtures/consul/ui-nodes.json, recorded), cached per index and
// counted under its own endpoint.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { ScaleSim } from '../../bench/lib/scale-sim.js';

interface Check { Node: string; CheckID: string; ServiceID: string; ServiceTags: string[] | null; [k: string]: unknown }
interface DumpNode { Node: string; Address: string; Services: Array<{ ID: string; Service: string; [k: string]: unknown }>; Checks: Check[]; [k: string]: unknown }
interface Entry { Node: { Node: string; Address: string }; Service: Record<string, unknown>; Checks: Check[] }

/** Each instance of `service` in the dump as health/service gives it: the node's checks, then the instance's. */
function entriesFromDump(dump: DumpNode[], service: string) {
  return dump.flatMap((n) => n.Services.filter((s) => s.Service === service).map((s) => ({
    Node: { Node: n.Node, Address: n.Address },
    Service: s,
    // The dump gives the stored ServiceTags (null for a node check), health/service [].
    Checks: [...n.Checks.filter((c) => c.ServiceID === ''), ...n.Checks.filter((c) => c.ServiceID === s.ID)].map((c) => ({ ...c, ServiceTags: c.ServiceTags ?? [] })),
  })));
}

const keysOf = (xs: object[]) => [...new Set(xs.map((x) => Object.keys(x).join()))];

test('scale simulator: the node dump holds every health/service answer, in Consul\'s field set and order; index, blocking, cache and counters', async () => {
  const sim = new ScaleSim();
  await sim.start();
  try {
    const reg = (node: string, id: string, service: string, status: 'passing' | 'critical' = 'passing') =>
      sim.register({ Node: node, Address: `10.0.0.${node.length}` }, { ID: id, Service: service, Tags: ['HAPROXY.ENABLE=true'], Port: 80 }, status);
    reg('node-b', 'web-2', 'web');
    reg('Node-a', 'web-1', 'web', 'critical');
    reg('Node-a', 'Api-1', 'api');
    reg('Node-a', 'api-0', 'api');
    reg('node-c', 'sa-1', 'api');
    const get = async (p: string) => { const r = await fetch(`${sim.url}${p}`); return { index: Number(r.headers.get('x-consul-index')), body: await r.text() }; };
    const d = await get('/v1/internal/ui/nodes');
    const dump = JSON.parse(d.body) as DumpNode[];
    assert.deepEqual(dump.map((n) => n.Node), ['consul-scale-sim', 'Node-a', 'node-b', 'node-c'], 'nodes by name, case-insensitively');
    assert.deepEqual(dump[1]!.Services.map((s) => s.ID), ['api-0', 'Api-1', 'web-1']);
    assert.deepEqual(dump[1]!.Checks.map((c) => c.CheckID), ['serfHealth', 'service:api-0', 'service:Api-1', 'service:web-1']);
    assert.deepEqual(dump[3]!.Checks.map((c) => c.CheckID), ['serfHealth', 'service:sa-1'], '"serf" < "serv": serfHealth before every service:<ID>');
    for (const name of ['web', 'api']) {
      const health = JSON.parse((await get(`/v1/health/service/${name}`)).body) as Entry[];
      const projected = health.map((e) => ({ Node: { Node: e.Node.Node, Address: e.Node.Address }, Service: e.Service, Checks: e.Checks }));
      assert.deepEqual(entriesFromDump(dump, name), projected, `${name}: entries from the dump`);
    }
    const recorded = JSON.parse(await readFile(new URL('../fixtures/consul/ui-nodes.json', import.meta.url), 'utf8')) as DumpNode[];
    assert.deepEqual(keysOf(dump), keysOf(recorded), 'node fields');
    assert.deepEqual(keysOf(dump.flatMap((n) => n.Services)), keysOf(recorded.flatMap((n) => n.Services)), 'service fields');
    assert.deepEqual(keysOf(dump.flatMap((n) => n.Checks)), keysOf(recorded.flatMap((n) => n.Checks)), 'check fields');
    const [services, checks] = [await get('/v1/catalog/services'), await get('/v1/health/state/any')];
    assert.equal(d.index, Math.max(services.index, checks.index));

    // Blocking: a flip (checks table only) wakes it with the new status; the same index answers the same bytes.
    const pending = get(`/v1/internal/ui/nodes?index=${d.index}&wait=5s`);
    await new Promise((r) => setTimeout(r, 100));
    reg('Node-a', 'web-1', 'web', 'passing');
    const woken = await pending;
    assert.ok(woken.index > d.index);
    assert.ok(!woken.body.includes('"critical"'));
    sim.counters = { requests: {}, blocking: {}, bytes: {}, connections: 0, maxConnections: 0, openBlocking: 0 };
    const again = await get('/v1/internal/ui/nodes');
    assert.equal(again.body, woken.body);
    assert.equal(sim.counters.requests['/v1/internal/ui/nodes'], 1);
    assert.equal(sim.counters.bytes['/v1/internal/ui/nodes'], Buffer.byteLength(again.body) + 150);
    // A node outlives its last service, as in Consul.
    sim.deregister('node-c', 'api', 'sa-1');
    const after = JSON.parse((await get('/v1/internal/ui/nodes')).body) as DumpNode[];
    assert.deepEqual(after.find((n) => n.Node === 'node-c')?.Checks.map((c) => c.CheckID), ['serfHealth']);
  } finally {
    await sim.stop();
  }
});
