// Each tag changes the rendered config, in the directive it is documented to drive.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ENABLE, entry } from '../helpers/entries.js';
import { renderEntries } from '../helpers/render.js';

async function cfg(tags: string[], env: Record<string, string> = {}): Promise<string> {
  return (await renderEntries([entry('svc', 's1', [ENABLE, ...tags])], { env })).config;
}

const backend = (config: string) => config.slice(config.indexOf('backend svc'));

test('each HAPROXY tag changes the output where documented', async () => {
  const base = await cfg([]);
  const cases: Array<[string[], RegExp]> = [
    [['HAPROXY.PROTOCOL=tcp', 'HAPROXY.FRONTEND.PORT=5432'], /frontend port_5432\n {4}bind 127\.0\.0\.1:5432\n {4}mode tcp/],
    [['HAPROXY.BACKEND.BALANCE=leastconn'], /balance leastconn/],
    [['HAPROXY.BACKEND.MAXCONN=77'], /default-server check .* maxconn 77/],
    [['HAPROXY.FRONTEND.PORT=9001'], /frontend port_9001\n {4}bind 127\.0\.0\.1:9001\n {4}mode http/],
    [['HAPROXY.BACKEND.STICKY=src'], /stick-table type ip size 1m expire 30m\n {4}stick on src/],
    [['HAPROXY.BACKEND.CHECK.INTER=1s'], /default-server check inter 1s fall 3 rise 2/],
    [['HAPROXY.BACKEND.CHECK.FALL=2'], /default-server check inter 2s fall 2 rise 2/],
    [['HAPROXY.BACKEND.CHECK.RISE=5'], /default-server check inter 2s fall 3 rise 5/],
    [['HAPROXY.BACKEND.HTTPCHK=/ping'], /option httpchk GET \/ping/],
    [['HAPROXY.BALANCE=source'], /balance source/],
    [['HAPROXY.MAXCONN=12'], /maxconn 12/],
  ];
  for (const [tags, re] of cases) {
    const out = await cfg(tags);
    assert.notEqual(out, base, tags.join(','));
    assert.match(out, re, tags.join(','));
    assert.doesNotMatch(base, re, `baseline already matches ${re}`);
  }
});

test('HAPROXY.FRONTEND.HOST changes the host map; the default host is <service>.<HAPROXY_DOM>', async () => {
  const def = await renderEntries([entry('svc', 's1', [ENABLE])]);
  assert.match(def.files[0]?.contents ?? '', /^svc\.example\.test svc$/m);
  const custom = await renderEntries([entry('svc', 's1', [ENABLE, 'HAPROXY.FRONTEND.HOST=Api.Example.ORG'])]);
  assert.match(custom.files[0]?.contents ?? '', /^api\.example\.org svc$/m);
  assert.notEqual(def.config, custom.config, 'the config names the map by its content hash');
});

test('HTTP frontends set X-Forwarded-For/-Port/-Proto, once; backends and TCP frontends do not', async () => {
  const config = await cfg(['HAPROXY.FRONTEND.PORT=9001']);
  const section = (name: string) => config.slice(config.indexOf(`frontend ${name}\n`)).split(/\n\n/)[0] ?? '';
  for (const name of ['hapilot_http', 'port_9001']) {
    const fe = section(name);
    assert.match(fe, /option forwardfor/, name);
    assert.match(fe, /X-Forwarded-Port %\[dst_port\]/, name);
    assert.match(fe, /X-Forwarded-Proto https if \{ ssl_fc \}/, name);
  }
  assert.doesNotMatch(backend(config), /forwardfor|X-Forwarded/, 'set in the frontends, not parsed again per backend');
  const tcp = await cfg(['HAPROXY.PROTOCOL=tcp', 'HAPROXY.FRONTEND.PORT=5432']);
  assert.doesNotMatch(tcp.slice(tcp.indexOf('frontend port_5432')), /forwardfor|X-Forwarded/);
});

test('global settings come from the environment', async () => {
  const out = await cfg([], { HAPROXY_HARD_STOP_AFTER: '5m', HAPROXY_TIMEOUT_CONNECT: '750ms', HAPROXY_HTTP_PORT: '8888', HAPROXY_BIND_ADDRESS: '::' });
  assert.match(out, /hard-stop-after 5m/);
  assert.match(out, /timeout connect 750ms/);
  assert.match(out, /bind \[::\]:8888/);
});

test('an unchanged catalog renders identical bytes whatever the order of entries', async () => {
  const entries = [
    entry('b', 'b2', [ENABLE], { node: 'n2' }), entry('a', 'a1', [ENABLE], { node: 'n1' }),
    entry('b', 'b1', [ENABLE], { node: 'n1' }), entry('c', 'c1', [ENABLE, 'HAPROXY.PROTOCOL=tcp', 'HAPROXY.FRONTEND.PORT=7000']),
  ];
  const one = await renderEntries(entries);
  const two = await renderEntries([...entries].reverse());
  assert.equal(one.config, two.config);
  assert.deepEqual(one.files, two.files);
  assert.ok(one.config.indexOf('backend a') < one.config.indexOf('backend b'));
  assert.ok(one.config.indexOf('server n1:b1') < one.config.indexOf('server n2:b2'));
});
