// The `syn-drop` strategy, the classic way: standalone HAProxy processes; a reload inserts iptables
// rules dropping new SYNs to the frontend ports, pauses so connections already in the old process's
// accept queue are accepted (they would be reset when it closes its listener), starts a new HAProxy
// with `-sf <old pids>`, waits until it answers on its stats socket (its listeners are bound by then)
// and removes the rules, on every path. Clients whose SYN was dropped retransmit after about 1 s.
import { existsSync, readFileSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { ErrorCode, HapilotError, messageOf } from '../errors.js';
import type { Logger } from '../log.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import type { SynDropFirewall } from './firewall.js';
import { z } from 'zod';
import { loadConfig, type ApplyResult, type HaproxyProcesses, type ProcessApplier } from './applier.js';
import { socketCommand } from './socket.js';
import { haproxyLogAlerts, trimLog, withLogFile } from './log-file.js';

export interface SynDropOptions {
  haproxy: string;
  configPath: string;
  runDir: string;
  statsSocket: string;
  firewall: SynDropFirewall;
  /** TCP ports the config listens on, and whether any is IPv6 (read at each reload). */
  ports: () => Promise<{ ports: number[]; ipv6: boolean }>;
  log: Logger;
  /** Pause between inserting the rules and starting the new process. */
  pauseMs?: number;
  startTimeoutMs?: number;
}

/**
 * The processes this applier started, kept in `<run-dir>/syn-drop-pids.json` so that a restarted
 * hapilot adopts them. Their pids are signalled later: the file is input, checked like any other.
 */
export const SynDropPidFile = z.object({
  version: z.literal(1),
  current: z.number().int().positive().nullable(),
  old: z.array(z.object({ pid: z.number().int().positive(), sinceMs: z.number().nonnegative() })),
});

interface Tracked {
  current: number | undefined;
  old: Array<{ pid: number; sinceMs: number }>;
}

/** The pid file's contents, or undefined (and why) when it is not one of ours. */
export function parseSynDropPidFile(text: string): { ok: true; tracked: Tracked } | { ok: false; reason: string } {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    return { ok: false, reason: `not JSON (${messageOf(err)})` };
  }
  const r = SynDropPidFile.safeParse(json);
  if (!r.success) return { ok: false, reason: r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ') };
  return { ok: true, tracked: { current: r.data.current ?? undefined, old: r.data.old } };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/\) Z /.test(stat); // a zombie has exited
  } catch {
    return false;
  }
}

/** Whether a pid runs an HAProxy binary (its command line names it). */
export function isHaproxyProcess(pid: number): boolean {
  try {
    return /haproxy/.test(readFileSync(`/proc/${pid}/cmdline`, 'utf8'));
  } catch {
    return false;
  }
}

/** TCP ports of the `bind` lines of a config, and whether any binds IPv6. */
export function bindPorts(config: string): { ports: number[]; ipv6: boolean } {
  const ports = new Set<number>();
  let ipv6 = false;
  for (const m of config.matchAll(/^\s*bind\s+(\S+)/gm)) {
    const addr = m[1] ?? '';
    const port = Number(/:(\d+)$/.exec(addr)?.[1]);
    if (Number.isInteger(port) && port > 0) ports.add(port);
    if (addr.startsWith('[') || addr.startsWith(':::')) ipv6 = true;
  }
  return { ports: [...ports].sort((a, b) => a - b), ipv6 };
}

export class SynDropApplier implements ProcessApplier {
  readonly strategy = 'syn-drop';
  readonly confirmsLoad = true;
  readonly #o: Required<SynDropOptions>;
  readonly #stateFile: string;
  readonly pidFile: string;
  readonly logFile: string;
  #tracked: Tracked = { current: undefined, old: [] };

  constructor(o: SynDropOptions) {
    this.#o = { pauseMs: 100, startTimeoutMs: 15_000, ...o };
    const runDir = path.resolve(o.runDir);
    this.#stateFile = path.join(runDir, 'syn-drop-pids.json');
    this.pidFile = path.join(runDir, 'haproxy.pid');
    this.logFile = path.join(runDir, 'haproxy.log');
  }

