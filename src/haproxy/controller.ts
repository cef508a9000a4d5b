// How hapilot starts and reloads HAProxy: each reload strategy implements this.

export interface ReloadResult {
  ok: boolean;
  durationMs: number;
  message: string;
  workerPid: number | undefined;
}

export interface HaproxyProcesses {
  masterPid: number | undefined;
  currentWorkerPid: number | undefined;
  /** Workers from earlier reloads still draining connections; age counts from when they became old (as far as hapilot saw). */
  oldWorkers: Array<{ pid: number; ageSeconds: number; reloads: number }>;
}

/** How hapilot starts and reloads HAProxy; strategies implement it. */
export interface HaproxyController {
  readonly strategy: string;
  /** Starts HAProxy on the config at its path, or adopts the one already running. */
  start(): Promise<{ adopted: boolean }>;
  /** Makes the running HAProxy load the config now at its path. */
  reload(): Promise<ReloadResult>;
  running(): Promise<boolean>;
  processes(): Promise<HaproxyProcesses>;
  /** Stops HAProxy (only when asked: by default hapilot leaves it serving). */
  stop(): Promise<void>;
}

