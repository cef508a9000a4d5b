// The `runtime` strategy: changes that only touch servers (an instance added or removed, an address,
// a port, a weight) are applied through the Runtime API on the admin stats socket, with no reload.
// The config file is rewritten to the same state at the same time, so a later reload agrees.
// What HAProxy 2.6 does, as measured on these machines:
// - `add server` works without experimental mode; the server starts in maintenance: it needs
//   `enable health` (with `check`) and `set server … state ready`. It takes no `init-addr`, so host
//   names are not added this way, and nothing is inherited from `default-server`: the command is the
//   rendered server line with its default-server keywords spelled out (config/render.ts
//   `serverLines`), so the template stays the one definition of a server.
// - backends balancing with `static-rr` or map-based hashing (source, uri, hdr) refuse dynamic servers.
// - `del server` needs the server in maintenance and without connections; until then it stays in
//   maintenance (not in the config file, so a reload removes it) and is asked again until its
//   connections have ended (`retryRemovals`, from daemon/lingering.ts).
// - Host routing goes through one map (the config's `map(<file>)`): `add map`, `set map` and
//   `del map` change HAProxy's copy in memory, so a host added, moved or removed for a backend that
//   exists already needs no reload. The commands name the map file HAProxy loaded (`show map`):
//   the config on disk names a newer file with the same contents (maps are content-addressed).
import type { Backend, HttpRoute, Model, Server } from '../model/model.js';
import { HOST_MAP_PREFIX } from '../config/render.js';
import { isRemoving, markRemoving } from './server-state.js';
import { socketCommand } from './socket.js';

export const DYNAMIC_BALANCE = new Set(['roundrobin', 'leastconn', 'first', 'random']);

/**
 * Why `next` differs from `previous` in more than servers and host routes, or undefined. Costs one
 * comparison per backend: a backend object that did not change is the same object (models are never
 * mutated), and only other ones are compared field by field.
 */
function structuralChange(previous: Model, next: Model): string | undefined {
  const why = 'structural change (frontends, backends, routes or settings)';
  if (previous.settings !== next.settings && JSON.stringify(previous.settings) !== JSON.stringify(next.settings)) return `${why}: settings`;
  if (JSON.stringify(previous.portFrontends) !== JSON.stringify(next.portFrontends)) return `${why}: port frontends`;
  if (previous.backends.length !== next.backends.length) return `${why}: backends added or removed`;
  for (let i = 0; i < next.backends.length; i++) {
    const a = previous.backends[i] as Backend;
    const b = next.backends[i] as Backend;
    if (a === b) continue;
    if (a.name !== b.name) return `${why}: backends added or removed`;
    if (!sameDefinition(a, b) && shape(a) !== shape(b)) return `${why}: backend ${b.name}`;
  }
  return undefined;
}

/** The fields a backend has today, compared directly; a backend with any other field goes to `shape`. */
const PLAIN_FIELDS = ['name', 'service', 'mode', 'balance', 'maxconn', 'sticky', 'httpchk', 'depoolThreshold'] as const;
const KNOWN_FIELDS = new Set<string>([...PLAIN_FIELDS, 'check', 'servers']);

function sameDefinition(a: Backend, b: Backend): boolean {
  for (const k of [...Object.keys(a), ...Object.keys(b)]) if (!KNOWN_FIELDS.has(k)) return false;
  for (const k of PLAIN_FIELDS) if ((a as unknown as Record<string, unknown>)[k] !== (b as unknown as Record<string, unknown>)[k]) return false;
  return a.check.inter === b.check.inter && a.check.fall === b.check.fall && a.check.rise === b.check.rise
    && Object.keys(a.check).length === 3 && Object.keys(b.check).length === 3;
}

/** A backend without its servers. */
function shape(b: Backend): string {
  return JSON.stringify({ ...b, servers: undefined });
}

/** Same servers, in the same order, field by field (servers are sorted by name in a model). */
function sameServers(a: readonly Server[], b: readonly Server[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i] as Server;
    const y = b[i] as Server;
    if (x !== y && (x.name !== y.name || x.address !== y.address || x.port !== y.port || x.weight !== y.weight || x.hostname !== y.hostname)) return false;
  }
  return true;
}

