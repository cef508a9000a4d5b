import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseTags, showTag, DEFAULT_OPTIONS } from '../../src/model/tags.js';

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
    'HAPROXY.BACKEND.DEPOOL_THRESHOLD=0.25',
  ]);
  assert.deepEqual(p.errors, []);
  assert.deepEqual(p.options, {
    protocol: 'http', balance: 'hdr(X-Tenant)', maxconn: 250, host: 'api.example.com', port: 9292, sticky: 'src',
    check: { inter: '1s', fall: 2, rise: 4 }, httpchk: '/health?full=1', depoolThreshold: 0.25,
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
    ['HAPROXY.BACKEND.CHECK.INTER=1us', /from 100ms to 1h/],
    ['HAPROXY.BACKEND.CHECK.INTER=2h', /from 100ms to 1h/],
    ['HAPROXY.BACKEND.CHECK.FALL=101', /from 1 to 100/],
    ['HAPROXY.FRONTEND.PORT=0', /from 1 to 65535/],
    ['HAPROXY.FRONTEND.HOST=\u212Aube.example.com', /ASCII only/],
    ['HAPROXY.ENABLE', /expected HAPROXY.ENABLE=<value>/],
    ['HAPROXY.BACKEND.HTTPCHK=/a"b', /URL path/],
    ['HAPROXY.BACKEND.HTTPCHK=/a#b', /URL path/],
    ['HAPROXY.BACKEND.STICKY=cookie', /src/],
    ['HAPROXY.ENABLE=yes', /true or false/],
    ['HAPROXY.BACKEND.DEPOOL_THRESHOLD=1.5', /from 0 to 1/],
    ['HAPROXY.BACKEND.DEPOOL_THRESHOLD=50%', /from 0 to 1/],
    ['HAPROXY.BACKEND.DEPOOL_THRESHOLD=.5', /from 0 to 1/],
  ];
  for (const [tag, re] of cases) {
    const p = parseTags(tag.startsWith('HAPROXY.ENABLE') ? [tag] : ['HAPROXY.ENABLE=true', tag]);
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

test('an unknown HAPROXY key is ignored with a warning naming the closest known key', () => {
  const p = parseTags(['HAPROXY.ENABLE=true', 'HAPROXY.BACKEND.BALANCEE=leastconn', 'HAPROXY.FRONTEND.HSOT=a.example.com', 'HAPROXY.NONSENSE.ENTIRELY.DIFFERENT=1']);
  assert.deepEqual(p.errors, []);
  assert.equal(p.options.balance, 'roundrobin', 'an unknown key sets nothing');
  const byTag = new Map(p.warnings.map((w) => [w.tag, w.message]));
  assert.match(byTag.get('HAPROXY.BACKEND.BALANCEE=leastconn') ?? '', /did you mean HAPROXY\.BACKEND\.BALANCE\?/);
  assert.match(byTag.get('HAPROXY.FRONTEND.HSOT=a.example.com') ?? '', /did you mean HAPROXY\.FRONTEND\.HOST\?/);
  assert.match(byTag.get('HAPROXY.NONSENSE.ENTIRELY.DIFFERENT=1') ?? '', /expected one of HAPROXY\.ENABLE/);
});

test('tags that only look like HAPROXY tags (lower case, Cyrillic or full-width letters) are ignored with a warning', () => {
  const cases: Array<[string, string]> = [
    ['haproxy.protocol=tcp', 'HAPROXY.PROTOCOL'],
    ['\u041dAPROXY.ENABLE=true', 'HAPROXY.ENABLE'], // Cyrillic capital EN
    ['HAPROXY.\u0415NABLE=true', 'HAPROXY.ENABLE'], // Cyrillic capital IE inside the key
    ['\uff28\uff21\uff30\uff32\uff2f\uff38\uff39.ENABLE=true', 'HAPROXY.ENABLE'], // full-width
    ['HAPROXY.EN\u200bABLE=true', 'HAPROXY.ENABLE'], // zero-width space
  ];
  for (const [tag, near] of cases) {
    const p = parseTags([tag]);
    assert.equal(p.enabled, false, tag);
    assert.deepEqual(p.errors, [], tag);
    assert.equal(p.warnings.length, 1, JSON.stringify(tag));
    assert.ok(p.warnings[0]?.message.includes(`did you mean ${near}?`), `${JSON.stringify(tag)}: ${p.warnings[0]?.message}`);
  }
  // Other tools' tags stay silent.
  assert.deepEqual(parseTags(['traefik.enable=true', 'v1', 'haproxy', 'prod=HAPROXY.ENABLE=true']).warnings, []);
});

test('hostile characters in any value quarantine the instance; the error message is one line', () => {
  const hostile = ['\n', '\r', '#', ' ', '"', "'", '\\', '\0', '\u2028', '\u00a0', '\u0430' /* Cyrillic a */, '\ufeff'];
  const keys = ['HAPROXY.BACKEND.BALANCE=roundrobin', 'HAPROXY.FRONTEND.HOST=api.example.com', 'HAPROXY.BACKEND.HTTPCHK=/health', 'HAPROXY.BACKEND.MAXCONN=10', 'HAPROXY.BACKEND.CHECK.INTER=1s'];
  for (const base of keys) {
    for (const h of hostile) {
      for (const tag of [base + h, base + h + 'x', base.replace('=', '=' + h)]) {
        const p = parseTags(['HAPROXY.ENABLE=true', tag]);
        const err = p.errors.find((e) => e.tag === tag);
        assert.ok(err, `no error for ${JSON.stringify(tag)}`);
        assert.doesNotMatch(err.message, /[\n\r\0]/);
      }
    }
  }
});

test('a 64 KiB value is rejected quickly and shown cut in messages', () => {
  const big = 'HAPROXY.FRONTEND.HOST=' + 'a'.repeat(64 * 1024);
  const bigUnknown = 'HAPROXY.X' + 'Y'.repeat(64 * 1024) + '=1';
  const t0 = performance.now();
  const p = parseTags(['HAPROXY.ENABLE=true', big, bigUnknown, 'HAPROXY.BACKEND.HTTPCHK=/' + 'b'.repeat(64 * 1024)]);
  assert.ok(performance.now() - t0 < 500, 'linear-time patterns');
  assert.equal(p.errors.length, 2);
  assert.equal(p.warnings.length, 1);
  assert.ok((p.warnings[0]?.message.length ?? Infinity) < 1000 && p.warnings[0]?.message.includes('…(65545 characters)'), 'the warning shows the key cut');
  assert.match(showTag(big), /…\(65558 characters\)$/);
});

test('identical duplicates count once; conflicting ones (aliases included) name both tags', () => {
  const p = parseTags(['HAPROXY.ENABLE=true', 'HAPROXY.BACKEND.MAXCONN=5', 'HAPROXY.BACKEND.MAXCONN=5', 'HAPROXY.ENABLE=true']);
  assert.deepEqual(p.errors, []);
  assert.equal(p.options.maxconn, 5);
  const c = parseTags(['HAPROXY.ENABLE=true', 'HAPROXY.ENABLE=false']);
  assert.match(c.errors[0]?.message ?? '', /conflicts with tag "HAPROXY.ENABLE=false": expected one value for HAPROXY.ENABLE/);
  assert.equal(c.enabled, false, 'sorted order: false is read first, the conflicting true is the error');
  // Order of tags never changes the verdict.
  assert.deepEqual(parseTags(['HAPROXY.ENABLE=false', 'HAPROXY.ENABLE=true']), c);
});

test('HAPROXY.BACKEND.DEPOOL_THRESHOLD: 0 to 1, carried on the backend; one parser for tag, flag and environment', async () => {
  const { parseThreshold } = await import('../../src/model/tags.js');
  assert.deepEqual(['0', '0.5', '1', '1.0', '0.3333'].map(parseThreshold), [0, 0.5, 1, 1, 0.3333]);
  assert.deepEqual(['', '1.01', '-0', '0.12345', '2', '0.5 '].map(parseThreshold), [undefined, undefined, undefined, undefined, undefined, undefined]);
  const { buildModel } = await import('../../src/model/model.js');
  const { entry, ENABLE, settings } = await import('../helpers/entries.js');
  const model = buildModel({ entries: [entry('web', 'w1', [ENABLE, 'HAPROXY.BACKEND.DEPOOL_THRESHOLD=0.75']), entry('api', 'a1', [ENABLE])], settings: settings() });
  assert.deepEqual(model.backends.map((b) => [b.name, b.depoolThreshold]), [['api', undefined], ['web', 0.75]]);
  // A bad value quarantines the instance like any other tag; it never reaches the pool rules.
  const bad = buildModel({ entries: [entry('web', 'w1', [ENABLE, 'HAPROXY.BACKEND.DEPOOL_THRESHOLD=2'])], settings: settings() });
  assert.match(bad.quarantined[0]?.reason ?? '', /from 0 to 1/);
});
