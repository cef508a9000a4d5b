// Sorts the soak bench's failed requests into what explains them:
// - `critical`: the backend itself answered 500 saying the churn had flipped its check to critical
//   (routed there before hapilot took it out; the age says how long after the flip);
// - `gone`: no answer from a backend (HAProxy's 502/503/504, or a reset) on a service that lost an
//   instance to a crash (backend closed at once) within the window before the request (or while it
//   was in flight);
// - `haproxyKilled`: in flight at any moment of the injected HAProxy worker kill (from the kill until
//   HAProxy served again: a kept-alive request sent just before the kill is reset by it);
// - `real`: everything else, including a 200 from another service's backend (misrouted) and any
//   failure after a drained instance's backend closed (hapilot should have removed it long before).
import type { ChurnEvent } from './soak-churn.js';
import type { Outcome } from './soak-load.js';

export interface Classified {
  critical: number;
  criticalMaxAgeMs: number;
  gone: number;
  haproxyKilled: number;
  /** Those by status/error. */
  haproxyKilledBy: Record<string, number>;
  real: number;
  /** Real failures by status/error, e.g. `503`, `ECONNREFUSED`, `misrouted`. */
  realBy: Record<string, number>;
  /** The first real failures, for the log. */
  realSamples: Outcome[];
}

export interface ClassifyInput {
  outcomes: Outcome[];
  events: ChurnEvent[];
  /** Failures on a service up to this long after one of its instances crashed are `gone`. */
  goneWindowMs: number;
  /** [start, end] of fault windows where HAProxy itself was down. */
  haproxyDown: Array<[number, number]>;
}

export function classify(i: ClassifyInput): Classified {
  const out: Classified = { critical: 0, criticalMaxAgeMs: 0, gone: 0, haproxyKilled: 0, haproxyKilledBy: {}, real: 0, realBy: {}, realSamples: [] };
  const crashes = new Map<string, number[]>();
  for (const e of i.events) if (e.kind === 'crash') crashes.set(e.service, [...(crashes.get(e.service) ?? []), e.t]);
  for (const o of i.outcomes) {
    const right = o.backend?.startsWith(`${o.service}/`) ?? false;
    if (right && o.status === 500 && o.state === 'critical') {
      out.critical++;
      out.criticalMaxAgeMs = Math.max(out.criticalMaxAgeMs, o.stateAgeMs ?? 0);
      continue;
    }
    // In flight at any moment of the outage (a kept-alive request sent just before the kill is reset by it).
    if (i.haproxyDown.some(([a, b]) => o.t <= b && (o.end ?? o.t) >= a)) {
      out.haproxyKilled++;
      const key = o.error ?? String(o.status);
      out.haproxyKilledBy[key] = (out.haproxyKilledBy[key] ?? 0) + 1;
      continue;
    }
    const fromHaproxy = o.backend === undefined;
    if (fromHaproxy && (crashes.get(o.service) ?? []).some((t) => t - o.t <= 5000 && o.t - t <= i.goneWindowMs)) {
      out.gone++;
      continue;
    }
    out.real++;
    const key = o.backend !== undefined && !right ? 'misrouted' : o.error ?? String(o.status);
    out.realBy[key] = (out.realBy[key] ?? 0) + 1;
    if (out.realSamples.length < 20) out.realSamples.push(o);
  }
  return out;
}
