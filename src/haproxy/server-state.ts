// Operator state across reloads. Before a reload hapilot dumps `show servers state` from the running
// worker into the server-state file the new one loads (`load-server-state-from-file global`), so a
// drained or maintenance server stays so, a server that is down stays down until its checks pass,
// and a weight set at runtime is kept (HAProxy applies it only while the config weight is unchanged).
// The trap on 2.6 (haproxy/haproxy#3265): the file's address and port override the config's, and an
// address set at runtime comes back wrong. So every row is rewritten with the address and port of
// the new config, and rows of servers that are gone or named by host name are dropped: the state
// file never re-applies a stale address. The same holds for `srv_use_ssl`: a kept row gets the new
// config's (a server given `ssl` by a template change would otherwise load with ssl off).
// A row that carries nothing (running, ready, its weight the config's, no check or agent) is left
// out: the server starts as its config says either way, and the new worker has 100,000 fewer rows
// to read at 10,000 services without checks (0.2 s of its reload).
import { rm } from 'node:fs/promises';
import path from 'node:path';
import type { Backend, Model } from '../model/model.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { socketBytes } from './socket.js';
import { ServerLookup } from '../model/server-lookup.js';

const COL = { backend: 1, server: 3, addr: 4, op: 5, admin: 6, uweight: 7, iweight: 8, checkState: 13, agentState: 14, port: 18, ssl: 20 } as const;
/** srv_admin_state's "forced maintenance" bit (SRV_ADMF_FMAINT). */
const FMAINT = 0x01;
/** srv_check_state's and srv_agent_state's "configured" bit (CHK_ST_CONFIGURED). */
const CHK_CONFIGURED = 0x02;

/** Whether the new config gives a server `ssl`, by backend and server name. */
export type SslOf = (backend: string, server: string) => boolean;

/** Whether a server line (with its `default-server` keywords first) ends up with `ssl`: the later of `ssl` and `no-ssl` wins. */
function lineUsesSsl(line: string | undefined): boolean {
  const words = line?.split(/\s+/) ?? [];
  return words.lastIndexOf('ssl') > words.lastIndexOf('no-ssl');
}

/** Whether any `server`, `default-server` or `server-template` line of `config` says `ssl`. */
export function configMentionsServerSsl(config: string): boolean {
  for (let at = config.indexOf('ssl'); at >= 0; at = config.indexOf('ssl', at + 3)) {
    const before = config.charCodeAt(at - 1);
    const after = config.charCodeAt(at + 3);
    if ((before !== 0x20 && before !== 0x09) || !(Number.isNaN(after) || after === 0x20 || after === 0x09 || after === 0x0a || after === 0x0d)) continue;
    const lineStart = config.lastIndexOf('\n', at) + 1;
    const first = /^\s*(\S+)/.exec(config.slice(lineStart, at))?.[1];
    if (first === 'server' || first === 'default-server' || first === 'server-template') return true;
  }
  return false;
}

/**
 * The new config's `ssl` per server, from its server lines (which carry their `default-server`
 * keywords): looked at only for rows kept, and the config searched once, on the first question. A
 * config with no server line saying `ssl` (hapilot's templates) answers false without a lookup.
 */
export function sslFromConfig(config: string, serverLines: ReadonlyMap<string, string>): SslOf {
  let mentioned: boolean | undefined;
  return (backend, server) => {
    mentioned ??= configMentionsServerSsl(config);
    return mentioned && lineUsesSsl(serverLines.get(`${backend}/${server}`));
  };
}

/** srv_admin_state's maintenance bits (forced, inherited, from the config, resolution, host name) and drain bits (SRV_ADMF_*). */
const ADMIN_MAINT = 0x01 | 0x02 | 0x04 | 0x20 | 0x40;
const ADMIN_DRAIN = 0x08 | 0x10;
/** srv_op_state of a stopped, a running and a stopping server (SRV_ST_STOPPED, SRV_ST_RUNNING, SRV_ST_STOPPING). */
const STOPPED = 0;
const RUNNING = 2;
const STOPPING = 3;

