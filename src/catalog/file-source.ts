// A catalog file as a source: read at start, then re-read whenever it changes. The directory is
// watched (editors and `mv` replace the file rather than write into it). A file that fails to read or
// parse keeps the last good catalog, and the source reports itself degraded until it is fixed.
import { watch, type FSWatcher } from 'node:fs';
import path from 'node:path';
import type { Logger } from '../log.js';
import { messageOf } from '../errors.js';
import { readCatalogFile } from './catalog-file.js';
import { abortableSleep, backoffDelay } from '../consul/blocking-query.js';
import type { CatalogSnapshot, CatalogSource, SourceHealth } from './source.js';

export class FileSource implements CatalogSource {
  readonly kind = 'file';
  readonly #file: string;
  readonly #log: Logger;
  readonly #debounceMs: number;
  readonly #abort = new AbortController();
  #watcher: FSWatcher | undefined;
  #timer: NodeJS.Timeout | undefined;
  #error: string | undefined;
  #lastSuccessMs: number | undefined;
  #synced = false;
  #lastText: string | undefined;
  #onSnapshot: ((s: CatalogSnapshot) => void) | undefined;

  constructor({ file, log, debounceMs = 100 }: { file: string; log: Logger; debounceMs?: number }) {
    this.#file = path.resolve(file);
    this.#log = log;
    this.#debounceMs = debounceMs;
  }

  start(onSnapshot: (s: CatalogSnapshot) => void): void {
    this.#onSnapshot = onSnapshot;
    const base = path.basename(this.#file);
    this.#watcher = watch(path.dirname(this.#file), (_event, name) => {
      if (name === null || name === base) this.#schedule();
    });
    this.#watcher.on('error', (err) => {
      this.#error = `watching ${this.#file}: ${messageOf(err)}`;
    });
    void this.#initial();
  }

  async #initial(): Promise<void> {
    for (let attempt = 0; !this.#abort.signal.aborted && !this.#synced; attempt++) {
      await this.#read('initial');
      if (!this.#synced) await abortableSleep(backoffDelay(attempt), this.#abort.signal);
    }
  }

  #schedule(): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => void this.#read('file changed'), this.#debounceMs);
  }

  async #read(cause: string): Promise<void> {
    try {
      const entries = await readCatalogFile(this.#file);
      this.#error = undefined;
      this.#lastSuccessMs = Date.now();
      const text = JSON.stringify(entries);
      if (this.#synced && text === this.#lastText) return;
      this.#lastText = text;
      this.#synced = true;
      this.#onSnapshot?.({ entries, index: 0, cause });
    } catch (err) {
      this.#error = messageOf(err);
      this.#log.error({ err: this.#error }, 'catalog file unusable; keeping the last good catalog');
    }
  }

  async stop(): Promise<void> {
    this.#abort.abort();
    clearTimeout(this.#timer);
    this.#watcher?.close();
  }

  health(): SourceHealth {
    return { degraded: this.#error ? [this.#error] : [], index: 0, lastSuccessMs: this.#lastSuccessMs, synced: this.#synced };
  }
}
