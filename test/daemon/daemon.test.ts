// The daemon against the Consul simulator with a real HAProxy on loopback.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cp, readFile, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ConsulSim } from '../sim/consul-sim.js';
import { get, eventually, startBackend } from '../helpers/backends.js';
import { ENABLE_TAGS, names, registerWeb, simNode, startDaemon, webFixture, type TestDaemon } from '../helpers/daemon.js';
import { freePort, tempDir } from '../helpers/haproxy.js';
import { BUILTIN_TEMPLATES_DIR, loadTemplates } from '../../src/config/templates.js';

const ENABLE = ENABLE_TAGS;
const node = simNode;

interface Status { reloads: Array<{ trigger: string; ok: boolean; action: string }>; quarantined: Array<{ service: string; reason: string }>; degraded: string[]; holds: Array<{ backend: string }>; lastValidationError: string | null }
const status = async (d: TestDaemon) => d.daemon.status() as Promise<Status>;

test('register an instance and traffic reaches it; deregister and it leaves; unchanged catalogs do not reload', async () => {
  const { backends, sim, d, dir, teardown } = await webFixture({ backends: 3, registered: 2 });
  try {
    assert.deepEqual([...await names(d)].sort(), ['web-1', 'web-2']);

    registerWeb(sim, 3, backends[2]!);
    await eventually(async () => (await names(d)).has('web-3'), 10_000, 'web-3 receives traffic');

    sim.deregister('node1', 'web-1');
    await eventually(async () => !(await names(d, 'web.example.test', 20)).has('web-1'), 10_000, 'web-1 gone');
    await d.daemon.idle();
    const reloadsBefore = (await status(d)).reloads.length;
    sim.touch(); // index moves, nothing changes
    await new Promise((r) => setTimeout(r, 1200));
    await d.daemon.idle();
    assert.equal((await status(d)).reloads.length, reloadsBefore, 'a return is no proof of a change: no reload');
    const history = (await readdir(path.join(dir, 'history'))).filter((f) => f.endsWith('.diff'));
    assert.ok(history.length >= 3);
    const lastDiff = await readFile(path.join(dir, 'history', history.sort().pop()!), 'utf8');
    assert.match(lastDiff, /^-\s+server node1:web-1 /m);
  } finally {
    await teardown();
  }
});

test('Consul failing (500s, refused, index reset, an empty answer) never stops HAProxy serving', async () => {
  const { sim, d, teardown } = await webFixture({ backends: 2, registered: 2 });
  try {
    sim.failNext(6, 500);
    await eventually(async () => (await status(d)).degraded.length > 0, 5000, 'degraded');
    assert.deepEqual([...await names(d)].sort(), ['web-1', 'web-2']);

    await sim.stop();
    await eventually(async () => (await status(d)).degraded.some((x) => /unreachable/.test(x)), 10_000, 'degraded: Consul unreachable');
    assert.deepEqual([...await names(d)].sort(), ['web-1', 'web-2'], 'serving while Consul is down');
    assert.equal((await d.daemon.ready()).ready, true, 'HAProxy is ready: it serves the current config');
    await sim.restart();

    sim.resetIndex(2);
    await new Promise((r) => setTimeout(r, 500));
    assert.deepEqual([...await names(d)].sort(), ['web-1', 'web-2']);

    sim.setEmpty(true);
    await eventually(async () => (await status(d)).holds.length === 1, 5000, 'guard holds the emptied backend');
    assert.deepEqual([...await names(d)].sort(), ['web-1', 'web-2'], 'an empty catalog does not empty HAProxy');
    sim.setEmpty(false);
    await eventually(async () => (await status(d)).holds.length === 0, 5000, 'hold cleared');
    await eventually(async () => (await status(d)).degraded.length === 0, 15_000, 'recovered');
  } finally {
    await teardown();
  }
});