/** The host routes as map operations; every route's backend exists before and after (else it is structural). */
function mapOps(previous: readonly HttpRoute[], next: readonly HttpRoute[]): RuntimeOp[] {
  if (previous.length === next.length && previous.every((r, i) => r === next[i] || (r.host === next[i]?.host && r.backend === next[i]?.backend))) return [];
  const before = new Map(previous.map((r) => [r.host, r.backend]));
  const after = new Map(next.map((r) => [r.host, r.backend]));
  const ops: RuntimeOp[] = [];
  for (const [host, backend] of after) {
    const was = before.get(host);
    if (was === undefined) ops.push({ kind: 'map-add', host, backend });
    else if (was !== backend) ops.push({ kind: 'map-set', host, backend });
  }
  for (const host of before.keys()) if (!after.has(host)) ops.push({ kind: 'map-del', host });
  return ops;
}

/**
 * The keywords `add server` accepts on HAProxy 2.6, with the number of arguments each takes
 * (management guide, "add server"). Anything else on a server line (cookie, init-addr, resolvers,
 * interface…) makes the change a reload: a server added at runtime must be the server a reload loads.
 */
const ADD_SERVER_KEYWORDS: ReadonlyMap<string, number> = new Map([
  ...['agent-check', 'allow-0rtt', 'backup', 'check', 'check-send-proxy', 'check-ssl', 'check-via-socks4', 'disabled', 'enabled',
    'force-sslv3', 'force-tlsv10', 'force-tlsv11', 'force-tlsv12', 'force-tlsv13', 'no-ssl-reuse', 'no-sslv3', 'no-tlsv10',
    'no-tlsv11', 'no-tlsv12', 'no-tlsv13', 'no-tls-tickets', 'send-proxy', 'send-proxy-v2', 'send-proxy-v2-ssl',
    'send-proxy-v2-ssl-cn', 'ssl', 'tfo', 'tls-tickets'].map((k) => [k, 0] as const),
  ...['agent-addr', 'agent-inter', 'agent-port', 'agent-send', 'alpn', 'addr', 'ca-file', 'check-alpn', 'check-proto', 'check-sni',
    'ciphers', 'ciphersuites', 'crl-file', 'crt', 'downinter', 'error-limit', 'fall', 'fastinter', 'id', 'inter', 'maxconn',
    'maxqueue', 'minconn', 'npn', 'observe', 'on-error', 'on-marked-down', 'on-marked-up', 'pool-low-conn', 'pool-max-conn',
    'pool-purge-delay', 'port', 'proto', 'proxy-v2-options', 'rise', 'slowstart', 'sni', 'source', 'ssl-max-ver', 'ssl-min-ver',
    'track', 'usesrc', 'verify', 'verifyhost', 'weight', 'ws'].map((k) => [k, 1] as const),
]);

/** A rendered server line as an `add server` command, or why `add server` cannot create that server. */
export function addServerCommand(backend: string, line: string): { command: string; check: boolean; agent: boolean; disabled: boolean } | { reason: string } {
  const [keyword, name, address, ...words] = line.trim().split(/\s+/);
  if (keyword !== 'server' || !name || !address) return { reason: `not a server line: ${JSON.stringify(line)}` };
  const seen = new Set<string>();
  for (let i = 0; i < words.length; i++) {
    const word = words[i] ?? '';
    const arity = ADD_SERVER_KEYWORDS.get(word);
    if (arity === undefined) return { reason: `server ${backend}/${name}: keyword ${JSON.stringify(word)} is not accepted by add server` };
    if (arity > 0 && i + arity >= words.length) return { reason: `server ${backend}/${name}: keyword ${word} lacks its argument` };
    seen.add(word);
    i += arity;
  }
  return {
    command: ['add server', `${backend}/${name}`, address, ...words].join(' '),
    check: seen.has('check'),
    agent: seen.has('agent-check'),
    // A later `enabled` wins over `disabled` (keywords apply in order).
    disabled: words.lastIndexOf('disabled') > words.lastIndexOf('enabled'),
  };
}

export type RuntimeOp =
  | { kind: 'add'; backend: string; server: string; add: { command: string; check: boolean; agent: boolean; disabled: boolean } }
  | { kind: 'remove'; backend: string; server: string }
  | { kind: 'addr'; backend: string; server: Server }
  | { kind: 'weight'; backend: string; server: Server }
  /** Host routing: the host map's entry for `host`. */
  | { kind: 'map-add'; host: string; backend: string }
  | { kind: 'map-set'; host: string; backend: string }
  | { kind: 'map-del'; host: string };

export interface RuntimePlan {
  ops: RuntimeOp[];
}

