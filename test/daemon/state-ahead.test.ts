// The operator state saved while a structural config is still being validated (ApplyStep.prepareAhead):
// the reload to that very model uses it, complete, without asking HAProxy again; a reload to another
// model (bisection left a service out) asks again, after the first save, and the file is for the
// model loaded. A stats socket stands in for HAProxy's, answering `show servers state` slowly.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type { HealthEntry } from '../../src/consul/schemas.js';
import { buildModel, type Model } from '../../src/model/model.js';
import { finishConfig } from '../../src/config/build.js';
import { pathsFor, type RenderPaths } from '../../src/config/render.js';
import { loadTemplates } from '../../src/config/templates.js';
import { stageConfig } from '../../src/config/config-file.js';
import type { ApplyResult, HaproxyProcesses, ProcessApplier } from '../../src/haproxy/applier.js';
import { AppliedState } from '../../src/daemon/applied-state.js';
import { ApplyStep } from '../../src/daemon/apply.js';
import { ConfigHistory } from '../../src/daemon/history.js';
import { Metrics } from '../../src/daemon/metrics.js';
import { ENABLE, entry, settings } from '../helpers/entries.js';
import { STATE_HEADER, stateRow } from '../helpers/server-state.js';
import { tempDir } from '../helpers/haproxy.js';
import { testLog } from '../helpers/log.js';

/** A row with admin state 8 (drain), as a running worker shows a drained server. */
const row = (backend: string, server: string, port: number) => stateRow({ backend, server, addr: '10.0.0.1', port, admin: 8 });

