// One command on an HAProxy UNIX socket (master CLI or stats socket), in non-interactive mode:
// HAProxy answers and closes the connection.
import net from 'node:net';
import { ErrorCode, HapilotError, messageOf } from '../errors.js';

export async function socketCommand(socketPath: string, command: string, timeoutMs = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    // Decoded as it arrives (a character cut between two chunks is kept for the next): the answer
    // is never held as chunks, a joined buffer and its text at once (`show stat` of 100,000 servers
    // is 26 MB).
    const chunks: string[] = [];
    const sock = net.createConnection({ path: socketPath });
    sock.setEncoding('utf8');
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new HapilotError(ErrorCode.HAPROXY_EXEC, `${socketPath}: no answer to ${JSON.stringify(command)} within ${timeoutMs} ms`));
    }, timeoutMs);
    sock.on('connect', () => sock.end(`${command}\n`));
    sock.on('data', (c: string) => chunks.push(c));
    sock.on('error', (err) => {
      clearTimeout(timer);
      reject(new HapilotError(ErrorCode.HAPROXY_EXEC, `${socketPath}: ${messageOf(err)}`, { cause: err }));
    });
    sock.on('close', () => {
      clearTimeout(timer);
      resolve(chunks.join(''));
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
  /** `ip:port`, only when asked for (`parseShowStat(csv, { addr: true })`). */
  addr?: string;
  /** Current sessions (scur). */
  sessions: number;
}

/**
 * Parses `show stat` CSV into server rows (BACKEND/FRONTEND summary rows excluded): the one reader of
 * it. A row has ~100 columns and 100,000 servers make 100,000 rows: only the columns read here are
 * cut out of each line (a split of every line made ten million strings), and a line is read only up
 * to the last of them: the 19th, unless `addr` (the 74th in HAProxy 2.6) is asked for. hapilot
 * itself never reads it (tests do).
 */
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
  const header = first ? csv.slice(first[0], first[1]).replace(/^# /, '').split(',') : [];
  const col = (name: string) => header.indexOf(name);
  const c = { px: col('pxname'), sv: col('svname'), status: col('status'), scur: col('scur'), weight: col('weight'), addr: addr ? col('addr') : -1 };
  if (c.px < 0 || c.sv < 0 || c.status < 0 || c.scur < 0) {
    throw new HapilotError(ErrorCode.HAPROXY_EXEC, `show stat answered without the expected columns (pxname, svname, status, scur): ${JSON.stringify((first ? csv.slice(first[0], first[1]) : '').slice(0, 80))}`);
  }
  const last = Math.max(...Object.values(c));
  const wanted = new Array<boolean>(last + 1).fill(false);
  for (const i of Object.values(c)) if (i >= 0) wanted[i] = true;
  const cells = new Array<string>(last + 1).fill('');
  const rows: StatRow[] = [];
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
    const row: StatRow = { proxy: cell(c.px), server, status: cell(c.status), weight: Number(cell(c.weight) || 0), sessions: Number(cell(c.scur) || 0) };
    if (addr) row.addr = cell(c.addr);
    rows.push(row);
  }
  return rows;
}
