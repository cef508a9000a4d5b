// Host maps are removed once neither the applied config nor a history entry names them; history
// entries are read once (they are written once), and again when one changed since.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { cleanUnreferencedMaps } from '../../src/daemon/map-cleanup.js';
import { tempDir } from '../helpers/haproxy.js';
import { ByteRope } from '../../src/util/byte-rope.js';
import { collector } from '../helpers/gc.js';

const map = (n: number) => `hapilot-hosts-${String(n).padStart(12, '0')}.map`;
const cfg = (...maps: number[]) => maps.map((m) => `    http-request set-var(txn.b) req.hdr(host),map(/etc/hapilot/${map(m)})\n`).join('');

/** A run's files dir and history dir, in a temp dir. */
async function dirs() {
  const { dir, cleanup } = await tempDir();
  const filesDir = path.join(dir, 'files');
  const historyDir = path.join(dir, 'history');
  await mkdir(filesDir);
  await mkdir(historyDir);
  return { filesDir, historyDir, cleanup };
}

test('cleanUnreferencedMaps: keeps what the applied config and the history name; an entry edited in place is read again', async () => {
  const { filesDir, historyDir, cleanup } = await dirs();
  try {
    for (const m of [1, 2, 3, 4]) await writeFile(path.join(filesDir, map(m)), 'a b\n');
    await writeFile(path.join(filesDir, 'other.pem'), 'x');
    await writeFile(path.join(historyDir, 'e1.cfg'), cfg(2));
    await writeFile(path.join(historyDir, 'e2.cfg'), cfg(3));
    const present = () => [1, 2, 3, 4].filter((m) => existsSync(path.join(filesDir, map(m))));

    await cleanUnreferencedMaps({ filesDir, applied: cfg(1), historyDir });
    assert.deepEqual(present(), [1, 2, 3], 'the applied config\'s map and the history\'s stay; 4 goes');
    assert.ok(existsSync(path.join(filesDir, 'other.pem')), 'files that are not host maps are left alone');

    // e2 edited in place (another size): read again, so map 3 goes and nothing it now names does.
    await writeFile(path.join(historyDir, 'e2.cfg'), cfg(1, 1));
    await cleanUnreferencedMaps({ filesDir, applied: cfg(1), historyDir });
    assert.deepEqual(present(), [1, 2]);

    // An entry pruned from the history no longer keeps its map.
    await rm(path.join(historyDir, 'e1.cfg'));
    await cleanUnreferencedMaps({ filesDir, applied: undefined, historyDir });
    assert.deepEqual(present(), [1], 'only e2 (map 1) is left to name a map');
  } finally {
    await cleanup();
  }
});

test('cleanUnreferencedMaps: the applied config as the bytes written, a name cut across two of their parts', async () => {
  const { filesDir, historyDir, cleanup } = await dirs();
  try {
    for (const m of [1, 2, 3]) await writeFile(path.join(filesDir, map(m)), 'a b\n');
    const bytes = Buffer.from(cfg(1, 2));
    const cut = bytes.indexOf(map(2)) + 5;
    await cleanUnreferencedMaps({ filesDir, applied: new ByteRope([bytes.subarray(0, cut), bytes.subarray(cut)]), historyDir });
    assert.deepEqual([1, 2, 3].filter((m) => existsSync(path.join(filesDir, map(m)))), [1, 2]);
  } finally {
    await cleanup();
  }
});

test('cleanUnreferencedMaps: the names it keeps of each history entry do not keep the entry\'s text alive', async () => {
  const gc = collector();
  const { filesDir, historyDir, cleanup } = await dirs();
  try {
    // Five 4 MB configs, as history entries are at scale (9 MB at 10,000 services).
    const filler = `${'#'.repeat(99)}\n`.repeat(40_000);
    for (const n of [1, 2, 3, 4, 5]) await writeFile(path.join(historyDir, `e${n}.cfg`), cfg(n) + filler);
    gc();
    const before = process.memoryUsage().heapUsed;
    await cleanUnreferencedMaps({ filesDir, applied: cfg(9), historyDir });
    gc();
    const grew = process.memoryUsage().heapUsed - before;
    assert.ok(grew < 4_000_000, `the heap grew by ${(grew / 1e6).toFixed(1)} MB after reading 20 MB of history: the texts are still held`);
  } finally {
    await cleanup();
  }
});
