// One command on an HAProxy UNIX socket (master CLI or stats socket), in non-interactive mode:
// HAProxy answers and closes the connection.
import net from 'node:net';
import { ErrorCode, HapilotError, messageOf } from '../errors.js';

export async function socketCommand(socketPath: string, command: string, timeoutMs = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const sock = net.createConnection({ path: socketPath });
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new HapilotError(ErrorCode.HAPROXY_EXEC, `${socketPath}: no answer to ${JSON.stringify(command)} within ${timeoutMs} ms`));
    }, timeoutMs);
    sock.on('connect', () => sock.end(`${command}\n`));
    sock.on('data', (c: Buffer) => chunks.push(c));
    sock.on('error', (err) => {
      clearTimeout(timer);
      reject(new HapilotError(ErrorCode.HAPROXY_EXEC, `${socketPath}: ${messageOf(err)}`, { cause: err }));
    });
    sock.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString('utf8'));
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

/** Parses `show stat` CSV into server rows (BACKEND/FRONTEND summary rows excluded): the one reader of it. */
export function parseShowStat(csv: string): StatRow[] {
  const lines = csv.split('\n').filter((l) => l.length > 0);
  const header = lines[0]?.replace(/^# /, '').split(',') ?? [];
  const col = (name: string) => header.indexOf(name);
  const c = { px: col('pxname'), sv: col('svname'), status: col('status'), scur: col('scur'), weight: col('weight'), addr: col('addr') };
  if (c.px < 0 || c.sv < 0 || c.status < 0 || c.scur < 0) {
    throw new HapilotError(ErrorCode.HAPROXY_EXEC, `show stat answered without the expected columns (pxname, svname, status, scur): ${JSON.stringify((lines[0] ?? '').slice(0, 80))}`);
  }
  const rows: StatRow[] = [];
  for (const line of lines.slice(1)) {
    if (line.startsWith('#')) continue; // the header again (several answers concatenated)
    const f = line.split(',');
    const server = f[c.sv] ?? '';
    if (server === 'FRONTEND' || server === 'BACKEND') continue;
    rows.push({ proxy: f[c.px] ?? '', server, status: f[c.status] ?? '', weight: Number(f[c.weight] || 0), addr: f[c.addr] ?? '', sessions: Number(f[c.scur] || 0) });
  }
  return rows;
}
