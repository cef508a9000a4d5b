// selfCheck after a reload: every frontend port accepts connections and every backend HAProxy runs
// has the servers the model gives it, read from one `show stat` (grouped by proxy once).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { selfCheck } from '../../src/haproxy/self-check.js';
import type { Model } from '../../src/model/model.js';
import { eventually } from '../helpers/backends.js';
import { freePorts, HAPROXY, tempDir } from '../helpers/haproxy.js';

const server = (name: string) => ({ name, address: '127.0.0.1', port: 9, weight: 1, hostname: false, node: 'n', serviceId: name });
const modelOf = (backends: Record<string, string[]>) => ({ backends: Object.entries(backends).map(([name, servers]) => ({ name, servers: servers.map(server) })) }) as unknown as Model;

test('selfCheck: a backend missing a server of the model is reported by name; a frontend port that refuses is too', { timeout: 30_000 }, async () => {
  const { dir, cleanup } = await tempDir();
  const [port, closed] = await freePorts(2) as [number, number];
  const sock = path.join(dir, 'stats.sock');
  const config = `global\n    stats socket ${sock} mode 600 level admin\ndefaults\n    mode http\n    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\n`
    + `frontend f\n    bind 127.0.0.1:${port}\n    default_backend a\n`
    + 'backend a\n    server s1 127.0.0.1:9\n    server s2 127.0.0.1:9\nbackend b\n    server s1 127.0.0.1:9\nbackend empty\n';
  const cfg = path.join(dir, 'haproxy.cfg');
  await writeFile(cfg, config);
  const proc = execa(HAPROXY, ['-db', '-f', cfg], { reject: false });
  try {
    await eventually(async () => (await selfCheck({ config, model: undefined, statsSocket: sock })).ok, 10_000, 'HAProxy up');
    const passed = await selfCheck({ config, model: modelOf({ a: ['s1', 's2'], b: ['s1'], empty: [] }), statsSocket: sock });
    assert.deepEqual({ ok: passed.ok, problems: passed.problems }, { ok: true, problems: [] });
    // The rows it read are handed on (the pool's reconciliation after a reload looks at them).
    assert.deepEqual(passed.rows?.map((r) => `${r.proxy}/${r.server}`).sort(), ['a/s1', 'a/s2', 'b/s1']);
    const missing = await selfCheck({ config, model: modelOf({ a: ['s1', 's2', 's3'], b: ['s1', 's4'], c: ['s5'] }), statsSocket: sock });
    assert.deepEqual(missing.problems, ['backend a lacks s3', 'backend b lacks s4', 'backend c lacks s5']);
    const refused = await selfCheck({ config: `${config}frontend g\n    bind 127.0.0.1:${closed}\n`, model: undefined, statsSocket: sock, timeoutMs: 500 });
    assert.deepEqual(refused.problems, [`frontend port 127.0.0.1:${closed} refuses connections`]);
  } finally {
    proc.kill('SIGTERM');
    await proc;
    await cleanup();
  }
});
