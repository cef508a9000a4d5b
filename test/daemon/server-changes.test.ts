// The Runtime API step and the early validation of a waiting structural change: a server change is
// in the config file (renamed into place) before the first Runtime API command goes out, and its
// bookkeeping (model file, history) follows; a structural candidate validated during the wait is
// used as staged only when it is the very config the sync applies.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { HealthEntry } from '../../src/consul/schemas.js';
import { buildModel } from '../../src/model/model.js';
import { finishConfig, type BuildResult } from '../../src/config/build.js';
import { pathsFor } from '../../src/config/render.js';
import { loadTemplates } from '../../src/config/templates.js';
import type { StagedConfig } from '../../src/config/config-file.js';
import type { Applier, ApplyResult, Change, HaproxyProcesses, ProcessApplier } from '../../src/haproxy/applier.js';
import { AppliedState } from '../../src/daemon/applied-state.js';
import { matchesDigests, type PartDigests } from '../../src/util/part-digest.js';
import { ApplyStep } from '../../src/daemon/apply.js';
import { CandidateBuilder } from '../../src/daemon/candidate.js';
import { ConfigHistory } from '../../src/daemon/history.js';
import { Metrics } from '../../src/daemon/metrics.js';
import { ServerChanges } from '../../src/daemon/server-changes.js';
import { EarlyValidation } from '../../src/daemon/validation.js';
import { PoolReconciler } from '../../src/pool/reconciler.js';
import { EMPTY_POOL_TABLE, ingestPoolKv } from '../../src/pool/table.js';
import { ENABLE, entry, settings } from '../helpers/entries.js';
import { tempDir } from '../helpers/haproxy.js';
import { testLog } from '../helpers/log.js';
import { noKv } from '../helpers/no-kv.js';
import { JoinedLines } from '../../src/config/backend-pieces.js';
import { ByteRope } from '../../src/util/byte-rope.js';

class NoProcess implements ProcessApplier {
  readonly strategy = 'master-worker';
  readonly confirmsLoad = true;
  async apply(): Promise<ApplyResult> { return { kind: 'failed', strategy: 'master-worker', action: 'reload', message: 'not in this test' }; }
  async start() { return { adopted: false }; }
  async reload() { return { ok: false, message: 'not in this test' }; }
  async running() { return true; }
  async processes(): Promise<HaproxyProcesses> { return { masterPid: undefined, currentWorkerPid: 1, oldWorkers: [] }; }
  async stop() { /* nothing */ }
}

/**
 * HAProxy running the config of `before` (as the state says), an ApplyStep and a CandidateBuilder
 * around it. `viaBuilder`: the running config is the builder's render, with its bytes (as after a
 * reload in the daemon); else a plain render, without bytes.
 */
async function running(dir: string, before: HealthEntry[], viaBuilder = false) {
  const configPath = path.join(dir, 'haproxy.cfg');
  const paths = pathsFor({ configPath, runDir: dir });
  const s = settings();
  const templates = await loadTemplates();
  const builder = new CandidateBuilder({ settings: s, templates, paths, fdLimit: undefined, guard: { maxRemovalRatio: 0.5, holdMs: 60_000 }, now: Date.now });
  const model = buildModel({ entries: before, settings: s });
  const built = viaBuilder ? builder.render(model) : finishConfig({ model, templates, paths, fdLimit: undefined });
  await writeFile(configPath, built.config);
  const state = new AppliedState({ runDir: dir, settings: s });
  await state.set({ config: built.config, model: built.model, serverLines: built.serverLines, index: 1, atMs: 0, bytes: viaBuilder ? ByteRope.of(Buffer.from(built.config)) : undefined });
  state.haproxyRunning = true;
  const history = new ConfigHistory({ runDir: dir });
  const apply = new ApplyStep({ configPath, paths, process: new NoProcess(), state, history, metrics: new Metrics(), log: testLog, selfCheck: false, maxOldWorkers: undefined, afterApply: async () => undefined });
  return { configPath, paths, s, state, history, apply, builder };
}

