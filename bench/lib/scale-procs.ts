// What bench:scale starts, so that nothing outlives it: child processes (hapilot, the simulator,
// HAProxy alone), HAProxy masters started detached (known by their pid files) and temp dirs. On
// SIGINT/SIGTERM, on an error and at the end everything is ended and removed; a final sweep looks
// for any process whose command line still names one of this run's temp dirs (each made by mkdtemp,
// so only processes this run started can match) and ends it by pid.
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** SIGTERM, then SIGKILL if it is still there after `graceMs`. */
export async function endPid(pid: number, graceMs = 10_000): Promise<void> {
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  const until = Date.now() + graceMs;
  while (Date.now() < until && alive(pid)) await sleep(50);
  if (alive(pid)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone meanwhile
    }
  }
}

/** Ends a child process and waits for its exit (SIGKILL after `graceMs`). */
export async function endChild(child: ChildProcess, graceMs = 10_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

export class RunResources {
  readonly #children = new Set<ChildProcess>();
  readonly #pidFiles = new Set<string>();
  /** Every temp dir of this run, removed or not: the sweep's markers. */
  readonly #allDirs = new Set<string>();
  readonly #dirs = new Set<string>();

  child<T extends ChildProcess>(c: T): T {
    this.#children.add(c);
    c.once('exit', () => this.#children.delete(c));
    return c;
  }

  /** A pid file naming an HAProxy master started detached (not a child: it survives its starter). */
  pidFile(file: string): void {
    this.#pidFiles.add(file);
  }

  async tempDir(prefix: string): Promise<string> {
    const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
    this.#allDirs.add(dir);
    this.#dirs.add(dir);
    return dir;
  }

  /** A temp dir made by someone else (a real Consul agent's): swept and removed like this run's own. */
  adoptDir(dir: string): void {
    this.#allDirs.add(dir);
    this.#dirs.add(dir);
  }

  /** Ends the masters named by the pid files (all, or those under `dir`). */
  async #masters(dir?: string): Promise<void> {
    for (const f of [...this.#pidFiles]) if (dir === undefined || f.startsWith(`${dir}/`)) {
      const pid = Number((await readFile(f, 'utf8').catch(() => '')).trim());
      if (Number.isInteger(pid) && pid > 1) await endPid(pid);
      this.#pidFiles.delete(f);
    }
  }

  /**
   * Ends the masters named by the pid files under `dir`, then any process still naming `dir` (an
   * old worker draining), and removes it. Returns what that sweep had to end.
   */
  async releaseDir(dir: string): Promise<Array<{ pid: number; cmd: string }>> {
    await this.#masters(dir);
    const left = await this.leftovers([dir]);
    await Promise.all(left.map((p) => endPid(p.pid)));
    await rm(dir, { recursive: true, force: true });
    this.#dirs.delete(dir);
    return left;
  }

  /** Processes whose command line names one of this run's temp dirs (or of `only`). */
  async leftovers(only?: string[]): Promise<Array<{ pid: number; cmd: string }>> {
    const out: Array<{ pid: number; cmd: string }> = [];
    const markers = only ?? [...this.#allDirs];
    if (!markers.length) return out;
    for (const e of await readdir('/proc')) {
      const pid = Number(e);
      if (!Number.isInteger(pid) || pid === process.pid) continue;
      const cmd = (await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).replaceAll('\0', ' ').trim();
      if (cmd && markers.some((m) => cmd.includes(m))) out.push({ pid, cmd: cmd.slice(0, 160) });
    }
    return out;
  }

  /** Everything this run started, ended; its dirs removed. Returns what the sweep had to end. */
  async cleanup(): Promise<Array<{ pid: number; cmd: string }>> {
    await Promise.all([...this.#children].map((c) => endChild(c)));
    await this.#masters();
    const left = await this.leftovers();
    await Promise.all(left.map((p) => endPid(p.pid)));
    for (const d of [...this.#dirs]) await rm(d, { recursive: true, force: true }).then(() => this.#dirs.delete(d));
    return left;
  }
}
