import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadSettings } from '../src/settings.js';
import { ErrorCode, isHapilotError } from '../src/errors.js';

test('defaults are the docker-haproxy image\'s', () => {
  const s = loadSettings({});
  assert.equal(s.maxconnGlobal, 50000);
  assert.equal(s.spreadChecks, 5);
  assert.equal(s.maxSpreadChecks, 15000);
  assert.equal(s.retries, 3);
  assert.equal(s.backlog, 10000);
  assert.equal(s.maxconn, 10000);
  assert.equal(s.timeoutConnect, '3s');
  assert.equal(s.timeoutHttpKeepAlive, '1s');
  assert.equal(s.timeoutHttpRequest, '15s');
  assert.equal(s.timeoutQueue, '30s');
  assert.equal(s.hardStopAfter, '30m');
  assert.equal(s.domain, undefined);
  assert.equal(s.httpPort, 8080);
  assert.equal(s.bindAddress, '127.0.0.1');
});

test('an invalid value is a one-line error naming the variable, the value and what was expected', () => {
  const cases: Array<[Record<string, string>, RegExp]> = [
    [{ HAPROXY_MAXCONN: 'abc' }, /^HAPROXY_MAXCONN="abc" is invalid: expected an integer/],
    [{ HAPROXY_TIMEOUT_CONNECT: '3 s' }, /^HAPROXY_TIMEOUT_CONNECT="3 s" is invalid: expected an HAProxy time/],
    [{ HAPROXY_HARD_STOP_AFTER: '30m\nstats socket /tmp/x' }, /^HAPROXY_HARD_STOP_AFTER=.* is invalid/],
    [{ HAPROXY_DOM: 'bad domain' }, /^HAPROXY_DOM=/],
    [{ HAPROXY_HTTP_PORT: '0' }, /^HAPROXY_HTTP_PORT="0"/],
    [{ HAPROXY_BIND_ADDRESS: 'localhost' }, /^HAPROXY_BIND_ADDRESS=/],
    [{ HAPROXY_STATS_PORT: '8080' }, /^HAPROXY_STATS_PORT="8080" is invalid: expected a port other than HAPROXY_HTTP_PORT/],
  ];
  for (const [env, re] of cases) {
    assert.throws(() => loadSettings(env), (err) => isHapilotError(err, ErrorCode.ENV_INVALID) && re.test(err.message) && !err.message.includes('\n'), JSON.stringify(env));
  }
});
