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
import { ServerLookup } from '../model/server-lookup.js';

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
 * (hapilot's own maintenance, see `markRemoving`) lose the forced-maintenance bit. With `running`
 * (the model HAProxy runs now), only servers both models have are kept: a server new to the config
 * starts as the config says, whatever the old worker holds under its name.
 *
 * At scale the dump has 100,000 rows: each row's fields are found by offset in the dump and only the
 * address, admin state and port are replaced; the rest of the row is copied as it is.
 */
export function rewriteServerState(dump: string, model: Model, notOperatorMaint: ReadonlySet<string> = new Set(), running?: Model): string {
  const next = new ServerLookup(model);
  const had = running && new ServerLookup(running);
  const out: string[] = [];
  // Rows kept as they are (most of them: the address and port already the config's) are copied as
  // one stretch of the dump until a row is dropped or changed.
  let copyFrom = 0;
  const cut = (upTo: number) => {
    if (upTo > copyFrom) out.push(dump.slice(copyFrom, upTo));
  };
  /** Start of each field of the row being read, up to the one after the port. */
  const at = new Array<number>(COL.port + 2).fill(0);
  for (let start = 0; start < dump.length;) {
    const nl = dump.indexOf('\n', start);
    const end = nl < 0 ? dump.length : nl;
    const lineStart = start;
    start = end + 1;
    const drop = () => {
      cut(lineStart);
      copyFrom = start;
    };
    // Comments (the header) and the format version (a number alone) are kept; empty lines are not.
    if (end === lineStart) { drop(); continue; }
    if (dump.charCodeAt(lineStart) === 0x23) continue;
    // Field n runs from at[n] to at[n + 1] - 1 (its space); the port is the last one needed.
    let n = 0;
    at[0] = lineStart;
    for (let sp = dump.indexOf(' ', lineStart); sp >= 0 && sp < end && n <= COL.port; sp = dump.indexOf(' ', sp + 1)) at[++n] = sp + 1;
    if (n === 0 && /^\d+$/.test(dump.slice(lineStart, end))) continue;
    if (n < COL.port) { drop(); continue; } // a short row
    if (n === COL.port) at[COL.port + 1] = end + 1; // the port ends the row
    const field = (i: number) => dump.slice(at[i] as number, (at[i + 1] as number) - 1);
    const backend = field(COL.backend);
    const server = field(COL.server);
    const srv = next.find(backend, server);
    if (!srv || srv.hostname || (had && !had.find(backend, server))) { drop(); continue; }
    const address = srv.address.charCodeAt(0) === 0x5b ? srv.address.slice(1, -1) : srv.address;
    const port = String(srv.port);
    let admin: string | undefined;
    if (notOperatorMaint.size && notOperatorMaint.has(`${backend}/${server}`)) {
      const a = Number(field(COL.admin));
      if (Number.isInteger(a) && a & FMAINT) admin = String(a & ~FMAINT);
    }
    const same = (i: number, value: string) => (at[i + 1] as number) - 1 - (at[i] as number) === value.length && dump.startsWith(value, at[i]);
    if (admin === undefined && same(COL.addr, address) && same(COL.port, port)) continue;
    cut(lineStart);
    copyFrom = start;
    const portEnd = (at[COL.port + 1] as number) - 1;
    out.push(dump.slice(lineStart, at[COL.addr]), address, ' ', dump.slice(at[COL.addr + 1], at[COL.admin]), admin ?? field(COL.admin), ' ', dump.slice(at[COL.admin + 1], at[COL.port]), port, dump.slice(portEnd, end), '\n');
  }
  cut(dump.length);
  const text = out.join('');
  // The last row kept whole may have come without its newline.
  return text === '' || text.endsWith('\n') ? text : `${text}\n`;
}

/**
 * Before a reload: dumps the running worker's server state, rewritten for `model` (the servers of
 * the config about to load), into `file`. No dump (nothing runs, the socket does not answer) means
 * no file: never a stale one.
 */
export async function saveServerState({ statsSocket, file, model, running }: { statsSocket: string; file: string; model: Model | undefined; running?: Model | undefined }): Promise<void> {
  const dump = model ? await socketCommand(statsSocket, 'show servers state', 3000).catch(() => undefined) : undefined;
  if (dump === undefined || !model) {
    await rm(file, { force: true });
    return;
  }
  const ours = removing.get(path.resolve(statsSocket));
  await writeFileAtomic(file, rewriteServerState(dump, model, ours, running));
  // Those back in the config load without that maintenance: from now on a maintenance is an operator's.
  if (ours?.size) {
    const lookup = new ServerLookup(model);
    for (const id of [...ours]) {
      const slash = id.indexOf('/');
      if (lookup.find(id.slice(0, slash), id.slice(slash + 1))) markRemoving(statsSocket, id, false);
    }
  }
}
