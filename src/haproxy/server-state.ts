// Operator state across reloads. Before a reload hapilot dumps `show servers state` from the running
// worker into the server-state file the new one loads (`load-server-state-from-file global`), so a
// drained or maintenance server stays so, a server that is down stays down until its checks pass,
// and a weight set at runtime is kept (HAProxy applies it only while the config weight is unchanged).
// The trap on 2.6 (haproxy/haproxy#3265): the file's address and port override the config's, and an
// address set at runtime comes back wrong. So every row is rewritten with the address and port of
// the new config, and rows of servers that are gone or named by host name are dropped: the state
// file never re-applies a stale address.
import { rm } from 'node:fs/promises';
import path from 'node:path';
import type { Model } from '../model/model.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { socketCommand } from './socket.js';

const COL = { backend: 1, server: 3, addr: 4, admin: 6, port: 18 } as const;
/** srv_admin_state's "forced maintenance" bit (SRV_ADMF_FMAINT). */
const FMAINT = 0x01;

/**
 * Servers (`backend/server`) hapilot put in maintenance only to delete them, per stats socket: a
 * `del server` refused while they held connections leaves them there. That maintenance is not an
 * operator's: it must not reach the next worker through the state file.
 */
const removing = new Map<string, Set<string>>();

/** Whether hapilot put `id` in maintenance to delete it and it may still linger. */
export function isRemoving(statsSocket: string, id: string): boolean {
  return removing.get(path.resolve(statsSocket))?.has(id) === true;
}

export function markRemoving(statsSocket: string, id: string, on: boolean): void {
  const key = path.resolve(statsSocket);
  const set = removing.get(key) ?? new Set<string>();
  if (on) set.add(id);
  else set.delete(id);
  if (set.size) removing.set(key, set);
  else removing.delete(key);
}

/**
 * Rewrites a `show servers state` dump for the servers of `model`. Rows of `notOperatorMaint`
 * (hapilot's own maintenance, see `markRemoving`) lose the forced-maintenance bit.
 */
export function rewriteServerState(dump: string, model: Model, notOperatorMaint: ReadonlySet<string> = new Set()): string {
  const servers = new Map<string, { address: string; port: number; hostname: boolean }>();
  for (const b of model.backends) for (const s of b.servers) servers.set(`${b.name}/${s.name}`, s);
  const lines = dump.split('\n');
  const out: string[] = [];
  // Only the columns up to the port are cut out of a row; the rest is kept as it is.
  const f = new Array<string>(COL.port + 1);
  for (const line of lines) {
    if (line === '' ) continue;
    if (line.startsWith('#') || (!line.includes(' ') && /^\d+$/.test(line))) {
      out.push(line);
      continue;
    }
    let n = 0;
    let from = 0;
    while (n <= COL.port && from <= line.length) {
      const sp = line.indexOf(' ', from);
      const end = sp < 0 ? line.length : sp;
      f[n++] = line.slice(from, end);
      from = end + 1;
    }
    if (n <= COL.port) continue;
    const key = `${f[COL.backend]}/${f[COL.server]}`;
    const srv = servers.get(key);
    if (!srv || srv.hostname) continue;
    f[COL.addr] = srv.address.replace(/^\[|\]$/g, '');
    f[COL.port] = String(srv.port);
    const admin = Number(f[COL.admin]);
    if (notOperatorMaint.has(key) && Number.isInteger(admin) && admin & FMAINT) f[COL.admin] = String(admin & ~FMAINT);
    out.push(from <= line.length ? `${f.join(' ')} ${line.slice(from)}` : f.join(' '));
  }
  return out.length ? `${out.join('\n')}\n` : '';
}

/**
 * Before a reload: dumps the running worker's server state, rewritten for `model` (the servers of
 * the config about to load), into `file`. No dump (nothing runs, the socket does not answer) means
 * no file: never a stale one.
 */
export async function saveServerState({ statsSocket, file, model }: { statsSocket: string; file: string; model: Model | undefined }): Promise<void> {
  const dump = model ? await socketCommand(statsSocket, 'show servers state', 3000).catch(() => undefined) : undefined;
  if (dump === undefined || !model) {
    await rm(file, { force: true });
    return;
  }
  const ours = removing.get(path.resolve(statsSocket));
  await writeFileAtomic(file, rewriteServerState(dump, model, ours));
  // Those back in the config load without that maintenance: from now on a maintenance is an operator's.
  for (const b of model.backends) for (const s of b.servers) if (ours?.has(`${b.name}/${s.name}`)) markRemoving(statsSocket, `${b.name}/${s.name}`, false);
}