  async #save(): Promise<void> {
    const file: z.infer<typeof SynDropPidFile> = { version: 1, current: this.#tracked.current ?? null, old: this.#tracked.old };
    await writeFileAtomic(this.#stateFile, JSON.stringify(file));
  }

  async #load(): Promise<void> {
    this.#tracked = { current: undefined, old: [] };
    const text = await readFile(this.#stateFile, 'utf8').catch(() => undefined);
    if (text === undefined) return;
    const parsed = parseSynDropPidFile(text);
    if (!parsed.ok) {
      this.#o.log.warn({ file: this.#stateFile, reason: parsed.reason }, 'ignoring an unreadable syn-drop pid file: no pid from it is adopted or signalled');
      return;
    }
    const t = parsed.tracked;
    // Only pids that are still HAProxy processes (pids are reused).
    const ours = (pid: number) => pidAlive(pid) && isHaproxyProcess(pid);
    this.#tracked = { current: t.current !== undefined && ours(t.current) ? t.current : undefined, old: t.old.filter((o) => ours(o.pid)) };
  }

  async #infoPid(): Promise<number | undefined> {
    try {
      const info = await socketCommand(this.#o.statsSocket, 'show info', 1000);
      const pid = Number(/^Pid: (\d+)$/m.exec(info)?.[1]);
      return Number.isFinite(pid) ? pid : undefined;
    } catch {
      return undefined;
    }
  }

  async running(): Promise<boolean> {
    return this.#tracked.current !== undefined && pidAlive(this.#tracked.current) && (await this.#infoPid()) === this.#tracked.current;
  }

  /** Spawns `haproxy -f cfg -p pidfile [-sf pids]` detached; resolves once it answers as itself. */
  async #spawn(sf: number[]): Promise<number> {
    const args = ['-f', path.resolve(this.#o.configPath), '-p', this.pidFile, ...(sf.length ? ['-sf', ...sf.map(String)] : [])];
    const child = withLogFile(this.logFile, (output) => execa(this.#o.haproxy, args, { detached: true, cleanup: false, stdin: 'ignore', ...output, reject: false }));
    child.unref();
    let exited: string | undefined;
    child.then((r) => { exited = `exit code ${r.exitCode ?? r.signal}`; }, (err: unknown) => { exited = messageOf(err); });
    const pid = child.pid;
    const until = Date.now() + this.#o.startTimeoutMs;
    while (pid !== undefined && Date.now() < until && exited === undefined) {
      if ((await this.#infoPid()) === pid) return pid;
      await sleep(10);
    }
    if (exited === undefined && pid !== undefined) process.kill(pid, 'SIGTERM');
    throw new HapilotError(ErrorCode.HAPROXY_START, `HAProxy did not start (${exited ?? 'timeout'}): ${await this.#logTail()}`);
  }

  #logTail(): Promise<string> {
    return haproxyLogAlerts(this.logFile);
  }

  async start(): Promise<{ adopted: boolean }> {
    // A rule left by a crashed hapilot would blackhole every new connection: sweep first.
    const swept = await this.#o.firewall.sweep();
    if (swept) this.#o.log.warn({ rules: swept, tag: this.#o.firewall.tag }, 'removed SYN-drop rules left by an earlier run');
    await this.#load();
    if (await this.running()) {
      this.#o.log.info({ pid: this.#tracked.current }, 'adopted the HAProxy already running from this run dir');
      return { adopted: true };
    }
    await trimLog(this.logFile);
    const pid = await this.#spawn([]);
    this.#tracked = { current: pid, old: this.#tracked.old };
    await this.#save();
    this.#o.log.info({ pid }, 'HAProxy started (standalone, syn-drop reloads)');
    return { adopted: false };
  }

  apply(): Promise<ApplyResult> {
    return loadConfig(this);
  }

  async reload(): Promise<{ ok: boolean; message: string }> {
    const old = [this.#tracked.current, ...this.#tracked.old.map((o) => o.pid)].filter((p): p is number => p !== undefined && pidAlive(p));
    let pid: number | undefined;
    // Before the rules go in: nothing but the new process's start while new connections wait.
    await trimLog(this.logFile);
    try {
      // Bounded even if hapilot dies here: the pause plus the crash bound.
      await this.#o.firewall.insert({ ...(await this.#o.ports()), boundMs: this.#o.pauseMs + this.#o.firewall.crashBoundMs });
      // Let the old process accept what is already queued before the new one takes the port.
      await sleep(this.#o.pauseMs);
      pid = await this.#spawn(old);
    } catch (err) {
      return { ok: false, message: messageOf(err) };
    } finally {
      await this.#o.firewall.remove().catch((err: unknown) => this.#o.log.error({ err: messageOf(err) }, 'could not remove SYN-drop rules'));
    }
    const now = Date.now();
    this.#tracked = { current: pid, old: old.map((p) => ({ pid: p, sinceMs: this.#tracked.old.find((o) => o.pid === p)?.sinceMs ?? now })) };
    await this.#save();
    return { ok: true, message: 'reloaded (syn-drop)' };
  }

  async processes(): Promise<HaproxyProcesses> {
    const now = Date.now();
    this.#tracked.old = this.#tracked.old.filter((o) => pidAlive(o.pid));
    return {
      masterPid: undefined,
      currentWorkerPid: this.#tracked.current,
      oldWorkers: this.#tracked.old.map((o) => ({ pid: o.pid, ageSeconds: Math.round((now - o.sinceMs) / 1000), reloads: 1 })),
    };
  }

  async stop(): Promise<void> {
    const pids = [this.#tracked.current, ...this.#tracked.old.map((o) => o.pid)].filter((p): p is number => p !== undefined && pidAlive(p));
    for (const p of pids) process.kill(p, 'SIGTERM');
    const until = Date.now() + 10_000;
    while (Date.now() < until && pids.some(pidAlive)) await sleep(50);
    await this.#o.firewall.sweep();
    if (existsSync(this.#stateFile)) await rm(this.#stateFile, { force: true });
  }
}
