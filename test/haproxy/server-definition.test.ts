// One definition of a server: a user's template adds `slowstart 10s` and `send-proxy` to the server
// line; a server added through the Runtime API and the same server after a reload behave the same in
// HAProxy (the PROXY header reaches the backend, slowstart throttles it after it comes up).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cp, readFile, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { ConsulSim } from '../sim/consul-sim.js';
import { eventually, get } from '../helpers/backends.js';
import { ENABLE_TAGS, simNode, startDaemon } from '../helpers/daemon.js';
import { tempDir } from '../helpers/haproxy.js';
import { socketCommand } from '../../src/haproxy/socket.js';
import { BUILTIN_TEMPLATES_DIR } from '../../src/config/templates.js';

/** A TCP backend answering HTTP, recording whether each connection opened with a PROXY header. */
async function proxyAwareBackend(name: string): Promise<{ port: number; proxied: boolean[]; close: () => Promise<void> }> {
  const proxied: boolean[] = [];
  const server = net.createServer((sock) => {
    let buf = '';
    sock.on('data', (chunk) => {
      buf += chunk.toString('latin1');
      if (!buf.includes('\r\n\r\n')) return;
      proxied.push(buf.startsWith('PROXY '));
      const body = JSON.stringify({ name });
      sock.end(`HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n${body}`);
    });
    sock.on('error', () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return { port, proxied, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

test('a server added through the Runtime API gets the template\'s server keywords, as it does after a reload', async () => {
  const { dir, cleanup } = await tempDir();
  const templates = path.join(dir, 'templates');
  await cp(BUILTIN_TEMPLATES_DIR, templates, { recursive: true });
  const partial = path.join(templates, 'partials', 'backends.hbs');
  const original = await readFile(partial, 'utf8');
  const custom = original.replace('weight {{weight}}', 'weight {{weight}} slowstart 10s send-proxy');
  assert.notEqual(custom, original, 'the server line of the built-in template moved: update this test');
  await writeFile(partial, custom);

  const b1 = await proxyAwareBackend('web-1');
  const b2 = await proxyAwareBackend('web-2');
  const sim = new ConsulSim();
  sim.jitter = false;
  sim.register({ node: simNode(1), service: { ID: 'web-1', Service: 'web', Tags: ENABLE_TAGS, Port: b1.port } });
  await sim.start();
  const runDir = path.join(dir, 'run');
  const d = await startDaemon({ runDir, sim, templatesDir: templates });
  const sock = path.join(runDir, 'haproxy.sock');
  const throttle = async (server: string): Promise<string | undefined> => {
    const csv = await socketCommand(sock, 'show stat');
    const [header, ...rows] = csv.replace(/^# /, '').trim().split('\n');
    const cols = header!.split(',');
    const row = rows.map((r) => r.split(',')).find((r) => r[0] === 'web' && r[1] === server);
    return row?.[cols.indexOf('throttle')];
  };
  const served = async (name: string) => {
    for (let i = 0; i < 20; i++) {
      const r = await get(d.httpPort, 'web.example.test');
      if (typeof r.body === 'object' && r.body.name === name) return true;
    }
    return false;
  };
  const status = async () => (await d.daemon.status()) as { reloads: Array<{ action: string; ok: boolean }> };
  try {
    await eventually(async () => (await d.daemon.ready()).ready, 15_000, 'ready');

    // Added at runtime.
    sim.register({ node: simNode(2), service: { ID: 'web-2', Service: 'web', Tags: ENABLE_TAGS, Port: b2.port } });
    await eventually(async () => (await status()).reloads[0]?.action === 'runtime' && (await status()).reloads[0]?.ok === true, 15_000, 'runtime add');
    const runtimeThrottle = await throttle('node2:web-2');
    assert.ok(runtimeThrottle !== undefined && runtimeThrottle !== '' && Number(runtimeThrottle) < 100, `slowstart throttles the runtime-added server (throttle ${runtimeThrottle})`);
    await eventually(() => served('web-2'), 15_000, 'web-2 serves');
    assert.ok(b2.proxied.length > 0 && b2.proxied.every(Boolean), `the runtime-added server gets the PROXY header (${JSON.stringify(b2.proxied)})`);

    // The same server after a reload (a new service is a structural change).
    sim.register({ node: simNode(3), service: { ID: 'api-1', Service: 'api', Tags: ENABLE_TAGS, Port: b1.port } });
    await eventually(async () => ['reload', 'start'].includes((await status()).reloads[0]?.action ?? '') && (await status()).reloads[0]?.ok === true, 15_000, 'reload');
    b2.proxied.length = 0;
    await eventually(() => served('web-2'), 15_000, 'web-2 serves after the reload');
    assert.ok(b2.proxied.length > 0 && b2.proxied.every(Boolean), 'after a reload the server still gets the PROXY header');
    await socketCommand(sock, 'set server web/node2:web-2 state maint');
    await socketCommand(sock, 'set server web/node2:web-2 state ready');
    const reloadThrottle = await throttle('node2:web-2');
    assert.ok(reloadThrottle !== undefined && reloadThrottle !== '' && Number(reloadThrottle) < 100, `slowstart throttles the reloaded server when it comes back (throttle ${reloadThrottle})`);
  } finally {
    await d.stop();
    await sim.stop();
    await b1.close();
    await b2.close();
    await cleanup();
  }
});
