// Disk full while writing the config: on a 64 KiB tmpfs in a private mount namespace (`unshare -m`),
// a config that does not fit is refused in one line, the old config stays byte for byte, and no
// temporary file is left behind. The daemon, run inside such a namespace, keeps HAProxy serving its
// last good config, says why on /status, and applies the next change that fits.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { CLI } from '../helpers/cli.js';
import { eventually, get, startBackend } from '../helpers/backends.js';
import { freePorts, tempDir } from '../helpers/haproxy.js';

const entry = (service: string, id: string, port: number, tags: string[] = ['HAPROXY.ENABLE=true']) => ({
  Node: { Node: `n-${id}`, Address: '127.0.0.1' }, Service: { ID: id, Service: service, Tags: tags, Port: port }, Checks: [],
});
/** A catalog whose config is far larger than 64 KiB. */
const big = (port: number) => [entry('web', 'web-1', port), ...Array.from({ length: 2000 }, (_, i) => entry('big', `big-${i}`, 10_000 + i))];

test('CLI: a config that does not fit on the disk is refused; the old one stays intact, no temp file left', { timeout: 60_000 }, async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const mnt = path.join(dir, 'mnt');
    await writeFile(path.join(dir, 'small.json'), JSON.stringify([entry('web', 'web-1', 8000)]));
    await writeFile(path.join(dir, 'big.json'), JSON.stringify(big(8000)));
    const script = `set -e
mkdir -p "$MNT"; mount -t tmpfs -o size=64k tmpfs "$MNT"
node "$CLI" render --catalog "$DIR/small.json" --out "$MNT/haproxy.cfg"
cp "$MNT/haproxy.cfg" "$DIR/before.cfg"
set +e
node "$CLI" render --catalog "$DIR/big.json" --out "$MNT/haproxy.cfg" 2> "$DIR/stderr"
echo "rc=$?"
cmp "$MNT/haproxy.cfg" "$DIR/before.cfg" && echo same
ls -A "$MNT"`;
    const r = await execa('unshare', ['-m', '--propagation', 'private', 'sh', '-c', script], {
      reject: false, env: { MNT: mnt, DIR: dir, CLI: path.resolve(CLI), HAPROXY_DOM: 'example.test', HAPILOT_LOG_LEVEL: 'error' },
    });
    assert.equal(r.exitCode, 0, String(r.stderr));
    const out = String(r.stdout).split('\n');
    assert.ok(out.includes('rc=1'), String(r.stdout));
    assert.ok(out.includes('same'), 'the old config is byte for byte what it was');
    const files = out.slice(out.indexOf('same') + 1).filter(Boolean);
    assert.ok(files.includes('haproxy.cfg'));
    assert.deepEqual(files.filter((f) => f.endsWith('.tmp')), [], `no temp file left: ${files.join(' ')}`);
    const stderr = (await readFile(path.join(dir, 'stderr'), 'utf8')).trimEnd().split('\n');
    assert.equal(stderr.length, 1, stderr.join('\n'));
    assert.match(stderr[0] ?? '', /^hapilot: error: cannot write \S+: ENOSPC/);
  } finally {
    await cleanup();
  }
});

test('daemon: disk full while writing the config keeps HAProxy serving the last good one; the next change that fits applies', { timeout: 120_000 }, async () => {
  const { dir, cleanup } = await tempDir();
  const backend = await startBackend('web-1');
  const other = await startBackend('api-1');
  const [httpPort, statsPort, statusPort] = await freePorts(3) as [number, number, number];
  const catalog = path.join(dir, 'catalog.json');
  const mnt = path.join(dir, 'mnt');
  await writeFile(catalog, JSON.stringify([entry('web', 'web-1', backend.port)]));
  const proc = execa('unshare', ['-m', '--propagation', 'private', 'sh', '-c', 'mkdir -p "$MNT" && mount -t tmpfs -o size=64k tmpfs "$MNT" && exec node "$CLI" run "$@"', 'sh',
    '--catalog', catalog, '--config', path.join(mnt, 'haproxy.cfg'), '--run-dir', path.join(dir, 'run'), '--status-listen', `127.0.0.1:${statusPort}`,
    '--wait', '50ms:200ms', '--min-reload-interval', '100ms', '--stop-haproxy-on-exit', '--log-level', 'warn'], {
    reject: false, env: { MNT: mnt, CLI: path.resolve(CLI), HAPROXY_DOM: 'example.test', HAPROXY_HTTP_PORT: String(httpPort), HAPROXY_STATS_PORT: String(statsPort), HAPROXY_MAXCONN_GLOBAL: '2000' },
  });
  const status = async () => (await fetch(`http://127.0.0.1:${statusPort}/status`)).json() as Promise<{ degraded: string[] }>;
  try {
    await eventually(async () => (await get(httpPort, 'web.example.test')).status === 200, 20_000, 'serving web');
    // The config as the daemon's mount namespace sees it.
    const cfgPath = () => path.join('/proc', String(proc.pid), 'root', mnt, 'haproxy.cfg');
    const before = await readFile(cfgPath(), 'utf8');

    await writeFile(catalog, JSON.stringify(big(backend.port)));
    await eventually(async () => (await status()).degraded.some((r) => /ENOSPC|no space/i.test(r)), 20_000, 'degraded: disk full');
    assert.equal(await readFile(cfgPath(), 'utf8'), before, 'the config on disk is the last good one');
    assert.deepEqual((await readdir(path.dirname(cfgPath()))).filter((f) => f.endsWith('.tmp')), [], 'no temp file left');
    const r = await get(httpPort, 'web.example.test');
    assert.equal(r.status, 200, 'HAProxy keeps serving');
    assert.equal(typeof r.body === 'object' ? r.body.name : r.body, 'web-1');

    await writeFile(catalog, JSON.stringify([entry('web', 'web-1', backend.port), entry('api', 'api-1', other.port)]));
    await eventually(async () => (await get(httpPort, 'api.example.test')).status === 200, 20_000, 'the next change that fits is applied');
    assert.match(await readFile(cfgPath(), 'utf8'), /^backend api$/m);
    await eventually(async () => !(await status()).degraded.some((x) => /ENOSPC|no space/i.test(x)), 20_000, 'no longer degraded');
  } finally {
    proc.kill('SIGTERM');
    await proc;
    await backend.close();
    await other.close();
    await cleanup();
  }
});
