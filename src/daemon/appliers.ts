// Which appliers a daemon config asks for: the process applier (master-worker, syn-drop or a reload
// command) and, for `auto` and `runtime`, the Runtime API in front of it.
import { readFile } from 'node:fs/promises';
import type { Applier, ProcessApplier } from '../haproxy/applier.js';
import { CommandApplier } from '../haproxy/command.js';
import { SynDropFirewall } from '../haproxy/firewall.js';
import { MasterWorker } from '../haproxy/master-worker.js';
import { RuntimeApplier } from '../haproxy/runtime-applier.js';
import { SynDropApplier, bindPorts } from '../haproxy/syn-drop.js';
import type { Logger } from '../log.js';

/**
 * How changes reach HAProxy: `auto` and `runtime` send server-only changes through the Runtime API
 * and reload (master-worker) for the rest; `seamless` reloads every change (master-worker);
 * `syn-drop` reloads every change with standalone processes behind a SYN-drop rule.
 */
export type ReloadMode = 'auto' | 'runtime' | 'seamless' | 'syn-drop';

export interface ApplierConfig {
  reload?: ReloadMode;
  haproxyBin: string;
  configPath: string;
  runDir: string;
  statsSocket: string;
  log: Logger;
  /** Reload an HAProxy started elsewhere through this master CLI socket. */
  masterSocket?: string;
  /** Group given access to the master socket hapilot starts HAProxy with (HAPILOT_SOCKET_GROUP). */
  socketGroup?: string | undefined;
  /** Run this shell command to start or reload an HAProxy managed elsewhere. */
  reloadCommand?: string;
  synDropPauseMs?: number;
  firewall?: SynDropFirewall;
  /** The process applier to use instead of the one `reload` chooses (tests). */
  process?: ProcessApplier;
}

export function createAppliers(c: ApplierConfig): { process: ProcessApplier; runtime: RuntimeApplier | undefined; all: Applier[] } {
  const log = c.log.child({ component: 'haproxy' });
  let proc: ProcessApplier;
  if (c.process) proc = c.process;
  else if (c.reloadCommand) proc = new CommandApplier({ command: c.reloadCommand, configPath: c.configPath, log });
  else if (c.reload === 'syn-drop') {
    proc = new SynDropApplier({
      haproxy: c.haproxyBin, configPath: c.configPath, runDir: c.runDir, statsSocket: c.statsSocket, log, firewall: c.firewall ?? new SynDropFirewall(),
      ports: async () => bindPorts(await readFile(c.configPath, 'utf8')), pauseMs: c.synDropPauseMs,
    });
  } else proc = new MasterWorker({ haproxy: c.haproxyBin, configPath: c.configPath, runDir: c.runDir, log, externalMasterSocket: c.masterSocket, ...(c.socketGroup ? { socketGroup: c.socketGroup } : {}) });
  const runtime = (c.reload ?? 'auto') === 'auto' || c.reload === 'runtime' ? new RuntimeApplier({ statsSocket: c.statsSocket }) : undefined;
  return { process: proc, runtime, all: runtime ? [runtime, proc] : [proc] };
}
