// HAProxy in master-worker mode, supervised by hapilot: started detached (it keeps serving when
// hapilot stops or restarts), adopted through its master CLI socket when already running, reloaded
// through the master CLI. On 2.6 the master hands the listening sockets to the new worker itself, so
// a reload drops no connection; `reload` answers nothing, so success is confirmed with `show proc`:
// the master's reload counter moved, its failed counter did not, and the current worker changed.
import path from 'node:path';
import { execa } from 'execa';
import { ErrorCode, HapilotError, messageOf } from '../errors.js';
import type { Logger } from '../log.js';
import { loadConfig, type ApplyResult, type HaproxyProcesses, type ProcessApplier } from './applier.js';
import { parseShowProc, socketCommand, type ProcEntry } from './socket.js';
import { haproxyLogAlerts, trimLog, withLogFile } from './log-file.js';

export interface MasterWorkerOptions {
  haproxy: string;
  configPath: string;
  runDir: string;
  log: Logger;
  /**
   * The master CLI socket of an HAProxy hapilot does not start (the sidecar case: HAProxy in another
   * container, its master socket and config on a shared volume). hapilot only reloads it.
   */
  externalMasterSocket?: string;
  /** Group given read and write access to the master socket (mode 660); default: mode 600, the owner only. */
  socketGroup?: string;
  startTimeoutMs?: number;
  reloadTimeoutMs?: number;
  /** How long `stop()` lets the soft stop drain connections before a hard stop. */
  stopTimeoutMs?: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class MasterWorker implements ProcessApplier {
  readonly strategy = 'master-worker';
  readonly confirmsLoad = true;
  /** HAProxy was started by someone else (--haproxy-master-socket): never started or stopped here. */
  readonly external: boolean;
  readonly masterSocket: string;
  readonly #external: boolean;
  readonly pidFile: string;
  readonly logFile: string;
  readonly #o: Required<MasterWorkerOptions>;

  constructor(o: MasterWorkerOptions) {
    this.#o = { startTimeoutMs: 15_000, reloadTimeoutMs: 30_000, stopTimeoutMs: 30_000, externalMasterSocket: '', ...o, socketGroup: o.socketGroup ?? '' };
    const runDir = path.resolve(o.runDir);
    this.#external = Boolean(o.externalMasterSocket);
    this.external = this.#external;
    this.masterSocket = o.externalMasterSocket ? path.resolve(o.externalMasterSocket) : path.join(runDir, 'master.sock');
    this.pidFile = path.join(runDir, 'haproxy.pid');
    this.logFile = path.join(runDir, 'haproxy.log');
  }

  async #showProc(timeoutMs = 3000): Promise<ProcEntry[] | undefined> {
    try {
      const procs = parseShowProc(await socketCommand(this.masterSocket, 'show proc', timeoutMs));
      return procs.some((p) => p.type === 'master') ? procs : undefined;
    } catch {
      return undefined;
    }
  }

  /**
   * The current worker: the one with the fewest reloads. Usually 0; after a failed reload the master
   * keeps the worker it had, whose count has moved on, and that worker still serves.
   */
  static currentWorker(procs: readonly ProcEntry[]): ProcEntry | undefined {
    return procs.filter((p) => p.type === 'worker').sort((a, b) => a.reloads - b.reloads)[0];
  }

  async running(): Promise<boolean> {
    const procs = await this.#showProc();
    return procs !== undefined && MasterWorker.currentWorker(procs) !== undefined;
  }

