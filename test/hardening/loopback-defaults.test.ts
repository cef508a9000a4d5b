// With no address given anywhere, nothing hapilot starts listens beyond loopback: its status server,
// HAProxy's traffic frontend and HAProxy's stats frontend. Run with the defaults (ports 9105, 8080,
// 8404) in a private network namespace, where those ports are free, and read the listening sockets.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { execa } from 'execa';
import { CLI } from '../helpers/cli.js';
import { tempDir } from '../helpers/haproxy.js';

test('defaults: the status server and every HAProxy listener bind loopback only', { timeout: 60_000 }, async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const script = `ip link set lo up
node "$CLI" run --catalog examples/catalog.json --run-dir "$DIR" --stop-haproxy-on-exit --log-level error &
pid=$!
for i in $(seq 1 100); do
  if ss -ltnH | grep -q ':9105 ' && ss -ltnH | grep -q ':8080 '; then break; fi
  sleep 0.1
done
ss -ltnH
kill -TERM $pid; wait $pid`;
    const r = await execa('unshare', ['-n', 'sh', '-c', script], { reject: false, env: { CLI: path.resolve(CLI), DIR: dir, HAPROXY_DOM: 'example.test' } });
    const listeners = String(r.stdout).split('\n').filter(Boolean).map((l) => l.trim().split(/\s+/)[3] ?? '');
    const ports = listeners.map((a) => a.slice(a.lastIndexOf(':') + 1));
    for (const p of ['9105', '8080', '8404']) assert.ok(ports.includes(p), `something listens on ${p}: ${listeners.join(' ')} ${String(r.stderr).slice(0, 500)}`);
    for (const a of listeners) assert.match(a, /^(127\.0\.0\.1|\[::1\]):\d+$/, `listener ${a} is not loopback`);
  } finally {
    await cleanup();
  }
});
