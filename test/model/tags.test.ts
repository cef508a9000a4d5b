import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseTags, DEFAULT_OPTIONS } from '../../src/model/tags.js';

test('HAPROXY.ENABLE=true enables; other tags are ignored; defaults apply', () => {
  const p = parseTags(['HAPROXY.ENABLE=true', 'production', 'v1.2']);
  assert.equal(p.enabled, true);
  assert.deepEqual(p.errors, []);
  assert.deepEqual(p.options, DEFAULT_OPTIONS);
});

test('a service without the enable tag is not enabled; HAPROXY.ENABLE=false disables', () => {
  assert.equal(parseTags(['HAPROXY.PROTOCOL=http']).enabled, false);
  assert.equal(parseTags(['HAPROXY.ENABLE=false']).enabled, false);
});

test('every documented tag sets its option', () => {
  const p = parseTags([
    'HAPROXY.ENABLE=true', 'HAPROXY.PROTOCOL=http', 'HAPROXY.BACKEND.BALANCE=hdr(X-Tenant)', 'HAPROXY.BACKEND.MAXCONN=250',
    'HAPROXY.FRONTEND.HOST=API.Example.com', 'HAPROXY.FRONTEND.PORT=9292', 'HAPROXY.BACKEND.STICKY=src',
    'HAPROXY.BACKEND.CHECK.INTER=1s', 'HAPROXY.BACKEND.CHECK.FALL=2', 'HAPROXY.BACKEND.CHECK.RISE=4', 'HAPROXY.BACKEND.HTTPCHK=/health?full=1',
  ]);
  assert.deepEqual(p.errors, []);
  assert.deepEqual(p.options, {
    protocol: 'http', balance: 'hdr(X-Tenant)', maxconn: 250, host: 'api.example.com', port: 9292, sticky: 'src',
    check: { inter: '1s', fall: 2, rise: 4 }, httpchk: '/health?full=1',
  });
});

test('deprecated docker-haproxy aliases are accepted and reported', () => {
  const p = parseTags(['haproxy_enable', 'HAPROXY.BALANCE=leastconn', 'HAPROXY.MAXCONN=100']);
  assert.equal(p.enabled, true);
  assert.equal(p.options.balance, 'leastconn');
  assert.equal(p.options.maxconn, 100);
  assert.deepEqual(p.deprecated.sort(), ['HAPROXY.BALANCE=leastconn', 'HAPROXY.MAXCONN=100', 'haproxy_enable']);
  assert.equal(parseTags(['haproxy.enable=true']).enabled, true);
});

test('invalid values are errors naming the tag and what was expected', () => {
  const cases: Array<[string, RegExp]> = [
    ['HAPROXY.PROTOCOL=udp', /http or tcp/],
    ['HAPROXY.BACKEND.BALANCE=roundrobin\n  server x 1.2.3.4:80', /one of roundrobin/],
    ['HAPROXY.BACKEND.BALANCE=hdr(a b)', /hdr/],
    ['HAPROXY.BACKEND.MAXCONN=10 # x', /digits/],
    ['HAPROXY.BACKEND.MAXCONN=0', /from 1/],
    ['HAPROXY.FRONTEND.PORT=70000', /1 to 65535/],
    ['HAPROXY.FRONTEND.HOST=a b', /host name/],
    ['HAPROXY.FRONTEND.HOST=évil.com', /host name/],
    ['HAPROXY.BACKEND.CHECK.INTER=1 s', /HAProxy time/],
    ['HAPROXY.BACKEND.CHECK.INTER=0s', /above zero/],
    ['HAPROXY.BACKEND.HTTPCHK=/a"b', /URL path/],
    ['HAPROXY.BACKEND.HTTPCHK=/a#b', /URL path/],
    ['HAPROXY.BACKEND.STICKY=cookie', /src/],
    ['HAPROXY.BACKEND.BALANCEE=roundrobin', /unknown HAPROXY tag/],
    ['HAPROXY.ENABLE=yes', /true or false/],
  ];
  for (const [tag, re] of cases) {
    const p = parseTags(tag.startsWith('HAPROXY.ENABLE=') ? [tag] : ['HAPROXY.ENABLE=true', tag]);
    const err = p.errors.find((e) => e.tag === tag);
    assert.ok(err, `expected an error for ${JSON.stringify(tag)}`);
    assert.match(err.message, re, tag);
  }
});

test('a malformed enable tag is reported (enabled with an error), not silently skipped', () => {
  const p = parseTags(['HAPROXY.ENABLE=yes']);
  assert.equal(p.enabled, true);
  assert.equal(p.errors.length, 1);
});

test('conflicting duplicate keys are an error; identical duplicates are not', () => {
  assert.equal(parseTags(['HAPROXY.ENABLE=true', 'HAPROXY.PROTOCOL=http', 'HAPROXY.PROTOCOL=tcp', 'HAPROXY.FRONTEND.PORT=1']).errors.some((e) => /conflicts/.test(e.message)), true);
  assert.deepEqual(parseTags(['HAPROXY.ENABLE=true', 'HAPROXY.BALANCE=first', 'HAPROXY.BACKEND.BALANCE=leastconn']).errors.map((e) => e.message.slice(0, 14)), ['conflicts with']);
});

test('TCP services need a port and cannot use HTTP-only options', () => {
  assert.match(parseTags(['HAPROXY.ENABLE=true', 'HAPROXY.PROTOCOL=tcp']).errors[0]?.message ?? '', /FRONTEND.PORT/);
  const p = parseTags(['HAPROXY.ENABLE=true', 'HAPROXY.PROTOCOL=tcp', 'HAPROXY.FRONTEND.PORT=5432', 'HAPROXY.BACKEND.BALANCE=uri', 'HAPROXY.BACKEND.HTTPCHK=/x']);
  assert.equal(p.errors.length, 2);
  assert.deepEqual(parseTags(['HAPROXY.ENABLE=true', 'HAPROXY.PROTOCOL=tcp', 'HAPROXY.FRONTEND.PORT=5432']).errors, []);
});