export interface PlanInput {
  previous: Model;
  next: Model;
  /** The next config's server lines (render's `serverLines`), keyed `backend/server`. */
  serverLines: ReadonlyMap<string, string>;
}

/**
 * The Runtime API operations turning `previous` into `next`, or why it takes a reload. Servers
 * added, removed, moved or reweighted, and host routes added, moved or removed between backends that
 * exist before and after, are operations; anything else is a reload.
 */
export function planRuntime({ previous, next, serverLines }: PlanInput): RuntimePlan | { reason: string } {
  const structural = structuralChange(previous, next);
  if (structural !== undefined) return { reason: structural };
  const ops: RuntimeOp[] = [];
  for (let i = 0; i < next.backends.length; i++) {
    const b = next.backends[i] as Backend;
    const prev = previous.backends[i] as Backend;
    if (prev === b || sameServers(prev.servers, b.servers)) continue;
    const before = new Map(prev.servers.map((s) => [s.name, s]));
    const after = new Map(b.servers.map((s) => [s.name, s]));
    for (const [name, s] of after) {
      const old = before.get(name);
      if (!old) {
        if (!DYNAMIC_BALANCE.has(b.balance)) return { reason: `backend ${b.name} balances with ${b.balance}, which refuses dynamic servers` };
        if (s.hostname) return { reason: `server ${b.name}/${name} has a host name address (add server takes no init-addr)` };
        const line = serverLines.get(`${b.name}/${name}`);
        if (line === undefined) return { reason: `server ${b.name}/${name} is not in the rendered config` };
        const add = addServerCommand(b.name, line);
        if ('reason' in add) return add;
        ops.push({ kind: 'add', backend: b.name, server: name, add });
        continue;
      }
      if (old.hostname || s.hostname) {
        if (old.address !== s.address || old.port !== s.port || old.hostname !== s.hostname) return { reason: `server ${b.name}/${name} changes a host name address` };
      } else if (old.address !== s.address || old.port !== s.port) {
        ops.push({ kind: 'addr', backend: b.name, server: s });
      }
      if (old.weight !== s.weight) ops.push({ kind: 'weight', backend: b.name, server: s });
    }
    for (const name of before.keys()) if (!after.has(name)) ops.push({ kind: 'remove', backend: b.name, server: name });
  }
  // Routes last: a host moves to a backend whose servers are ready.
  ops.push(...mapOps(previous.httpRoutes, next.httpRoutes));
  return { ops };
}

export interface RuntimeResult {
  ok: boolean;
  /** Commands sent, with HAProxy's answers. */
  log: Array<{ command: string; answer: string }>;
  message: string;
  /** Servers removed from the config but still holding connections (left in maintenance). */
  lingering: string[];
}

/** Answers that mean failure (HAProxy answers success with an empty line or a short notice). */
function failed(answer: string): boolean {
  return /error|unknown|not found|cannot|can't|refuse|invalid|require|only supported|no such|already exists/i.test(answer);
}

/**
 * The host map file a running HAProxy loaded, from `show map`: lines `<id> (<file>) <description>`.
 * Undefined when none is loaded.
 */
export function loadedHostMap(showMap: string): string | undefined {
  for (const line of showMap.split('\n')) {
    const m = /^-?\d+\s+\((.+)\)\s/.exec(line.trim());
    const file = m?.[1];
    if (file !== undefined && file.slice(file.lastIndexOf('/') + 1).startsWith(HOST_MAP_PREFIX)) return file;
  }
  return undefined;
}

/**
 * For an `add server` refused because a server of that name lingers (in maintenance, see `del
 * server`): the commands giving it the address, port and weight of the `add server` command.
 */
export function relinkCommands(id: string, addCommand: string): string[] {
  // `add server <backend>/<server> <address> <keywords…>`
  const [, , , address = '', ...words] = addCommand.split(' ');
  const m = /^\[?(.*?)\]?:(\d+)$/.exec(address);
  const commands = [m ? `set server ${id} addr ${m[1]} port ${m[2]}` : `set server ${id} addr ${address}`];
  const w = words.indexOf('weight');
  if (w >= 0 && words[w + 1] !== undefined) commands.push(`set server ${id} weight ${words[w + 1]}`);
  return commands;
}

/**
 * `del server` again for servers left in maintenance because they still held connections: `deleted`
 * (or gone already: a reload took them), and `left`, the ones HAProxy still refuses. A server no
 * longer marked for removal (its instance came back and an apply put it back in service) is in
 * neither: it is not asked.
 */
