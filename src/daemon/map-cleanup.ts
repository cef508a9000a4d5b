// Map cleanup: host-map files are content-addressed, so each apply may leave an old one behind. After
// every apply, the maps that neither the applied config nor a config in the history refers to are
// removed (the history's configs stay loadable as they were written).
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { removeUnreferencedFiles } from '../config/config-file.js';

export async function cleanUnreferencedMaps({ filesDir, applied, historyDir }: { filesDir: string; applied: string | undefined; historyDir: string }): Promise<void> {
  const keep = applied === undefined ? [] : [applied];
  const names = await readdir(historyDir).catch(() => [] as string[]);
  for (const f of names) if (f.endsWith('.cfg')) keep.push(await readFile(path.join(historyDir, f), 'utf8').catch(() => ''));
  await removeUnreferencedFiles({ dir: filesDir, keep });
}
