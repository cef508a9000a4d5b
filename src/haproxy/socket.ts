// One command on an HAProxy UNIX socket (master CLI or stats socket), in non-interactive mode:
// HAProxy answers and closes the connection.
import net from 'node:net';
import { ErrorCode, HapilotError, messageOf } from '../errors.js';

/**
 * Sends `command` on `sock` once it connects; resolves with `result()` when HAProxy has answered and
 * closed the connection, rejects when it fails or says nothing within `timeoutMs`.
 */
function exchange<T>(sock: net.Socket, socketPath: string, command: string, timeoutMs: number, result: () => T): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new HapilotError(ErrorCode.HAPROXY_EXEC, `${socketPath}: no answer to ${JSON.stringify(command)} within ${timeoutMs} ms`));
    }, timeoutMs);
    sock.on('connect', () => sock.end(`${command}\n`));
    sock.on('error', (err) => {
      clearTimeout(timer);
      reject(new HapilotError(ErrorCode.HAPROXY_EXEC, `${socketPath}: ${messageOf(err)}`, { cause: err }));
    });
    sock.on('close', () => {
      clearTimeout(timer);
      resolve(result());
    });
  });
}

/**
 * The answer as text, decoded as it arrives: it is never held as chunks, a joined buffer and its
 * text at once (`show stat` of 100,000 servers is 26 MB).
 */
export async function socketCommand(socketPath: string, command: string, timeoutMs = 5000): Promise<string> {
  const chunks: string[] = [];
  const sock = net.createConnection({ path: socketPath });
  // A character cut between two chunks is kept for the next.
  sock.setEncoding('utf8');
  sock.on('data', (c: string) => chunks.push(c));
  return exchange(sock, socketPath, command, timeoutMs, () => chunks.join(''));
}

/** Every read of `socketBytes` lands here first and is copied out at once: no buffer per read. */
const READ_BUFFER = Buffer.allocUnsafe(64 * 1024);

/**
 * The answer as bytes, for a listing read field by field (`show servers state`: 8.8 MB at 100,000
 * servers). No text of it is made: a text that size is a large object that V8 frees only at its next
 * full collection. The bytes go into one buffer of `expectedBytes` (grown if the answer is larger),
 * not into a buffer per read that are then joined into another.
 */
export async function socketBytes(socketPath: string, command: string, { timeoutMs = 5000, expectedBytes = READ_BUFFER.length }: { timeoutMs?: number; expectedBytes?: number } = {}): Promise<Buffer> {
  let out = Buffer.allocUnsafe(Math.max(1024, Math.ceil(expectedBytes)));
  let n = 0;
  const callback = (nread: number, buf: Uint8Array) => {
    if (n + nread > out.length) {
      const bigger = Buffer.allocUnsafe(Math.max(2 * out.length, n + nread));
      out.copy(bigger, 0, 0, n);
      out = bigger;
    }
    out.set(buf.subarray(0, nread), n);
    n += nread;
    return true;
  };
  const sock = net.createConnection({ path: socketPath, onread: { buffer: READ_BUFFER, callback } });
  return exchange(sock, socketPath, command, timeoutMs, () => out.subarray(0, n));
}

export interface ProcEntry {
  pid: number;
  type: 'master' | 'worker' | 'program';
  /** For the master: reloads done; for a worker: reloads since it was started (0 = current). */
  reloads: number;
  /** Master only: failed reloads. */
  failed: number;
  uptimeSeconds: number;
}

/** "0d00h01m05s" → 65. */
export function parseUptime(s: string): number {
  const m = /^(\d+)d(\d+)h(\d+)m(\d+)s$/.exec(s);
  if (!m) return 0;
  return Number(m[1]) * 86400 + Number(m[2]) * 3600 + Number(m[3]) * 60 + Number(m[4]);
}