  async start(): Promise<{ adopted: boolean }> {
    if (await this.running()) {
      this.#o.log.info({ masterSocket: this.masterSocket }, 'adopted the HAProxy already running from this run dir');
      return { adopted: true };
    }
    if (this.#external) {
      throw new HapilotError(ErrorCode.HAPROXY_START, `--haproxy-master-socket ${this.masterSocket}: the HAProxy master does not answer: start HAProxy with -W -S ${this.masterSocket} (or share that socket on a volume)`);
    }
    {
      const args = ['-W', '-S', this.#o.socketGroup ? `${this.masterSocket},mode,660,group,${this.#o.socketGroup}` : `${this.masterSocket},mode,600`, '-f', path.resolve(this.#o.configPath), '-p', this.pidFile];
      await trimLog(this.logFile);
      const child = withLogFile(this.logFile, (output) => execa(this.#o.haproxy, args, { detached: true, cleanup: false, stdin: 'ignore', ...output, reject: false }));
      child.unref();
      let exited: string | undefined;
      child.then((r) => { exited = `exit code ${r.exitCode ?? r.signal}`; }, (err: unknown) => { exited = messageOf(err); });
      const until = Date.now() + this.#o.startTimeoutMs;
      while (Date.now() < until) {
        if (await this.running()) {
          this.#o.log.info({ pid: child.pid, masterSocket: this.masterSocket }, 'HAProxy started (master-worker)');
          return { adopted: false };
        }
        if (exited !== undefined) break;
        await sleep(50);
      }
      const tail = await this.#logTail();
      if (exited === undefined && child.pid) process.kill(child.pid, 'SIGTERM');
      throw new HapilotError(ErrorCode.HAPROXY_START, `HAProxy did not start (${exited ?? 'timeout'}): ${tail}`);
    }
  }

  #logTail(): Promise<string> {
    return haproxyLogAlerts(this.logFile);
  }

  async apply(): Promise<ApplyResult> {
    // Running: reload from this one `show proc` (loadConfig would ask twice: running, then reload).
    const before = await this.#showProc();
    if (!before || MasterWorker.currentWorker(before) === undefined) return loadConfig(this);
    const { strategy } = this;
    const r = await this.reload(before).catch((err: unknown) => ({ ok: false, message: messageOf(err) }));
    return r.ok ? { kind: 'applied', strategy, action: 'reload', message: r.message } : { kind: 'failed', strategy, action: 'reload', message: r.message };
  }

  /** Reloads through the master CLI; `before` is a `show proc` answer just taken, if there is one. */
  async reload(before?: ProcEntry[]): Promise<{ ok: boolean; message: string }> {
    before ??= await this.#showProc();
    const master = before?.find((p) => p.type === 'master');
    if (!before || !master) {
      return { ok: false, message: 'HAProxy master is not answering on its socket' };
    }
    const oldWorker = MasterWorker.currentWorker(before)?.pid;
    if (!this.#external) await trimLog(this.logFile);
    // The master re-executes itself on `reload`, closing this connection: no answer is expected.
    await socketCommand(this.masterSocket, 'reload', 5000).catch(() => '');
    const until = Date.now() + this.#o.reloadTimeoutMs;
    while (Date.now() < until) {
      await sleep(25);
      const after = await this.#showProc(1000);
      const m = after?.find((p) => p.type === 'master');
      if (!after || !m || (m.reloads <= master.reloads && m.failed <= master.failed)) continue;
      const worker = MasterWorker.currentWorker(after)?.pid;
      if (m.failed > master.failed || worker === undefined || worker === oldWorker) {
        return { ok: false, message: `HAProxy reload failed (failed reloads ${master.failed} → ${m.failed}): ${await this.#logTail()}` };
      }
      return { ok: true, message: 'reloaded' };
    }
    return { ok: false, message: `HAProxy did not confirm the reload within ${this.#o.reloadTimeoutMs} ms` };
  }

  /** When each old worker was first seen old: `show proc` only gives its whole uptime. */
  readonly #oldSince = new Map<number, number>();

  async processes(): Promise<HaproxyProcesses> {
    const procs = (await this.#showProc()) ?? [];
    const now = Date.now();
    const current = MasterWorker.currentWorker(procs);
    const old = procs.filter((p) => p.type === 'worker' && p !== current);
    for (const pid of [...this.#oldSince.keys()]) if (!old.some((p) => p.pid === pid)) this.#oldSince.delete(pid);
    for (const p of old) if (!this.#oldSince.has(p.pid)) this.#oldSince.set(p.pid, now);
    return {
      masterPid: procs.find((p) => p.type === 'master')?.pid,
      currentWorkerPid: current?.pid,
      oldWorkers: old.map((p) => ({ pid: p.pid, ageSeconds: Math.round((now - (this.#oldSince.get(p.pid) ?? now)) / 1000), reloads: p.reloads })),
    };
  }

  /**
   * A soft stop: SIGUSR1 has the master stop listening and its workers finish the requests in
   * flight (bounded by hard-stop-after) before they and the master exit. After `stopTimeoutMs`, a
   * hard stop (SIGTERM). Under a supervisor's kill timeout (stop_grace_period, kill_timeout) in-flight
   * requests therefore complete.
   */
  async stop(): Promise<void> {
    if (this.#external) return; // not ours to stop
    const procs = await this.#showProc();
    const pid = procs?.find((p) => p.type === 'master')?.pid;
    if (pid === undefined) return;
    const alive = () => { try { process.kill(pid, 0); return true; } catch { return false; } };
    const waitGone = async (ms: number) => {
      const until = Date.now() + ms;
      while (Date.now() < until && alive()) await sleep(50);
      return !alive();
    };
    try { process.kill(pid, 'SIGUSR1'); } catch { return; }
    if (await waitGone(this.#o.stopTimeoutMs)) return;
    this.#o.log.warn({ pid, timeoutMs: this.#o.stopTimeoutMs }, 'HAProxy did not finish its soft stop in time: stopping it now');
    try { process.kill(pid, 'SIGTERM'); } catch { return; }
    await waitGone(10_000);
  }
}
