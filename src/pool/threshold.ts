// The depool threshold (PyBal's rule): a backend never has fewer than `threshold` × its counted
// servers in rotation, whatever takes them out (operators or Consul health). Counted are the servers
// in the config (every pool state but `inactive`). When too many want out, the ones kept are, in
// order: those in rotation before (so a new depool is the one refused, and nothing flaps), healthy
// before unhealthy, then drain, `no`, Consul maintenance, failing checks, then by name.
import { parseThreshold } from '../model/tags.js';

export interface ThresholdMember {
  server: string;
  /** Would be in rotation without the threshold. */
  wantIn: boolean;
  /** Could be put in rotation to satisfy the threshold (in the config, weight above 0). */
  keepable: boolean;
  /** Was in rotation in the previous decision. */
  wasIn: boolean;
  healthy: boolean;
  /** Why it wants out: lower ranks are kept first. 0 drain, 1 no, 2 Consul maintenance, 3 failing checks. */
  outRank: number;
}

export interface ThresholdResult {
  counted: number;
  wantIn: number;
  /** Fewest servers in rotation the threshold allows. */
  min: number;
  /** Servers that wanted out and are kept in rotation, in the order they were chosen. */
  kept: string[];
}

/** ceil(threshold × counted), without float noise turning 2.0000000001 into 3. */
export function minInRotation(counted: number, threshold: number): number {
  return Math.max(0, Math.ceil(counted * threshold - 1e-9));
}

export function applyThreshold(members: readonly ThresholdMember[], threshold: number): ThresholdResult {
  const counted = members.length;
  const wantIn = members.filter((m) => m.wantIn).length;
  const min = minInRotation(counted, threshold);
  const missing = min - wantIn;
  if (missing <= 0) return { counted, wantIn, min, kept: [] };
  const candidates = members
    .filter((m) => !m.wantIn && m.keepable)
    .sort((a, b) => Number(b.wasIn) - Number(a.wasIn) || Number(b.healthy) - Number(a.healthy) || a.outRank - b.outRank || (a.server < b.server ? -1 : a.server > b.server ? 1 : 0));
  return { counted, wantIn, min, kept: candidates.slice(0, missing).map((m) => m.server) };
}

/** The per-backend tag (its value is parsed by the one tag table, src/model/tags.ts). */
export const DEPOOL_THRESHOLD_TAG = 'HAPROXY.BACKEND.DEPOOL_THRESHOLD';
export { parseThreshold };

/** The threshold a service's tags set (the first valid `HAPROXY.BACKEND.DEPOOL_THRESHOLD=`), if any. */
export function thresholdFromTags(tags: readonly string[]): number | undefined {
  for (const t of tags) {
    if (!t.startsWith(`${DEPOOL_THRESHOLD_TAG}=`)) continue;
    const v = parseThreshold(t.slice(DEPOOL_THRESHOLD_TAG.length + 1));
    if (v !== undefined) return v;
  }
  return undefined;
}