/** Parses the master CLI's `show proc`. */
export function parseShowProc(text: string): ProcEntry[] {
  const out: ProcEntry[] = [];
  for (const line of text.split('\n')) {
    const m = /^(\d+)\s+(master|worker|program)\s+(\d+)(?:\s+\[failed:\s*(\d+)\])?\s+(\S+)/.exec(line.trim());
    if (!m) continue;
    out.push({ pid: Number(m[1]), type: m[2] as ProcEntry['type'], reloads: Number(m[3]), failed: Number(m[4] ?? 0), uptimeSeconds: parseUptime(m[5] ?? '') });
  }
  return out;
}

export interface StatRow {
  proxy: string;
  server: string;
  status: string;
  weight: number;
  /** `ip:port`, only when asked for (`parseShowStat(csv, { addr: true })`). */
  addr?: string;
  /** Current sessions (scur). */
  sessions: number;
}

/**
 * Reads server rows out of `show stat` lines, given its header line. A row has ~100 columns and
 * 100,000 servers make 100,000 rows: only the columns read here are cut out of each line (a split of
 * every line made ten million strings), and a line is read only up to the last of them: the 19th,
 * unless `addr` (the 74th in HAProxy 2.6) is asked for.
 */
export class StatColumns {
  readonly #c: { px: number; sv: number; status: number; scur: number; weight: number; addr: number };
  readonly #last: number;
  readonly #wanted: boolean[];
  readonly #cells: string[];
  readonly #addr: boolean;

