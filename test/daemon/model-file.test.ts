// The model file is a base and a journal of the backends changed since: read back, it is always the
// last model written, whichever way each write went; a few changed backends are a journal line, not
// the model again; anything else, or a journal grown to half the base, is a new base. A line torn by
// a crash, or a journal left from another base, is not applied.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile, appendFile } from 'node:fs/promises';
import path from 'node:path';
import fc from 'fast-check';
import { AppliedState } from '../../src/daemon/applied-state.js';
import { ModelFile } from '../../src/daemon/model-file.js';
import { buildModel, type Model } from '../../src/model/model.js';
import { digestsOf } from '../../src/util/part-digest.js';
import { ENABLE, entry, settings } from '../helpers/entries.js';
import { tempDir } from '../helpers/haproxy.js';

const s = settings();
const base = buildModel({ entries: Array.from({ length: 200 }, (_, i) => entry(`svc${String(i).padStart(3, '0')}`, `i${i}`, [ENABLE], { node: `n${i % 3}`, port: 8000 + i })), settings: s });
const json = (v: unknown) => JSON.parse(JSON.stringify(v)) as unknown;
const parts = (k: number) => digestsOf(Buffer.from(`config ${k}`), [3, 5 + String(k).length]);

/** A step from a model (of 200 backends): a few backends with new servers, or all of them, or the warnings changed, or a backend gone. */
const STEP = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('servers' as const), at: fc.array(fc.nat(199), { minLength: 1, maxLength: 5 }), port: fc.integer({ min: 1, max: 65535 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('many' as const), port: fc.integer({ min: 1, max: 65535 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('warning' as const), text: fc.string({ maxLength: 8 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('drop' as const), at: fc.nat(199) }) },
);

type Step = { kind: string; at?: number | number[]; port?: number; text?: string };

function stepped(m: Model, step: Step): Model {
  const withPort = (b: Model['backends'][number], port: number) => ({ ...b, servers: b.servers.map((x) => ({ ...x, port })) });
  switch (step.kind) {
    case 'servers': {
      const at = new Set((step.at as number[]).map((i) => i % m.backends.length));
      return { ...m, backends: m.backends.map((b, i) => (at.has(i) ? withPort(b, step.port as number) : b)) };
    }
    case 'many': return { ...m, backends: m.backends.map((b) => withPort(b, step.port as number)) };
    case 'warning': return { ...m, warnings: [...m.warnings, step.text as string] };
    default: return m.backends.length > 1 ? { ...m, backends: m.backends.filter((_, i) => i !== (step.at as number) % m.backends.length) } : m;
  }
}

test('property: read back, the model file is the last model written and its config digests, base or journal line', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    let run = 0;
    await fc.assert(fc.asyncProperty(fc.array(STEP, { minLength: 1, maxLength: 12 }), async (steps) => {
      const file = new ModelFile(path.join(dir, `m${run++}.json`));
      let m = base;
      await file.write(m, parts(0));
      let expectLines = 0;
      for (const [k, step] of steps.entries()) {
        const next = stepped(m, step);
        const changed = next.backends.length === m.backends.length && next.warnings === m.warnings ? next.backends.filter((b, i) => b !== m.backends[i]).length : Infinity;
        const before = { ...file.counts };
        await file.write(next, parts(k + 1));
        // A journal line exactly when only a few backends changed (the journal here stays far below half the base).
        const asLine = changed <= 64;
        assert.deepEqual(file.counts, asLine ? { ...before, lines: before.lines + 1 } : { ...before, bases: before.bases + 1 }, `${step.kind}: ${changed} changed`);
        expectLines = asLine ? expectLines + 1 : 0;
        const read = await file.read();
        assert.equal(read?.lines, expectLines);
        const got = read?.json as { configParts: unknown; model: unknown };
        assert.deepEqual(got.model, json(next));
        assert.deepEqual(got.configParts, json(parts(k + 1)));
        m = next;
      }
    }), { numRuns: 60 });
  } finally {
    await cleanup();
  }
});

test('a line torn by a crash, or a journal of another base, is not applied: the state before it is read, and the model is not taken for the config', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const state = new AppliedState({ runDir: dir, settings: s });
    const configs = ['config 0', 'config 1', 'config 2'];
    let m = base;
    for (const [k, config] of configs.entries()) {
      if (k > 0) m = stepped(m, { kind: 'servers', at: [k], port: 9000 + k });
      await state.set({ config, model: m, serverLines: new Map(), index: k + 1, atMs: 0, bytes: undefined });
    }
    assert.deepEqual(state.saved.counts, { bases: 1, lines: 2 });
    assert.deepEqual(json((await state.loadModel('config 2')).model), json(m));
    const journal = await readFile(state.saved.journalPath, 'utf8');
    // The last line torn: the state of the line before, whose digests are not the config's.
    await writeFile(state.saved.journalPath, journal.slice(0, journal.length - 20));
    assert.equal((await state.saved.read())?.lines, 1);
    assert.equal((await state.loadModel('config 2')).reason, 'applied-model.json is for another config');
    assert.ok((await state.loadModel('config 1')).model, 'config 1 is what the lines before describe');
    // A new base; the old journal put back beside it: not applied to it.
    await state.set({ config: 'config 3', model: { ...m, warnings: ['new'] }, serverLines: new Map(), index: 9, atMs: 0 });
    assert.deepEqual(state.saved.counts, { bases: 2, lines: 2 });
    await writeFile(state.saved.journalPath, journal);
    assert.equal((await state.saved.read())?.lines, 0);
    assert.ok((await state.loadModel('config 3')).model);
    // A line out of order (the same line twice): the state before it.
    await writeFile(state.saved.journalPath, '');
    await state.set({ config: 'config 4', model: { ...m, warnings: ['new'], backends: m.backends.map((b, i) => (i === 0 ? { ...b, servers: [] } : b)) }, serverLines: new Map(), index: 10, atMs: 0 });
    const line = await readFile(state.saved.journalPath, 'utf8');
    await appendFile(state.saved.journalPath, line);
    assert.equal((await state.saved.read())?.lines, 1);
    assert.ok((await state.loadModel('config 4')).model);
  } finally {
    await cleanup();
  }
});

test('the journal grown to half the base: the next write is a new base, and the journal starts again', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const file = new ModelFile(path.join(dir, 'applied-model.json'));
    let m = base;
    await file.write(m, parts(0));
    const baseBytes = (await readFile(file.path)).length;
    let k = 0;
    while (file.counts.bases === 1) {
      k += 1;
      m = stepped(m, { kind: 'servers', at: [k % 200, (k * 7) % 200, (k * 13) % 200], port: 1000 + k });
      await file.write(m, parts(k));
      assert.ok(k < 1000);
    }
    // The line that would have gone past half the base went into a new base instead.
    assert.ok(file.counts.lines > 1);
    assert.equal(await readFile(file.journalPath, 'utf8').catch(() => 'none'), 'none', 'the journal starts again');
    const read = await file.read();
    assert.deepEqual((read?.json as { model: unknown }).model, json(m));
    assert.ok(baseBytes > 0);
  } finally {
    await cleanup();
  }
});