export async function retryRemovals(socket: string, ids: readonly string[]): Promise<{ deleted: string[]; left: string[] }> {
  const deleted: string[] = [];
  const left: string[] = [];
  for (const id of ids) {
    if (!isRemoving(socket, id)) continue;
    const answer = (await socketCommand(socket, `del server ${id}`, 5000)).trim();
    if (failed(answer) && !/no such/i.test(answer)) {
      left.push(id);
      continue;
    }
    markRemoving(socket, id, false);
    deleted.push(id);
  }
  return { deleted, left };
}

export async function applyRuntimePlan({ socket, plan }: { socket: string; plan: RuntimePlan }): Promise<RuntimeResult> {
  const log: RuntimeResult['log'] = [];
  const lingering: string[] = [];
  const send = async (command: string) => {
    const answer = (await socketCommand(socket, command, 5000)).trim();
    log.push({ command, answer });
    return answer;
  };
  try {
    let hostMap: string | undefined;
    for (const op of plan.ops) {
      if (op.kind === 'map-add' || op.kind === 'map-set' || op.kind === 'map-del') {
        if (hostMap === undefined) {
          const listing = await send('show map');
          hostMap = loadedHostMap(listing);
          if (hostMap === undefined) return { ok: false, log, lingering, message: `show map: no ${HOST_MAP_PREFIX}*.map loaded: ${listing.split('\n').slice(0, 3).join(' | ')}` };
        }
        const cmd = op.kind === 'map-del' ? `del map ${hostMap} ${op.host}` : `${op.kind === 'map-add' ? 'add' : 'set'} map ${hostMap} ${op.host} ${op.backend}`;
        const a = await send(cmd);
        if (failed(a)) return { ok: false, log, lingering, message: `${cmd}: ${a}` };
        continue;
      }
      if (op.kind === 'add') {
        const id = `${op.backend}/${op.server}`;
        const added = await send(op.add.command);
        // A server hapilot removed while it still held connections lingers in maintenance under the
        // same name (`del server` refused): the instance is back, so that server serves again. (A
        // server of that name that someone else added stays a failure: a reload settles it.)
        const lingers = /already exists/i.test(added) && isRemoving(socket, id);
        if (!lingers && failed(added)) return { ok: false, log, lingering, message: `${op.add.command}: ${added}` };
        markRemoving(socket, id, false);
        const commands = lingers ? relinkCommands(id, op.add.command) : [];
        const enable: string[] = [];
        if (op.add.check) enable.push(`enable health ${id}`);
        if (op.add.agent) enable.push(`enable agent ${id}`);
        if (!op.add.disabled) enable.push(`set server ${id} state ready`);
        for (const cmd of commands) {
          const a = await send(cmd);
          if (cmd.startsWith(`set server ${id} addr `) ? !/changed|no need to change/i.test(a) : failed(a)) return { ok: false, log, lingering, message: `${cmd}: ${a}` };
        }
        // One connection for these (`;`-separated, as the CLI takes them): each answers nothing on
        // success, so any text is the failure of one of them.
        if (enable.length) {
          const cmd = enable.join(';');
          const a = await send(cmd);
          if (failed(a)) return { ok: false, log, lingering, message: `${cmd}: ${a}` };
        }
      } else if (op.kind === 'addr') {
        const addr = op.server.address.replace(/^\[|\]$/g, '');
        const cmd = `set server ${op.backend}/${op.server.name} addr ${addr} port ${op.server.port}`;
        const a = await send(cmd);
        if (!/changed|no need to change/i.test(a)) return { ok: false, log, lingering, message: `${cmd}: ${a}` };
      } else if (op.kind === 'weight') {
        const cmd = `set server ${op.backend}/${op.server.name} weight ${op.server.weight}`;
        const a = await send(cmd);
        if (failed(a)) return { ok: false, log, lingering, message: `${cmd}: ${a}` };
      } else {
        const id = `${op.backend}/${op.server}`;
        const a = await send(`set server ${id} state maint`);
        if (failed(a)) return { ok: false, log, lingering, message: `set server ${id} state maint: ${a}` };
        markRemoving(socket, id, true);
        const d = await send(`del server ${id}`);
        if (failed(d)) lingering.push(id);
        else markRemoving(socket, id, false);
      }
    }
  } catch (err) {
    return { ok: false, log, lingering, message: err instanceof Error ? err.message : String(err) };
  }
  return { ok: true, log, lingering, message: `${plan.ops.length} runtime operations` };
}
