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
    [{ HAPROXY_MAXCONN: '1e3' }, /^HAPROXY_MAXCONN="1e3" is invalid: expected an integer from 1 to 10000000$/],
    [{ HAPROXY_MAXCONN: '-5' }, /^HAPROXY_MAXCONN="-5" is invalid/],
    [{ HAPROXY_MAXCONN: '0x10' }, /^HAPROXY_MAXCONN="0x10" is invalid/],
    [{ HAPROXY_MAXCONN: '99999999999' }, /^HAPROXY_MAXCONN="99999999999" is invalid/],
    [{ HAPROXY_MAXCONN: '10\u0000' }, /^HAPROXY_MAXCONN="10\\u0000" is invalid/],
    [{ HAPROXY_RETRIES: '101' }, /^HAPROXY_RETRIES="101" is invalid: expected an integer from 0 to 100$/],
    [{ HAPROXY_TIMEOUT_SERVER: '25d' }, /^HAPROXY_TIMEOUT_SERVER="25d" is invalid: expected an HAProxy time of at most 24d/],
    [{ HAPROXY_TIMEOUT_QUEUE: '999999999h' }, /at most 24d/],
    [{ HAPROXY_TIMEOUT_CLIENT: '0' }, /^HAPROXY_TIMEOUT_CLIENT="0" is invalid: expected a time of at least 1ms/],
    [{ HAPROXY_TIMEOUT_CONNECT: '500us' }, /at least 1ms/],
    [{ HAPROXY_TIMEOUT_CONNECT: '1.5s' }, /expected an HAProxy time/],
    [{ HAPROXY_TIMEOUT_CONNECT: '-1s' }, /expected an HAProxy time/],
    [{ HAPROXY_HARD_STOP_AFTER: '0s' }, /at least 1ms/],
    [{ HAPILOT_INCLUDE_WARNING: 'maybe' }, /^HAPILOT_INCLUDE_WARNING="maybe" is invalid: expected true or false$/],
    [{ HAPILOT_FD_POLICY: 'ignore' }, /expected adapt or fail/],
    [{ HAPILOT_FD_LIMIT: '10' }, /^HAPILOT_FD_LIMIT="10" is invalid: expected an integer from 64/],
    [{ HAPROXY_BIND_ADDRESS: '127.0.0.1 ssl crt /etc/x' }, /^HAPROXY_BIND_ADDRESS=/],
    [{ HAPROXY_DOM: 'a'.repeat(5000) }, /^HAPROXY_DOM="a{120}"…\(5000 characters\) is invalid: expected a DNS domain/],
  ];
  for (const [env, re] of cases) {
    assert.throws(() => loadSettings(env), (err) => isHapilotError(err, ErrorCode.ENV_INVALID) && re.test(err.message) && !err.message.includes('\n'), JSON.stringify(env));
  }
});

test('the largest accepted values are ones HAProxy accepts (24d timers, 1ms timeouts)', () => {
  const s = loadSettings({ HAPROXY_TIMEOUT_SERVER: '24d', HAPROXY_TIMEOUT_CONNECT: '1ms', HAPROXY_TIMEOUT_QUEUE: '0', HAPROXY_MAXCONN: ' 20 ' });
  assert.equal(s.timeoutServer, '24d');
  assert.equal(s.timeoutConnect, '1ms');
  assert.equal(s.timeoutQueue, '0', 'queue 0 is HAProxy\'s "use timeout connect"');
  assert.equal(s.maxconn, 20, 'surrounding spaces are trimmed');
});

test('HAPILOT_SOCKET_GROUP: unset means no group (sockets 0600); a name must be a group name that exists here', async () => {
  const { groupExists } = await import('../src/settings.js');
  assert.equal(loadSettings({}).socketGroup, undefined);
  assert.equal(loadSettings({ HAPILOT_SOCKET_GROUP: 'adm' }).socketGroup, 'adm');
  for (const [raw, expected] of [
    ['nosuchgroup-hapilot', /^HAPILOT_SOCKET_GROUP="nosuchgroup-hapilot" is invalid: expected a group that exists on this machine/],
    ['adm\nstats socket /tmp/x', /^HAPILOT_SOCKET_GROUP="adm\\nstats socket \/tmp\/x" is invalid: expected a group name/],
    ['Adm', /expected a group name/],
    ['1000', /expected a group name/],
    ['a'.repeat(33), /expected a group name/],
  ] as const) {
    assert.throws(() => loadSettings({ HAPILOT_SOCKET_GROUP: raw }), (err: unknown) => isHapilotError(err, ErrorCode.ENV_INVALID) && expected.test(err.message) && !err.message.includes('\n'));
  }
  // /etc/group first; NSS (getent) for the groups it does not list.
  const { mkdtemp, writeFile, rm } = await import('node:fs/promises');
  const dir = await mkdtemp('/tmp/hapilot-groups-');
  try {
    await writeFile(`${dir}/group`, 'only-here:x:4242:\n');
    assert.equal(groupExists('only-here', `${dir}/group`), true);
    assert.equal(groupExists('root', `${dir}/group`), true, 'found through getent');
    assert.equal(groupExists('not-anywhere-hapilot', `${dir}/group`), false);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