/** A stats socket answering `show servers state` after `delayMs`; counts the questions. */
async function fakeStatsSocket(file: string, dump: string, delayMs: number) {
  let asked = 0;
  const server = net.createServer({ allowHalfOpen: true }, (c) => {
    c.on('data', (d) => {
      if (!d.toString().startsWith('show servers state')) return void c.end();
      asked += 1;
      setTimeout(() => c.end(dump), delayMs);
    });
  });
  await new Promise<void>((resolve) => server.listen(file, resolve));
  return { asked: () => asked, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

/** A reload that only records the state file HAProxy would load at that moment. */
class RecordingReload implements ProcessApplier {
  readonly strategy = 'master-worker';
  /** The state file at each reload (undefined: there was none). */
  readonly seen: Array<string | undefined> = [];
  /** How long HAProxy takes to reload. */
  reloadMs = 0;
  /** false: as a reload command, which may return before HAProxy has read the file. */
  constructor(readonly stateFile: string, readonly confirmsLoad = true) {}
  async apply(): Promise<ApplyResult> {
    this.seen.push(existsSync(this.stateFile) ? readFileSync(this.stateFile, 'utf8') : undefined);
    if (this.reloadMs > 0) await new Promise((r) => setTimeout(r, this.reloadMs));
    return { kind: 'applied', strategy: 'master-worker', action: 'reload', message: 'reloaded' };
  }
  async start() { return { adopted: true }; }
  async reload() { return { ok: true, message: 'reloaded' }; }
  async running() { return true; }
  async processes(): Promise<HaproxyProcesses> { return { masterPid: 1, currentWorkerPid: 2, oldWorkers: [] }; }
  async stop() { /* nothing */ }
}

const web = (ids: string[]): HealthEntry[] => ids.map((id, i) => entry('web', id, [ENABLE], { node: `n${i}`, address: '10.0.0.1', port: 9000 + i }));

async function setUp(dir: string, delayMs: number, confirmsLoad = true) {
  const configPath = path.join(dir, 'haproxy.cfg');
  const paths: RenderPaths = pathsFor({ configPath, runDir: dir });
  const templates = await loadTemplates();
  const build = (entries: HealthEntry[]) => finishConfig({ model: buildModel({ entries, settings: settings() }), templates, paths, fdLimit: undefined });
  const before = build(web(['a', 'b', 'c']));
  const state = new AppliedState({ runDir: dir, settings: settings() });
  await state.set({ config: before.config, model: before.model, serverLines: before.serverLines, index: 1, atMs: 0 });
  state.haproxyRunning = true;
  // The running worker: servers a, b and c of web, all three drained.
  const dump = ['1', STATE_HEADER, row('web', 'n0:a', 9000), row('web', 'n1:b', 9001), row('web', 'n2:c', 9002), ''].join('\n');
  const socket = await fakeStatsSocket(paths.statsSocket, dump, delayMs);
  const proc = new RecordingReload(paths.serverState, confirmsLoad);
  const metrics = new Metrics();
  const apply = new ApplyStep({ configPath, paths, process: proc, state, history: new ConfigHistory({ runDir: dir }), metrics, log: testLog, selfCheck: false, maxOldWorkers: undefined, afterApply: async () => undefined });
  // A structural change: a second service appears (and, for the second model, web's c is left out).
  const api = entry('api', 'x', [ENABLE], { node: 'n9', address: '10.0.0.2', port: 7000 });
  const next = build([...web(['a', 'b', 'c']), api]);
  const other = build([...web(['a', 'b']), api]);
  const reload = async (built: { config: string; model: Model; serverLines: ReadonlyMap<string, string> }) => apply.apply({
    staged: await stageConfig({ configPath, config: built.config, files: [], durable: false }), config: built.config, model: built.model,
    serverLines: built.serverLines, index: 2, trigger: 'catalog change', cause: 'test', appliers: [proc],
  });
  return { apply, proc, socket, next, other, reload, metrics, stateFile: paths.serverState };
}

const servers = (file: string) => file.split('\n').filter((l) => /^\d+ /.test(l)).map((l) => l.split(' ')[3]);

test('state saved ahead of the reload to the same model is used, complete, and HAProxy is asked once', async () => {
  const { dir, cleanup } = await tempDir();
  const { apply, proc, socket, next, reload, stateFile } = await setUp(dir, 150);
  try {
    apply.prepareAhead(next.model);
    // The apply comes while the dump is still on its way (validation under way): it waits for it.
    const out = await reload(next);
    assert.equal(out.kind, 'applied');
    assert.equal(socket.asked(), 1, 'the state saved ahead was used, not asked again');
    assert.deepEqual(servers(proc.seen[0] ?? ''), ['n0:a', 'n1:b', 'n2:c'], 'the new worker loads every running server\'s state');
    assert.match(proc.seen[0] ?? '', /^3 web 1 n1:b 10\.0\.0\.1 2 8 /m, 'drained stays drained');
    assert.equal(existsSync(stateFile), false, 'the state file is gone once the reload that loads it is over');
  } finally {
    await socket.close();
    await cleanup();
  }
});

test('a reload to another model than the one saved ahead saves the state again, after the first save', async () => {
  const { dir, cleanup } = await tempDir();
  const { apply, proc, socket, next, other, reload } = await setUp(dir, 150);
  try {
    apply.prepareAhead(next.model);
    const out = await reload(other);
    assert.equal(out.kind, 'applied');
    assert.equal(socket.asked(), 2);
    assert.deepEqual(servers(proc.seen[0] ?? ''), ['n0:a', 'n1:b'], 'the file is for the model loaded: c is not in it');
    // A later reload with nothing saved ahead asks again.
    assert.equal((await reload(next)).kind, 'applied');
    assert.equal(socket.asked(), 3);
  } finally {
    await socket.close();
    await cleanup();
  }
});

test('the state saved ahead is not where `haproxy -c` would load it until the reload', async () => {
  const { dir, cleanup } = await tempDir();
  const { apply, proc, socket, next, reload, stateFile } = await setUp(dir, 0);
  try {
    apply.prepareAhead(next.model);
    // The dump is answered at once: the save is over long before a check of 100,000 servers would be.
    for (let i = 0; i < 100 && !existsSync(`${stateFile}.ahead`); i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(existsSync(`${stateFile}.ahead`), true, 'saved ahead, beside the state file');
    assert.equal(existsSync(stateFile), false, 'no state file for the check under way to load');
    assert.equal((await reload(next)).kind, 'applied');
    assert.equal(socket.asked(), 1);
    assert.deepEqual(servers(proc.seen[0] ?? ''), ['n0:a', 'n1:b', 'n2:c'], 'the reload found the state saved ahead in place');
    assert.equal(existsSync(stateFile), false);
    assert.equal(existsSync(`${stateFile}.ahead`), false);
  } finally {
    await socket.close();
    await cleanup();
  }
});

test('a reload that finds no state saved (nothing answered the dump) loads no older state file', async () => {
  const { dir, cleanup } = await tempDir();
  const { apply, proc, socket, next, reload, stateFile } = await setUp(dir, 0);
  try {
    // A state file left from before (a crash between a reload and its clean-up).
    writeFileSync(stateFile, ['1', STATE_HEADER, row('web', 'n0:a', 9000), ''].join('\n'));
    await socket.close();
    apply.prepareAhead(next.model);
    assert.equal((await reload(next)).kind, 'applied');
    assert.equal(proc.seen.length, 1);
    assert.equal(proc.seen[0], undefined, 'no state file at the reload');
  } finally {
    await cleanup();
  }
});

test('after a reload command (which may return before HAProxy has read it) the state file is left in place', async () => {
  const { dir, cleanup } = await tempDir();
  const { apply, proc, socket, next, reload, stateFile } = await setUp(dir, 0, false);
  try {
    apply.prepareAhead(next.model);
    assert.equal((await reload(next)).kind, 'applied');
    assert.deepEqual(servers(proc.seen[0] ?? ''), ['n0:a', 'n1:b', 'n2:c']);
    assert.deepEqual(servers(readFileSync(stateFile, 'utf8')), ['n0:a', 'n1:b', 'n2:c'], 'still there for the HAProxy the command signalled');
  } finally {
    await socket.close();
    await cleanup();
  }
});

test("an apply's record and metrics say how long HAProxy took and how long hapilot did, neither counted in the other", async () => {
  const { dir, cleanup } = await tempDir();
  // The running worker answers `show servers state` after 150 ms; HAProxy's reload takes 200 ms.
  const { apply, proc, socket, next, reload, metrics } = await setUp(dir, 150);
  proc.reloadMs = 200;
  try {
    assert.equal((await reload(next)).kind, 'applied');
    const record = apply.records[0];
    assert.ok(record);
    const { prepareMs, haproxyMs, selfCheckMs, validateMs } = record.timings;
    assert.ok(prepareMs >= 140, `the state saved before the reload is hapilot's preparation: ${prepareMs} ms`);
    assert.ok(haproxyMs >= 195 && haproxyMs < 200 + 140, `HAProxy's part is the reload alone: ${haproxyMs} ms`);
    assert.ok(record.durationMs >= prepareMs + haproxyMs - 2, `the whole apply covers both: ${record.durationMs} ms`);
    assert.equal(selfCheckMs < 50, true, 'no self-check asked');
    assert.equal(validateMs, undefined, 'this file was staged without haproxy -c');
    const text = await metrics.registry.metrics();
    assert.match(text, /^hapilot_haproxy_reload_duration_seconds_count\{action="reload"\} 1$/m);
    assert.match(text, /^hapilot_haproxy_reload_duration_seconds_bucket\{le="0\.1",action="reload"\} 0$/m, 'a 200 ms reload is not under 0.1 s');
    assert.match(text, /^hapilot_haproxy_reload_duration_seconds_bucket\{le="0\.25",action="reload"\} 1$/m);
  } finally {
    await socket.close();
    await cleanup();
  }
});

test("a config checked by haproxy -c carries the check's time into the apply's record", async () => {
  const { dir, cleanup } = await tempDir();
  const { apply, socket, next, proc } = await setUp(dir, 0);
  try {
    const staged = await stageConfig({ configPath: path.join(dir, 'haproxy.cfg'), config: next.config, files: next.files, haproxy: 'haproxy', durable: false });
    assert.equal(staged.validation?.ok, true, staged.validation?.message);
    const out = await apply.apply({ staged, config: next.config, model: next.model, serverLines: next.serverLines, index: 3, trigger: 'catalog change', cause: 'test', appliers: [proc] });
    assert.equal(out.kind, 'applied');
    assert.equal(apply.records[0]?.timings.validateMs, Math.round(staged.validation?.durationMs ?? NaN));
    assert.ok((apply.records[0]?.timings.validateMs ?? 0) > 0);
  } finally {
    await socket.close();
    await cleanup();
  }
});