test('start with Consul down: serve the last good config and keep retrying; without one, wait for Consul', async () => {
  const backend = await startBackend('web-1');
  const sim = new ConsulSim();
  sim.jitter = false;
  registerWeb(sim, 1, backend);
  await sim.start();
  const port = sim.port;
  const { dir, cleanup } = await tempDir();
  const ports: [number, number] = [await freePort(), await freePort()];
  try {
    const first = await startDaemon({ runDir: dir, sim, ports });
    await eventually(async () => (await first.daemon.ready()).ready, 15_000, 'ready');
    await first.stop();
    await sim.stop();

    // Consul down, last good config present: HAProxy serves it right away.
    const second = await startDaemon({ runDir: dir, consulUrl: `http://127.0.0.1:${port}`, ports });
    try {
      await eventually(async () => (await names(second)).has('web-1'), 10_000, 'serving the last good config');
      assert.ok((await status(second)).degraded.some((x) => /unreachable|first complete/.test(x)));
      await sim.start(port);
      await eventually(async () => (await status(second)).degraded.length === 0, 20_000, 'caught up with Consul');
    } finally {
      await second.stop();
    }

    // No last good config and Consul down: not ready, nothing started, until Consul answers.
    await sim.stop();
    const { dir: empty, cleanup: cleanup2 } = await tempDir();
    const third = await startDaemon({ runDir: empty, consulUrl: `http://127.0.0.1:${port}`, ports });
    try {
      await new Promise((r) => setTimeout(r, 800));
      assert.equal((await third.daemon.ready()).ready, false);
      assert.equal(await third.controller.running(), false);
      await sim.start(port);
      await eventually(async () => (await third.daemon.ready()).ready, 20_000, 'started once Consul answered');
    } finally {
      await third.stop();
      await cleanup2();
    }
  } finally {
    await sim.stop();
    await backend.close();
    await cleanup();
  }
});

test('a service that makes haproxy -c fail is found by bisection and quarantined; the others keep updating', async () => {
  const backends = await Promise.all([1, 2, 3].map((i) => startBackend(`b-${i}`)));
  const { dir, cleanup } = await tempDir();
  const tpl = path.join(dir, 'tpl');
  await cp(BUILTIN_TEMPLATES_DIR, tpl, { recursive: true });
  // A template bug that only shows for one service: an unknown keyword in its backend.
  const backendsHbs = path.join(tpl, 'partials', 'backends.hbs');
  await writeFile(backendsHbs, (await readFile(backendsHbs, 'utf8')).replace('    balance {{balance}}\n', '    balance {{balance}}\n{{#if (eq name "svc07")}}\n    bogus-keyword on\n{{/if}}\n'));
  const sim = new ConsulSim();
  sim.jitter = false;
  for (let s = 0; s < 12; s++) sim.register({ node: node(1), service: { ID: `svc${String(s).padStart(2, '0')}-1`, Service: `svc${String(s).padStart(2, '0')}`, Tags: ENABLE, Port: backends[s % 2]!.port } });
  await sim.start();
  const d = await startDaemon({ runDir: path.join(dir, 'run'), sim, templatesDir: tpl });
  try {
    await eventually(async () => (await d.daemon.ready()).ready, 20_000, 'ready');
    const st = await status(d);
    assert.deepEqual(st.quarantined.map((q) => q.service), ['svc07']);
    assert.match(st.quarantined[0]!.reason, /bogus-keyword/);
    assert.equal((await get(d.httpPort, 'svc07.example.test')).status, 404);
    assert.equal((await get(d.httpPort, 'svc03.example.test')).status, 200);
    assert.match(await d.metrics.registry.getSingleMetricAsString('hapilot_validation_failures_total'), /hapilot_validation_failures_total [1-9]/);

    sim.register({ node: node(2), service: { ID: 'svc03-2', Service: 'svc03', Tags: ENABLE, Port: backends[2]!.port } });
    await eventually(async () => (await names(d, 'svc03.example.test')).has('b-3'), 10_000, 'other services keep updating');

    // Remembered: while svc07's entries are unchanged, later syncs validate once and never bisect.
    await d.daemon.idle();
    const count = async (name: string) => Number(/ (\d+)$/m.exec(await d.metrics.registry.getSingleMetricAsString(name))?.[1] ?? NaN);
    const [validations, bisections] = [await count('hapilot_config_validations_total'), await count('hapilot_bisections_total')];
    assert.equal(bisections, 1);
    for (const s of ['svc20', 'svc21']) {
      sim.register({ node: node(1), service: { ID: `${s}-1`, Service: s, Tags: ENABLE, Port: backends[0]!.port } });
      await eventually(async () => (await get(d.httpPort, `${s}.example.test`)).status === 200, 10_000, `${s} served`);
      await d.daemon.idle();
    }
    assert.equal(await count('hapilot_bisections_total'), 1, 'no bisection while svc07 is unchanged');
    assert.equal(await count('hapilot_config_validations_total') - validations, 2, 'one validation per structural sync');
    assert.deepEqual((await status(d)).quarantined.map((q) => q.service), ['svc07']);
    // svc07 changes (a second instance): it is tried again, and found guilty again.
    sim.register({ node: node(2), service: { ID: 'svc07-2', Service: 'svc07', Tags: ENABLE, Port: backends[0]!.port } });
    await eventually(async () => await count('hapilot_bisections_total') === 2, 10_000, 'svc07 tried again');
    await d.daemon.idle();
    assert.deepEqual((await status(d)).quarantined.map((q) => q.service), ['svc07']);
    assert.equal((await get(d.httpPort, 'svc20.example.test')).status, 200);
  } finally {
    await d.stop();
    await sim.stop();
    await Promise.all(backends.map((b) => b.close()));
    await cleanup();
  }
});

