// A long-poll whose answer never comes (the soak's stall: both long-polls open for minutes while
// the catalog moved on) must not leave the Consul source behind until the request times out
// (wait + wait/16 + 15 s): the source notices that Consul's index has passed the one the long-poll
// waits on, reports it, and asks again. Between the source and the simulator sits a proxy that
// swallows chosen requests: they reach nothing and are never answered, the connection stays open.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createConsulClient } from '../../src/consul/client.js';
import { loadConsulConfig } from '../../src/consul/config.js';
import { ConsulSource } from '../../src/catalog/consul-source.js';
import type { LostLongPoll } from '../../src/consul/blocking-query.js';
import type { CatalogSnapshot } from '../../src/catalog/source.js';
import { ConsulSim } from '../sim/consul-sim.js';
import { eventually } from '../helpers/backends.js';
import { testLog } from '../helpers/log.js';

const ENABLE = ['HAPROXY.ENABLE=true'];

/** Forwards to `target`; a request matching an armed rule is held unanswered (its socket stays open). */
async function swallowingProxy(target: number) {
  const rules: RegExp[] = [];
  const held: http.ServerResponse[] = [];
  const swallowed: string[] = [];
  const server = http.createServer((req, res) => {
    const url = req.url ?? '/';
    const i = rules.findIndex((re) => re.test(url));
    if (i >= 0) {
      rules.splice(i, 1);
      held.push(res);
      swallowed.push(url);
      return;
    }
    const up = http.request({ host: '127.0.0.1', port: target, path: url, method: req.method, headers: req.headers, agent: false }, (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers);
      r.pipe(res);
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    /** The next request whose path and query match is swallowed. */
    swallow: (re: RegExp) => { rules.push(re); },
    swallowed,
    close: async () => {
      for (const r of held) r.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

const names = (s: CatalogSnapshot | undefined) => [...new Set((s?.entries ?? []).map((e) => e.Service.Service))].sort();
const ids = (s: CatalogSnapshot | undefined, service: string) => (s?.entries ?? []).filter((e) => e.Service.Service === service).map((e) => e.Service.ID).sort();

async function setup(probeMs: number) {
  const sim = new ConsulSim();
  sim.jitter = false;
  for (const s of ['a', 'b']) for (const i of [1, 2]) sim.register({ node: { Node: `n${i}`, Address: `10.0.0.${i}` }, service: { ID: `${s}-${i}`, Service: s, Tags: ENABLE, Port: 80 } });
  await sim.start();
  const proxy = await swallowingProxy(sim.port);
  const consul = createConsulClient(loadConsulConfig({ flagUrl: proxy.url, env: {} }));
  const snapshots: CatalogSnapshot[] = [];
  const lost: LostLongPoll[] = [];
  const source = new ConsulSource({ consul, log: testLog, wait: '30s', settleMs: 200, probeMs, onLostLongPoll: (l) => lost.push(l) });
  source.start((s) => snapshots.push(s));
  const stop = async () => { await source.stop(); consul.close(); await proxy.close(); await sim.stop(); };
  return { sim, proxy, source, snapshots, lost, stop, last: () => snapshots[snapshots.length - 1] };
}

test('both long-polls swallowed: the next changes are seen within seconds (not after the 47 s timeout), and the lost answers are reported', async () => {
  const t = await setup(1000);
  try {
    await eventually(() => t.snapshots.length > 0, 15_000, 'initial snapshot');
    await eventually(() => t.sim.openBlocking === 2, 5000, 'two long-polls open');
    // The long-polls asked after the next write are swallowed, as in the soak.
    t.proxy.swallow(/^\/v1\/catalog\/services\?.*index=/);
    t.proxy.swallow(/^\/v1\/health\/state\/any\?.*index=/);
    t.sim.register({ node: { Node: 'n3', Address: '10.0.0.3' }, service: { ID: 'a-3', Service: 'a', Tags: ENABLE, Port: 80 } });
    await eventually(() => ids(t.last(), 'a').includes('a-3'), 5000, 'the write before the swallowing is seen');
    await eventually(() => t.proxy.swallowed.length === 2, 5000, 'both long-polls swallowed');
    const before = t.snapshots.length;
    const swallowedAt = Date.now();
    // What the soak lost: a service removed, an instance removed.
    t.sim.deregister('n1', 'b-1');
    t.sim.deregister('n2', 'b-2');
    t.sim.deregister('n1', 'a-1');
    await eventually(() => !names(t.last()).includes('b') && !ids(t.last(), 'a').includes('a-1'), 10_000, 'the changes after the swallowing are seen');
    const tookMs = Date.now() - swallowedAt;
    assert.ok(t.snapshots.length > before);
    assert.ok(tookMs < 10_000, `caught up after ${tookMs} ms`);
    const endpoints = new Set(t.lost.map((l) => l.name));
    assert.ok(endpoints.has('catalog/services') && endpoints.has('health/state/any'), `both lost answers reported: ${JSON.stringify(t.lost)}`);
    for (const l of t.lost) assert.ok(l.consulIndex > l.askedIndex, 'reported with the index Consul had moved to');
  } finally {
    await t.stop();
  }
});

test('one long-poll swallowed (services): a registration moving only the services table is not missed', async () => {
  const t = await setup(1000);
  try {
    await eventually(() => t.snapshots.length > 0, 15_000, 'initial snapshot');
    await eventually(() => t.sim.openBlocking === 2, 5000, 'two long-polls open');
    t.proxy.swallow(/^\/v1\/catalog\/services\?.*index=/);
    t.sim.register({ node: { Node: 'n3', Address: '10.0.0.3' }, service: { ID: 'a-3', Service: 'a', Tags: ENABLE, Port: 80 } });
    await eventually(() => t.proxy.swallowed.length === 1, 5000, 'the services long-poll swallowed');
    // A new service whose instance has no check: only /v1/catalog/services can show it.
    t.sim.register({ node: { Node: 'n3', Address: '10.0.0.3' }, service: { ID: 'c-1', Service: 'c', Tags: ENABLE, Port: 80 }, checked: false });
    await eventually(() => names(t.last()).includes('c'), 10_000, 'the unchecked service is seen');
    assert.deepEqual([...new Set(t.lost.map((l) => l.name))], ['catalog/services']);
  } finally {
    await t.stop();
  }
});

test('one long-poll swallowed (checks): an answer of the other long-poll has it probed within seconds, not at its next period', async () => {
  const t = await setup(60_000); // the period alone would take a minute
  try {
    await eventually(() => t.snapshots.length > 0, 15_000, 'initial snapshot');
    await eventually(() => t.sim.openBlocking === 2, 5000, 'two long-polls open');
    t.proxy.swallow(/^\/v1\/health\/state\/any\?.*index=/);
    t.sim.register({ node: { Node: 'n3', Address: '10.0.0.3' }, service: { ID: 'a-3', Service: 'a', Tags: ENABLE, Port: 80 } });
    await eventually(() => t.proxy.swallowed.length === 1, 5000, 'the checks long-poll swallowed');
    await new Promise((r) => setTimeout(r, 2500)); // open longer than the grace time
    const from = Date.now();
    t.sim.setStatus('n1', 'b-1', 'critical'); // only the checks list shows it
    t.sim.register({ node: { Node: 'n3', Address: '10.0.0.3' }, service: { ID: 'c-1', Service: 'c', Tags: ENABLE, Port: 80 }, checked: false });
    await eventually(() => !ids(t.last(), 'b').includes('b-1') || (t.last()?.entries.find((e) => e.Service.ID === 'b-1')?.Checks ?? []).some((c) => c.Status === 'critical'), 10_000, 'the flip is seen');
    // The flip may also come through the verification re-read of every service (the services answer
    // covered a write no checks list explained); the swallowed long-poll must be found out anyway.
    await eventually(() => t.lost.some((l) => l.name === 'health/state/any'), 8000, 'the lost checks long-poll reported');
    assert.ok(Date.now() - from < 8000, `seen and reported after ${Date.now() - from} ms`);
    assert.deepEqual([...new Set(t.lost.map((l) => l.name))], ['health/state/any']);
  } finally {
    await t.stop();
  }
});

test('a quiet catalog: long-polls held their whole wait are probed, never abandoned', async () => {
  const t = await setup(300);
  try {
    await eventually(() => t.snapshots.length > 0, 15_000, 'initial snapshot');
    await eventually(() => t.sim.openBlocking === 2, 5000, 'two long-polls open');
    t.sim.clearRequests();
    await new Promise((r) => setTimeout(r, 2000));
    const probes = t.sim.requests.filter((r) => !r.blocking && (r.path === '/v1/catalog/services' || r.path === '/v1/health/state/any'));
    assert.ok(probes.length >= 4, `the open long-polls were probed (${probes.length} probes)`);
    assert.ok(probes.every((r) => new URLSearchParams(r.query).has('filter')), 'probes ask with a filter that matches nothing');
    assert.equal(t.sim.requests.filter((r) => r.blocking).length, 0, 'no long-poll was asked again');
    assert.equal(t.lost.length, 0);
    assert.equal(t.snapshots.length, 1);
  } finally {
    await t.stop();
  }
});
