import { test } from 'node:test';
import assert from 'node:assert/strict';
import { backendName, buildModel, serverName } from '../../src/model/model.js';
import { IncrementalModel } from '../../src/model/incremental.js';
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

test('unusable addresses and ports are quarantined, naming the field, the value and what was expected', () => {
  const cases: Array<[Parameters<typeof entry>[3], RegExp]> = [
    [{ address: 'bad host!' }, /^Service\.Address "bad host!" is not an address: expected an IPv4 or IPv6 address or a host name$/],
    [{ address: '', nodeAddress: '' }, /^Node\.Address "" is not an address/],
    [{ address: '999.1.1.1' }, /octet is out of range/],
    [{ address: '10.0.0.1:80' }, /not an address/],
    [{ address: '0.0.0.0' }, /unspecified/],
    [{ address: '::' }, /unspecified/],
    [{ address: '::ffff:0.0.0.0' }, /unspecified/],
    [{ address: '224.0.0.1' }, /multicast/],
    [{ address: '255.255.255.255' }, /broadcast/],
    [{ address: 'ff02::1' }, /multicast/],
    [{ address: 'fe80::1%eth0' }, /zone index/],
    [{ address: 'a\nserver evil 6.6.6.6:80' }, /^Service\.Address "a\\nserver evil 6\.6\.6\.6:80" is not an address/],
    [{ port: 0 }, /^Service\.Port 0 is invalid: expected an integer from 1 to 65535$/],
    [{ port: 70000 }, /^Service\.Port 70000 is invalid/],
    [{ port: -1 }, /^Service\.Port -1 is invalid/],
  ];
  for (const [o, re] of cases) {
    const m = buildModel({ settings: settings(), entries: [entry('web', 'a', [ENABLE], o), entry('web', 'ok', [ENABLE], { node: 'n2' })] });
    assert.deepEqual(m.quarantined.map((q) => `${q.service}/${q.instance}`), ['web/a'], JSON.stringify(o));
    assert.match(m.quarantined[0]?.reason ?? '', re);
    assert.doesNotMatch(m.quarantined[0]?.reason ?? '', /\n/);
    assert.deepEqual(m.backends[0]?.servers.map((s) => s.serviceId), ['ok'], 'the other instance still serves');
  }
});

test('service names HAProxy cannot use are mapped to safe, distinct backend names', () => {
  const hostile = ['we b', 'hapilot_stats', 'a/b', 'a\nbackend evil', '_x', 'é', '\u0000', 'x'.repeat(300), 'ab:c', 'a#b', 'a"b', 'A\\B'];
  const m = buildModel({ settings: settings(), entries: hostile.map((name, i) => entry(name, `i${i}`, [ENABLE, `HAPROXY.FRONTEND.HOST=s${i}.example.test`])) });
  assert.deepEqual(m.quarantined, []);
  const names = m.backends.map((b) => b.name);
  assert.equal(new Set(names).size, hostile.length, 'collision-free');
  for (const b of m.backends) {
    assert.match(b.name, /^[A-Za-z0-9][A-Za-z0-9._-]{0,68}:[0-9a-f]{12}$/, JSON.stringify(b.service));
    assert.ok(!b.name.startsWith('hapilot_'));
    assert.equal(backendName(b.service), b.name, 'stable');
  }
  // Routes name the backend, not the raw service.
  assert.deepEqual(new Set(m.httpRoutes.map((r) => r.backend)), new Set(names));
  assert.equal(m.warnings.filter((w) => /not usable in haproxy\.cfg; its backend is named/.test(w)).length, hostile.length);
  // A valid name is used unchanged, and never equals a mapped one.
  assert.equal(backendName('web.v2_x-1'), 'web.v2_x-1');
  assert.notEqual(backendName('we b'), backendName('we_b'));
});

test('a service name that is not a DNS label gets no default host: quarantined with advice unless it has its own host or port', () => {
  const m = buildModel({ settings: settings(), entries: [
    entry('we b', 'a', [ENABLE]),
    entry('tcp svc', 'b', [ENABLE, 'HAPROXY.PROTOCOL=tcp', 'HAPROXY.FRONTEND.PORT=5432']),
  ] });
  assert.deepEqual(m.quarantined.map((q) => q.service), ['we b']);
  assert.match(m.quarantined[0]?.reason ?? '', /not a DNS label.*HAPROXY\.FRONTEND\.HOST/);
  assert.deepEqual(m.portFrontends.map((f) => f.backend), [backendName('tcp svc')]);
});

test('duplicate service IDs on one node: one server, the most recently modified, whatever the input order', () => {
  const a = entry('web', 'dup', [ENABLE], { node: 'n1', address: '10.0.0.5', modifyIndex: 3 });
  const b = entry('web', 'dup', [ENABLE], { node: 'n1', address: '10.0.0.6', modifyIndex: 7 });
  for (const entries of [[a, b], [b, a]]) {
    const m = buildModel({ settings: settings(), entries });
    assert.deepEqual(m.backends[0]?.servers.map((s) => s.address), ['10.0.0.6']);
    assert.match(m.warnings.join('\n'), /duplicate instance n1:dup .* at 10\.0\.0\.5:8000 ignored; kept the one at 10\.0\.0\.6:8000/);
  }
});

