// bench:scale's simulator (bench/lib/scale-sim.ts) against a real Consul 1.16.6 agent filled the same
// way through bench:scale's adapter (bench/lib/scale-real-consul.ts, `--consul real`): the checks list
// and the health entries hapilot reads carry the same checks with the same fields and values; a
// registration moves the checks index and wakes a held checks long-poll on both; the adapter counts
// the agent's reads. A difference that stays (the simulator's figures are read with it in mind): the
// simulator gives every node a serfHealth check, the agent only its own node (nodes registered
// through the catalog have none), so the node checks are left out of the comparison.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { ScaleSim } from '../../bench/lib/scale-sim.js';
import { RealConsulCatalog, type Instance } from '../../bench/lib/scale-real-consul.js';

interface Check { Node: string; CheckID: string; ServiceID: string; [k: string]: unknown }
interface Entry { Node: { Node: string; Address: string; [k: string]: unknown }; Service: { ID: string; [k: string]: unknown }; Checks: Check[] }

const instances: Instance[] = [];
for (let s = 0; s < 3; s++) for (let i = 0; i < 3; i++) {
  instances.push({ node: { Node: `node${i % 2}`, Address: `10.0.0.${1 + (i % 2)}` }, service: { ID: `svc${s}-${i}`, Service: `svc${s}`, Tags: ['HAPROXY.ENABLE=true'], Address: `127.1.${s}.${i}`, Port: 8080 } });
}

let sim: ScaleSim;
let real: RealConsulCatalog;
before(async () => {
  sim = new ScaleSim();
  await sim.start();
  for (const i of instances) sim.register(i.node, i.service);
  real = await RealConsulCatalog.start();
  await real.register(instances);
});
after(async () => {
  await sim?.stop();
  await real?.stop();
});

const get = (url: string) => new Promise<{ index: number; text: string }>((resolve, reject) => {
  http.get(url, { agent: false }, (r) => {
    let text = '';
    r.setEncoding('utf8');
    r.on('data', (c: string) => { text += c; });
    r.on('end', () => resolve({ index: Number(r.headers['x-consul-index']), text }));
  }).on('error', reject);
});
const serviceChecks = (text: string) => (JSON.parse(text) as Check[]).filter((c) => c.ServiceID !== '').sort((a, b) => a.CheckID.localeCompare(b.CheckID));
/** What does not depend on when a write happened. */
const noIndexes = <T extends object>(x: T) => ({ ...x, CreateIndex: undefined, ModifyIndex: undefined });

test('scale simulator and real agent: the same service checks in /v1/health/state/any, field for field and in Consul\'s field order', async () => {
  const [a, b] = [serviceChecks((await get(`${sim.url}/v1/health/state/any`)).text), serviceChecks((await get(`${real.url}/v1/health/state/any`)).text)];
  assert.equal(a.length, instances.length);
  assert.deepEqual(a.map((c) => Object.keys(c)), b.map((c) => Object.keys(c)), 'field order');
  assert.deepEqual(a.map(noIndexes), b.map(noIndexes));
});

test('scale simulator and real agent: the same health entries for a service (node, service, its check)', async () => {
  for (const name of ['svc0', 'svc2']) {
    const [a, b] = [JSON.parse((await get(`${sim.url}/v1/health/service/${name}`)).text) as Entry[], JSON.parse((await get(`${real.url}/v1/health/service/${name}`)).text) as Entry[]];
    assert.equal(a.length, 3);
    assert.deepEqual(a.map((e) => e.Service.ID), b.map((e) => e.Service.ID), `${name}: the same instances in the same order`);
    assert.deepEqual(a.map((e) => Object.keys(e.Service)), b.map((e) => Object.keys(e.Service)), `${name}: service fields`);
    assert.deepEqual(a.map((e) => noIndexes(e.Service)), b.map((e) => noIndexes(e.Service)), `${name}: services`);
    assert.deepEqual(a.map((e) => [e.Node.Node, e.Node.Address]), b.map((e) => [e.Node.Node, e.Node.Address]), `${name}: nodes`);
    const own = (e: Entry) => e.Checks.filter((c) => c.ServiceID !== '').map(noIndexes);
    assert.deepEqual(a.map(own), b.map(own), `${name}: each instance's check`);
  }
});

test('scale simulator and real agent: a registration moves the checks index and wakes a held checks long-poll with the new check; the adapter counts the agent\'s reads', async () => {
  const added: Instance = { node: { Node: 'node0', Address: '10.0.0.1' }, service: { ID: 'svc1-new', Service: 'svc1', Tags: ['HAPROXY.ENABLE=true'], Address: '127.1.1.9', Port: 8080 } };
  for (const [url, write] of [[sim.url, () => { sim.register(added.node, added.service); }], [real.url, () => real.register([added])]] as const) {
    const { index } = await get(`${url}/v1/health/node/no-such-node`);
    const held = get(`${url}/v1/health/state/any?index=${index}&wait=20s`);
    await new Promise((r) => setTimeout(r, 200));
    const t = performance.now();
    await write();
    const answer = await held;
    assert.ok(performance.now() - t < 10_000, `${url}: woken by the write, not by the wait`);
    assert.ok(answer.index > index, `${url}: index ${answer.index} after ${index}`);
    assert.ok(serviceChecks(answer.text).some((c) => c.CheckID === 'service:svc1-new' && c.Status === 'passing'), `${url}: the new check is in the answer`);
  }
  await real.reset();
  await get(`${real.url}/v1/catalog/services`);
  await get(`${real.url}/v1/catalog/services`);
  const counted = await real.counters();
  assert.deepEqual(counted.requests, { v1_catalog_services: 2 }, 'GETs since the reset, by Consul\'s path label; the count itself left out');
  assert.ok(Number.isNaN(Object.values(counted.bytes).reduce((x, y) => x + y, 0)), 'bytes are not known for a real agent');
});
