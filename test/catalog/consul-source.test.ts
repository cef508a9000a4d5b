// The Consul source against the simulator: complete snapshots only, a constant number of
// long-polls, targeted re-reads, and Consul's failure modes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createConsulClient } from '../../src/consul/client.js';
import { loadConsulConfig } from '../../src/consul/config.js';
import { ConsulSource } from '../../src/catalog/consul-source.js';
import type { CatalogSnapshot } from '../../src/catalog/source.js';
import { ConsulSim } from '../sim/consul-sim.js';
import { eventually } from '../helpers/backends.js';
import { testLog } from '../helpers/log.js';

const ENABLE = ['HAPROXY.ENABLE=true'];

async function setup(services: number, instances = 2) {
  const sim = new ConsulSim();
  sim.jitter = false;
  for (let s = 0; s < services; s++) {
    for (let i = 0; i < instances; i++) {
      sim.register({ node: { Node: `node${i}`, Address: `10.0.0.${i + 1}` }, service: { ID: `svc${s}-${i}`, Service: `svc${s}`, Tags: ENABLE, Port: 8000 + s } });
    }
  }
  sim.register({ node: { Node: 'node0', Address: '10.0.0.1' }, service: { ID: 'redis', Service: 'redis', Tags: ['db'], Port: 6379 } });
  await sim.start();
  const consul = createConsulClient(loadConsulConfig({ flagUrl: sim.url, env: {} }));
  const snapshots: CatalogSnapshot[] = [];
  const source = new ConsulSource({ consul, log: testLog, wait: '30s', settleMs: 200 });
  source.start((s) => snapshots.push(s));
  const healthReads = () => sim.requests.filter((r) => r.path.startsWith('/v1/health/service/')).map((r) => r.path.slice('/v1/health/service/'.length));
  const stop = async () => { await source.stop(); consul.close(); await sim.stop(); };
  return { sim, source, snapshots, healthReads, stop, last: () => snapshots[snapshots.length - 1] };
}

const servers = (s: CatalogSnapshot | undefined, service: string) =>
  (s?.entries ?? []).filter((e) => e.Service.Service === service).map((e) => `${e.Service.ID}:${(e.Checks ?? []).map((c) => c.Status).join('/')}`).sort();

test('startup gate: no snapshot until every enabled service has been read', async () => {
  const sim = new ConsulSim();
  sim.jitter = false;
  for (let s = 0; s < 20; s++) sim.register({ node: { Node: 'n', Address: '10.0.0.1' }, service: { ID: `s${s}`, Service: `s${s}`, Tags: ENABLE, Port: 80 } });
  sim.failPath(/^\/v1\/health\/service\/s13$/, 3);
  await sim.start();
  const consul = createConsulClient(loadConsulConfig({ flagUrl: sim.url, env: {} }));
  const snapshots: CatalogSnapshot[] = [];
  const source = new ConsulSource({ consul, log: testLog, wait: '30s' });
  source.start((s) => snapshots.push(s));
  try {
    await eventually(() => snapshots.length > 0, 15_000, 'first snapshot');
    const first = snapshots[0]!;
    assert.equal(new Set(first.entries.map((e) => e.Service.Service)).size, 20, 'the first snapshot is complete');
    assert.ok(sim.requests.filter((r) => r.path === '/v1/health/service/s13').length >= 4, 'the failing service was retried');
  } finally {
    await source.stop(); consul.close(); await sim.stop();
  }
});

