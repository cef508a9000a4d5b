// Operator state across reloads. Before a reload hapilot dumps `show servers state` from the running
// worker into the server-state file the new one loads (`load-server-state-from-file global`), so a
// drained or maintenance server stays so, a server that is down stays down until its checks pass,
// and a weight set at runtime is kept (HAProxy applies it only while the config weight is unchanged).
// The trap on 2.6 (haproxy/haproxy#3265): the file's address and port override the config's, and an
// address set at runtime comes back wrong. So every row is rewritten with the address and port of
// the new config, and rows of servers that are gone or named by host name are dropped: the state
// file never re-applies a stale address.
import { rm } from 'node:fs/promises';
import type { Model } from '../model/model.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { socketCommand } from './socket.js';

const COL = { backend: 1, server: 3, addr: 4, port: 18 } as const;

/** Rewrites a `show servers state` dump for the servers of `model`. */
export function rewriteServerState(dump: string, model: Model): string {
  const servers = new Map<string, { address: string; port: number; hostname: boolean }>();
  for (const b of model.backends) for (const s of b.servers) servers.set(`${b.name}/${s.name}`, s);
  const lines = dump.split('\n');
  const out: string[] = [];
  for (const line of lines) {
    if (line === '' ) continue;
    if (/^\d+$/.test(line) || line.startsWith('#')) {
      out.push(line);
      continue;
    }
    const f = line.split(' ');
    const key = `${f[COL.backend]}/${f[COL.server]}`;
    const srv = servers.get(key);
    if (!srv || srv.hostname || f.length <= COL.port) continue;
    f[COL.addr] = srv.address.replace(/^\[|\]$/g, '');
    f[COL.port] = String(srv.port);
    out.push(f.join(' '));
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
  await writeFileAtomic(file, rewriteServerState(dump, model));
}
