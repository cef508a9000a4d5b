// Host routing at runtime, with a real HAProxy: a host added, moved or removed for a backend that
// exists already goes through `add map`/`set map`/`del map` on the map HAProxy loaded, with no
// reload, and the config re-rendered for the new catalog routes the same way.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { writeFile } from 'node:fs/promises';
import { execa } from 'execa';
import { buildModel } from '../../src/model/model.js';
import { render } from '../../src/config/render.js';
import { applyRuntimePlan, loadedHostMap, planRuntime } from '../../src/haproxy/runtime-api.js';
import { socketCommand } from '../../src/haproxy/socket.js';
import type { HealthEntry } from '../../src/consul/schemas.js';
import { ENABLE, entry, settings } from '../helpers/entries.js';
import { builtinTemplates, tempPaths } from '../helpers/render.js';
import { eventually, get, startBackend, waitForPort } from '../helpers/backends.js';
import { HAPROXY, freePorts, tempDir } from '../helpers/haproxy.js';
import { ENABLE_TAGS, simNode, webFixture } from '../helpers/daemon.js';

const nameOf = async (port: number, host: string) => {
  const r = await get(port, host);
  return typeof r.body === 'object' ? r.body.name : r.status;
};

test('map operations route a new, a moved and a removed host without a reload (same HAProxy process)', { timeout: 60_000 }, async () => {
  const { dir, cleanup } = await tempDir();
  const [httpPort, statsPort] = await freePorts(2) as [number, number];
  const web = await startBackend('web');
  const api = await startBackend('api');
  const s = settings({ HAPROXY_HTTP_PORT: String(httpPort), HAPROXY_STATS_PORT: String(statsPort), HAPROXY_MAXCONN_GLOBAL: '1000', HAPROXY_MAXCONN: '500' });
  const catalog = (webTags: string[], apiTags: string[]): HealthEntry[] => [
    entry('web', 'w1', [ENABLE, ...webTags], { node: 'n1', address: '127.0.0.1', port: web.port }),
    entry('api', 'a1', [ENABLE, ...apiTags], { node: 'n2', address: '127.0.0.1', port: api.port }),
  ];
  const templates = await builtinTemplates();
  const paths = tempPaths(dir);
  const before = buildModel({ entries: catalog(['HAPROXY.FRONTEND.HOST=shared.example.test'], []), settings: s });
  const first = render({ model: before, templates, paths });
  for (const f of first.files) await writeFile(f.path, f.contents);
  const configFile = path.join(dir, 'haproxy.cfg');
  await writeFile(configFile, first.config);
  const haproxy = execa(HAPROXY, ['-db', '-f', configFile], { reject: false, all: true });
  try {
    await waitForPort(httpPort, 10_000);
    const sock = paths.statsSocket;
    await eventually(async () => (await socketCommand(sock, 'show info').catch(() => '')).includes('Pid:'), 10_000, 'stats socket');
    const pid = /Pid: (\d+)/.exec(await socketCommand(sock, 'show info'))?.[1];
    assert.equal(await nameOf(httpPort, 'shared.example.test'), 'web');
    assert.equal(await nameOf(httpPort, 'api.example.test'), 'api');

    // web moves to w2.example.test, api takes shared.example.test and loses its default host.
    const after = buildModel({ entries: catalog(['HAPROXY.FRONTEND.HOST=w2.example.test'], ['HAPROXY.FRONTEND.HOST=shared.example.test']), settings: s });
    const next = render({ model: after, templates, paths });
    const plan = planRuntime({ previous: before, next: after, serverLines: next.serverLines });
    assert.ok('ops' in plan, JSON.stringify(plan));
    assert.deepEqual(plan.ops.map((o) => o.kind), ['map-set', 'map-add', 'map-del']);
    const r = await applyRuntimePlan({ socket: sock, plan });
    assert.ok(r.ok, `${r.message}: ${JSON.stringify(r.log)}`);
    const loaded = first.files[0]?.path;
    assert.equal(loadedHostMap(await socketCommand(sock, 'show map')), loaded, 'commands name the map HAProxy loaded');
    assert.ok(r.log.some((l) => l.command === `add map ${loaded} w2.example.test web`), JSON.stringify(r.log));

    assert.equal(await nameOf(httpPort, 'shared.example.test'), 'api', 'moved host');
    assert.equal(await nameOf(httpPort, 'W2.example.test:8080'), 'web', 'added host (case and port ignored)');
    assert.equal(await nameOf(httpPort, 'api.example.test'), 404, 'removed host');
    assert.equal(/Pid: (\d+)/.exec(await socketCommand(sock, 'show info'))?.[1], pid, 'no reload: the same process');
    // HAProxy's map now holds exactly what the re-rendered config's map file holds.
    const live = (await socketCommand(sock, `show map ${loaded}`)).trim().split('\n').map((l) => l.split(' ').slice(1).join(' ')).sort();
    const file = (next.files[0]?.contents ?? '').split('\n').filter((l) => l && !l.startsWith('#')).sort();
    assert.deepEqual(live, file);
    assert.notEqual(next.files[0]?.path, loaded, 'the new config names a new, content-addressed map file');
  } finally {
    haproxy.kill('SIGTERM');
    await haproxy;
    await web.close();
    await api.close();
    await cleanup();
  }
});

test('daemon: a host tag changed on an existing service is applied through the Runtime API, not a reload', { timeout: 90_000 }, async () => {
  const { backends, sim, d, teardown } = await webFixture({ backends: 1, registered: 1 });
  try {
    type Status = { reloads: Array<{ action: string; ok: boolean }>; haproxy: { processes: { currentWorkerPid: number } } };
    const status = async () => d.daemon.status() as Promise<Status>;
    const worker = (await status()).haproxy.processes.currentWorkerPid;
    assert.equal(await nameOf(d.httpPort, 'web.example.test'), 'web-1');
    sim.register({ node: simNode(1), service: { ID: 'web-1', Service: 'web', Tags: [...ENABLE_TAGS, 'HAPROXY.FRONTEND.HOST=shop.example.test'], Port: backends[0]!.port } });
    await eventually(async () => await nameOf(d.httpPort, 'shop.example.test') === 'web-1', 20_000, 'the new host routes');
    assert.equal(await nameOf(d.httpPort, 'web.example.test'), 404, 'the old host is gone');
    const st = await status();
    assert.equal(st.reloads[0]?.action, 'runtime', JSON.stringify(st.reloads.slice(0, 2)));
    assert.equal(st.haproxy.processes.currentWorkerPid, worker, 'no reload: the same worker serves');
  } finally {
    await teardown();
  }
});
