// One command on an HAProxy UNIX socket (master CLI or stats socket), in non-interactive mode:
// HAProxy answers and closes the connection.
import net from 'node:net';
import { ErrorCode, HapilotError, messageOf } from '../errors.js';

export async function socketCommand(socketPath: string, command: string, timeoutMs = 5000): Promise<string> {
  const parts: string[] = [];
  await socketLines(socketPath, command, (text) => parts.push(text), timeoutMs);
  return parts.join('');
}

/**
 * One command whose answer is handed to `onLines` as it arrives, in pieces of whole lines (only the
 * last may lack its newline): a reader that parses line by line never holds the answer whole
 * (`show stat` of 100,000 servers is 26 MB). An exception from `onLines` ends the command with it.
 */
export async function socketLines(socketPath: string, command: string, onLines: (text: string) => void, timeoutMs = 5000): Promise<void> {
  return new Promise((resolve, reject) => {
    // Decoded as it arrives (a character cut between two chunks is kept for the next).
    let carry = '';
    let failed = false;
    const sock = net.createConnection({ path: socketPath });
    sock.setEncoding('utf8');
    const fail = (err: unknown) => {
      if (failed) return;
      failed = true;
      clearTimeout(timer);
      sock.destroy();
      reject(err);
    };
    const hand = (text: string) => {
      try {
        onLines(text);
      } catch (err) {
        fail(err);
      }
    };
    const timer = setTimeout(() => fail(new HapilotError(ErrorCode.HAPROXY_EXEC, `${socketPath}: no answer to ${JSON.stringify(command)} within ${timeoutMs} ms`)), timeoutMs);
    sock.on('connect', () => sock.end(`${command}\n`));
    sock.on('data', (c: string) => {
      if (failed) return;
      const nl = c.lastIndexOf('\n');
      if (nl < 0) { carry += c; return; }
      const text = carry + c.slice(0, nl + 1);
      carry = c.slice(nl + 1);
      hand(text);
    });
    sock.on('error', (err) => fail(new HapilotError(ErrorCode.HAPROXY_EXEC, `${socketPath}: ${messageOf(err)}`, { cause: err })));
    sock.on('close', () => {
      if (failed) return;
      if (carry !== '') hand(carry);
      if (failed) return;
      clearTimeout(timer);
      resolve();
    });
  });
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
  addr: string;
  /** Current sessions (scur). */
  sessions: number;
}

/**
 * Parses `show stat` CSV into server rows (BACKEND/FRONTEND summary rows excluded): the one reader of
 * it. A row has ~100 columns and 100,000 servers make 100,000 rows: only the columns read here are
 * cut out of each line (a split of every line made ten million strings).
 */
export function parseShowStat(csv: string): StatRow[] {
  const parser = new ShowStatParser();
  parser.push(csv);
  return parser.finish();
}

/** `show stat` (or another command answering its CSV) read from a socket and parsed as it arrives. */
export async function showStat(socketPath: string, timeoutMs?: number, command = 'show stat'): Promise<StatRow[]> {
  const parser = new ShowStatParser();
  await socketLines(socketPath, command, (text) => parser.push(text), timeoutMs);
  return parser.finish();
}

/** Where the columns read are in a `show stat` row. */
interface StatColumns { px: number; sv: number; status: number; scur: number; weight: number; addr: number }

/** parseShowStat, fed whole lines a piece at a time (the header line first). */
export class ShowStatParser {
  readonly #rows: StatRow[] = [];
  #c: StatColumns | undefined;
  #wanted: boolean[] = [];
  #cells: string[] = [];
  #last = 0;

  push(csv: string): void {
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
    if (!this.#c) {
      const first = nextLine();
      if (!first) return;
      this.#header(csv.slice(first[0], first[1]));
    }
    const c = this.#c as StatColumns;
    const wanted = this.#wanted;
    const cells = this.#cells;
    const last = this.#last;
    const rows = this.#rows;
    for (let line = nextLine(); line; line = nextLine()) {
      const [start, end] = line;
      if (csv.charCodeAt(start) === 35) continue; // '#': the header again (several answers concatenated)
      cells.fill('');
      for (let i = 0, from = start; i <= last && from <= end; i++) {
        let comma = csv.indexOf(',', from);
        if (comma < 0 || comma > end) comma = end;
        if (wanted[i]) cells[i] = csv.slice(from, comma);
        from = comma + 1;
      }
      const server = cells[c.sv] ?? '';
      if (server === 'FRONTEND' || server === 'BACKEND') continue;
      const cell = (i: number) => (i >= 0 ? cells[i] ?? '' : '');
      rows.push({ proxy: cell(c.px), server, status: cell(c.status), weight: Number(cell(c.weight) || 0), addr: cell(c.addr), sessions: Number(cell(c.scur) || 0) });
    }
  }

  /** The rows; throws when no header came. */
  finish(): StatRow[] {
    if (!this.#c) this.#header('');
    return this.#rows;
  }

  #header(line: string): void {
    const header = line.replace(/^# /, '').split(',');
    const col = (name: string) => header.indexOf(name);
    const c = { px: col('pxname'), sv: col('svname'), status: col('status'), scur: col('scur'), weight: col('weight'), addr: col('addr') };
    if (c.px < 0 || c.sv < 0 || c.status < 0 || c.scur < 0) {
      throw new HapilotError(ErrorCode.HAPROXY_EXEC, `show stat answered without the expected columns (pxname, svname, status, scur): ${JSON.stringify(line.slice(0, 80))}`);
    }
    this.#last = Math.max(...Object.values(c));
    this.#wanted = new Array<boolean>(this.#last + 1).fill(false);
    for (const i of Object.values(c)) if (i >= 0) this.#wanted[i] = true;
    this.#cells = new Array<string>(this.#last + 1).fill('');
    this.#c = c;
  }
}
