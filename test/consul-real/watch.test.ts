// The Consul watcher against a real Consul agent with 1,000 services: the startup gate (the first
// snapshot is complete), two long-polls whatever the number of services, and one change costing at
// most 3 requests, counted by Consul itself (telemetry consul.api.http, /v1/agent/metrics).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createConsulClient } from '../../src/consul/client.js';
import { loadConsulConfig } from '../../src/consul/config.js';
import { ConsulSource } from '../../src/catalog/consul-source.js';
import type { CatalogSnapshot } from '../../src/catalog/source.js';
import { Metrics } from '../../src/daemon/metrics.js';
import { eventually } from '../helpers/backends.js';
import { testLog } from '../helpers/log.js';
import { RealConsul, hapilotReads, registerMany } from '../helpers/real-consul.js';

const ENABLE = ['HAPROXY.ENABLE=true'];
const SERVICES = 1000;

const statuses = (s: CatalogSnapshot | undefined, service: string) =>
  (s?.entries ?? []).filter((e) => e.Service.Service === service).map((e) => `${e.Service.ID}:${(e.Checks ?? []).map((c) => c.Status).sort().join('/')}`).sort();

test('1,000 services in a real Consul: complete first snapshot, two long-polls when idle, one change costs at most 3 requests', async () => {
  const consul = await RealConsul.start();
  const metrics = new Metrics();
  const client = createConsulClient(loadConsulConfig({ flagUrl: consul.url, env: {} }), metrics.consulObserver());
  const source = new ConsulSource({ consul: client, log: testLog, wait: '60s' });
  const snapshots: CatalogSnapshot[] = [];
  try {
    await registerMany(consul, Array.from({ length: SERVICES }, (_, s) => ({ node: `node${s % 10}`, id: `svc${s}-0`, service: `svc${s}`, tags: ENABLE, port: 8000 + (s % 1000) })));
    await consul.register({ node: 'node0', id: 'redis', service: 'redis', tags: ['db'], port: 6379 });

    const startCounts = await hapilotReads(consul);
    source.start((s) => snapshots.push(s));
    await eventually(() => snapshots.length > 0, 60_000, 'first snapshot');
    // The startup gate: the first snapshot has every enabled service, never a partial one.
    assert.equal(new Set(snapshots[0]!.entries.map((e) => e.Service.Service)).size, SERVICES);
    assert.equal(snapshots.length, 1);
    await eventually(async () => (await metrics.registry.getSingleMetricAsString('hapilot_consul_open_long_polls')).endsWith(' 2'), 10_000, 'two long-polls open');
    const afterStart = await hapilotReads(consul);
    assert.equal(afterStart.healthService - startCounts.healthService, SERVICES, 'each enabled service read once at start (redis, without HAPROXY tags, never)');

    // Idle: nothing completes while nothing changes (the two long-polls stay open).
    await new Promise((r) => setTimeout(r, 3000));
    const idle = await hapilotReads(consul);
    assert.deepEqual(idle, afterStart, 'no request while idle');
    assert.match(await metrics.registry.getSingleMetricAsString('hapilot_consul_open_long_polls'), / 2$/);

    // One health flip: the checks long-poll returns, one service is re-read, and catalog/services
    // (not woken by a check) stays open. At most 3 requests in all.
    await consul.setStatus('node2', 'svc42-0', 'critical');
    await eventually(() => statuses(snapshots.at(-1), 'svc42')[0]?.includes('critical') ?? false, 10_000, 'flip seen');
    await new Promise((r) => setTimeout(r, 2000));
    const flip = await hapilotReads(consul);
    const flipCost = flip.total - idle.total;
    assert.ok(flipCost <= 3, `a flip cost ${flipCost} requests (${JSON.stringify(flip)} vs ${JSON.stringify(idle)})`);
    assert.equal(flip.healthService - idle.healthService, 1, 'one service re-read');

    // One registration of a new instance: both long-polls return, one service re-read.
    await consul.register({ node: 'node9', id: 'svc7-new', service: 'svc7', tags: ENABLE, port: 9007 });
    await eventually(() => statuses(snapshots.at(-1), 'svc7').length === 2, 10_000, 'registration seen');
    await new Promise((r) => setTimeout(r, 2500));
    const reg = await hapilotReads(consul);
    const regCost = reg.total - flip.total;
    assert.ok(regCost <= 3, `a registration cost ${regCost} requests (${JSON.stringify(reg)} vs ${JSON.stringify(flip)})`);
    assert.match(await metrics.registry.getSingleMetricAsString('hapilot_consul_open_long_polls'), / 2$/);
  } finally {
    await source.stop();
    client.close();
    await consul.destroy();
  }
});
