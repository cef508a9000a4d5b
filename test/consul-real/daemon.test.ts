// The daemon against a real Consul server agent (one for the whole file) with a real HAProxy on
// loopback: registrations, health flips, service and node maintenance, Consul stopped and started
// again, and a snapshot restore (the index goes backwards) while hapilot runs. Every write goes
// through Consul's HTTP API or its CLI.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { eventually, startBackend, type Backend } from '../helpers/backends.js';
import { hapilot } from '../helpers/cli.js';
import { names, startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { tempDir } from '../helpers/haproxy.js';
import { RealConsul } from '../helpers/real-consul.js';

const ENABLE = ['HAPROXY.ENABLE=true'];

interface Status { degraded: string[]; source: { consulIndex: number; synced: boolean }; reloads: unknown[] }
const status = async (d: TestDaemon) => d.daemon.status() as Promise<Status>;
const sorted = async (d: TestDaemon, host = 'web.example.test', n = 16) => [...await names(d, host, n)].sort();

describe('daemon against a real Consul', { concurrency: false }, () => {
  let consul: RealConsul;
  let backends: Backend[];
  let d: TestDaemon;
  let cleanup: () => Promise<void>;

  before(async () => {
    consul = await RealConsul.start();
    backends = await Promise.all(['web-1', 'web-2', 'web-3', 'web-4', 'maint-1', 'maint-2'].map((n) => startBackend(n)));
    for (const i of [1, 2]) await consul.register({ node: `node${i}`, id: `web-${i}`, service: 'web', tags: ENABLE, port: backends[i - 1]!.port });
    const t = await tempDir();
    cleanup = t.cleanup;
    d = await startDaemon({ runDir: t.dir, consulUrl: consul.url });
    await eventually(async () => (await d.daemon.ready()).ready, 20_000, 'ready');
  });
  after(async () => {
    await d?.stop();
    await consul?.destroy();
    await Promise.all((backends ?? []).map((b) => b.close()));
    await cleanup?.();
  });

  test('register and deregister through the catalog API: traffic follows', async () => {
    assert.deepEqual(await sorted(d), ['web-1', 'web-2']);
    await consul.register({ node: 'node3', id: 'web-3', service: 'web', tags: ENABLE, port: backends[2]!.port });
    await eventually(async () => (await names(d)).has('web-3'), 10_000, 'web-3 receives traffic');
    await consul.deregister('node3', 'web-3');
    await eventually(async () => !(await names(d, 'web.example.test', 20)).has('web-3'), 10_000, 'web-3 gone');
    assert.deepEqual(await sorted(d), ['web-1', 'web-2']);
  });

  test('health flips: a critical check takes the instance out, passing brings it back', async () => {
    await consul.setStatus('node2', 'web-2', 'critical');
    await eventually(async () => (await sorted(d, 'web.example.test', 20)).join() === 'web-1', 10_000, 'web-2 out');
    await consul.setStatus('node2', 'web-2', 'passing');
    await eventually(async () => (await sorted(d)).join() === 'web-1,web-2', 10_000, 'web-2 back');
  });

  test('service and node maintenance (consul maint) take instances out and back', async () => {
    // Maintenance is the agent's: maint-1 is registered with the agent (agent API), on its node;
    // maint-2 on another node (catalog API), so that no step empties the backend (the mass-removal
    // guard would rightly hold that).
    await consul.ok('PUT', '/v1/agent/service/register', { ID: 'maint-1', Name: 'maint', Tags: ENABLE, Address: '127.0.0.1', Port: backends[4]!.port });
    await consul.register({ node: 'node5', id: 'maint-2', service: 'maint', tags: ENABLE, port: backends[5]!.port });
    const maint = async () => (await sorted(d, 'maint.example.test', 12)).join();
    await eventually(async () => await maint() === 'maint-1,maint-2', 10_000, 'maint-1 and maint-2 receive traffic');

    let r = await consul.cli(['maint', '-enable', '-service', 'maint-1', '-reason', 'test']);
    assert.equal(r.code, 0, r.stderr);
    await eventually(async () => await maint() === 'maint-2', 10_000, 'service maintenance: maint-1 out');
    r = await consul.cli(['maint', '-disable', '-service', 'maint-1']);
    assert.equal(r.code, 0, r.stderr);
    await eventually(async () => await maint() === 'maint-1,maint-2', 10_000, 'back after service maintenance');

    r = await consul.cli(['maint', '-enable', '-reason', 'node work']);
    assert.equal(r.code, 0, r.stderr);
    await eventually(async () => await maint() === 'maint-2', 10_000, 'node maintenance: the agent node\'s instance out');
    assert.deepEqual(await sorted(d), ['web-1', 'web-2'], 'instances on other nodes are untouched');
    r = await consul.cli(['maint', '-disable']);
    assert.equal(r.code, 0, r.stderr);
    await eventually(async () => await maint() === 'maint-1,maint-2', 10_000, 'back after node maintenance');
  });

  test('Consul stopped and started again while hapilot runs: HAProxy keeps serving, then changes flow again', async () => {
    await consul.stop();
    await eventually(async () => (await status(d)).degraded.some((x) => /unreachable/.test(x)), 15_000, 'degraded: Consul unreachable');
    assert.deepEqual(await sorted(d), ['web-1', 'web-2'], 'serving while Consul is down');
    assert.equal((await d.daemon.ready()).ready, true);
    await consul.resume();
    await eventually(async () => (await status(d)).degraded.length === 0, 40_000, 'recovered');
    await consul.register({ node: 'node3', id: 'web-3', service: 'web', tags: ENABLE, port: backends[2]!.port });
    await eventually(async () => (await names(d)).has('web-3'), 15_000, 'a registration after the restart reaches HAProxy');
    await consul.deregister('node3', 'web-3');
    await eventually(async () => (await sorted(d, 'web.example.test', 20)).join() === 'web-1,web-2', 10_000, 'web-3 gone');
  });

  test('snapshot save/restore while hapilot runs: the index goes backwards and later changes still reach HAProxy', async () => {
    const { dir, cleanup: rmSnap } = await tempDir('hapilot-snap-');
    try {
      const file = `${dir}/before.snap`;
      let r = await consul.cli(['snapshot', 'save', file]);
      assert.equal(r.code, 0, r.stderr);
      await consul.register({ node: 'node3', id: 'web-3', service: 'web', tags: ENABLE, port: backends[2]!.port });
      await eventually(async () => (await names(d)).has('web-3'), 10_000, 'web-3 added after the snapshot');
      const indexBefore = (await status(d)).source.consulIndex;

      r = await consul.cli(['snapshot', 'restore', file]);
      assert.equal(r.code, 0, r.stderr);
      await eventually(async () => (await status(d)).source.consulIndex < indexBefore, 10_000, 'hapilot follows the index backwards at once');
      assert.equal((await d.daemon.ready()).ready, true, 'HAProxy keeps serving through the restore');
      // The restored catalog itself (no web-3) reaches HAProxy without waiting for another change.
      await eventually(async () => (await sorted(d, 'web.example.test', 20)).join() === 'web-1,web-2', 10_000, 'the restored catalog applied at once (web-3 out)');

      // A change after the restore reaches HAProxy, together with the restored catalog (no web-3).
      await consul.register({ node: 'node4', id: 'web-4', service: 'web', tags: ENABLE, port: backends[3]!.port });
      await eventually(async () => (await sorted(d, 'web.example.test', 20)).join() === 'web-1,web-2,web-4', 10_000, 'web-4 in, web-3 (not in the snapshot) out');
      await consul.setStatus('node1', 'web-1', 'critical');
      await eventually(async () => (await sorted(d, 'web.example.test', 20)).join() === 'web-2,web-4', 10_000, 'a flip after the restore too');
      assert.deepEqual((await status(d)).degraded, []);
    } finally {
      await rmSnap();
    }
  });

  test('hapilot snapshot --consul gives a catalog file that render turns into the config run produced', async () => {
    await d.daemon.idle();
    const running = await readFile(d.configPath, 'utf8');
    const { dir, cleanup: rmDir } = await tempDir('hapilot-snapcat-');
    try {
      const catalog = path.join(dir, 'catalog.json');
      const snap = await hapilot(['snapshot', '--consul', consul.url, '--out', catalog]);
      assert.equal(snap.code, 0, snap.stderr);
      const entries = JSON.parse(await readFile(catalog, 'utf8')) as Array<{ Service: { ID: string } }>;
      assert.ok(entries.some((e) => e.Service.ID === 'maint-1') && entries.some((e) => e.Service.ID === 'web-4'));
      const env = { HAPROXY_HTTP_PORT: String(d.httpPort), HAPROXY_STATS_PORT: String(d.statsPort), HAPROXY_MAXCONN_GLOBAL: '2000', HAPROXY_MAXCONN: '1000' };
      // Rendered next to its own map file (maps are content-addressed: same hosts, same file name).
      const out = path.join(dir, 'haproxy.cfg');
      const rendered = await hapilot(['render', '--catalog', catalog, '--run-dir', d.runDir, '--out', out], { env });
      assert.equal(rendered.code, 0, rendered.stderr);
      const mapDir = (cfg: string) => cfg.replace(/map\(\S+\/(hapilot-hosts-[0-9a-f]+\.map)\)/g, 'map(<dir>/$1)');
      assert.equal(mapDir(await readFile(out, 'utf8')), mapDir(running), 'render --catalog <snapshot> = the config hapilot run wrote');
      const map = /map\((\S+?\.map)\)/.exec(running)?.[1];
      assert.ok(map, 'the running config references its host map');
      assert.equal(await readFile(path.join(dir, path.basename(map)), 'utf8'), await readFile(map, 'utf8'), 'and the same host map');
    } finally {
      await rmDir();
    }
  });
});
