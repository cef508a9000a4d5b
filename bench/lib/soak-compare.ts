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

/** What the catalog asks for: every enabled service a backend, its passing instances its servers. */
export async function expectedFromCatalog(consulUrl: string): Promise<ServerMap> {
  const services = await getJson(`${consulUrl}/v1/catalog/services`) as Record<string, string[]>;
  const out: ServerMap = new Map();
  for (const [name, tags] of Object.entries(services)) {
    if (!tags.includes('HAPROXY.ENABLE=true')) continue;
    const rows = await getJson(`${consulUrl}/v1/health/service/${encodeURIComponent(name)}`) as HealthRow[];
    const servers = rows
      .filter((r) => (r.Checks ?? []).every((c) => c.Status === 'passing'))
      .map((r) => `${serverName(r.Node.Node, r.Service.ID)} ${r.Service.Address || r.Node.Address}:${r.Service.Port}`);
    out.set(backendName(name), servers.sort());
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
export function diffMaps(want: ServerMap, got: ServerMap): string[] {
  const out: string[] = [];
  for (const [b, servers] of want) {
    const g = got.get(b);
    if (!g) {
      out.push(`missing backend ${b}`);
      continue;
    }
    const gs = new Set(g);
    const ws = new Set(servers);
    for (const s of servers) if (!gs.has(s)) out.push(`${b}: missing server ${s}`);
    for (const s of g) if (!ws.has(s)) out.push(`${b}: extra server ${s}`);
  }
  for (const b of got.keys()) if (!want.has(b)) out.push(`extra backend ${b}`);
  return out;
}
