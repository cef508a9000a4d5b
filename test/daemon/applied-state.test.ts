// applied-model.json is input when read back: versioned, schema-checked, and used only for the very
// config it was saved with.
import { ByteRope } from '../../src/util/byte-rope.js';
import { JoinedLines } from '../../src/config/backend-pieces.js';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { AppliedState, sha256, sameConfig } from '../../src/daemon/applied-state.js';
import { digestsOf, matchesDigests, type PartDigests } from '../../src/util/part-digest.js';
import { stageConfig } from '../../src/config/config-file.js';
import { buildModel } from '../../src/model/model.js';
import { ENABLE, entry, settings } from '../helpers/entries.js';
import { tempDir } from '../helpers/haproxy.js';

test('applied-model.json round-trips for its config, and anything else is refused with a reason', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const s = settings();
    const state = new AppliedState({ runDir: dir, settings: s });
    const model = buildModel({ entries: [entry('web', 'a', [ENABLE], { weights: { Passing: 3, Warning: 1 } })], settings: s });
    await state.set({ config: 'cfg-1', model, serverLines: new Map(), index: 7, atMs: 0 });
    const json = (m: unknown) => JSON.parse(JSON.stringify(m)) as unknown; // (undefined fields are not saved)
    assert.deepEqual(json((await state.loadModel('cfg-1')).model), json(model));
    assert.equal((await state.loadModel('cfg-2')).reason, 'applied-model.json is for another config');
    const file = path.join(dir, 'applied-model.json');
    const saved = { version: 2, configParts: digestsOf(Buffer.from('cfg-1'), [3, 2]), model };
    // A model file of a hapilot of before (version 1: one SHA-256 of the whole config) is read too.
    for (const [content, ok] of [[{ version: 1, configSha256: sha256('cfg-1'), model }, true], [{ version: 1, configSha256: sha256('cfg-2'), model }, false], [saved, true]] as const) {
      await writeFile(file, JSON.stringify(content));
      assert.equal((await state.loadModel('cfg-1')).model !== undefined, ok, JSON.stringify(content).slice(0, 80));
    }
    const cases: Array<[unknown, RegExp]> = [
      [{ ...saved, version: 3 }, /version/],
      [{ ...saved, version: 1 }, /configSha256/],
      [{ ...saved, configParts: [[5, 'abc']] }, /configParts/],
      [{ ...saved, configParts: [[-1, sha256('')]] }, /configParts/],
      [{ ...saved, model: { ...model, backends: [{ ...model.backends[0], servers: [{ name: 'x', port: '80' }] }] } }, /backends\.0\.servers\.0/],
      [{ ...saved, model: { ...model, settings: { ...model.settings, httpPort: 'eighty' } } }, /settings\.httpPort/],
      [{ sha: sha256('cfg-1'), model }, /version/],
    ];
    for (const [content, reason] of cases) {
      await writeFile(file, JSON.stringify(content));
      const r = await state.loadModel('cfg-1');
      assert.equal(r.model, undefined, JSON.stringify(content).slice(0, 80));
      assert.match(r.reason, reason);
    }
    // Digests of other bytes, or of as many bytes cut otherwise: another config.
    for (const configParts of [digestsOf(Buffer.from('cfg-2'), [3, 2]), [[4, digestsOf(Buffer.from('cfg-'), [4])[0]![1]], [1, digestsOf(Buffer.from('1'), [1])[0]![1]]], digestsOf(Buffer.from('cfg-1'), [3])]) {
      await writeFile(file, JSON.stringify({ ...saved, configParts }));
      assert.equal((await state.loadModel('cfg-1')).model !== undefined, configParts[0]![0] === 4, JSON.stringify(configParts));
    }
    await writeFile(file, JSON.stringify({ ...saved, configParts: digestsOf(Buffer.from('cfg-2'), [3, 2]) }));
    assert.equal((await state.loadModel('cfg-1')).reason, 'applied-model.json is for another config');
    await writeFile(file, '{oops');
    assert.equal((await state.loadModel('cfg-1')).reason, 'applied-model.json is not JSON');
  } finally {
    await cleanup();
  }
});

