// `--reload-command CMD`: HAProxy is managed by something else (systemd, a supervisor, another
// container); hapilot writes the config and runs the user's command to start or reload it. The
// command gets HAPILOT_CONFIG (the config path) in its environment; exit 0 means success.
import { execa } from 'execa';
import type { Logger } from '../log.js';
import { loadConfig, type ApplyResult, type HaproxyProcesses, type ProcessApplier } from './applier.js';

export class CommandApplier implements ProcessApplier {
  readonly strategy = 'reload-command';
  readonly confirmsLoad = false;
  readonly #command: string;
  readonly #configPath: string;
  readonly #log: Logger;
  #ok = false;

  constructor({ command, configPath, log }: { command: string; configPath: string; log: Logger }) {
    this.#command = command;
    this.#configPath = configPath;
    this.#log = log;
  }

  async #run(): Promise<{ ok: boolean; message: string }> {
    const r = await execa('sh', ['-c', this.#command], { reject: false, all: true, timeout: 120_000, stdin: 'ignore', env: { HAPILOT_CONFIG: this.#configPath } });
    this.#ok = r.exitCode === 0;
    const out = String(r.all ?? '').trim().split('\n').slice(-3).join(' | ');
    if (!this.#ok) this.#log.error({ command: this.#command, exitCode: r.exitCode, output: out }, 'reload command failed');
    return { ok: this.#ok, message: this.#ok ? 'reload command succeeded' : `--reload-command exited with ${r.exitCode ?? r.signal}: ${out}` };
  }

  async start(): Promise<{ adopted: boolean }> {
    const r = await this.#run();
    if (!r.ok) throw new Error(r.message);
    return { adopted: false };
  }

  reload(): Promise<{ ok: boolean; message: string }> {
    return this.#run();
  }

  apply(): Promise<ApplyResult> {
    return loadConfig(this);
  }

  async running(): Promise<boolean> {
    return this.#ok;
  }

  async processes(): Promise<HaproxyProcesses> {
    return { masterPid: undefined, currentWorkerPid: undefined, oldWorkers: [] };
  }

  async stop(): Promise<void> {
    // HAProxy is not ours to stop.
  }
}
