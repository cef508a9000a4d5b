// /ready counts a server HAProxy does not check as one it sends traffic to: its status is "no check",
// not "UP". A template without health checks (the bench's, a developer's) must not make a node
// that serves look broken to keepalived or the image's HEALTHCHECK. A server in maintenance does not
// count. The real HAProxy, through `hapilot run` on a catalog file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cp, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { CLI } from '../helpers/cli.js';
import { freePorts, tempDir } from '../helpers/haproxy.js';
import { eventually, startBackend } from '../helpers/backends.js';
import { socketCommand } from '../../src/haproxy/socket.js';
import { BUILTIN_TEMPLATES_DIR } from '../../src/config/templates.js';

test('/ready: 200 with servers HAProxy does not check, 503 once the only one is in maintenance, 200 when it is back', { timeout: 60_000 }, async () => {
  const backend = await startBackend('web-1');
  const { dir, cleanup } = await tempDir();
  const [httpPort, statsPort, statusPort] = await freePorts(3) as [number, number, number];
  const templates = path.join(dir, 'templates');
  await cp(BUILTIN_TEMPLATES_DIR, templates, { recursive: true });
  const partial = path.join(templates, 'partials/backends.hbs');
  const text = await readFile(partial, 'utf8');
  assert.ok(text.includes('default-server check '), 'the built-in templates check their servers');
  await writeFile(partial, text.replace('default-server check ', 'default-server '));
  const catalog = path.join(dir, 'catalog.json');
  await writeFile(catalog, JSON.stringify([
    { Node: { Node: 'n1', Address: '127.0.0.1' }, Service: { ID: 'web-1', Service: 'web', Tags: ['HAPROXY.ENABLE=true'], Port: backend.port }, Checks: [] },
  ]));
  const runDir = path.join(dir, 'run');
  const proc = execa(process.execPath, [CLI, 'run', '--catalog', catalog, '--templates', templates, '--run-dir', runDir, '--status-listen', `127.0.0.1:${statusPort}`, '--wait', '50ms:200ms', '--stop-haproxy-on-exit'], {
    env: { HAPROXY_DOM: 'example.test', HAPROXY_HTTP_PORT: String(httpPort), HAPROXY_STATS_PORT: String(statsPort), HAPROXY_MAXCONN_GLOBAL: '2000', HAPROXY_MAXCONN: '1000', HAPILOT_LOG_LEVEL: 'warn' },
    reject: false, all: true, stdin: 'ignore',
  });
  const ready = async () => {
    const res = await fetch(`http://127.0.0.1:${statusPort}/ready`).catch(() => undefined);
    return res ? { status: res.status, body: (await res.text()).trim() } : undefined;
  };
  const socket = path.join(runDir, 'haproxy.sock');
  try {
    await eventually(async () => (await ready())?.status === 200, 20_000, '/ready 200');
    const stat = await socketCommand(socket, 'show stat');
    assert.match(stat, /\nweb,n1:web-1,(?:[^,\n]*,){15}no check,/, 'HAProxy does not check the server');
    await socketCommand(socket, 'set server web/n1:web-1 state maint');
    assert.deepEqual(await ready(), { status: 503, body: 'no backend has a server up' });
    await socketCommand(socket, 'set server web/n1:web-1 state ready');
    assert.equal((await ready())?.status, 200);
  } finally {
    proc.kill('SIGTERM');
    await proc;
    await backend.close();
    await cleanup();
  }
});