/**
 * Where the fields of the row [lineStart, end) of a dump start, into `at`, up to the one after field
 * `last`: field i runs from at[i] to at[i + 1] - 1 (its space). Returns the number of the last field
 * whose start was found.
 */
function fieldStarts(dump: Buffer, lineStart: number, end: number, at: number[], last: number): number {
  let n = 0;
  at[0] = lineStart;
  // A loop over the bytes, not Buffer#indexOf: a call to it costs more than the few bytes between two
  // spaces (2 million fields at 100,000 rows).
  for (let k = lineStart; k < end && n <= last; k++) if (dump[k] === 0x20) at[++n] = k + 1;
  return n;
}

/** Where the line that starts at `start` ends: its newline, or the end of the dump. */
function lineEnd(dump: Buffer, start: number): number {
  const nl = dump.indexOf(0x0a, start);
  return nl < 0 ? dump.length : nl;
}

/** Field `i` of the row whose field starts are `at`, as text. */
function field(dump: Buffer, at: readonly number[], i: number): string {
  return dump.toString('utf8', at[i] as number, (at[i + 1] as number) - 1);
}

/** Whether field `i` is `text`, compared byte for character (a name outside ASCII is decoded to be compared). */
function fieldIs(dump: Buffer, at: readonly number[], i: number, text: string): boolean {
  const from = at[i] as number;
  const to = (at[i + 1] as number) - 1;
  if (to - from !== text.length) return to - from > text.length && dump.toString('utf8', from, to) === text;
  for (let k = 0; k < text.length; k++) {
    const c = text.charCodeAt(k);
    if (c >= 0x80 || dump[from + k] !== c) return false;
  }
  return true;
}

/** Field `i` as a number if it is digits only, else NaN; without a string of it. */
function intField(dump: Buffer, at: readonly number[], i: number): number {
  const from = at[i] as number;
  const to = (at[i + 1] as number) - 1;
  if (to <= from) return Number.NaN;
  let v = 0;
  for (let k = from; k < to; k++) {
    const d = (dump[k] as number) - 0x30;
    if (d < 0 || d > 9) return Number.NaN;
    v = v * 10 + d;
  }
  return v;
}

/** The backend of the row, as the string of the row before when it is the same: HAProxy lists a backend's servers together. */
function backendOf(dump: Buffer, at: readonly number[], before: string): string {
  return fieldIs(dump, at, COL.backend, before) ? before : field(dump, at, COL.backend);
}

/**
 * A server as `show servers state` lists it, with the part of its `show stat` status the pool reads
 * (maintenance, drain, NOLB, down) and its weight as set (`srv_uweight`, what `set server … weight`
 * sets; `show stat`'s weight is the same outside a slow start).
 */
export interface StateRow {
  backend: string;
  server: string;
  status: 'MAINT' | 'DRAIN' | 'NOLB' | 'DOWN' | 'UP';
  weight: number;
}

/**
 * The server rows of a `show servers state` answer. At 100,000 servers it is 8.8 MB, against 26.5 MB
 * for `show stat`, and HAProxy writes it in 0.10 s against 0.36–0.54 s (HAProxy 2.6, measured by
 * hand on an idle worker).
 */
export function parseServersState(dump: Buffer): StateRow[] {
  const rows: StateRow[] = [];
  const at = new Array<number>(COL.uweight + 2).fill(0);
  let backend = '';
  for (let lineStart = 0, end = 0; lineStart < dump.length; lineStart = end + 1) {
    end = lineEnd(dump, lineStart);
    if (end === lineStart || dump[lineStart] === 0x23) continue;
    if (fieldStarts(dump, lineStart, end, at, COL.uweight) <= COL.uweight) continue; // the format version, or a short row
    const op = intField(dump, at, COL.op);
    const admin = intField(dump, at, COL.admin);
    const status = admin & ADMIN_MAINT ? 'MAINT' : admin & ADMIN_DRAIN ? 'DRAIN' : op === STOPPING ? 'NOLB' : op === STOPPED ? 'DOWN' : 'UP';
    backend = backendOf(dump, at, backend);
    rows.push({ backend, server: field(dump, at, COL.server), status, weight: intField(dump, at, COL.uweight) });
  }
  return rows;
}