test('a catalog file is followed; a broken file or a render invalid for every service keeps the running config', async () => {
  const backend = await startBackend('web-1');
  const { dir, cleanup } = await tempDir();
  const catalog = path.join(dir, 'catalog.json');
  const entry = (tags: string[], port: number) => ({
    Node: { Node: 'node1', Address: '127.0.0.1' },
    Service: { ID: 'web-1', Service: 'web', Tags: tags, Address: '', Port: port },
    Checks: [{ CheckID: 'c', Status: 'passing', ServiceID: 'web-1', ServiceName: 'web' }],
  });
  await writeFile(catalog, JSON.stringify([entry(ENABLE, backend.port)]));
  const d = await startDaemon({ runDir: path.join(dir, 'run'), catalogFile: catalog });
  try {
    await eventually(async () => (await d.daemon.ready()).ready, 15_000, 'ready');
    const good = await readFile(d.configPath, 'utf8');
    // The file follows edits: a new port, then a broken file (kept out), then a fixed one.
    await writeFile(catalog, '[{"oops"');
    await new Promise((r) => setTimeout(r, 600));
    assert.equal(await readFile(d.configPath, 'utf8'), good);
    assert.ok((await status(d)).degraded.some((x) => /malformed JSON/.test(x)));
    await writeFile(catalog, JSON.stringify([entry([...ENABLE, 'HAPROXY.BACKEND.BALANCE=leastconn'], backend.port)]));
    await eventually(async () => (await readFile(d.configPath, 'utf8')).includes('balance leastconn'), 10_000, 'config follows the file');
    assert.equal((await get(d.httpPort, 'web.example.test')).status, 200);

    // Templates that break the global section: no service is to blame, the running config stays.
    const tpl = path.join(dir, 'tpl');
    await cp(BUILTIN_TEMPLATES_DIR, tpl, { recursive: true });
    const globalHbs = path.join(tpl, 'partials', 'global.hbs');
    await writeFile(globalHbs, `${await readFile(globalHbs, 'utf8')}    no-such-global-keyword 1\n`);
    d.daemon.setTemplates(await loadTemplates(tpl));
    const running = await readFile(d.configPath, 'utf8');
    await d.daemon.requestSync({ trigger: 'test', force: true });
    assert.equal(await readFile(d.configPath, 'utf8'), running, 'the running config is not replaced');
    const st = await status(d);
    assert.match(st.lastValidationError ?? '', /no-such-global-keyword/);
    assert.ok(st.degraded.some((x) => /rejected by haproxy -c/.test(x)));
    assert.deepEqual(st.quarantined, [], 'no service is blamed for a global error');
    assert.equal((await get(d.httpPort, 'web.example.test')).status, 200);
  } finally {
    await d.stop();
    await backend.close();
    await cleanup();
  }
});

/** hapilot_reloads_total summed per action (start, reload, adopt, runtime). */
async function appliesByAction(d: TestDaemon): Promise<Record<string, number>> {
  const text = await d.metrics.registry.getSingleMetricAsString('hapilot_reloads_total');
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/^hapilot_reloads_total\{([^}]*)\} (\d+)$/gm)) {
    const action = /action="([^"]+)"/.exec(m[1] ?? '')?.[1] ?? '?';
    out[action] = (out[action] ?? 0) + Number(m[2]);
  }
  return out;
}

