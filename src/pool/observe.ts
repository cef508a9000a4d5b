// What an HAProxy really does with a server, read from one of three places an operator can point
// `--haproxy-status` at:
//   - a hapilot status URL (`http://lb1:9105/status`): its JSON `backends[].servers[].haproxy`
//     (and `keptByThreshold`, so a refusal to depool can be explained);
//   - an HAProxy stats CSV URL (`http://lb1:8404/stats;csv`);
//   - an HAProxy admin/stats socket path (`/run/hapilot/haproxy.sock`): `show stat`.
import http from 'node:http';
import https from 'node:https';
import { z } from 'zod';
import { ErrorCode, HapilotError, messageOf } from '../errors.js';
import { parseShowStat, socketCommand, type StatRow } from '../haproxy/socket.js';
import { describeZodError } from '../consul/schemas.js';

export interface ObservedServer {
  backend: string;
  server: string;
  /** `show stat` status: UP, DOWN, MAINT, DRAIN, "UP 1/3", "no check", … */
  status: string;
  /** Current sessions (scur). */
  sessions: number;
  weight: number;
  /** Only a hapilot /status says this. */
  keptByThreshold: boolean | undefined;
}

/** What the pool's runtime commands read of an observed server (a `show servers state` row has it too). */
export type ObservedAdmin = Pick<ObservedServer, 'backend' | 'server' | 'status' | 'weight'>;

/** Server rows of `show stat` CSV (FRONTEND/BACKEND summary rows left out), as observed servers. */
export function parseStatCsv(csv: string): ObservedServer[] {
  return observedFromStat(parseShowStat(csv));
}

/** `show stat` server rows (parseShowStat) as observed servers. */
function observedFromStat(rows: readonly StatRow[]): ObservedServer[] {
  return rows.map((r) => ({ backend: r.proxy, server: r.server, status: r.status, sessions: r.sessions, weight: r.weight, keptByThreshold: undefined }));
}

/** The part of a hapilot /status answer read here (the page view's backends, src/server/page.ts). */
const StatusBackends = z.looseObject({
  backends: z.array(z.looseObject({
    name: z.string(),
    servers: z.array(z.looseObject({
      name: z.string(),
      keptByThreshold: z.boolean().optional(),
      haproxy: z.looseObject({ status: z.string(), sessions: z.number(), weight: z.number() }).nullish(),
    })),
  })),
});

export function parseStatusJson(json: unknown, source: string): ObservedServer[] {
  const parsed = StatusBackends.safeParse(json);
  if (!parsed.success) {
    throw new HapilotError(ErrorCode.USAGE, `--haproxy-status ${source}: the answer is not a hapilot /status with backends ${describeZodError(parsed.error)}: expected a hapilot /status URL, an HAProxy stats CSV URL or a stats socket path`);
  }
  const out: ObservedServer[] = [];
  for (const b of parsed.data.backends) {
    for (const s of b.servers) {
      if (!s.haproxy) continue; // not in HAProxy
      out.push({ backend: b.name, server: s.name, status: s.haproxy.status, sessions: s.haproxy.sessions, weight: s.haproxy.weight, keptByThreshold: s.keptByThreshold });
    }
  }
  return out;
}

function httpGet(url: URL, timeoutMs: number): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = (url.protocol === 'https:' ? https : http).get(url, { timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type'] ?? ''), body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
  });
}

/** Few backends are worth a question each; more, and one full `show stat` is cheaper. */
const PER_BACKEND_LIMIT = 16;

/**
 * The servers of some backends, from a stats socket: `show stat <backend> 4 -1` each (a full
 * `show stat` of 1,000 backends takes tens of ms), or one full `show stat` past a handful.
 */
export async function observeBackends(socket: string, backends: ReadonlySet<string>, timeoutMs = 5000): Promise<ObservedServer[]> {
  if (backends.size > PER_BACKEND_LIMIT) return (await observeServers(socket, timeoutMs)).filter((r) => backends.has(r.backend));
  const out: ObservedServer[] = [];
  for (const b of backends) {
    const text = await socketCommand(socket, `show stat ${b} 4 -1`, timeoutMs);
    // An unknown backend answers a message instead of CSV: it has no servers to look at.
    if (text.startsWith('# pxname')) out.push(...parseStatCsv(text));
  }
  return out;
}

/**
 * Every server one HAProxy has, as seen through `source`; with `backends`, at least those backends'
 * (a stats socket and a hapilot /status URL are asked for them alone: at 10,000 services a whole
 * /status is 65 MB and costs hapilot seconds of CPU per question).
 */
export async function observeServers(source: string, timeoutMs = 5000, backends?: ReadonlySet<string>): Promise<ObservedServer[]> {
  if (!/^https?:\/\//i.test(source)) {
    if (backends) return observeBackends(source, backends, timeoutMs);
    return parseStatCsv(await socketCommand(source, 'show stat', timeoutMs));
  }
  const url = new URL(source);
  if (backends && url.pathname.endsWith('/status')) for (const b of backends) url.searchParams.append('backend', b);
  let res: { status: number; type: string; body: string };
  try {
    res = await httpGet(url, timeoutMs);
  } catch (err) {
    throw new HapilotError(ErrorCode.HAPROXY_EXEC, `--haproxy-status ${source}: ${messageOf(err)}`, { cause: err });
  }
  if (res.status !== 200) throw new HapilotError(ErrorCode.HAPROXY_EXEC, `--haproxy-status ${source} answered HTTP ${res.status}`);
  if (/json/i.test(res.type) || res.body.trimStart().startsWith('{')) {
    let json: unknown;
    try {
      json = JSON.parse(res.body);
    } catch {
      throw new HapilotError(ErrorCode.USAGE, `--haproxy-status ${source}: the answer is not JSON: expected a hapilot /status URL`);
    }
    return parseStatusJson(json, source);
  }
  return parseStatCsv(res.body);
}