/** Bytes per server of the last `show servers state` answer (a row is about 90 at 10,000 services). */
let bytesPerServer = 128;

/**
 * `show servers state` of a worker running `model`'s servers, as bytes: read into one buffer of about
 * the answer's size (as many bytes per server as the last answer had), so that the answer is neither
 * read in pieces nor grown by doubling into buffers twice its size.
 */
export async function readServersState(statsSocket: string, model: Model, timeoutMs: number): Promise<Buffer> {
  let servers = 0;
  for (let k = 0; k < model.backends.length; k++) servers += (model.backends[k] as Backend).servers.length;
  const dump = await socketBytes(statsSocket, 'show servers state', { timeoutMs, expectedBytes: 1024 + servers * bytesPerServer * 1.125 });
  if (servers > 0 && dump.length > 0) bytesPerServer = dump.length / servers;
  return dump;
}

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

const NEWLINE = Buffer.from('\n');

/**
 * Rewrites a `show servers state` dump for the servers of `model`. Rows of `notOperatorMaint`
 * (hapilot's own maintenance, see `markRemoving`) lose the forced-maintenance bit. With `running`
 * (the model HAProxy runs now), only servers both models have are kept: a server new to the config
 * starts as the config says, whatever the old worker holds under its name. With `sslOf`, each kept
 * row's `srv_use_ssl` is the new config's. Rows that carry nothing (see `carriesNothing`) are left out.
 *
 * At scale the dump has 100,000 rows: each row's fields are found by offset in the dump's bytes and
 * only the address, admin state, port and ssl are replaced; the rest is the dump's own bytes, not a
 * copy. A name becomes a string only when it is not the one expected (the backend of the row before,
 * the server after the last one found).
 */
