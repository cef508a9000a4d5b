// HAProxy's own start and reload times on a given config, with nothing of hapilot's around them:
// the floor under hapilot's first config and under a structural change ("HAProxy's own reload time
// plus 1 s" is the target at 10,000 services). Master-worker, started and reloaded exactly as the
// daemon does it (src/haproxy/master-worker.ts: `reload` on the master CLI, confirmed by `show proc`
// showing a new current worker), so the figures are the same operation without hapilot's work.
// A second series reloads the same way with the server-state file in place (`show servers state` of
// the running worker written whole to the config's `server-state-file`, which the new worker loads):
// HAProxy's work in a reload of the daemon when every row is carried, as with health checks. Since
// 2026-12-07 the daemon leaves out the rows that carry nothing, so without checks its reload is the
// first series'.
import { readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pino } from 'pino';
import { MasterWorker } from '../../src/haproxy/master-worker.js';
import { parseShowProc, socketCommand } from '../../src/haproxy/socket.js';
import type { RunResources } from './scale-procs.js';

export interface HaproxyAlone {
  /** Spawn to the master CLI listing a worker (the config parsed, listeners bound). */
  startS: number;
  /** `reload` on the master CLI to `show proc` listing the new worker. */
  reloadS: number[];
  /** The same with the server-state file in place (written just before; not counted). */
  reloadStateS: number[];
  /** The current worker's and the master's RSS after the last reload. */
  workerMb: number;
  masterMb: number;
}

async function rssMb(pid: number): Promise<number> {
  const s = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  return Number(/VmRSS:\s+(\d+)/.exec(s)?.[1] ?? NaN) / 1024;
}

/** Starts HAProxy on `configPath` (its run dir must exist), reloads it `reloads` times without and `reloads` times with a state file, stops it. */
export async function haproxyAlone(o: { configPath: string; runDir: string; reloads: number; res: RunResources }): Promise<HaproxyAlone> {
  const mw = new MasterWorker({ haproxy: 'haproxy', configPath: o.configPath, runDir: o.runDir, log: pino({ level: 'silent' }), startTimeoutMs: 120_000, reloadTimeoutMs: 120_000, stopTimeoutMs: 15_000 });
  o.res.pidFile(path.join(o.runDir, 'haproxy.pid'));
  let t = performance.now();
  await mw.start();
  const startS = (performance.now() - t) / 1000;
  const reloadS: number[] = [];
  const reloadStateS: number[] = [];
  const config = await readFile(o.configPath, 'utf8');
  const stateFile = /^\s*server-state-file\s+(\S+)/m.exec(config)?.[1];
  const statsSocket = /^\s*stats socket\s+(\S+)/m.exec(config)?.[1];
  try {
    for (const withState of [false, true]) {
      if (withState && (!stateFile || !statsSocket)) break;
      for (let k = 0; k < o.reloads; k++) {
        // Old workers exit once idle; let the previous one go so each reload starts from one worker.
        await waitOneWorker(mw.masterSocket);
        if (withState) await writeFile(stateFile as string, await socketCommand(statsSocket as string, 'show servers state', 60_000));
        t = performance.now();
        const r = await mw.reload();
        if (!r.ok) throw new Error(`HAProxy alone: ${r.message}`);
        (withState ? reloadStateS : reloadS).push((performance.now() - t) / 1000);
      }
    }
    if (stateFile) await rm(stateFile, { force: true });
    const procs = parseShowProc(await socketCommand(mw.masterSocket, 'show proc'));
    const worker = MasterWorker.currentWorker(procs);
    const master = procs.find((p) => p.type === 'master');
    return { startS, reloadS, reloadStateS, workerMb: worker ? await rssMb(worker.pid) : NaN, masterMb: master ? await rssMb(master.pid) : NaN };
  } finally {
    await mw.stop();
  }
}

async function waitOneWorker(masterSocket: string, timeoutMs = 30_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    const procs = parseShowProc(await socketCommand(masterSocket, 'show proc').catch(() => ''));
    if (procs.filter((p) => p.type === 'worker').length <= 1) return;
    await new Promise((r) => setTimeout(r, 50));
  }
}
