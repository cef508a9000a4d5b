// The one path a config takes to disk: stage next to the destination, validate that very file, commit
// by rename; a rejected config never replaces the file, and map files nothing refers to are removed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import fc from 'fast-check';
import { referencedFiles, referencedFilesIn, removeUnreferencedFiles, stageConfig } from '../../src/config/config-file.js';
import { ENABLE, entry } from '../helpers/entries.js';
import { HAPROXY, tempDir } from '../helpers/haproxy.js';
import { renderEntries, tempPaths } from '../helpers/render.js';

test('stageConfig: validated in place, committed by rename; a rejected config leaves the old file intact', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const configPath = path.join(dir, 'haproxy.cfg');
    const good = await renderEntries([entry('web', 'a', [ENABLE])], { paths: tempPaths(dir) });
    const staged = await stageConfig({ configPath, config: good.config, files: good.files, haproxy: HAPROXY });
    assert.equal(staged.validation?.ok, true, staged.validation?.message);
    assert.equal(path.dirname(staged.tempPath), dir, 'staged next to the destination, so the rename is atomic');
    assert.equal(existsSync(configPath), false, 'nothing at the destination before commit');
    await staged.commit();
    assert.equal(await readFile(configPath, 'utf8'), good.config);
    assert.ok(good.files.every((f) => existsSync(f.path)), 'the map files the config names are written');

    const bad = await stageConfig({ configPath, config: `${good.config}\nbackend broken\n    balance no-such-algorithm\n`, files: [], haproxy: HAPROXY });
    assert.equal(bad.validation?.ok, false);
    assert.match(bad.validation?.message ?? '', /no-such-algorithm|balance/);
    await bad.discard();
    assert.equal(await readFile(configPath, 'utf8'), good.config, 'the running config is untouched');
    assert.deepEqual((await readdir(dir)).filter((f) => f.endsWith('.tmp')), [], 'no temp file left');

    const unvalidated = await stageConfig({ configPath, config: 'anything\n', files: [] });
    assert.equal(unvalidated.validation, undefined);
    await unvalidated.discard();
    await assert.rejects(unvalidated.commit(), /already committed or discarded/);
  } finally {
    await cleanup();
  }
});

test('removeUnreferencedFiles: keeps the maps the given configs name, removes the others, leaves other files alone', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const one = await renderEntries([entry('web', 'a', [ENABLE])], { paths: tempPaths(dir) });
    const two = await renderEntries([entry('api', 'b', [ENABLE])], { paths: tempPaths(dir) });
    for (const f of [...one.files, ...two.files]) await writeFile(f.path, f.contents);
    await writeFile(path.join(dir, 'operator-notes.map'), 'x');
    await removeUnreferencedFiles({ dir, keep: [two.config] });
    const left = (await readdir(dir)).sort();
    assert.deepEqual(left, [path.basename(two.files[0]!.path), 'operator-notes.map'].sort());
  } finally {
    await cleanup();
  }
});

test('referencedFilesIn finds in bytes the host-map names referencedFiles finds in text', () => {
  // Pieces that make names, near misses (no hex, a letter past f, capitals, no suffix) and other text.
  const piece = fc.constantFrom('hapilot-hosts-', '0a9f', 'abcdef', 'g', 'A1', '.map', '.ma', ' ', '\n', 'map(/etc/', 'é');
  fc.assert(fc.property(fc.array(piece, { maxLength: 40 }), (pieces) => {
    const text = pieces.join('');
    assert.deepEqual(referencedFilesIn(Buffer.from(text)), referencedFiles(text), JSON.stringify(text));
  }), { numRuns: 2000 });
  assert.deepEqual(referencedFilesIn(Buffer.from('map(/x/hapilot-hosts-00ff.map) hapilot-hosts-.map hapilot-hosts-hapilot-hosts-1.map')), ['hapilot-hosts-00ff.map', 'hapilot-hosts-1.map']);
});
