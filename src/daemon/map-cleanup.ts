// Map cleanup: host-map files are content-addressed, so each apply may leave an old one behind. After
// every apply, the maps that neither the applied config nor a config in the history refers to are
// removed (the history's configs stay loadable as they were written).
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { referencedFiles, referencedFilesIn, removeUnreferencedFiles } from '../config/config-file.js';
import type { ByteRope } from '../util/byte-rope.js';

/**
 * The maps each history config names, by path, with the size and modification time it was read at.
 * A history entry is written once: reading all of them after every reload read ten 9 MB files at
 * 10,000 services. One changed since (edited in place) is read again.
 */
const historyRefs = new Map<string, { size: number; mtimeMs: number; refs: string[] }>();

/**
 * `applied`: the config HAProxy runs, as the bytes written when they are kept (searched as they are),
 * else as text. History entries are read as bytes.
 */
export async function cleanUnreferencedMaps({ filesDir, applied, historyDir }: { filesDir: string; applied: string | ByteRope | undefined; historyDir: string }): Promise<void> {
  const referenced: string[] = [];
  const present = new Set<string>();
  for (const f of await readdir(historyDir).catch(() => [] as string[])) {
    if (!f.endsWith('.cfg')) continue;
    const file = path.join(historyDir, f);
    present.add(file);
    const st = await stat(file).catch(() => undefined);
    if (!st) continue;
    let known = historyRefs.get(file);
    if (known?.size !== st.size || known.mtimeMs !== st.mtimeMs) {
      known = { size: st.size, mtimeMs: st.mtimeMs, refs: referencedFilesIn(await readFile(file).catch(() => Buffer.alloc(0))) };
      historyRefs.set(file, known);
    }
    referenced.push(...known.refs);
  }
  // A text last: a regular expression keeps the last text it ran on (RegExp.input), and the applied
  // one is held anyway.
  if (applied !== undefined) referenced.push(...(typeof applied === 'string' ? referencedFiles(applied) : referencedFilesIn(applied.flat())));
  // Entries pruned from this history are forgotten.
  for (const file of historyRefs.keys()) if (path.dirname(file) === historyDir && !present.has(file)) historyRefs.delete(file);
  await removeUnreferencedFiles({ dir: filesDir, keep: [], referenced });
}
