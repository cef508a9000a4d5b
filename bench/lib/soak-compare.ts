// The soak bench's end check: does HAProxy's config match the catalog exactly? The catalog is read
// from the Consul simulator over HTTP (what hapilot itself reads); the config side both from hapilot's
// /status (its model) and from HAProxy's own `show stat` on the stats socket (what is running).
import { backendName, serverName } from '../../src/model/model.js';
import { socketCommand } from '../../src/haproxy/socket.js';

/** backend name → sorted "server addr:port" lines. */
export type ServerMap = Map<string, string[]>;

interface HealthRow {
  Node: { Node: string; Address: string };
  Service: { ID: string; Service: string; Address?: string; Port: number; Tags?: string[] | null };
  Checks?: Array<{ Status: string }> | null;
}

async function getJson(url: string): Promise<unknown> {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
  return res.json();
}

/**
 * The depool threshold `hapilot run` applies by default (`--depool-threshold 0.5`; the soak sets no
 * `HAPROXY.BACKEND.DEPOOL_THRESHOLD` tag and writes no pool record): at least ceil(0.5 x instances)
 * servers of a backend stay in rotation, failing ones kept when too few pass (the load balancer
 * runbook's rule). Which failing ones are kept depends on history (those already in rotation first),
 * so the check is on their number and on their being failing instances of that service.
 */
export const DEPOOL_THRESHOLD = 0.5;

/** What the catalog asks for, per backend: its passing instances, and the failing ones the threshold may keep. */
export interface Expected {
  passing: string[];
  failing: string[];
  /** How many failing instances the threshold keeps in rotation. */
  keep: number;
}
export type ExpectedMap = Map<string, Expected>;

/** What the catalog asks for: every enabled service a backend, its passing instances its servers. */
export async function expectedFromCatalog(consulUrl: string): Promise<ExpectedMap> {
  const services = await getJson(`${consulUrl}/v1/catalog/services`) as Record<string, string[]>;
  const out: ExpectedMap = new Map();
  for (const [name, tags] of Object.entries(services)) {
    if (!tags.includes('HAPROXY.ENABLE=true')) continue;
    const rows = await getJson(`${consulUrl}/v1/health/service/${encodeURIComponent(name)}`) as HealthRow[];
    const line = (r: HealthRow) => `${serverName(r.Node.Node, r.Service.ID)} ${r.Service.Address || r.Node.Address}:${r.Service.Port}`;
    const ok = (r: HealthRow) => (r.Checks ?? []).every((c) => c.Status === 'passing');
    const passing = rows.filter(ok).map(line).sort();
    const failing = rows.filter((r) => !ok(r)).map(line).sort();
    const min = Math.max(0, Math.ceil(rows.length * DEPOOL_THRESHOLD - 1e-9));
    out.set(backendName(name), { passing, failing, keep: Math.min(failing.length, Math.max(0, min - passing.length)) });
  }
  return out;
}

interface StatusDoc {
  services?: Array<{ name: string; servers: Array<{ name: string; address: string; port: number }> }>;
  holds?: unknown[];
  quarantined?: unknown[];
  degraded?: string[];
}

/** hapilot's model, from /status. */
export async function fromStatus(statusUrl: string): Promise<{ servers: ServerMap; holds: number; quarantined: number; degraded: string[] }> {
  const doc = await getJson(`${statusUrl}/status`) as StatusDoc;
  const servers: ServerMap = new Map();
  for (const s of doc.services ?? []) servers.set(s.name, s.servers.map((v) => `${v.name} ${v.address}:${v.port}`).sort());
  return { servers, holds: doc.holds?.length ?? 0, quarantined: doc.quarantined?.length ?? 0, degraded: doc.degraded ?? [] };
}

/** What HAProxy runs, from `show stat` (backends with no server appear through their BACKEND row). */
export async function fromHaproxy(statsSocket: string): Promise<ServerMap> {
  const csv = await socketCommand(statsSocket, 'show stat', 5000);
  const lines = csv.split('\n').filter((l) => l.length > 0);
  const header = lines[0]?.replace(/^# /, '').split(',') ?? [];
  const [px, sv, addr] = ['pxname', 'svname', 'addr'].map((c) => header.indexOf(c)) as [number, number, number];
  const out: ServerMap = new Map();
  for (const line of lines.slice(1)) {
    const f = line.split(',');
    const proxy = f[px] ?? '';
    const server = f[sv] ?? '';
    if (proxy.startsWith('hapilot_') || server === 'FRONTEND') continue;
    if (!out.has(proxy)) out.set(proxy, []);
    if (server !== 'BACKEND') out.get(proxy)!.push(`${server} ${f[addr] ?? ''}`);
  }
  // Frontend-only proxies (no BACKEND row) are not backends.
  for (const line of lines.slice(1)) {
    const f = line.split(',');
    if (f[sv] === 'FRONTEND' && !lines.some((l) => l.startsWith(`${f[px]},BACKEND,`))) out.delete(f[px] ?? '');
  }
  for (const v of out.values()) v.sort();
  return out;
}

/** Differences between two server maps, as short lines (empty: equal). */
/**
 * Differences between what the catalog asks for and a config: a passing instance missing, a server
 * that is no instance of the service, or a number of failing instances kept in rotation other than
 * the depool threshold asks for.
 */
export function diffMaps(want: ExpectedMap, got: ServerMap): string[] {
  const out: string[] = [];
  for (const [b, e] of want) {
    const g = got.get(b);
    if (!g) {
      out.push(`missing backend ${b}`);
      continue;
    }
    const gs = new Set(g);
    const passing = new Set(e.passing);
    const failing = new Set(e.failing);
    for (const s of e.passing) if (!gs.has(s)) out.push(`${b}: missing server ${s}`);
    const kept = g.filter((s) => failing.has(s));
    for (const s of g) if (!passing.has(s) && !failing.has(s)) out.push(`${b}: extra server ${s}`);
    if (kept.length !== e.keep) out.push(`${b}: ${kept.length} failing servers in rotation (${kept.join(', ') || 'none'}), the depool threshold keeps ${e.keep}`);
  }
  for (const b of got.keys()) if (!want.has(b)) out.push(`extra backend ${b}`);
  return out;
}
