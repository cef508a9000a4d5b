// Pool decisions → Runtime API commands for the servers HAProxy already has: a pool change is a
// server-only change, applied without a reload (`set server <b>/<s> state ready|drain|maint`,
// `set server <b>/<s> weight <w>`). Servers to add or remove (inactive, new instances) are the
// engine's runtime plan, not this one. Pure: compares with what HAProxy shows now.
import { ListedServers } from '../haproxy/listed-servers.js';
import type { ObservedAdmin } from './observe.js';
import { cmp, type AdminState, type PoolDecisions, type ServerDecision } from './rules.js';

/** HAProxy's admin state from a status as `show stat` shows it (or `parseServersState` gives it): MAINT…, DRAIN…, else ready (UP, DOWN, no check). */
export function observedAdmin(status: string): AdminState {
  if (status === 'UP') return 'ready';
  if (MAINT.test(status)) return 'maint';
  if (DRAIN.test(status) || NOLB.test(status)) return 'drain';
  return 'ready';
}
// Made once: a regular expression literal is a new object each time it is evaluated, and this runs
// for every server after a reload (300,000 objects at 10,000 services, before V8 optimizes it).
const MAINT = /^MAINT/;
const DRAIN = /^DRAIN/;
const NOLB = /\bNOLB\b/;

/** Decisions by backend name, each list sorted by server (as `applyPoolStates` gives them). */
export type DecisionsByBackend = ReadonlyMap<string, readonly ServerDecision[]>;

export function byBackend(decisions: PoolDecisions): Map<string, ServerDecision[]> {
  const out = new Map<string, ServerDecision[]>();
  for (const d of decisions.servers) {
    const list = out.get(d.backend);
    if (list) list.push(d);
    else out.set(d.backend, [d]);
  }
  return out;
}

export function poolRuntimeCommands(decisions: PoolDecisions, observed: readonly ObservedAdmin[]): string[] {
  return poolRuntimeCommandsFor(byBackend(decisions), observed);
}

/** The same, from decisions by backend: only the observed backends' decisions are looked at. */
export function poolRuntimeCommandsFor(decisions: DecisionsByBackend, observed: readonly ObservedAdmin[]): string[] {
  const listed = new ListedServers(observed);
  const commands: string[] = [];
  const backends = [...listed.backends()].sort(cmp);
  // Indexed loops: this runs once per reload, mostly before V8 optimizes it, and a `for…of` there
  // allocates a result object per step (100,000 steps at 10,000 services).
  for (let k = 0; k < backends.length; k++) {
    const backend = backends[k] as string;
    const list = decisions.get(backend) ?? [];
    for (let i = 0; i < list.length; i++) {
      const d = list[i] as ServerDecision;
      if (!d.inConfig) continue;
      const seen = listed.find(backend, d.server);
      if (!seen) continue;
      // Weight first: a server coming back from maint gets its new weight before its first request.
      // (The `backend/server` name is built only for a command: after a reload every server is
      // looked at, 100,000 at 10,000 services, and nearly all are as decided.)
      const weight = seen.weight !== d.weight;
      const admin = observedAdmin(seen.status) !== d.admin;
      if (weight) commands.push(`set server ${d.backend}/${d.server} weight ${d.weight}`);
      if (admin) commands.push(`set server ${d.backend}/${d.server} state ${d.admin}`);
    }
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

/** `changedBackends` from decisions by backend: a backend whose list is the same object has not moved (O(backends), not O(servers)). */
export function changedBackendsBy(previous: DecisionsByBackend | undefined, next: DecisionsByBackend): Set<string> {
  const out = new Set<string>();
  for (const [backend, ds] of next) {
    const p = previous?.get(backend);
    if (p === ds) continue;
    if (!p) {
      if (ds.length) out.add(backend);
      continue;
    }
    const before = new Map(p.map((d) => [d.server, d]));
    const seen = new Set<string>();
    for (const d of ds) {
      seen.add(d.server);
      const x = before.get(d.server);
      if (!x || x.admin !== d.admin || x.weight !== d.weight || x.inConfig !== d.inConfig) out.add(backend);
    }
    for (const x of p) if (!seen.has(x.server)) out.add(backend);
  }
  if (previous) for (const [backend, p] of previous) if (p.length && !next.has(backend)) out.add(backend);
  return out;
}