for (const viaBuilder of [false, true]) test(`a server change is renamed into the config before the Runtime API commands; model file and history follow (${viaBuilder ? 'the builder\'s render, its bytes replaced' : 'sections spliced into the text'})`, async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const before = [entry('web', 'a', [ENABLE], { node: 'n1', port: 9001 }), entry('web', 'b', [ENABLE], { node: 'n2', port: 9002 }), entry('api', 'x', [ENABLE], { node: 'n1', port: 9101 }), entry('zed', 'z', [ENABLE], { node: 'n2', port: 9201 })];
    const { configPath, paths, s, state, history, apply, builder } = await running(dir, before, viaBuilder);
    // Which way each change was made: the builder's lines, or the running ones overlaid.
    const madeAs = () => assert.equal(state.current?.serverLines instanceof JoinedLines, viaBuilder, `made ${viaBuilder ? 'by the builder' : 'by splicing'}`);
    // The Runtime API, as HAProxy would see the file at the moment of the first command.
    const seen: string[] = [];
    let decline = false;
    let fail = false;
    const runtime: Applier = {
      strategy: 'runtime',
      async apply(change: Change): Promise<ApplyResult> {
        if (decline) return { kind: 'declined', strategy: 'runtime', reason: 'not this one' };
        if (fail) return { kind: 'failed', strategy: 'runtime', action: 'runtime', message: 'refused' };
        seen.push(readFileSync(configPath, 'utf8'));
        assert.equal(change.config, seen[seen.length - 1]);
        return { kind: 'applied', strategy: 'runtime', action: 'runtime', message: '1 runtime operation' };
      },
    };
    const step = new ServerChanges({ configPath, runtime, apply, builder, log: testLog, settings: s, paths, maxRemovalRatio: 0.5 });
    const after = [...before, entry('web', 'c', [ENABLE], { node: 'n3', port: 9003 })];
    const applied = state.current!;
    assert.equal(await step.first(applied, { entries: after, index: 2, cause: 'test', changed: ['web'] }, 'catalog change'), true);
    assert.equal(seen.length, 1);
    assert.match(seen[0]!, /server n3:c 10\.0\.0\.1:9003/, 'the new server is in the file before the Runtime API hears of it');
    assert.equal(state.current?.config, seen[0], 'what HAProxy runs is recorded at once');
    madeAs();
    assert.ok(state.current?.bytes?.equals(readFileSync(configPath)), 'with the bytes written, for the next change to splice');
    assert.equal(apply.records[0]?.action, 'runtime');
    await apply.flush();
    assert.deepEqual(apply.records[0]?.changes?.serversAdded, ['web/n3:c'], 'what changed, filled in off the critical path');
    // The model file (its base and the journal line of this change) follows.
    const model = (await state.saved.read())?.json as { model: { backends: Array<{ name: string; servers: unknown[] }> } };
    assert.equal(model.model.backends.find((b) => b.name === 'web')?.servers.length, 3, 'the model file follows');
    assert.deepEqual(state.saved.counts, { bases: 1, lines: 1 }, 'a journal line, not the model again');
    assert.ok((await readdir(history.dir)).some((f) => f.endsWith('.diff')), 'the history follows');
    assert.equal(await readFile(configPath, 'utf8'), seen[0]);
    assert.deepEqual((await readdir(dir)).filter((f) => f.endsWith('.tmp')), [], 'no temp file left');
    const cfgs = (await readdir(history.dir)).filter((f) => f.endsWith('.cfg'));
    assert.equal(cfgs.length, 1);
    const kept = path.join(history.dir, cfgs[0]!);
    assert.equal(await readFile(kept, 'utf8'), seen[0], 'the history keeps the applied config');
    assert.equal(statSync(kept).ino, statSync(configPath).ino, 'as a link to the file HAProxy was given, not a copy');

    // A change no applier takes: its file is put back, and the history neither records it nor keeps a link.
    decline = true;
    const more = [...after, entry('web', 'd', [ENABLE], { node: 'n4', port: 9004 })];
    assert.equal(await step.first(state.current!, { entries: more, index: 3, cause: 'test', changed: ['web'] }, 'catalog change'), false);
    await apply.flush();
    assert.equal(await readFile(configPath, 'utf8'), seen[0], 'the file says what HAProxy runs');
    assert.deepEqual((await readdir(history.dir)).filter((f) => !f.endsWith('.diff')), cfgs, 'nothing captured is left behind');
    assert.equal(await readFile(kept, 'utf8'), seen[0], 'the kept config is not the file written after it');

    // Two changes applied back to back, the first one's bookkeeping not done when the second is
    // committed: each history entry holds its own config.
    decline = false;
    const e = [...after, entry('web', 'e', [ENABLE], { node: 'n5', port: 9005 })];
    const f = [...e, entry('web', 'f', [ENABLE], { node: 'n6', port: 9006 })];
    assert.equal(await step.first(state.current!, { entries: e, index: 4, cause: 'test', changed: ['web'] }, 'catalog change'), true);
    assert.equal(await step.first(state.current!, { entries: f, index: 5, cause: 'test', changed: ['web'] }, 'catalog change'), true);
    madeAs();
    await apply.flush();
    const entries = (await readdir(history.dir)).filter((x) => x.endsWith('.cfg')).sort();
    assert.equal(entries.length, 3);
    assert.deepEqual(await Promise.all(entries.slice(1).map((x) => readFile(path.join(history.dir, x), 'utf8'))), seen.slice(1, 3), 'each entry is the config of its change');
    assert.match(seen[1]!, /n5:e/);
    assert.doesNotMatch(seen[1]!, /n6:f/);
    // These were spliced from the bytes kept: the file, the bytes kept and the text agree, and the
    // history's diff (bytes against bytes) adds just the new server.
    assert.ok(state.current?.bytes?.equals(readFileSync(configPath)));
    assert.equal(state.current?.bytes?.toString(), state.current?.config);
    // The model file's digests (those of the blocks hashed before reused) are the file's.
    const saved = (await state.saved.read())?.json as { configParts: PartDigests };
    assert.ok(matchesDigests(readFileSync(configPath), saved.configParts));
    assert.ok(!matchesDigests(Buffer.from(seen[1]!), saved.configParts), 'not those of the config before');
    assert.ok((await state.loadModel(state.current!.config)).model, 'a restarted hapilot would take it');
    const lastDiff = await readFile(path.join(history.dir, entries[2]!.replace(/\.cfg$/, '.diff')), 'utf8');
    const changedLines = lastDiff.split('\n').filter((l) => /^[+-](?!\+\+ |-- )/.test(l));
    assert.equal(changedLines.length, 1, lastDiff);
    assert.match(changedLines[0]!, /^\+\s+server n6:f 10\.0\.0\.1:9006/);

    // A change the Runtime API fails: not recorded, nothing captured left.
    fail = true;
    const g = [...f, entry('web', 'g', [ENABLE], { node: 'n7', port: 9007 })];
    await assert.rejects(step.first(state.current!, { entries: g, index: 6, cause: 'test', changed: ['web'] }, 'catalog change'));
    await apply.flush();
    assert.deepEqual((await readdir(history.dir)).filter((x) => !x.endsWith('.diff')), entries, 'a failed change leaves no capture and no entry');
  } finally {
    await cleanup();
  }
});

