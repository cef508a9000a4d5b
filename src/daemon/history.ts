// A small history of the configs hapilot applied, each with its diff from the one before, in
// `<run-dir>/history/`: what an operator reads after the fact ("what changed at 03:12?").
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { createTwoFilesPatch } from 'diff';

export class ConfigHistory {
  readonly dir: string;
  readonly #keep: number;
  #seq = 0;

  constructor({ runDir, keep = 10 }: { runDir: string; keep?: number }) {
    this.dir = path.join(path.resolve(runDir), 'history');
    this.#keep = keep;
  }

  /** Records `next` (and its diff from `previous`); returns the diff. */
  async record({ previous, next, label }: { previous: string | undefined; next: string; label: string }): Promise<string> {
    await mkdir(this.dir, { recursive: true });
    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    const base = path.join(this.dir, `${stamp}-${String(++this.#seq).padStart(4, '0')}`);
    const patch = createTwoFilesPatch('haproxy.cfg (before)', 'haproxy.cfg (after)', previous ?? '', next, undefined, label, { context: 2 });
    await writeFile(`${base}.cfg`, next);
    await writeFile(`${base}.diff`, patch);
    await this.#prune();
    return patch;
  }

  async #prune(): Promise<void> {
    const cfgs = (await readdir(this.dir)).filter((f) => f.endsWith('.cfg')).sort();
    for (const f of cfgs.slice(0, Math.max(0, cfgs.length - this.#keep))) {
      await rm(path.join(this.dir, f), { force: true });
      await rm(path.join(this.dir, f.replace(/\.cfg$/, '.diff')), { force: true });
    }
  }
}