test('1,000 services: two long-polls when idle; one change re-reads one service', async () => {
  const t = await setup(1000, 1);
  try {
    await eventually(() => t.snapshots.length === 1, 30_000, 'initial snapshot');
    assert.equal(new Set(t.last()!.entries.map((e) => e.Service.Service)).size, 1000, 'redis (no HAPROXY tags) is not read');
    await eventually(() => t.sim.openBlocking === 2, 5000, 'two long-polls open');
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(t.sim.openBlocking, 2);
    assert.ok(t.sim.requests.every((r) => r.path !== '/v1/health/service/redis'));

    t.sim.clearRequests();
    t.sim.setStatus('node0', 'svc42-0', 'critical');
    await eventually(() => servers(t.last(), 'svc42')[0]?.includes('critical') ?? false, 5000, 'flap seen');
    assert.deepEqual(t.healthReads(), ['svc42'], 'a check flap re-reads that service only');

    t.sim.clearRequests();
    t.sim.register({ node: { Node: 'node9', Address: '10.0.0.9' }, service: { ID: 'svc7-new', Service: 'svc7', Tags: ENABLE, Port: 8007 } });
    await eventually(() => servers(t.last(), 'svc7').length === 2, 5000, 'registration seen');
    await new Promise((r) => setTimeout(r, 400));
    assert.deepEqual([...new Set(t.healthReads())], ['svc7'], 'a registration re-reads that service only');

    t.sim.clearRequests();
    t.sim.deregister('node0', 'svc8-0');
    await eventually(() => servers(t.last(), 'svc8').length === 0, 5000, 'deregistration seen');
    await new Promise((r) => setTimeout(r, 400));
    assert.ok(t.healthReads().every((s) => s === 'svc8'), 'a deregistration re-reads no other service (a vanished service needs no read)');

    t.sim.clearRequests();
    t.sim.register({ node: { Node: 'node0', Address: '10.0.0.1' }, service: { ID: 'brand-new', Service: 'brandnew', Tags: ENABLE, Port: 9999 } });
    await eventually(() => servers(t.last(), 'brandnew').length === 1, 5000, 'new service seen');
    await new Promise((r) => setTimeout(r, 400));
    assert.deepEqual([...new Set(t.healthReads())], ['brandnew']);
    assert.equal(t.sim.openBlocking, 2);
  } finally {
    await t.stop();
  }
});

test('a node check failing re-reads the services on that node', async () => {
  const t = await setup(3, 2);
  try {
    await eventually(() => t.snapshots.length === 1, 5000);
    t.sim.clearRequests();
    t.sim.setStatus('node1', 'svc1-1', 'warning');
    await eventually(() => servers(t.last(), 'svc1').some((s) => s.includes('warning')), 5000);
    assert.deepEqual(t.healthReads(), ['svc1']);
  } finally {
    await t.stop();
  }
});

test('an address change that touches neither tags nor checks is still seen (full re-read after the settle time)', async () => {
  const t = await setup(3, 1);
  try {
    await eventually(() => t.snapshots.length === 1, 5000);
    t.sim.register({ node: { Node: 'node0', Address: '10.0.0.1' }, service: { ID: 'svc2-0', Service: 'svc2', Tags: ENABLE, Port: 8002, Address: '10.9.9.9' } });
    await eventually(() => t.last()?.entries.some((e) => e.Service.Address === '10.9.9.9') ?? false, 5000, 'new address');
  } finally {
    await t.stop();
  }
});

test('Consul failures: 500s and refused connections degrade, then recovery; an index reset is followed', async () => {
  const t = await setup(3, 1);
  try {
    await eventually(() => t.snapshots.length === 1, 5000);
    t.sim.failNext(4, 500);
    await eventually(() => t.source.health().degraded.length > 0, 5000, 'degraded after 500s');
    await eventually(() => t.source.health().degraded.length === 0, 15_000, 'recovered');

    await t.sim.stop();
    await eventually(() => t.source.health().degraded.some((d) => /unreachable|ECONNREFUSED|ECONNRESET/.test(d)), 10_000, 'degraded while refused');
    t.sim.setStatus('node0', 'svc0-0', 'critical');
    await t.sim.restart();
    await eventually(() => servers(t.last(), 'svc0')[0]?.includes('critical') ?? false, 20_000, 'change made while Consul was down is seen after it returns');
    // Each long-poll clears its own error on its next answer (the other may still be in backoff).
    await eventually(() => t.source.health().degraded.length === 0, 20_000, 'no longer degraded');

    t.sim.resetIndex(3);
    t.sim.setStatus('node0', 'svc1-0', 'critical');
    await eventually(() => servers(t.last(), 'svc1')[0]?.includes('critical') ?? false, 10_000, 'change after an index reset');
  } finally {
    await t.stop();
  }
});