test('a flapping instance goes through the Runtime API without a single reload, and the latest state wins', async () => {
  const { sim, d, teardown } = await webFixture({ backends: 3, registered: 3, daemon: { wait: { minMs: 200, maxMs: 1000, minIntervalMs: 500 } } });
  try {
    const before = await appliesByAction(d);
    for (let i = 0; i < 30; i++) {
      sim.setStatus('node3', 'web-3', i % 2 === 0 ? 'critical' : 'passing');
      await new Promise((r) => setTimeout(r, 50));
    }
    sim.setStatus('node3', 'web-3', 'critical');
    await eventually(async () => !(await names(d, 'web.example.test', 20)).has('web-3'), 10_000, 'the final state (web-3 critical) is applied');
    await d.daemon.idle();
    const after = await appliesByAction(d);
    assert.equal(after.reload ?? 0, before.reload ?? 0, `no reload: ${JSON.stringify(after)}`);
    assert.ok((after.runtime ?? 0) - (before.runtime ?? 0) >= 2, `health flips applied through the Runtime API: ${JSON.stringify(after)}`);
    assert.deepEqual([...await names(d, 'web.example.test', 20)].sort(), ['web-1', 'web-2']);
  } finally {
    await teardown();
  }
});

test('a flapping structural change causes a bounded number of reloads, and the latest state wins', async () => {
  const { sim, d, backends, teardown } = await webFixture({ backends: 2, registered: 2, daemon: { wait: { minMs: 200, maxMs: 1000, minIntervalMs: 500 }, guard: { maxRemovalRatio: 1, holdMs: 0 } } });
  try {
    const before = await appliesByAction(d);
    const started = Date.now();
    for (let i = 0; i < 30; i++) {
      // A second service comes and goes: each flip needs a reload.
      if (i % 2 === 0) registerWeb(sim, 9, backends[1]!, 'api');
      else sim.deregister('node9', 'api-9');
      await new Promise((r) => setTimeout(r, 50));
    }
    registerWeb(sim, 9, backends[1]!, 'api');
    const flapMs = Date.now() - started;
    await eventually(async () => (await get(d.httpPort, 'api.example.test')).status === 200, 10_000, 'the final state (api registered) is applied');
    await d.daemon.idle();
    const reloads = ((await appliesByAction(d)).reload ?? 0) - (before.reload ?? 0);
    // At most one reload per --wait max (1 s) during the flapping, plus the final state.
    assert.ok(reloads >= 1 && reloads <= Math.ceil(flapMs / 1000) + 2, `${reloads} reloads over ${flapMs} ms of flapping`);
  } finally {
    await teardown();
  }
});

test('watchdog: an HAProxy that dies is started again with the last good config', async () => {
  const { d, teardown } = await webFixture({ backends: 1, registered: 1, daemon: { extra: { reapIntervalMs: 200 } } });
  try {
    const procs = await d.controller.processes();
    assert.ok(procs.masterPid);
    process.kill(procs.masterPid, 'SIGKILL');
    if (procs.currentWorkerPid) process.kill(procs.currentWorkerPid, 'SIGKILL');
    await eventually(async () => (await d.controller.processes()).masterPid !== undefined && (await d.controller.processes()).masterPid !== procs.masterPid, 15_000, 'a new HAProxy');
    await eventually(async () => (await names(d)).has('web-1'), 10_000, 'serving again');
    assert.match(await d.metrics.registry.getSingleMetricAsString('hapilot_haproxy_restarts_total'), /total [1-9]/);
  } finally {
    await teardown();
  }
});

test('mass-removal guard: a removal held past --removal-hold is applied then, without another catalog change', async () => {
  const { sim, d, teardown } = await webFixture({ backends: 2, registered: 2, daemon: { guard: { maxRemovalRatio: 0.5, holdMs: 1500 } } });
  try {
    sim.setEmpty(true);
    await eventually(async () => (await status(d)).holds.length === 1, 5000, 'held');
    assert.deepEqual([...await names(d)].sort(), ['web-1', 'web-2']);
    await eventually(async () => (await status(d)).holds.length === 0 && (await get(d.httpPort, 'web.example.test')).status === 404, 10_000, 'released after the hold time');
  } finally {
    await teardown();
  }
});
