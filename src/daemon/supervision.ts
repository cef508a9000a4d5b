// Supervision of the HAProxy processes: a watchdog that has HAProxy started again when it died
// (crash, OOM kill, an operator's kill), and a reaper that ends old processes that outlived
// hard-stop-after plus a grace period (versions or configs without the directive keep them forever).
import type { ProcessApplier } from '../haproxy/applier.js';
import { isHaproxyProcess } from '../haproxy/syn-drop.js';
import type { Logger } from '../log.js';
import type { Metrics } from './metrics.js';

export interface SupervisorOptions {
  process: ProcessApplier;
  log: Logger;
  metrics: Metrics;
  /** hard-stop-after plus the grace period, in seconds. */
  residualLimitSeconds: number;
  intervalMs: number;
  /** HAProxy should be running (hapilot started or adopted it) and no sync is under way. */
  shouldBeRunning: () => boolean;
  /** Starts HAProxy again with the last good config. */
  restart: () => void;
}

export class Supervisor {
  readonly #o: SupervisorOptions;
  #timer: NodeJS.Timeout | undefined;

  constructor(o: SupervisorOptions) {
    this.#o = o;
  }

  start(): void {
    this.#timer = setInterval(() => void this.tick(), this.#o.intervalMs);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  async tick(): Promise<void> {
    const { process: proc, log, metrics } = this.#o;
    if (!this.#o.shouldBeRunning()) return;
    if (!(await proc.running())) {
      if (!this.#o.shouldBeRunning()) return; // a sync started meanwhile
      log.error('HAProxy is not running: starting it again with the last good config');
      metrics.haproxyRestarts.inc();
      this.#o.restart();
      return;
    }
    // An external master (--haproxy-master-socket) may run in another container or PID namespace:
    // the pids it reports are not ours to signal.
    if ((proc as { external?: boolean }).external === true) return;
    const procs = await proc.processes().catch(() => undefined);
    // Only processes HAProxy reports as its own old workers, by pid, and still HAProxy (pids are reused).
    for (const w of procs?.oldWorkers ?? []) {
      if (w.ageSeconds <= this.#o.residualLimitSeconds) continue;
      if (!isHaproxyProcess(w.pid)) {
        log.warn({ pid: w.pid }, 'an old HAProxy process reported by the master is not an HAProxy process here (pid reused, or another PID namespace): not ending it');
        continue;
      }
      log.error({ pid: w.pid, ageSeconds: w.ageSeconds, limitSeconds: this.#o.residualLimitSeconds }, 'ending an old HAProxy process that outlived hard-stop-after');
      try {
        process.kill(w.pid, 'SIGTERM');
        metrics.residualKilled.inc();
        setTimeout(() => {
          if (isHaproxyProcess(w.pid)) { try { process.kill(w.pid, 'SIGKILL'); } catch { /* gone */ } }
        }, 5000).unref();
      } catch { /* already gone */ }
    }
  }
}