test('unknown tag keys: one warning per service and tag, with the closest key, and the instance still serves', () => {
  const entries = Array.from({ length: 50 }, (_, i) => entry('web', `w${i}`, [ENABLE, 'HAPROXY.BACKEND.MAXCON=5'], { node: `n${i}` }));
  const m = buildModel({ settings: settings(), entries });
  assert.equal(m.backends[0]?.servers.length, 50);
  const w = m.warnings.filter((x) => x.includes('MAXCON='));
  assert.equal(w.length, 1);
  assert.match(w[0] ?? '', /^service web 50 instances \(first w0\): tag "HAPROXY\.BACKEND\.MAXCON=5": unknown key .* did you mean HAPROXY\.BACKEND\.MAXCONN\?$/);
});

test('IPv6 addresses, IPv4-mapped ones included, are bracketed', () => {
  const m = buildModel({ settings: settings(), entries: [
    entry('web', 'a', [ENABLE], { node: 'n1', address: '::1' }),
    entry('web', 'b', [ENABLE], { node: 'n2', address: '::ffff:10.0.0.9' }),
    entry('web', 'c', [ENABLE], { node: 'n3', address: '2001:DB8::1' }),
  ] });
  assert.deepEqual(m.backends[0]?.servers.map((s) => s.address), ['[::1]', '[::ffff:10.0.0.9]', '[2001:DB8::1]']);
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

test('a service\'s default host belongs to it: another service\'s HAPROXY.FRONTEND.HOST claim of it loses, whatever the names\' order, and is reported', () => {
  for (const thief of ['aaa', 'zzz']) {
    const entries = [
      entry(thief, `${thief}1`, [ENABLE, 'HAPROXY.FRONTEND.HOST=web.example.test']),
      entry('web', 'w1', [ENABLE]),
    ];
    for (const order of [entries, [...entries].reverse()]) {
      const m = buildModel({ settings: settings(), entries: order });
      assert.deepEqual(m.httpRoutes, [{ host: 'web.example.test', backend: 'web' }], thief);
      assert.deepEqual(m.backends.map((b) => b.name), ['web']);
      assert.deepEqual(m.quarantined.map((q) => [q.service, q.instance, q.tag, q.reason]), [
        [thief, '*', 'HAPROXY.FRONTEND.HOST=web.example.test', 'host web.example.test is the default host of service web'],
      ]);
      assert.ok(m.warnings.includes(`service ${thief} is left out: host web.example.test is the default host of service web, which keeps it`), m.warnings.join('\n'));
      const inc = new IncrementalModel().build({ entries: order, settings: settings() });
      assert.deepEqual(inc, m, 'the incremental model settles the claim the same way');
    }
  }
});

test('host claims between tags: the first service by name wins and the other is reported; a default host nobody routes can be claimed', () => {
  const m = buildModel({ settings: settings(), entries: [
    entry('zeta', 'z1', [ENABLE, 'HAPROXY.FRONTEND.HOST=shop.example.test']),
    entry('beta', 'b1', [ENABLE, 'HAPROXY.FRONTEND.HOST=shop.example.test']),
    // web routes another host: web.example.test is free, and alpha's claim of it stands.
    entry('web', 'w1', [ENABLE, 'HAPROXY.FRONTEND.HOST=www.example.test']),
    entry('alpha', 'a1', [ENABLE, 'HAPROXY.FRONTEND.HOST=web.example.test']),
    // api's own tag naming its default host is its claim of what is its own anyway.
    entry('api', 'p1', [ENABLE, 'HAPROXY.FRONTEND.HOST=api.example.test']),
    entry('aaa', 'x1', [ENABLE, 'HAPROXY.FRONTEND.HOST=api.example.test']),
  ] });
  assert.deepEqual(m.httpRoutes, [
    { host: 'api.example.test', backend: 'api' },
    { host: 'shop.example.test', backend: 'beta' },
    { host: 'web.example.test', backend: 'alpha' },
    { host: 'www.example.test', backend: 'web' },
  ]);
  assert.deepEqual(m.quarantined.map((q) => [q.service, q.reason]), [
    ['aaa', 'host api.example.test is the default host of service api'],
    ['zeta', 'host shop.example.test is already routed to service beta'],
  ]);
  assert.ok(m.warnings.includes('service zeta is left out: host shop.example.test is already routed to service beta, which keeps it'), m.warnings.join('\n'));
});

test('incremental: a service arriving with its default host takes it back from the service that had claimed it, and gives it up when it goes', () => {
  const s = settings();
  const inc = new IncrementalModel();
  const services = new Map([['aaa', [entry('aaa', 'x1', [ENABLE, 'HAPROXY.FRONTEND.HOST=web.example.test'])]]]);
  const routes = () => inc.buildByService({ services, settings: s }).httpRoutes.map((r) => `${r.host}>${r.backend}`);
  assert.deepEqual(routes(), ['web.example.test>aaa']);
  services.set('web', [entry('web', 'w1', [ENABLE])]);
  assert.deepEqual(routes(), ['web.example.test>web']);
  services.delete('web');
  assert.deepEqual(routes(), ['web.example.test>aaa']);
});
