import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildModel, serverName } from '../../src/model/model.js';
import { ENABLE, entry, settings } from '../helpers/entries.js';

test('only instances whose checks (node checks included) all pass become servers', () => {
  const m = buildModel({ settings: settings(), entries: [
    entry('web', 'w1', [ENABLE], { node: 'n1' }),
    entry('web', 'w2', [ENABLE], { node: 'n2', status: 'critical' }),
    entry('web', 'w3', [ENABLE], { node: 'n3', status: 'warning' }),
    entry('web', 'w4', [ENABLE], { node: 'n4', nodeStatus: 'critical' }),
    entry('web', 'w5', [ENABLE], { node: 'n5', status: 'maintenance' }),
  ] });
  assert.deepEqual(m.backends[0]?.servers.map((s) => s.serviceId), ['w1']);
});

test('HAPILOT_INCLUDE_WARNING routes to warning instances with their Warning weight', () => {
  const m = buildModel({ settings: settings({ HAPILOT_INCLUDE_WARNING: 'true' }), entries: [
    entry('web', 'w1', [ENABLE], { node: 'n1', weights: { Passing: 10, Warning: 2 } }),
    entry('web', 'w3', [ENABLE], { node: 'n3', status: 'warning', weights: { Passing: 10, Warning: 2 } }),
  ] });
  assert.deepEqual(m.backends[0]?.servers.map((s) => [s.serviceId, s.weight]), [['w1', 10], ['w3', 2]]);
});

test('Service.Address falls back to Node.Address; IPv6 is bracketed; host names resolve softly', () => {
  const m = buildModel({ settings: settings(), entries: [
    entry('web', 'a', [ENABLE], { node: 'n1', nodeAddress: '10.1.1.1' }),
    entry('web', 'b', [ENABLE], { node: 'n2', address: '2001:db8::5', port: 9000 }),
    entry('web', 'c', [ENABLE], { node: 'n3', address: 'app-3.internal' }),
  ] });
  const servers = m.backends[0]?.servers ?? [];
  assert.deepEqual(servers.map((s) => `${s.address}:${s.port}:${s.hostname}`), ['10.1.1.1:8000:false', '[2001:db8::5]:9000:false', 'app-3.internal:8000:true']);
});

test('weights map from Consul Weights and are capped at HAProxy\'s 256', () => {
  const m = buildModel({ settings: settings(), entries: [entry('web', 'a', [ENABLE], { weights: { Passing: 1000, Warning: 1 } })] });
  assert.equal(m.backends[0]?.servers[0]?.weight, 256);
});

test('an instance with a bad tag is quarantined alone, naming service, instance and tag', () => {
  const bad = 'HAPROXY.BACKEND.BALANCE=roundrobin\nserver evil 6.6.6.6:80';
  const m = buildModel({ settings: settings(), entries: [
    entry('web', 'good', [ENABLE], { node: 'n1' }),
    entry('web', 'bad', [ENABLE, bad], { node: 'n2' }),
    entry('api', 'a1', [ENABLE]),
  ] });
  assert.deepEqual(m.backends.map((b) => [b.name, b.servers.map((s) => s.serviceId)]), [['api', ['a1']], ['web', ['good']]]);
  assert.deepEqual(m.quarantined.map((q) => [q.service, q.instance, q.tag]), [['web', 'bad', bad]]);
});

test('unusable addresses, ports and service names are quarantined', () => {
  const m = buildModel({ settings: settings(), entries: [
    entry('web', 'a', [ENABLE], { address: 'bad host!' }),
    entry('web', 'b', [ENABLE], { port: 0, node: 'n2' }),
    entry('we b', 'c', [ENABLE]),
    entry('hapilot_stats', 'd', [ENABLE]),
  ] });
  assert.deepEqual(m.quarantined.map((q) => `${q.service}/${q.instance}`), ['hapilot_stats/*', 'we b/*', 'web/a', 'web/b']);
  assert.deepEqual(m.backends.map((b) => [b.name, b.servers.length]), [['web', 0]]);
});

test('services with no healthy instance keep an empty backend (503s, not 404s)', () => {
  const m = buildModel({ settings: settings(), entries: [entry('web', 'a', [ENABLE], { status: 'critical' })] });
  assert.deepEqual(m.backends.map((b) => [b.name, b.servers.length]), [['web', 0]]);
  assert.deepEqual(m.httpRoutes, [{ host: 'web.example.test', backend: 'web' }]);
});

test('host and port claims: the first service by name wins, the other is quarantined', () => {
  const m = buildModel({ settings: settings(), entries: [
    entry('a', 'a1', [ENABLE, 'HAPROXY.FRONTEND.HOST=x.example.test']),
    entry('b', 'b1', [ENABLE, 'HAPROXY.FRONTEND.HOST=x.example.test']),
    entry('c', 'c1', [ENABLE, 'HAPROXY.PROTOCOL=tcp', 'HAPROXY.FRONTEND.PORT=5432']),
    entry('d', 'd1', [ENABLE, 'HAPROXY.PROTOCOL=tcp', 'HAPROXY.FRONTEND.PORT=5432']),
    entry('e', 'e1', [ENABLE, 'HAPROXY.PROTOCOL=tcp', 'HAPROXY.FRONTEND.PORT=8080']),
  ] });
  assert.deepEqual(m.backends.map((b) => b.name), ['a', 'c']);
  assert.deepEqual(m.quarantined.map((q) => [q.service, q.reason]), [
    ['b', 'host x.example.test is already routed to service a'],
    ['d', 'port 5432 is already used by service c'],
    ['e', 'port 8080 is already used by HAPROXY_HTTP_PORT'],
  ]);
});

test('an HTTP service without host, port or HAPROXY_DOM is quarantined with advice', () => {
  const m = buildModel({ settings: settings({ HAPROXY_DOM: '' }), entries: [entry('web', 'a', [ENABLE])] });
  assert.match(m.quarantined[0]?.reason ?? '', /HAPROXY_DOM/);
});

test('service options come from the most recently modified instance', () => {
  const m = buildModel({ settings: settings(), entries: [
    entry('web', 'old', [ENABLE, 'HAPROXY.BACKEND.BALANCE=roundrobin'], { node: 'n1', modifyIndex: 5 }),
    entry('web', 'new', [ENABLE, 'HAPROXY.BACKEND.BALANCE=leastconn'], { node: 'n2', modifyIndex: 9 }),
  ] });
  assert.equal(m.backends[0]?.balance, 'leastconn');
  assert.equal(m.backends[0]?.servers.length, 2);
  assert.match(m.warnings.join('\n'), /disagree/);
});

test('server names are stable and safe, with a hash when characters had to be replaced', () => {
  assert.equal(serverName('node1', 'web-1'), 'node1:web-1');
  const odd = serverName('node 1', 'web/1');
  assert.match(odd, /^node_1:web_1-[0-9a-f]{8}$/);
  assert.notEqual(serverName('node 1', 'web/1'), serverName('node_1', 'web_1'));
});