  constructor(headerLine: string, { addr = false }: { addr?: boolean } = {}) {
    const header = headerLine.replace(/^# /, '').split(',');
    const col = (name: string) => header.indexOf(name);
    const c = { px: col('pxname'), sv: col('svname'), status: col('status'), scur: col('scur'), weight: col('weight'), addr: addr ? col('addr') : -1 };
    if (c.px < 0 || c.sv < 0 || c.status < 0 || c.scur < 0) {
      throw new HapilotError(ErrorCode.HAPROXY_EXEC, `show stat answered without the expected columns (pxname, svname, status, scur): ${JSON.stringify(headerLine.slice(0, 80))}`);
    }
    this.#c = c;
    this.#addr = addr;
    this.#last = Math.max(...Object.values(c));
    this.#wanted = new Array<boolean>(this.#last + 1).fill(false);
    for (const i of Object.values(c)) if (i >= 0) this.#wanted[i] = true;
    this.#cells = new Array<string>(this.#last + 1).fill('');
  }

  /** The server row of `text.slice(start, end)`; undefined for a header or a FRONTEND/BACKEND row. */
  row(text: string, start = 0, end = text.length): StatRow | undefined {
    if (end <= start || text.charCodeAt(start) === 35) return undefined; // '#': the header again (several answers concatenated)
    const c = this.#c;
    const cells = this.#cells;
    cells.fill('');
    for (let i = 0, from = start; i <= this.#last && from <= end; i++) {
      let comma = text.indexOf(',', from);
      if (comma < 0 || comma > end) comma = end;
      if (this.#wanted[i]) cells[i] = text.slice(from, comma);
      from = comma + 1;
    }
    const server = cells[c.sv] ?? '';
    if (server === 'FRONTEND' || server === 'BACKEND') return undefined;
    const cell = (i: number) => (i >= 0 ? cells[i] ?? '' : '');
    const row: StatRow = { proxy: cell(c.px), server, status: cell(c.status), weight: Number(cell(c.weight) || 0), sessions: Number(cell(c.scur) || 0) };
    if (this.#addr) row.addr = cell(c.addr);
    return row;
  }
}

/** Parses `show stat` CSV into server rows (BACKEND/FRONTEND summary rows excluded). */
export function parseShowStat(csv: string, { addr = false }: { addr?: boolean } = {}): StatRow[] {
  let at = 0;
  /** The next non-empty line as [start, end), or undefined at the end. */
  const nextLine = (): [number, number] | undefined => {
    while (at < csv.length) {
      const nl = csv.indexOf('\n', at);
      const end = nl < 0 ? csv.length : nl;
      const start = at;
      at = end + 1;
      if (end > start) return [start, end];
    }
    return undefined;
  };
  const first = nextLine();
  const columns = new StatColumns(first ? csv.slice(first[0], first[1]) : '', { addr });
  const rows: StatRow[] = [];
  for (let line = nextLine(); line; line = nextLine()) {
    const row = columns.row(csv, line[0], line[1]);
    if (row) rows.push(row);
  }
  return rows;
}

/** HAProxy would send a new connection to a server in this state: up (its checks pass), or not checked at all. */
export function serving(status: string): boolean {
  return status.startsWith('UP') || status === 'no check';
}

/**
 * Reads `show stat` as it arrives and hands each server row to `visit` (FRONTEND/BACKEND rows
 * excluded, hapilot's own `hapilot_*` proxies included); a `true` from it hangs up. Resolves whether
 * one did. Neither the whole answer (26 MB at 10,000 services) nor its rows are ever held at once.
 * Rejects like socketCommand.
 */
export async function scanServerRows(socketPath: string, visit: (row: StatRow) => boolean | void, timeoutMs = 5000): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const sock = net.createConnection({ path: socketPath });
    sock.setEncoding('utf8');
    let pending = '';
    let columns: StatColumns | undefined;
    let settled = false;
    /** Ends the scan once: hangs up and resolves (a boolean) or rejects (an error). */
    const finish = (outcome: boolean | HapilotError) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      sock.destroy();
      if (typeof outcome === 'boolean') resolve(outcome); else reject(outcome);
    };
    const timer = setTimeout(() => finish(new HapilotError(ErrorCode.HAPROXY_EXEC, `${socketPath}: no answer to "show stat" within ${timeoutMs} ms`)), timeoutMs);
    /** Reads the complete lines of `pending` (the last one too when `final`) and keeps the rest; true when `visit` said so. */
    const lines = (final: boolean): boolean => {
      let at = 0;
      for (;;) {
        const nl = pending.indexOf('\n', at);
        if (nl < 0 && !final) break;
        const end = nl < 0 ? pending.length : nl;
        if (end > at) {
          if (!columns) columns = new StatColumns(pending.slice(at, end));
          else {
            const row = columns.row(pending, at, end);
            if (row && visit(row) === true) return true;
          }
        }
        if (nl < 0) break;
        at = nl + 1;
      }
      pending = pending.slice(at);
      return false;
    };
    const guarded = (final: boolean) => {
      try {
        if (lines(final)) finish(true);
        else if (final && !columns) finish(new HapilotError(ErrorCode.HAPROXY_EXEC, `${socketPath}: "show stat" answered nothing`));
        else if (final) finish(false);
      } catch (err) {
        finish(err instanceof HapilotError ? err : new HapilotError(ErrorCode.HAPROXY_EXEC, `${socketPath}: ${messageOf(err)}`));
      }
    };
    sock.on('connect', () => sock.end('show stat\n'));
    sock.on('data', (chunk: string) => {
      pending += chunk;
      guarded(false);
    });
    sock.on('error', (err) => finish(new HapilotError(ErrorCode.HAPROXY_EXEC, `${socketPath}: ${messageOf(err)}`, { cause: err })));
    sock.on('close', () => guarded(true));
  });
}

/**
 * Whether HAProxy has a server outside hapilot's own proxies that `wanted` accepts; hangs up at the
 * first (the first backend's servers come in the first kilobytes of `show stat`).
 */
export async function someServerRow(socketPath: string, wanted: (row: StatRow) => boolean, timeoutMs = 5000): Promise<boolean> {
  return scanServerRows(socketPath, (row) => !row.proxy.startsWith('hapilot_') && wanted(row), timeoutMs);
}
