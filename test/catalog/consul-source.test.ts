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
import { IncrementalModel } from '../../src/model/incremental.js';
import { spliceOf } from '../../src/model/spliced-lists.js';
import { settings } from '../helpers/entries.js';
import { collectAfterJob } from '../helpers/gc.js';

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
  let fullResyncs = 0;
  const source = new ConsulSource({ consul, log: testLog, wait: '30s', settleMs: 200, onFullResync: () => { fullResyncs += 1; } });
  source.start((s) => snapshots.push(s));
  const healthReads = () => sim.requests.filter((r) => r.path.startsWith('/v1/health/service/')).map((r) => r.path.slice('/v1/health/service/'.length));
  const stop = async () => { await source.stop(); consul.close(); await sim.stop(); };
  return { sim, source, snapshots, healthReads, stop, last: () => snapshots[snapshots.length - 1], fullResyncs: () => fullResyncs };
}

/** A started simulator with `services` enabled services, one instance each (`svc<k>-0`), on one node. */
async function simWith(services: number, node: string): Promise<ConsulSim> {
  const sim = new ConsulSim();
  sim.jitter = false;
  for (let s = 0; s < services; s++) sim.register({ node: { Node: node, Address: '10.0.0.1' }, service: { ID: `svc${s}-0`, Service: `svc${s}`, Tags: ENABLE, Port: 8000 + s } });
  await sim.start();
  return sim;
}

const servers = (s: CatalogSnapshot | undefined, service: string) =>
  (s?.entries ?? []).filter((e) => e.Service.Service === service).map((e) => `${e.Service.ID}:${(e.Checks ?? []).map((c) => c.Status).join('/')}`).sort();