test('early validation: the staged file is used only for the very config it validated, valid, with its map files', async () => {
  const staged: Array<{ config: string; discarded: boolean }> = [];
  const fake = (ok: boolean) => ({
    async stage(built: BuildResult): Promise<StagedConfig> {
      const rec = { config: built.config, discarded: false };
      staged.push(rec);
      return {
        tempPath: `/nonexistent/${staged.length}`, validation: { ok, message: ok ? '' : 'rejected' },
        async commit() { /* not here */ }, async sync() { /* not here */ }, async discard() { rec.discarded = true; },
      } as StagedConfig;
    },
  });
  const built = (config: string, files: BuildResult['files'] = []) => ({ config, files }) as BuildResult;

  const early = new EarlyValidation(fake(true));
  early.start(built('A'));
  early.start(built('A'));
  assert.equal(staged.length, 1, 'the same config is validated once while it waits');
  assert.ok(await early.take(built('A')), 'taken for the same config');
  assert.equal(await early.take(built('A')), undefined, 'taken once');

  early.start(built('B'));
  early.start(built('C'));
  assert.equal(await early.take(built('C2')), undefined, 'another config: validated as usual');
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(staged.slice(1).map((x) => x.discarded), [true, true], 'replaced and unused files are discarded');

  const { dir, cleanup } = await tempDir();
  try {
    const map = path.join(dir, 'hosts-abc.map');
    await writeFile(map, 'a b\n');
    early.start(built('D', [{ path: map, contents: 'a b\n' }]));
    assert.ok(await early.take(built('D', [{ path: map, contents: 'a b\n' }])), 'map file still there');
    early.start(built('E', [{ path: path.join(dir, 'gone.map'), contents: '' }]));
    assert.equal(existsSync(path.join(dir, 'gone.map')), false);
    assert.equal(await early.take(built('E', [{ path: path.join(dir, 'gone.map'), contents: '' }])), undefined, 'a map file removed since: validated again');
  } finally {
    await cleanup();
  }

  const rejecting = new EarlyValidation(fake(false));
  rejecting.start(built('F'));
  assert.equal(await rejecting.take(built('F')), undefined, 'a rejected config goes through validation and bisection as usual');
  assert.equal(staged.at(-1)?.discarded, true);
});

