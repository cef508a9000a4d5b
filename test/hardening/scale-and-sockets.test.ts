// Thousands of instances on one service, and the modes of the sockets HAProxy creates from hapilot's
// config: the admin stats socket (Runtime API, `level admin`) must not be reachable by other users.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { buildModel } from '../../src/model/model.js';
import { ENABLE, entry, settings } from '../helpers/entries.js';
import { renderEntries, tempPaths } from '../helpers/render.js';
import { freePorts, haproxyCheck, HAPROXY, tempDir } from '../helpers/haproxy.js';

test('5,000 instances on one service: one backend of 5,000 uniquely named servers, built fast, accepted by haproxy -c', async () => {
  const entries = Array.from({ length: 5000 }, (_, i) => entry('big', `big-${i}`, [ENABLE], {
    node: `node-${i % 50}`, address: i % 7 === 0 ? `2001:db8::${(i + 1).toString(16)}` : `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, port: 1024 + (i % 60000),
  }));
  const t0 = performance.now();
  const model = buildModel({ entries, settings: settings() });
  const modelMs = performance.now() - t0;
  assert.equal(model.backends.length, 1);
  const servers = model.backends[0]?.servers ?? [];
  assert.equal(servers.length, 5000);
  assert.equal(new Set(servers.map((s) => s.name)).size, 5000);
  assert.ok(modelMs < 2000, `model in ${modelMs.toFixed(0)} ms`);

  const { dir, cleanup } = await tempDir();
  try {
    const t1 = performance.now();
    const result = await renderEntries(entries, { paths: tempPaths(dir) });
    const renderMs = performance.now() - t1;
    assert.ok(renderMs < 5000, `render in ${renderMs.toFixed(0)} ms`);
    assert.equal(result.config.split('\n').filter((l) => l.startsWith('    server ')).length, 5000);
    const verdict = await haproxyCheck(result, path.join(dir, 'haproxy.cfg'));
    assert.equal(verdict.ok, true, verdict.message);
    console.log(`5000 instances: model ${modelMs.toFixed(0)} ms, render ${renderMs.toFixed(0)} ms, haproxy -c ${verdict.durationMs.toFixed(0)} ms`);
  } finally {
    await cleanup();
  }
});

test('the admin stats socket HAProxy creates from the rendered config is mode 0600', async () => {
  const { dir, cleanup } = await tempDir();
  const [httpPort, statsPort] = await freePorts(2) as [number, number];
  const result = await renderEntries([entry('web', 'w1', [ENABLE], { address: '127.0.0.1', port: 9 })], {
    paths: tempPaths(dir), env: { HAPROXY_HTTP_PORT: String(httpPort), HAPROXY_STATS_PORT: String(statsPort), HAPROXY_MAXCONN_GLOBAL: '1000' },
  });
  const cfg = path.join(dir, 'haproxy.cfg');
  assert.equal((await haproxyCheck(result, cfg)).ok, true);
  // A permissive umask must not widen it.
  const proc = execa('sh', ['-c', `umask 000; exec ${HAPROXY} -f ${cfg}`], { reject: false, stdio: 'ignore' });
  try {
    const sock = path.join(dir, 'haproxy.sock');
    let st: Awaited<ReturnType<typeof stat>> | undefined;
    for (let i = 0; i < 100 && !st; i++) {
      st = await stat(sock).catch(() => undefined);
      if (!st) await new Promise((r) => setTimeout(r, 50));
    }
    if (!st?.isSocket()) assert.fail('the stats socket exists');
    const mode = Number(st.mode);
    assert.equal(mode & 0o777, 0o600, `mode ${(mode & 0o777).toString(8)}`);
  } finally {
    proc.kill('SIGTERM');
    await proc;
    await cleanup();
  }
});