export function rewriteServerState(dump: Buffer, model: Model, notOperatorMaint: ReadonlySet<string> = new Set(), running?: Model, sslOf?: SslOf): Buffer[] {
  const next = new ServerLookup(model);
  const had = running && new ServerLookup(running);
  const out: Buffer[] = [];
  // Rows kept as they are (the address, port and ssl already the config's) are copied as one
  // stretch of the dump until a row is dropped or changed.
  let copyFrom = 0;
  const cut = (upTo: number) => {
    if (upTo > copyFrom) out.push(dump.subarray(copyFrom, upTo));
  };
  /** Leaves the row [from, to) out. */
  const drop = (from: number, to: number) => {
    cut(from);
    copyFrom = to;
  };
  /** Start of each field of the row being read, up to the one after srv_use_ssl. */
  const at = new Array<number>(COL.ssl + 2).fill(0);
  const int = (i: number) => intField(dump, at, i);
  /**
   * The server starts in the new worker as this row would leave it: running, ready (`admin`, after
   * hapilot's own maintenance is taken off), the weight its config's, no health or agent check whose
   * state the row would carry. Only its time since the last change is not carried (HAProxy's
   * `lastchg`).
   */
  const carriesNothing = (admin: number) =>
    admin === 0 && int(COL.op) === RUNNING &&
    int(COL.uweight) === int(COL.iweight) && !Number.isNaN(int(COL.uweight)) &&
    (int(COL.checkState) & CHK_CONFIGURED) === 0 && (int(COL.agentState) & CHK_CONFIGURED) === 0;
  let backend = '';
  for (let lineStart = 0, end = 0; lineStart < dump.length; lineStart = end + 1) {
    end = lineEnd(dump, lineStart);
    /** Where the next row starts. */
    const after = end + 1;
    // Comments (the header) and the format version (a number alone) are kept; empty lines are not.
    if (end === lineStart) { drop(lineStart, after); continue; }
    if (dump[lineStart] === 0x23) continue;
    // srv_use_ssl is the last field needed (n: fields read; the last one ends at at[n + 1] - 1).
    const n = fieldStarts(dump, lineStart, end, at, COL.ssl);
    if (n === 0) {
      at[1] = end + 1;
      if (!Number.isNaN(int(0))) continue;
    }
    if (n < COL.port) { drop(lineStart, after); continue; } // a short row
    if (n <= COL.ssl) at[n + 1] = end + 1; // the row ends with its last field read
    backend = backendOf(dump, at, backend);
    const expected = next.peek(backend);
    const server = expected && fieldIs(dump, at, COL.server, expected.name) ? expected.name : field(dump, at, COL.server);
    const srv = next.find(backend, server);
    if (!srv || srv.hostname || (had && !had.find(backend, server))) { drop(lineStart, after); continue; }
    const address = srv.address.charCodeAt(0) === 0x5b ? srv.address.slice(1, -1) : srv.address;
    let admin = int(COL.admin);
    let adminText: string | undefined;
    if (notOperatorMaint.size && Number.isInteger(admin) && admin & FMAINT && notOperatorMaint.has(`${backend}/${server}`)) {
      admin &= ~FMAINT;
      adminText = String(admin);
    }
    if (carriesNothing(admin)) { drop(lineStart, after); continue; }
    const ssl = sslOf && n >= COL.ssl ? (sslOf(backend, server) ? '1' : '0') : undefined;
    if (adminText === undefined && fieldIs(dump, at, COL.addr, address) && fieldIs(dump, at, COL.port, String(srv.port)) && (ssl === undefined || fieldIs(dump, at, COL.ssl, ssl))) continue;
    cut(lineStart);
    copyFrom = after;
    // The row again, field by field up to the last one read, with the replaced ones; then the rest.
    const replaced = new Map<number, string>([[COL.addr, address], [COL.port, String(srv.port)]]);
    if (adminText !== undefined) replaced.set(COL.admin, adminText);
    if (ssl !== undefined) replaced.set(COL.ssl, ssl);
    const last = Math.min(n, COL.ssl);
    const fields: string[] = [];
    for (let i = 0; i <= last; i++) fields.push(replaced.get(i) ?? field(dump, at, i));
    out.push(Buffer.from(fields.join(' ')), dump.subarray((at[last + 1] as number) - 1, end), NEWLINE);
  }
  cut(dump.length);
  // The last row kept whole may have come without its newline.
  const tail = out.at(-1);
  if (tail && tail[tail.length - 1] !== 0x0a) out.push(NEWLINE);
  return out;
}

/**
 * Before a reload: dumps the running worker's server state, rewritten for `model` (the servers of
 * the config about to load), into `file`. No dump (nothing runs, the socket does not answer) means
 * no file: never a stale one.
 */
export async function saveServerState({ statsSocket, file, model, running, sslOf }: { statsSocket: string; file: string; model: Model | undefined; running?: Model | undefined; sslOf?: SslOf | undefined }): Promise<void> {
  const dump = model ? await readServersState(statsSocket, model, 3000).catch(() => undefined) : undefined;
  if (dump === undefined || !model) {
    await rm(file, { force: true });
    return;
  }
  const ours = removing.get(path.resolve(statsSocket));
  await writeFileAtomic(file, rewriteServerState(dump, model, ours, running, sslOf));
  // Those back in the config load without that maintenance: from now on a maintenance is an operator's.
  if (ours?.size) {
    const lookup = new ServerLookup(model);
    for (const id of [...ours]) {
      const slash = id.indexOf('/');
      if (lookup.find(id.slice(0, slash), id.slice(slash + 1))) markRemoving(statsSocket, id, false);
    }
  }
}