test('a structural change: server changes elsewhere go through the Runtime API first; with none, nothing is rendered or sent before the reload', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const before = [entry('web', 'a', [ENABLE], { node: 'n1', port: 9001 }), entry('api', 'b', [ENABLE], { node: 'n2', port: 9002 })];
    const { configPath, paths, s, state, apply, builder } = await running(dir, before);
    const sent: string[] = [];
    const runtime: Applier = { strategy: 'runtime', async apply(change: Change): Promise<ApplyResult> { sent.push(change.config); return { kind: 'applied', strategy: 'runtime', action: 'runtime', message: 'ok' }; } };
    const step = new ServerChanges({ configPath, runtime, apply, builder, log: testLog, settings: s, paths, maxRemovalRatio: 0.5 });
    // Renders asked for by the step itself (counted from after each candidate's own).
    let renders = 0;
    const render = builder.render.bind(builder);
    builder.render = (m) => { renders += 1; return render(m); };
    const rest = async (entries: typeof before, index: number) => {
      const applied = state.current!;
      const cand = builder.build({ snapshot: { entries, index, cause: 'test' }, applied: applied.model, guilty: new Set() });
      renders = 0;
      return step.rest({ ...applied, model: applied.model! }, cand, { entries, index, cause: 'test' }, 'catalog change');
    };

    // A new service only: a reload's work, nothing for the Runtime API.
    const withDb = [...before, entry('db', 'c', [ENABLE], { node: 'n3', port: 9003 })];
    assert.deepEqual(await rest(withDb, 2), { structural: true });
    assert.equal(sent.length, 0, 'no server of the running backends moved: nothing sent');
    assert.equal(renders, 0, 'nor rendered');

    // A new service and a new server of web: the server goes out at once, without the new service.
    const alsoWeb = [...withDb, entry('web', 'd', [ENABLE], { node: 'n4', port: 9004 })];
    assert.deepEqual(await rest(alsoWeb, 3), { structural: true });
    assert.equal(sent.length, 1);
    assert.equal(renders, 1);
    assert.match(sent[0]!, /server n4:d 10\.0\.0\.1:9004/);
    assert.doesNotMatch(sent[0]!, /backend db/, 'the new service waits for the reload');
    // The applied server change's history and model file are written before the directory goes.
    await apply.flush();
  } finally {
    await cleanup();
  }
});

test('runtime-first leaves to the full build a change the pool rules would alter (a pool weight for the new server)', async () => {
  const { dir, cleanup } = await tempDir();
  const pool = new PoolReconciler({ kv: noKv, prefix: 'hapilot/pool', statsSocket: path.join(dir, 'none.sock'), defaultThreshold: 0, log: testLog });
  try {
    const before = [entry('web', 'a', [ENABLE], { node: 'n1', port: 9001 }), entry('web', 'b', [ENABLE], { node: 'n2', port: 9002 })];
    const { configPath, paths, s, state, apply, builder } = await running(dir, before);
    let sent = 0;
    const runtime: Applier = {
      strategy: 'runtime',
      async apply(): Promise<ApplyResult> {
        sent++;
        return { kind: 'applied', strategy: 'runtime', action: 'runtime', message: '1 runtime operation' };
      },
    };
    const table = ingestPoolKv({ prefix: 'hapilot/pool', pairs: [{ key: 'hapilot/pool/web/c', value: '{"state":"yes","weight":7}', modifyIndex: 2 }], previous: EMPTY_POOL_TABLE });
    pool.takePool({ table, dockerWeights: undefined, index: 2 });
    const step = new ServerChanges({ configPath, runtime, apply, builder, log: testLog, settings: s, paths, maxRemovalRatio: 0.5, pool });
    const withC = [...before, entry('web', 'c', [ENABLE], { node: 'n3', port: 9003 })];
    assert.equal(await step.first(state.current!, { entries: withC, index: 2, cause: 'test', changed: ['web'] }, 'catalog change'), false, 'c has a pool weight the services rendered alone do not carry');
    assert.equal(sent, 0);
    assert.doesNotMatch(await readFile(configPath, 'utf8'), /n3:c/, 'nothing written');
    const withD = [...before, entry('web', 'd', [ENABLE], { node: 'n4', port: 9004 })];
    assert.equal(await step.first(state.current!, { entries: withD, index: 3, cause: 'test', changed: ['web'] }, 'catalog change'), true, 'no pool record for d: taken at once');
    assert.equal(sent, 1);
    await apply.flush();
  } finally {
    await pool.stop();
    await cleanup();
  }
});
