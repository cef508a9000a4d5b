// Pool decisions → Runtime API commands for the servers HAProxy already has: a pool change is a
// server-only change, applied without a reload (`set server <b>/<s> state ready|drain|maint`,
// `set server <b>/<s> weight <w>`). Servers to add or remove (inactive, new instances) are the
// engine's runtime plan, not this one. Pure: compares with what HAProxy shows now.
import type { ObservedServer } from './observe.js';
import type { AdminState, PoolDecisions, ServerDecision } from './rules.js';

/** HAProxy's admin state as `show stat` shows it: MAINT…, DRAIN…, else ready (UP, DOWN, no check). */
export function observedAdmin(status: string): AdminState {
  if (/^MAINT/.test(status)) return 'maint';
  if (/^DRAIN/.test(status) || /\bNOLB\b/.test(status)) return 'drain';
  return 'ready';
}

export function poolRuntimeCommands(decisions: PoolDecisions, observed: readonly ObservedServer[]): string[] {
  const now = new Map(observed.map((o) => [`${o.backend}/${o.server}`, o]));
  const commands: string[] = [];
  for (const d of decisions.servers) {
    if (!d.inConfig) continue;
    const id = `${d.backend}/${d.server}`;
    const seen = now.get(id);
    if (!seen) continue;
    // Weight first: a server coming back from maint gets its new weight before its first request.
    if (seen.weight !== d.weight) commands.push(`set server ${id} weight ${d.weight}`);
    if (observedAdmin(seen.status) !== d.admin) commands.push(`set server ${id} state ${d.admin}`);
  }
  return commands;
}

/**
 * Backends whose decisions differ from the previous ones (every backend when there were none): after
 * a KV change only these need a look at HAProxy. After a start or a reload, reconcile everything.
 */
export function changedBackends(previous: ReadonlyMap<string, ServerDecision> | undefined, next: PoolDecisions): Set<string> {
  const out = new Set<string>();
  const seen = new Set<string>();
  for (const d of next.servers) {
    const key = `${d.backend}/${d.server}`;
    seen.add(key);
    const p = previous?.get(key);
    if (!p || p.admin !== d.admin || p.weight !== d.weight || p.inConfig !== d.inConfig) out.add(d.backend);
  }
  if (previous) for (const [key, p] of previous) if (!seen.has(key)) out.add(p.backend);
  return out;
}
