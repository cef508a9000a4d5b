// `hapilot run` (the built CLI, as an operator runs it) against a real Consul with ACLs
// (default_policy "deny") and against one serving HTTPS with verify_incoming.
// - The minimum policy (read on services and nodes, read on the hapilot/ KV prefix) is enough.
// - A missing or wrong token is an ACL error naming CONSUL_HTTP_TOKEN / CONSUL_HTTP_TOKEN_FILE
//   (HTTP 403), never "unreachable"; the token's value appears in no log line, /status or /metrics.
// - TLS: CONSUL_CACERT, CONSUL_CLIENT_CERT and CONSUL_CLIENT_KEY; without the client certificate
//   the agent refuses the handshake and hapilot says so.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { CLI, hapilot } from '../helpers/cli.js';
import { eventually, get, startBackend, type Backend } from '../helpers/backends.js';
import { freePorts, tempDir } from '../helpers/haproxy.js';
import { RealConsul, fixtureTls } from '../helpers/real-consul.js';

const ENABLE = ['HAPROXY.ENABLE=true'];

/** The minimum policy for hapilot's token (README). */
export const HAPILOT_POLICY = `service_prefix "" { policy = "read" }
node_prefix "" { policy = "read" }
key_prefix "hapilot/" { policy = "read" }
`;

interface Run { proc: ResultPromise; base: string; httpPort: number; logs: () => string; stop: () => Promise<string> }

async function startRun(dir: string, env: Record<string, string>): Promise<Run> {
  const [httpPort, statsPort, statusPort] = await freePorts(3) as [number, number, number];
  const proc = execa(process.execPath, [CLI, 'run', '--run-dir', path.join(dir, `run-${statusPort}`), '--status-listen', `127.0.0.1:${statusPort}`,
    '--wait', '50ms:300ms', '--min-reload-interval', '100ms', '--consul-wait', '30s', '--log-level', 'debug', '--stop-haproxy-on-exit'], {
    env: { HAPROXY_DOM: 'example.test', HAPROXY_HTTP_PORT: String(httpPort), HAPROXY_STATS_PORT: String(statsPort), HAPROXY_MAXCONN_GLOBAL: '2000', HAPROXY_MAXCONN: '1000', ...env },
    extendEnv: false, reject: false, all: true, stdin: 'ignore', buffer: true,
  });
  let logs = '';
  proc.all?.on('data', (b: Buffer) => { logs += b.toString(); });
  const stop = async () => {
    if (proc.exitCode === null) proc.kill('SIGTERM');
    const r = await proc;
    return String(r.all ?? logs);
  };
  return { proc, base: `http://127.0.0.1:${statusPort}`, httpPort, logs: () => logs, stop };
}

const text = async (url: string) => { const r = await fetch(url); return { status: r.status, body: await r.text() }; };
const statusJson = async (run: Run) => JSON.parse((await text(`${run.base}/status`)).body) as { degraded: string[] };

