// Mass-removal guard, like a load balancer's depool threshold: a render that would empty a backend
// that had servers, remove the backend altogether, or shrink it by more than `maxRemovalRatio`, keeps
// the previous servers (HAProxy's own checks still take dead ones out of rotation) until the smaller
// state has persisted for `holdMs`. A Consul that suddenly answers with an empty catalog therefore
// never empties HAProxy.
import type { Backend, Model } from '../model/model.js';

export interface GuardOptions {
  /** Share of a backend's servers that may go in one step (0–1). */
  maxRemovalRatio: number;
  holdMs: number;
}

export interface Hold {
  backend: string;
  /** Servers before / in the held render. */
  from: number;
  to: number;
  sinceMs: number;
  releaseAtMs: number;
}

export interface GuardResult {
  model: Model;
  /** Backends currently held at their previous servers. */
  holds: Hold[];
  /** Holds released in this step because the smaller state persisted. */
  released: Hold[];
}

/** Whether going from `from` to `to` servers trips the guard. */
export function tripsGuard(from: number, to: number, maxRemovalRatio: number): boolean {
  if (from === 0) return false;
  if (to === 0) return true;
  return (from - to) / from > maxRemovalRatio;
}

/**
 * Applies the guard to `next` against the model last applied. `since` carries, per backend, when
 * its shrunken state was first seen; it is updated in place.
 */
export function applyGuard({ previous, next, nowMs, since, options }: {
  previous: Model | undefined;
  next: Model;
  nowMs: number;
  since: Map<string, number>;
  options: GuardOptions;
}): GuardResult {
  if (!previous) {
    since.clear();
    return { model: next, holds: [], released: [] };
  }
  const holds: Hold[] = [];
  const released: Hold[] = [];
  // The same backends in the same order (a server change): read pairwise, no map of every backend.
  // (A backend that is the same object has the same name and servers: only the others are read.)
  const aligned = previous.backends.length === next.backends.length && previous.backends.every((b, i) => b === next.backends[i] || b.name === next.backends[i]?.name);
  let byName: Map<string, Backend> | undefined;
  const nextByName = (): Map<string, Backend> => (byName ??= new Map(next.backends.map((b) => [b.name, b])));
  const keep: Backend[] = [];
  for (let i = 0; i < previous.backends.length; i++) {
    const prev = previous.backends[i] as Backend;
    const cand = aligned ? next.backends[i] : nextByName().get(prev.name);
    if (cand === prev) {
      if (since.size) since.delete(prev.name);
      continue;
    }
    const to = cand?.servers.length ?? 0;
    if (!tripsGuard(prev.servers.length, to, options.maxRemovalRatio)) {
      since.delete(prev.name);
      continue;
    }
    const first = since.get(prev.name) ?? nowMs;
    since.set(prev.name, first);
    const hold: Hold = { backend: prev.name, from: prev.servers.length, to, sinceMs: first, releaseAtMs: first + options.holdMs };
    if (nowMs >= hold.releaseAtMs) {
      // `since` is kept until the smaller state is the applied one (the checks above and below drop
      // it then): a release build superseded before it is applied must not start a fresh hold.
      released.push(hold);
      continue;
    }
    holds.push(hold);
    keep.push(prev);
  }
  if (since.size) {
    const names = new Set(previous.backends.map((b) => b.name));
    for (const name of since.keys()) if (!names.has(name)) since.delete(name);
  }
  if (holds.length === 0) return { model: next, holds, released };

  // Held backends keep their previous definition, and, when the render dropped them, their routes.
  const held = new Set(keep.map((b) => b.name));
  const backends = [...next.backends.filter((b) => !held.has(b.name)), ...keep].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const hosts = new Set(next.httpRoutes.map((r) => r.host));
  const ports = new Set(next.portFrontends.map((f) => f.port));
  const httpRoutes = [...next.httpRoutes];
  const portFrontends = [...next.portFrontends];
  for (const name of held) {
    if (nextByName().has(name)) continue;
    for (const r of previous.httpRoutes) if (r.backend === name && !hosts.has(r.host)) httpRoutes.push(r);
    for (const f of previous.portFrontends) if (f.backend === name && !ports.has(f.port)) portFrontends.push(f);
  }
  httpRoutes.sort((a, b) => (a.host < b.host ? -1 : a.host > b.host ? 1 : 0));
  portFrontends.sort((a, b) => a.port - b.port);
  return { model: { ...next, backends, httpRoutes, portFrontends }, holds, released };
}
