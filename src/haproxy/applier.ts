// How a change reaches HAProxy. Each strategy is one applier, and they are peers: the Runtime API
// (server changes, no reload), master-worker (reload through the master CLI), syn-drop (standalone
// processes behind an iptables SYN-drop) and reload-command (a user's command). The daemon tries
// its appliers in order; an applier that cannot express a change declines it with a reason.
import type { Model } from '../model/model.js';

/** One word for one thing: the name of an applier. */
export type Strategy = 'runtime' | 'master-worker' | 'syn-drop' | 'reload-command';

/** What an applier did: started HAProxy, adopted a running one (and reloaded it), reloaded it, or changed servers at runtime. */
export type Action = 'start' | 'adopt' | 'reload' | 'runtime';

export interface Change {
  /** The config, already at its path. */
  config: string;
  /** The model HAProxy runs now (undefined: unknown, or nothing runs). */
  previous: Model | undefined;
  /** The model of `config`. */
  next: Model | undefined;
  /** The rendered `server` line of every server of `next`, keyed `backend/server`. */
  serverLines: ReadonlyMap<string, string>;
}

export type ApplyResult =
  | { kind: 'applied'; strategy: Strategy; action: Action; message: string }
  | { kind: 'failed'; strategy: Strategy; action: Action; message: string }
  | { kind: 'declined'; strategy: Strategy; reason: string };

export interface Applier {
  readonly strategy: Strategy;
  /** Brings HAProxy to `change`, or declines it (and then changed nothing). */
  apply(change: Change): Promise<ApplyResult>;
}

export interface HaproxyProcesses {
  masterPid: number | undefined;
  currentWorkerPid: number | undefined;
  /** Workers from earlier reloads still draining connections; age counts from when they became old (as far as hapilot saw). */
  oldWorkers: Array<{ pid: number; ageSeconds: number; reloads: number }>;
}

/** An applier that loads the config file into an HAProxy process it starts, adopts and reloads. */
export interface ProcessApplier extends Applier {
  readonly strategy: Exclude<Strategy, 'runtime'>;
  /**
   * Its apply returns only once the new HAProxy has loaded the config (and with it the server-state
   * file): the file may then be removed. A reload command may return before that (systemd's reload
   * signals the master and returns), so its file is left in place.
   */
  readonly confirmsLoad: boolean;
  /** Starts HAProxy on the config at its path, or adopts the one already running. */
  start(): Promise<{ adopted: boolean }>;
  /** Makes the running HAProxy load the config now at its path. */
  reload(): Promise<{ ok: boolean; message: string }>;
  running(): Promise<boolean>;
  processes(): Promise<HaproxyProcesses>;
  /** Stops HAProxy (only when asked: by default hapilot leaves it serving). */
  stop(): Promise<void>;
}

/**
 * `apply` for process appliers: reload a running HAProxy; otherwise start one, and reload an
 * adopted one (it runs a config we did not see load).
 */
export async function loadConfig(p: ProcessApplier): Promise<ApplyResult> {
  const { strategy } = p;
  let action: Action = 'reload';
  try {
    if (await p.running()) {
      const r = await p.reload();
      return r.ok ? { kind: 'applied', strategy, action, message: r.message } : { kind: 'failed', strategy, action, message: r.message };
    }
    action = 'start';
    const { adopted } = await p.start();
    if (!adopted) return { kind: 'applied', strategy, action, message: 'started' };
    action = 'adopt';
    const r = await p.reload();
    return r.ok ? { kind: 'applied', strategy, action, message: 'adopted the running HAProxy and reloaded it' } : { kind: 'failed', strategy, action, message: r.message };
  } catch (err) {
    return { kind: 'failed', strategy, action, message: err instanceof Error ? err.message : String(err) };
  }
}
