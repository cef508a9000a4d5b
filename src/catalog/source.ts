// What the daemon needs from a catalog source (Consul or a file).
import type { HealthEntry } from '../consul/schemas.js';

export interface CatalogSnapshot {
  /** Every entry of every enabled-candidate service: a complete, consistent view. */
  entries: readonly HealthEntry[];
  /** X-Consul-Index that produced it (0 for a file). */
  index: number;
  /** Why this snapshot was emitted (for logs): services re-read, or "initial", "file changed". */
  cause: string;
  /** The services whose entries may differ from the previous snapshot; undefined: any of them. */
  changed?: readonly string[];
  /**
   * Where the source's time went for a snapshot that a checks list brought (ms, for the debug log):
   * the list received after its headers, what changed decoded, the services re-read and the
   * snapshot assembled.
   */
  timings?: { checksListMs: number; decodeMs: number; readMs: number };
}

export interface SourceHealth {
  /** Reasons the source is degraded right now (empty when healthy). */
  degraded: string[];
  index: number;
  /** Time of the last successful answer (ms since epoch). */
  lastSuccessMs: number | undefined;
  /** The first complete snapshot has been delivered. */
  synced: boolean;
}

export interface CatalogSource {
  readonly kind: 'consul' | 'file';
  /** Starts watching; `onSnapshot` gets complete snapshots only, the first after a full read. */
  start(onSnapshot: (s: CatalogSnapshot) => void): void;
  stop(): Promise<void>;
  health(): SourceHealth;
}