test('startup gate: no snapshot until every enabled service has been read (the dump failing, then Consul refusing it and one service failing)', async () => {
  for (const refused of [false, true]) {
    const sim = new ConsulSim();
    sim.jitter = false;
    for (let s = 0; s < 20; s++) sim.register({ node: { Node: 'n', Address: '10.0.0.1' }, service: { ID: `s${s}`, Service: `s${s}`, Tags: ENABLE, Port: 80 } });
    // Refused: a proxy that passes the documented API only (404 on the dump, every time).
    if (refused) sim.failPath(/^\/v1\/internal\/ui\/nodes$/, 1000, 404);
    else sim.failPath(/^\/v1\/internal\/ui\/nodes$/, 3);
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
      const dumps = sim.requests.filter((r) => r.path === '/v1/internal/ui/nodes').length;
      const s13 = sim.requests.filter((r) => r.path === '/v1/health/service/s13').length;
      if (refused) {
        assert.equal(dumps, 1, 'a refused dump is not asked again');
        assert.ok(s13 >= 4, 'each service read on its own, the failing one retried');
      } else {
        assert.equal(dumps, 4, 'the failing dump was retried');
        assert.equal(s13, 0, 'no service read on its own');
      }
      assert.equal(snapshots.length, 1, 'one snapshot, complete');
    } finally {
      await source.stop(); consul.close(); await sim.stop();
    }
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

test('a snapshot that a checks list brought says where the source\'s time went (for the debug log); the first one does not', async () => {
  const t = await setup(3, 2);
  try {
    await eventually(() => t.snapshots.length === 1, 5000);
    assert.equal(t.snapshots[0]!.timings, undefined, 'the initial read');
    t.sim.setStatus('node1', 'svc1-1', 'critical');
    await eventually(() => servers(t.last(), 'svc1').some((s) => s.includes('critical')), 5000);
    const timings = t.last()?.timings;
    assert.ok(timings, 'a flip comes with a checks list');
    for (const [k, v] of Object.entries(timings)) assert.ok(Number.isFinite(v) && v >= 0 && v < 5000, `${k}: ${v}`);
  } finally {
    await t.stop();
  }
});

test('an address change that touches neither tags nor checks is seen at once: a zero-byte probe of the checks index (a node that does not exist), then one dump (no settle wait, no per-service reads)', async () => {
  // setup() with a settle time of 5 s: a change seen well before it was not waiting for it.
  const sim = await simWith(3, 'node0');
  const consul = createConsulClient(loadConsulConfig({ flagUrl: sim.url, env: {} }));
  const snapshots: CatalogSnapshot[] = [];
  const source = new ConsulSource({ consul, log: testLog, wait: '30s', settleMs: 5000 });
  source.start((s) => snapshots.push(s));
  try {
    await eventually(() => snapshots.length === 1, 5000);
    const before = sim.requests.length;
    const t0 = performance.now();
    sim.register({ node: { Node: 'node0', Address: '10.0.0.1' }, service: { ID: 'svc2-0', Service: 'svc2', Tags: ENABLE, Port: 8002, Address: '10.9.9.9' } });
    await eventually(() => snapshots.at(-1)?.entries.some((e) => e.Service.Address === '10.9.9.9') ?? false, 5000, 'new address');
    assert.ok(performance.now() - t0 < 2500, `seen after ${Math.round(performance.now() - t0)} ms: it waited for the 5 s settle time`);
    assert.deepEqual(snapshots.at(-1)!.changed, ['svc2']);
    assert.equal(snapshots.at(-1)!.timings, undefined, 'no checks list brought it');
    const after = sim.requests.slice(before);
    assert.equal(after.filter((r) => r.path === '/v1/internal/ui/nodes').length, 1, 'one dump');
    assert.equal(after.filter((r) => r.path === '/v1/health/node/hapilot-index-probe' && !r.blocking).length, 1, 'one probe of the checks index');
    assert.equal(after.filter((r) => r.path === '/v1/health/state/any' && !r.blocking).length, 0, 'no checks list read outside the long-poll');
    assert.equal(after.filter((r) => r.path.startsWith('/v1/health/service/')).length, 0, 'no service read on its own');
  } finally {
    await source.stop(); consul.close(); await sim.stop();
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

test('each kind of change reaches a snapshot naming exactly the changed service; only changes no list shows cost a full re-read', async () => {
  const t = await setup(40, 2);
  try {
    await eventually(() => t.snapshots.length === 1, 10_000, 'initial snapshot');
    const after = async (what: string, write: () => void, service: string, seen: (s: CatalogSnapshot) => boolean, resyncs: number) => {
      const before = t.fullResyncs();
      const n = t.snapshots.length;
      write();
      await eventually(() => t.snapshots.slice(n).some(seen), 5000, what);
      await new Promise((r) => setTimeout(r, 500)); // anything else it would do, it does now
      const later = t.snapshots.slice(n);
      assert.ok(later.length >= 1, what);
      for (const s of later) assert.deepEqual(s.changed, [service], `${what}: ${s.cause}`);
      assert.equal(t.fullResyncs() - before, resyncs, `${what}: full re-reads`);
    };
    const entry = (s: CatalogSnapshot, id: string) => s.entries.find((e) => e.Service.ID === id);
    const node1 = { Node: 'node1', Address: '10.0.0.2' };
    await after('registration', () => t.sim.register({ node: node1, service: { ID: 'svc3-new', Service: 'svc3', Tags: ENABLE, Port: 8003 } }), 'svc3', (s) => entry(s, 'svc3-new') !== undefined, 0);
    await after('deregistration', () => t.sim.deregister('node1', 'svc4-1'), 'svc4', (s) => entry(s, 'svc4-1') === undefined, 0);
    await after('health flip', () => t.sim.setStatus('node0', 'svc5-0', 'critical'), 'svc5', (s) => entry(s, 'svc5-0')?.Checks?.some((c) => c.Status === 'critical') ?? false, 0);
    await after('weight change', () => t.sim.register({ node: node1, service: { ID: 'svc6-1', Service: 'svc6', Tags: ENABLE, Port: 8006, Weights: { Passing: 7, Warning: 1 } } }), 'svc6', (s) => entry(s, 'svc6-1')?.Service.Weights?.Passing === 7, 1);
    await after('address change', () => t.sim.register({ node: node1, service: { ID: 'svc7-1', Service: 'svc7', Tags: ENABLE, Port: 8007, Address: '10.7.7.7' } }), 'svc7', (s) => entry(s, 'svc7-1')?.Service.Address === '10.7.7.7', 1);
    await after('instance without checks registered', () => t.sim.register({ node: node1, service: { ID: 'svc8-bare', Service: 'svc8', Tags: ENABLE, Port: 8008 }, checked: false }), 'svc8', (s) => entry(s, 'svc8-bare') !== undefined, 1);
    await after('instance without checks deregistered', () => t.sim.deregister('node1', 'svc8-bare'), 'svc8', (s) => entry(s, 'svc8-bare') === undefined, 1);
    // A node check (serfHealth, maintenance) concerns every service on that node.
    const n = t.snapshots.length;
    t.sim.setNodeMaintenance('node1', 'kernel upgrade');
    await eventually(() => t.snapshots.slice(n).some((s) => entry(s, 'svc9-1')?.Checks?.some((c) => c.CheckID === '_node_maintenance' && c.Notes === 'kernel upgrade') ?? false), 5000, 'node maintenance');
    const named = new Set(t.snapshots.slice(n).flatMap((s) => s.changed ?? []));
    assert.equal(named.size, 39, 'every service with an instance on node1 (svc4 has none there any more)');
    assert.ok(!named.has('svc4'));
  } finally {
    await t.stop();
  }
});

test('a snapshot restore: the restored catalog is read again (one full re-read) and reported', async () => {
  const t = await setup(10, 2);
  try {
    await eventually(() => t.snapshots.length === 1, 10_000, 'initial snapshot');
    const saved = t.sim.saveSnapshot();
    t.sim.deregister('node0', 'svc2-0');
    t.sim.register({ node: { Node: 'node1', Address: '10.0.0.2' }, service: { ID: 'svc3-1', Service: 'svc3', Tags: ENABLE, Port: 8003, Weights: { Passing: 9, Warning: 1 } } });
    await eventually(() => t.last()?.entries.find((e) => e.Service.ID === 'svc3-1')?.Service.Weights?.Passing === 9, 5000, 'changes before the restore');
    assert.equal(servers(t.last(), 'svc2').length, 1);
    const before = t.fullResyncs();
    const n = t.snapshots.length;
    t.sim.restoreSnapshot(saved);
    // The weight is back to 1 with no check telling: only reading everything again shows it.
    await eventually(() => servers(t.last(), 'svc2').length === 2 && t.last()?.entries.find((e) => e.Service.ID === 'svc3-1')?.Service.Weights?.Passing === 1, 10_000, 'restored catalog');
    assert.equal(t.fullResyncs() - before, 1, 'one full re-read');
    assert.deepEqual([...new Set(t.snapshots.slice(n).flatMap((s) => s.changed ?? []))].sort(), ['svc2', 'svc3'], 'the restored services, no other');
  } finally {
    await t.stop();
  }
});

test('a restore seen while the full re-read is under way: the services read again to verify are named only where they differ', async () => {
  const sim = await simWith(5, 'n1');
  const real = createConsulClient(loadConsulConfig({ flagUrl: sim.url, env: {} }));
  // A full re-read's dump is held until the test lets it go: the restored checks list comes first.
  let hold: Promise<void> | undefined;
  const consul = {
    ...real,
    nodeDumpBytes: async (...args: Parameters<NonNullable<typeof real.nodeDumpBytes>>) => {
      const r = await (real.nodeDumpBytes as NonNullable<typeof real.nodeDumpBytes>)(...args);
      await hold;
      return r;
    },
  };
  const snapshots: CatalogSnapshot[] = [];
  const source = new ConsulSource({ consul, log: testLog, wait: '30s', settleMs: 200 });
  source.start((s) => snapshots.push(s));
  const reads = () => sim.requests.filter((r) => r.path.startsWith('/v1/health/service/')).length;
  try {
    await eventually(() => snapshots.length === 1, 10_000, 'initial snapshot');
    const saved = sim.saveSnapshot();
    sim.deregister('n1', 'svc2-0');
    await eventually(() => servers(snapshots.at(-1), 'svc2').length === 0, 5000, 'svc2 gone');
    await eventually(() => sim.openBlocking === 2, 5000, 'two long-polls open');
    let release = () => {};
    hold = new Promise<void>((resolve) => { release = resolve; });
    const n = snapshots.length;
    const readsBefore = reads();
    const requestsBefore = sim.requests.length;
    sim.restoreSnapshot(saved);
    await eventually(() => sim.requests.slice(requestsBefore).some((r) => r.path === '/v1/internal/ui/nodes'), 5000, 'the full re-read asked for the dump');
    await new Promise((r) => setTimeout(r, 300)); // the restored checks list is taken meanwhile
    release();
    await eventually(() => servers(snapshots.at(-1), 'svc2').length === 1, 5000, 'svc2 restored');
    await eventually(() => reads() - readsBefore >= 5, 5000, 'every service read again, to verify');
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual([...new Set(snapshots.slice(n).flatMap((s) => s.changed ?? []))].sort(), ['svc2'], 'only the restored service is named');
  } finally {
    await source.stop(); real.close(); await sim.stop();
  }
});

test('entries are held with the fields hapilot reads only', async () => {
  const t = await setup(2, 1);
  try {
    await eventually(() => t.snapshots.length === 1, 10_000, 'initial snapshot');
    const e = t.last()!.entries[0]!;
    assert.deepEqual(Object.keys(e).sort(), ['Checks', 'Node', 'Service']);
    assert.deepEqual(Object.keys(e.Node).sort(), ['Address', 'Node']);
    assert.deepEqual(Object.keys(e.Service).sort(), ['Address', 'ID', 'ModifyIndex', 'Port', 'Service', 'Tags', 'Weights']);
    assert.deepEqual(e.Checks?.map((c) => Object.keys(c).sort()), [['CheckID', 'Node', 'ServiceID', 'Status'], ['CheckID', 'Node', 'ServiceID', 'Status']]);
  } finally {
    await t.stop();
  }
});

test('a weight change answered together with a registration (one services answer for both writes) is not lost', { timeout: 30_000 }, async () => {
  const sim = new ConsulSim();
  sim.jitter = false;
  const node = { Node: 'n1', Address: '10.0.0.1' };
  sim.register({ node, service: { ID: 'a-1', Service: 'a', Tags: ENABLE, Port: 80 } });
  sim.register({ node, service: { ID: 'b-1', Service: 'b', Tags: ENABLE, Port: 81 } });
  await sim.start();
  const consul = createConsulClient(loadConsulConfig({ flagUrl: sim.url, env: {} }));
  const snapshots: CatalogSnapshot[] = [];
  let fullResyncs = 0;
  const source = new ConsulSource({ consul, log: testLog, wait: '30s', settleMs: 200, verifyMinMs: 300, onFullResync: () => { fullResyncs += 1; } });
  source.start((s) => snapshots.push(s));
  const weightOf = (id: string) => snapshots.at(-1)?.entries.find((e) => e.Service.ID === id)?.Service.Weights?.Passing ?? 1;
  try {
    await eventually(() => snapshots.length > 0 && sim.openBlocking === 2, 10_000, 'first snapshot, two long-polls open');
    // Both writes in one turn of the simulator's event loop: the services long-poll answers once,
    // with the registration's index; the weight change before it moves no check.
    sim.register({ node, service: { ID: 'a-1', Service: 'a', Tags: ENABLE, Port: 80, Weights: { Passing: 7, Warning: 1 } } });
    sim.register({ node, service: { ID: 'b-2', Service: 'b', Tags: ENABLE, Port: 82 } });
    await eventually(() => snapshots.at(-1)?.entries.some((e) => e.Service.ID === 'b-2') ?? false, 5000, 'the registration seen');
    await eventually(() => weightOf('a-1') === 7, 10_000, 'the weight change seen too, by one verification re-read');
    assert.equal(fullResyncs, 1, 'one re-read of every service, not one per answer');
  } finally {
    await source.stop(); consul.close(); await sim.stop();
  }
});

test('a checks list that arrives while its service is being read costs no second read unless it is newer than the read', async () => {
  const sim = await simWith(5, 'n1');
  const real = createConsulClient(loadConsulConfig({ flagUrl: sim.url, env: {} }));
  // Each read of a service answers 300 ms after Consul served it, each checks list 100 ms after: the
  // services answer comes first, and the checks list of the same write (and, below, of a later one)
  // during the read.
  let afterServed: (() => void) | undefined;
  const consul = {
    ...real,
    healthStateBytes: async (...args: Parameters<typeof real.healthStateBytes>) => {
      const r = await real.healthStateBytes(...args);
      await new Promise((resolve) => setTimeout(resolve, 100));
      return r;
    },
    healthService: async (name: string, o?: Parameters<typeof real.healthService>[1]) => {
      const r = await real.healthService(name, o);
      afterServed?.();
      await new Promise((resolve) => setTimeout(resolve, 300));
      return r;
    },
  };
  const snapshots: CatalogSnapshot[] = [];
  const source = new ConsulSource({ consul, log: testLog, wait: '30s', settleMs: 200 });
  source.start((s) => snapshots.push(s));
  const reads = (name: string) => sim.requests.filter((r) => r.path === `/v1/health/service/${name}`).length;
  try {
    await eventually(() => snapshots.length === 1, 10_000, 'initial snapshot');
    await eventually(() => sim.openBlocking === 2, 5000, 'two long-polls open');

    // A new service: read on the services answer; its check's list arrives during that read, which holds it.
    sim.register({ node: { Node: 'n1', Address: '10.0.0.1' }, service: { ID: 'fresh-0', Service: 'fresh', Tags: ENABLE, Port: 9000 } });
    await eventually(() => servers(snapshots.at(-1), 'fresh').length === 1, 5000, 'new service seen');
    await new Promise((r) => setTimeout(r, 800));
    assert.equal(reads('fresh'), 1, 'one read for a new service');

    // A check that fails after the read was served, while its answer is still on its way: read again.
    sim.register({ node: { Node: 'n2', Address: '10.0.0.2' }, service: { ID: 'later-0', Service: 'later', Tags: ENABLE, Port: 9001 } });
    afterServed = () => { afterServed = undefined; sim.setStatus('n2', 'later-0', 'critical'); };
    await eventually(() => servers(snapshots.at(-1), 'later')[0]?.endsWith('/critical') ?? false, 5000, 'the failure after the read is seen');
    assert.equal(reads('later'), 2, 'read again: the checks list was newer than the read');
  } finally {
    await source.stop(); real.close(); await sim.stop();
  }
});

test('the lists of past snapshots are let go: a run of server-only changes, each snapshot built into a model and dropped, keeps no more than the last two', async () => {
  // A consumer as the daemon is: the last snapshot kept, a model built incrementally from each. Any
  // record that holds the list before it (spliced-lists.ts held a chain of them) keeps them all.
  const sim = new ConsulSim();
  sim.jitter = false;
  for (let s = 0; s < 200; s++) sim.register({ node: { Node: `node${s % 4}`, Address: `10.0.0.${(s % 4) + 1}` }, service: { ID: `svc${s}-0`, Service: `svc${s}`, Tags: ENABLE, Port: 8000 + s } });
  await sim.start();
  const consul = createConsulClient(loadConsulConfig({ flagUrl: sim.url, env: {} }));
  const model = new IncrementalModel();
  const s = settings();
  const lists: Array<WeakRef<object>> = [];
  let count = 0;
  let spliced = 0;
  let last: CatalogSnapshot | undefined;
  const source = new ConsulSource({ consul, log: testLog, wait: '30s', settleMs: 200 });
  source.start((snap) => {
    last = snap;
    count++;
    if (spliceOf(snap.entries)) spliced++;
    model.build({ entries: snap.entries, settings: s });
    lists.push(new WeakRef(snap.entries));
  });
  try {
    await eventually(() => count === 1, 10_000, 'initial snapshot');
    for (let k = 1; k <= 24; k++) {
      // A different service each time: the ones before are left critical.
      const n = (k * 7) % 200;
      sim.setStatus(`node${n % 4}`, `svc${n}-0`, 'critical');
      await eventually(() => last?.entries.some((e) => e.Service.Service === `svc${n}` && e.Checks?.some((c) => c.Status === 'critical')) ?? false, 5000, `change ${k} seen`);
    }
    assert.ok(spliced >= 20, `the server-only snapshots were spliced from the last list (${spliced} of ${count})`);
    assert.ok(model.splicesTaken >= 20, `the model took the splices (${model.splicesTaken})`);
    await collectAfterJob();
    const alive = lists.filter((r) => r.deref() !== undefined).length;
    assert.ok(alive <= 2, `${alive} of ${lists.length} snapshot lists still reachable`);
  } finally {
    await source.stop();
    consul.close();
    await sim.stop();
  }
});
