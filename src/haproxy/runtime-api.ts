// The `runtime` strategy: changes that only touch servers (an instance added or removed, an address,
// a port, a weight) are applied through the Runtime API on the admin stats socket, with no reload.
// The config file is rewritten to the same state at the same time, so a later reload agrees.
// What HAProxy 2.6 does, as measured on these machines:
// - `add server` works without experimental mode; the server starts in maintenance: it needs
//   `enable health` (with `check`) and `set server … state ready`. It takes no `init-addr`, so host
//   names are not added this way, and nothing is inherited from `default-server`: every keyword is
//   spelled out.
// - backends balancing with `static-rr` or map-based hashing (source, uri, hdr) refuse dynamic servers.
// - `del server` needs the server in maintenance and without connections; until then it stays in
//   maintenance (not in the config file, so the next reload removes it).
import type { Backend, Model, Server } from '../model/model.js';
import { socketCommand } from './socket.js';

export const DYNAMIC_BALANCE = new Set(['roundrobin', 'leastconn', 'first', 'random']);

export type RuntimeOp =
  | { kind: 'add'; backend: Backend; server: Server }
  | { kind: 'remove'; backend: string; server: string }
  | { kind: 'addr'; backend: string; server: Server }
  | { kind: 'weight'; backend: string; server: Server };

export interface RuntimePlan {
  ops: RuntimeOp[];
}

/** Everything but the servers: equal means only servers changed. */
function structure(m: Model): string {
  return JSON.stringify({
    settings: m.settings,
    backends: m.backends.map((b) => ({ ...b, servers: undefined })),
    httpRoutes: m.httpRoutes,
    portFrontends: m.portFrontends,
  });
}

/** The Runtime API operations turning `prev` into `next`, or why it takes a reload. */
export function planRuntime(prev: Model, next: Model): RuntimePlan | { reason: string } {
  if (structure(prev) !== structure(next)) return { reason: 'structural change (frontends, backends, routes or settings)' };
  const ops: RuntimeOp[] = [];
  const prevByName = new Map(prev.backends.map((b) => [b.name, b]));
  for (const b of next.backends) {
    const before = new Map((prevByName.get(b.name)?.servers ?? []).map((s) => [s.name, s]));
    const after = new Map(b.servers.map((s) => [s.name, s]));
    for (const [name, s] of after) {
      const old = before.get(name);
      if (!old) {
        if (!DYNAMIC_BALANCE.has(b.balance)) return { reason: `backend ${b.name} balances with ${b.balance}, which refuses dynamic servers` };
        if (s.hostname) return { reason: `server ${b.name}/${name} has a host name address (add server takes no init-addr)` };
        ops.push({ kind: 'add', backend: b, server: s });
        continue;
      }
      if (old.hostname || s.hostname) {
        if (old.address !== s.address || old.port !== s.port || old.hostname !== s.hostname) return { reason: `server ${b.name}/${name} changes a host name address` };
      } else if (old.address !== s.address || old.port !== s.port) {
        ops.push({ kind: 'addr', backend: b.name, server: s });
      }
      if (old.weight !== s.weight) ops.push({ kind: 'weight', backend: b.name, server: s });
    }
    for (const name of before.keys()) if (!after.has(name)) ops.push({ kind: 'remove', backend: b.name, server: name });
  }
  return { ops };
}

/** The `add server` line: every keyword the config's server line gets from default-server, spelled out. */
export function addServerCommand(b: Backend, s: Server): string {
  const parts = [`add server ${b.name}/${s.name} ${s.address}:${s.port}`, `weight ${s.weight}`, `check inter ${b.check.inter} fall ${b.check.fall} rise ${b.check.rise}`];
  if (b.maxconn !== undefined) parts.push(`maxconn ${b.maxconn}`);
  return parts.join(' ');
}

export interface RuntimeResult {
  ok: boolean;
  /** Commands sent, with HAProxy's answers. */
  log: Array<{ command: string; answer: string }>;
  message: string;
  /** Servers removed from the config but still holding connections (left in maintenance). */
  lingering: string[];
}

/** Answers that mean failure (HAProxy answers success with an empty line or a short notice). */
function failed(answer: string): boolean {
  return /error|unknown|not found|cannot|can't|refuse|invalid|require|only supported|no such|already exists/i.test(answer);
}

export async function applyRuntimePlan({ socket, plan }: { socket: string; plan: RuntimePlan }): Promise<RuntimeResult> {
  const log: RuntimeResult['log'] = [];
  const lingering: string[] = [];
  const send = async (command: string) => {
    const answer = (await socketCommand(socket, command, 5000)).trim();
    log.push({ command, answer });
    return answer;
  };
  try {
    for (const op of plan.ops) {
      if (op.kind === 'add') {
        const id = `${op.backend.name}/${op.server.name}`;
        for (const cmd of [addServerCommand(op.backend, op.server), `enable health ${id}`, `set server ${id} state ready`]) {
          const a = await send(cmd);
          if (failed(a)) return { ok: false, log, lingering, message: `${cmd}: ${a}` };
        }
      } else if (op.kind === 'addr') {
        const addr = op.server.address.replace(/^\[|\]$/g, '');
        const cmd = `set server ${op.backend}/${op.server.name} addr ${addr} port ${op.server.port}`;
        const a = await send(cmd);
        if (!/changed|no need to change/i.test(a)) return { ok: false, log, lingering, message: `${cmd}: ${a}` };
      } else if (op.kind === 'weight') {
        const cmd = `set server ${op.backend}/${op.server.name} weight ${op.server.weight}`;
        const a = await send(cmd);
        if (failed(a)) return { ok: false, log, lingering, message: `${cmd}: ${a}` };
      } else {
        const id = `${op.backend}/${op.server}`;
        const a = await send(`set server ${id} state maint`);
        if (failed(a)) return { ok: false, log, lingering, message: `set server ${id} state maint: ${a}` };
        const d = await send(`del server ${id}`);
        if (failed(d)) lingering.push(id);
      }
    }
  } catch (err) {
    return { ok: false, log, lingering, message: err instanceof Error ? err.message : String(err) };
  }
  return { ok: true, log, lingering, message: `${plan.ops.length} runtime operations` };
}