test('the model file hashes the config\'s bytes when they are kept, the same digests as of the text, UTF-8 included', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const s = settings();
    const model = buildModel({ entries: [entry('web', 'a', [ENABLE])], settings: s });
    const configPath = path.join(dir, 'haproxy.cfg');
    for (const config of ['global\n  maxconn 10\n', '# café ☕ \u0100\nglobal\n']) {
      const staged = await stageConfig({ configPath, config, files: [], durable: false });
      // The bytes kept (weakly) are the file's bytes.
      assert.ok(staged.encoded()?.equals(await readFile(staged.tempPath)));
      await staged.commit();
      const state = new AppliedState({ runDir: dir, settings: s });
      await state.set({ config, model, serverLines: new Map(), index: 1, atMs: 0, bytes: staged.encoded() });
      const saved = JSON.parse(await readFile(path.join(dir, 'applied-model.json'), 'utf8')) as { configParts: PartDigests };
      assert.deepEqual(saved.configParts, [[Buffer.byteLength(config), createHash('sha256').update(await readFile(configPath)).digest('hex')]]);
      assert.ok(matchesDigests(await readFile(configPath), saved.configParts));
      assert.ok((await state.loadModel(config)).model, 'a restarted hapilot takes the model for this config');
      // Bytes no longer in memory: the text is encoded again, to the same digests.
      const again = new AppliedState({ runDir: dir, settings: s });
      await again.set({ config, model: { ...model }, serverLines: new Map(), index: 2, atMs: 0 });
      assert.deepEqual((JSON.parse(await readFile(path.join(dir, 'applied-model.json'), 'utf8')) as { configParts: PartDigests }).configParts, saved.configParts);
    }
  } finally {
    await cleanup();
  }
});

test('sameConfig: by the bytes kept when there are some (a spliced text is not compared), else by text', () => {
  const a = 'global\n  maxconn 10\n';
  const b = 'global\n  maxconn 11\n';
  const bytes = (t: string) => ByteRope.of(Buffer.from(t));
  // Ropes cut in other places, with the same bytes.
  const cut = (t: string, ...at: number[]) => new ByteRope([0, ...at].map((from, i) => Buffer.from(t.slice(from, [...at, t.length][i]))));
  assert.ok(sameConfig({ config: a, bytes: bytes(a) }, { config: a.slice(0, 7) + a.slice(7), bytes: bytes(a) }));
  assert.ok(sameConfig({ config: a, bytes: cut(a, 3, 10) }, { config: a, bytes: cut(a, 7) }));
  assert.ok(!sameConfig({ config: a, bytes: cut(a, 3, 10) }, { config: b, bytes: cut(b, 7) }));
  assert.ok(!sameConfig({ config: a, bytes: bytes(a) }, { config: b, bytes: bytes(b) }));
  // The bytes decide when both are kept: they are the config's by contract.
  assert.ok(sameConfig({ config: a, bytes: bytes(b) }, { config: b, bytes: bytes(b) }));
  assert.ok(sameConfig({ config: a, bytes: cut(a, 5, 6) }, { config: a }));
  assert.ok(!sameConfig({ config: b }, { config: a, bytes: cut(a, 18) }));
  assert.ok(sameConfig({ config: a }, { config: a }));
  assert.ok(!sameConfig({ config: a }, { config: b }));
  // One assembly of the incremental renderer (its lines object): the same config, by contract, not read.
  const lines = new JoinedLines([], [], new Map(), new Map());
  assert.ok(sameConfig({ config: a, serverLines: lines }, { config: b, serverLines: lines }));
  assert.ok(!sameConfig({ config: a, serverLines: lines }, { config: b, serverLines: new JoinedLines([], [], new Map(), new Map()) }), 'other lines: compared');
  assert.ok(!sameConfig({ config: a, serverLines: new Map() }, { config: b, serverLines: new Map() }), 'plain maps say nothing');
});
