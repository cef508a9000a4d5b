// Everything a daemon is made of: the source, the settings and templates, where files go, how changes
// reach HAProxy (see appliers.ts), and the timings of the sync, the guard and the supervision.
import type { CatalogSource } from '../catalog/source.js';
import type { TemplateSet } from '../config/templates.js';
import type { PoolReconciler } from '../pool/reconciler.js';
import type { GlobalSettings } from '../settings.js';
import type { ApplierConfig } from './appliers.js';
import type { WaitOptions } from './debounce.js';
import type { GuardOptions } from './guard.js';
import type { Metrics } from './metrics.js';

export interface DaemonConfig extends Omit<ApplierConfig, 'statsSocket'> {
  source: CatalogSource;
  settings: GlobalSettings;
  templates: TemplateSet;
  configPath: string;
  runDir: string;
  metrics?: Metrics;
  wait: WaitOptions;
  guard: GuardOptions;
  fdLimit: number | undefined;
  historySize?: number;
  /** Stop HAProxy when hapilot stops (default: leave it serving). */
  stopHaproxyOnExit?: boolean;
  /** Check frontends and backends after every start or reload, and restore the last good config if they fail (default on). */
  selfCheck?: boolean;
  maxOldWorkers?: number;
  /** Old processes alive longer than hard-stop-after plus this are ended (ms). */
  residualGraceMs?: number;
  /** How often the watchdog and the reaper look (ms). */
  reapIntervalMs?: number;
  /** A burst of server changes is gathered for this long before it goes to the Runtime API (ms; default 0: the next turn of the event loop). */
  coalesceMs?: number;
  /**
   * Pool states from Consul KV (src/pool): the daemon starts and stops it, waits for its first read
   * before the first config, has it adjust every candidate model and reconcile HAProxy's admin
   * states after every apply. Undefined: no pools (a catalog file).
   */
  pool?: PoolReconciler;
  now?: () => number;
}
