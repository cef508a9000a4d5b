import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createConsulClient } from '../../src/consul/client.js';
import { loadConsulConfig, redactConsulConfig } from '../../src/consul/config.js';
import { fetchCatalog } from '../../src/catalog/fetch-catalog.js';
import { ErrorCode, isHapilotError } from '../../src/errors.js';
import { readCatalogFile } from '../../src/catalog/catalog-file.js';
import { startSim } from '../helpers/sim.js';
import { freePort } from '../helpers/haproxy.js';

test('reads services and health entries with their X-Consul-Index; sends the token', async () => {
  const sim = await startSim(await readCatalogFile('examples/catalog.json'));
  const consul = createConsulClient(loadConsulConfig({ flagUrl: sim.url, env: { CONSUL_HTTP_TOKEN: 's3cr3t-token' } }));
  try {
    const services = await consul.catalogServices();
    assert.ok(services.index > 0);
    assert.ok(services.data.web?.includes('HAPROXY.ENABLE=true'));
    assert.equal(sim.lastToken, 's3cr3t-token');
    const web = await consul.healthService('web');
    assert.deepEqual(web.data.map((e) => e.Service.ID).sort(), ['web-1', 'web-2', 'web-3']);
    assert.equal(web.knownLeader, true);
    const read = await fetchCatalog(consul);
    assert.deepEqual(read.services, ['api', 'broken', 'glance', 'legacy', 'web'], 'only services with HAPROXY tags are read');
  } finally {
    consul.close();
    await sim.stop();
  }
});

test('a blocking query waits for a change and returns the new index', async () => {
  const sim = await startSim(await readCatalogFile('examples/catalog.json'));
  const consul = createConsulClient(loadConsulConfig({ flagUrl: sim.url, env: {} }));
  try {
    const first = await consul.healthService('web');
    const pending = consul.healthService('web', { index: first.index, wait: '10s' });
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(sim.openBlocking, 1);
    sim.setStatus('node3', 'web-3', 'passing');
    const second = await pending;
    assert.ok(second.index > first.index);
    const timedOut = await consul.healthService('web', { index: second.index, wait: '200ms' });
    assert.equal(timedOut.index, second.index, 'an expired wait answers with the same index');
  } finally {
    consul.close();
    await sim.stop();
  }
});

test('errors: HTTP status, refused connection and abort map to catalogue codes', async () => {
  const sim = await startSim();
  const consul = createConsulClient(loadConsulConfig({ flagUrl: sim.url, env: {} }));
  try {
    sim.failNext(1, 500, 'rpc error: No cluster leader');
    await assert.rejects(consul.catalogServices(), (e) => isHapilotError(e, ErrorCode.CONSUL_HTTP) && /HTTP 500: rpc error: No cluster leader/.test(e.message));
    const ac = new AbortController();
    const p = consul.catalogServices({ index: 1_000_000, wait: '30s', signal: ac.signal });
    setTimeout(() => ac.abort(), 50);
    await assert.rejects(p, (e) => isHapilotError(e, ErrorCode.ABORTED));
  } finally {
    consul.close();
    await sim.stop();
  }
  const dead = createConsulClient(loadConsulConfig({ flagUrl: `127.0.0.1:${await freePort()}`, env: {} }));
  await assert.rejects(dead.catalogServices(), (e) => isHapilotError(e, ErrorCode.CONSUL_UNREACHABLE) && /ECONNREFUSED/.test(e.message));
  dead.close();
});

test('--consistency stale and consistent are sent as Consul query flags; a datacenter as dc', async () => {
  const sim = await startSim();
  try {
    for (const [consistency, flag] of [['stale', 'stale'], ['consistent', 'consistent']] as const) {
      const c = createConsulClient(loadConsulConfig({ flagUrl: sim.url, consistency, env: { HAPILOT_CONSUL_DATACENTER: 'eqiad1' } }));
      sim.clearRequests();
      await c.catalogServices();
      const q = new URLSearchParams(sim.requests[0]?.query ?? '');
      assert.ok(q.has(flag), `${consistency}: ${sim.requests[0]?.query}`);
      assert.equal(q.get('dc'), 'eqiad1');
      c.close();
    }
  } finally {
    await sim.stop();
  }
});

test('configuration follows the Consul CLI environment; the token is never in what is logged', () => {
  const c = loadConsulConfig({ env: { CONSUL_HTTP_ADDR: 'consul.internal:8501', CONSUL_HTTP_SSL: 'true', CONSUL_HTTP_TOKEN: 'abc-secret', CONSUL_HTTP_SSL_VERIFY: 'false' } });
  assert.equal(c.url.toString(), 'https://consul.internal:8501/');
  assert.equal(c.verify, false);
  assert.doesNotMatch(JSON.stringify(redactConsulConfig(c)), /abc-secret/);
  assert.equal(loadConsulConfig({ flagUrl: 'http://10.0.0.1:8500', env: { CONSUL_HTTP_ADDR: 'x:1' } }).url.host, '10.0.0.1:8500');
  assert.throws(() => loadConsulConfig({ env: { CONSUL_HTTP_ADDR: 'ftp://x' } }), (e) => isHapilotError(e, ErrorCode.CONSUL_CONFIG) && /CONSUL_HTTP_ADDR/.test(e.message));
  assert.throws(() => loadConsulConfig({ env: { CONSUL_HTTP_TOKEN_FILE: '/nonexistent/token' } }), (e) => isHapilotError(e, ErrorCode.CONSUL_CONFIG) && /CONSUL_HTTP_TOKEN_FILE/.test(e.message));
});