/** What the process may see of the environment: PATH and HOME only, plus what the test gives. */
const baseEnv = () => ({ PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/root' });

describe('ACLs: default policy deny', { concurrency: false }, () => {
  let consul: RealConsul;
  let backends: Backend[];
  let dir: string;
  let cleanup: () => Promise<void>;
  let token: string;

  before(async () => {
    consul = await RealConsul.start({ acl: true });
    ({ dir, cleanup } = await tempDir());
    backends = await Promise.all(['web-1', 'web-2'].map((n) => startBackend(n)));
    await consul.ok('PUT', '/v1/acl/policy', { Name: 'hapilot', Description: 'hapilot: read the catalog and its KV prefix', Rules: HAPILOT_POLICY });
    token = (((await consul.ok('PUT', '/v1/acl/token', { Description: 'hapilot', Policies: [{ Name: 'hapilot' }] })).json()) as { SecretID: string }).SecretID;
    await consul.register({ node: 'node1', id: 'web-1', service: 'web', tags: ENABLE, port: backends[0]!.port });
    await consul.ok('PUT', '/v1/kv/hapilot/pool/web/node1/web-1', '{"state":"pooled"}');
  });
  after(async () => {
    await consul?.destroy();
    await Promise.all((backends ?? []).map((b) => b.close()));
    await cleanup?.();
  });

  test('the minimum policy is enough: hapilot follows the catalog with it, and may read (not write) its KV prefix', async () => {
    const tokenFile = path.join(dir, 'token');
    await writeFile(tokenFile, `${token}\n`, { mode: 0o600 });
    const run = await startRun(dir, { ...baseEnv(), CONSUL_HTTP_ADDR: consul.url, CONSUL_HTTP_TOKEN_FILE: tokenFile });
    try {
      await eventually(async () => (await text(`${run.base}/ready`)).status === 200, 30_000, '/ready with the policy token');
      assert.equal((await get(run.httpPort, 'web.example.test')).status, 200);
      await consul.register({ node: 'node2', id: 'web-2', service: 'web', tags: ENABLE, port: backends[1]!.port });
      await eventually(async () => { const r = await get(run.httpPort, 'web.example.test'); return typeof r.body === 'object' && r.body.name === 'web-2'; }, 15_000, 'web-2 reached with the policy token');
      assert.deepEqual((await statusJson(run)).degraded, []);
      const published = (await text(`${run.base}/status`)).body + (await text(`${run.base}/metrics`)).body;
      assert.ok(!published.includes(token), 'the token is not in /status or /metrics');
    } finally {
      const logs = await run.stop();
      assert.ok(!logs.includes(token), 'the token is in no log line');
    }
    // KV: the pool records under hapilot/ are readable with this token; nothing is writable.
    assert.equal((await consul.api('GET', '/v1/kv/hapilot/pool/?recurse', undefined, { token })).status, 200);
    assert.equal((await consul.api('PUT', '/v1/kv/hapilot/pool/web/node1/web-1', '{}', { token })).status, 403);
    await consul.ok('PUT', '/v1/kv/other/secret', 'x');
    assert.equal((await consul.api('GET', '/v1/kv/other/secret', undefined, { token })).status, 403, 'nothing outside hapilot/');
    assert.equal((await consul.api('PUT', '/v1/agent/service/register', { Name: 'x', Port: 1 }, { token })).status, 403);
  });

  test('a wrong token: HTTP 403 naming the token variables, never "unreachable"; the value is nowhere', async () => {
    const wrong = '7e1f0c2a-5b9d-4c3e-8a6f-0d1b2c3e4f5a';
    const snap = await hapilot(['snapshot', '--consul', consul.url], { env: { CONSUL_HTTP_TOKEN: wrong } });
    assert.equal(snap.code, 1);
    assert.match(snap.stderr, /^hapilot: error: .*HTTP 403.*CONSUL_HTTP_TOKEN or CONSUL_HTTP_TOKEN_FILE/m);
    assert.equal(snap.stderr.trim().split('\n').length, 1, snap.stderr);
    assert.ok(!snap.stderr.includes(wrong) && !snap.stdout.includes(wrong));

    const run = await startRun(dir, { ...baseEnv(), CONSUL_HTTP_ADDR: consul.url, CONSUL_HTTP_TOKEN: wrong });
    try {
      await eventually(async () => (await statusJson(run)).degraded.some((x) => /403/.test(x)), 20_000, 'degraded with the 403');
      const st = await statusJson(run);
      assert.ok(st.degraded.every((x) => !/unreachable|down/i.test(x)), JSON.stringify(st.degraded));
      assert.ok(st.degraded.some((x) => /CONSUL_HTTP_TOKEN/.test(x)), JSON.stringify(st.degraded));
      assert.notEqual((await text(`${run.base}/ready`)).status, 200);
      const published = (await text(`${run.base}/status`)).body + (await text(`${run.base}/metrics`)).body;
      assert.ok(!published.includes(wrong));
    } finally {
      const logs = await run.stop();
      assert.ok(!logs.includes(wrong), 'the wrong token is in no log line either');
      assert.match(logs, /403/);
    }
  });

  test('a token without node read: Consul hides every instance (200, filtered); hapilot reports it as the denial it is', async () => {
    await consul.ok('PUT', '/v1/acl/policy', { Name: 'services-only', Rules: 'service_prefix "" { policy = "read" }\n' });
    const partial = (((await consul.ok('PUT', '/v1/acl/token', { Policies: [{ Name: 'services-only' }] })).json()) as { SecretID: string }).SecretID;
    const snap = await hapilot(['snapshot', '--consul', consul.url], { env: { CONSUL_HTTP_TOKEN: partial } });
    assert.equal(snap.code, 1, snap.stdout);
    assert.match(snap.stderr, /^hapilot: error: Consul \/v1\/health\/service\/web left out instances .*403.*CONSUL_HTTP_TOKEN or CONSUL_HTTP_TOKEN_FILE/m);
    assert.ok(!snap.stderr.includes(partial));
  });

  test('no token at all: Consul filters everything out (200, empty); hapilot reports the denial with the token variables', async () => {
    const snap = await hapilot(['snapshot', '--consul', consul.url], { env: { CONSUL_HTTP_TOKEN: '', CONSUL_HTTP_TOKEN_FILE: '' } });
    assert.equal(snap.code, 1, snap.stdout);
    assert.match(snap.stderr, /^hapilot: error: .*403.*CONSUL_HTTP_TOKEN or CONSUL_HTTP_TOKEN_FILE/m);
    assert.doesNotMatch(snap.stderr, /unreachable/);
  });
});

describe('TLS: HTTPS with verify_incoming', { concurrency: false }, () => {
  let consul: RealConsul;
  let backends: Backend[];
  let dir: string;
  let cleanup: () => Promise<void>;
  const tls = fixtureTls();

  before(async () => {
    consul = await RealConsul.start({ tls });
    ({ dir, cleanup } = await tempDir());
    backends = await Promise.all(['web-1', 'web-2'].map((n) => startBackend(n)));
    for (const i of [1, 2]) await consul.register({ node: `node${i}`, id: `web-${i}`, service: 'web', tags: ENABLE, port: backends[i - 1]!.port });
  });
  after(async () => {
    await consul?.destroy();
    await Promise.all((backends ?? []).map((b) => b.close()));
    await cleanup?.();
  });

  test('CONSUL_CACERT + CONSUL_CLIENT_CERT/KEY: hapilot run follows the agent over HTTPS', async () => {
    const run = await startRun(dir, { ...baseEnv(), CONSUL_HTTP_ADDR: `127.0.0.1:${consul.httpPort}`, CONSUL_HTTP_SSL: 'true', CONSUL_CACERT: tls.ca, CONSUL_CLIENT_CERT: tls.clientCert, CONSUL_CLIENT_KEY: tls.clientKey });
    try {
      await eventually(async () => (await text(`${run.base}/ready`)).status === 200, 30_000, '/ready over TLS');
      assert.equal((await get(run.httpPort, 'web.example.test')).status, 200);
      const only = async (name: string) => {
        for (let i = 0; i < 8; i++) { const r = await get(run.httpPort, 'web.example.test'); if (typeof r.body !== 'object' || r.body.name !== name) return false; }
        return true;
      };
      await consul.setStatus('node2', 'web-2', 'critical');
      await eventually(() => only('web-1'), 15_000, 'a flip seen over TLS');
      await consul.setStatus('node2', 'web-2', 'passing');
      await consul.setStatus('node1', 'web-1', 'critical');
      await eventually(() => only('web-2'), 15_000, 'and the next');
    } finally {
      await run.stop();
    }
    const snap = await hapilot(['snapshot'], { env: { CONSUL_HTTP_ADDR: consul.url, CONSUL_CACERT: tls.ca, CONSUL_CLIENT_CERT: tls.clientCert, CONSUL_CLIENT_KEY: tls.clientKey } });
    assert.equal(snap.code, 0, snap.stderr);
    assert.deepEqual((JSON.parse(snap.stdout) as Array<{ Service: { ID: string } }>).map((e) => e.Service.ID).sort(), ['web-1', 'web-2']);
  });

  test('without the client certificate the agent refuses the handshake: a one-line error, exit 1', async () => {
    const snap = await hapilot(['snapshot'], { env: { CONSUL_HTTP_ADDR: consul.url, CONSUL_CACERT: tls.ca } });
    assert.equal(snap.code, 1);
    assert.equal(snap.stderr.trim().split('\n').length, 1, snap.stderr);
    assert.match(snap.stderr, /^hapilot: error: Consul at https:\/\/127\.0\.0\.1:\d+\/? is unreachable \(.+\)/);
  });
});
