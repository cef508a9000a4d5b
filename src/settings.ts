// Global HAProxy settings, read once from the environment. The names and defaults are those of the
// docker-haproxy image the project grew out of (see README "Environment"), so existing deployments
// keep their values. Every value is checked by an anchored pattern: a bad value is a startup error
// naming the variable, never something that reaches haproxy.cfg.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { ErrorCode, HapilotError } from './errors.js';

/** HAProxy time format: a number with an optional unit (us, ms, s, m, h, d). */
export const TIME_RE = /^[0-9]{1,9}(us|ms|s|m|h|d)?$/;
const INT_RE = /^[0-9]{1,9}$/;

/** An HAProxy time (TIME_RE) in milliseconds; no unit means milliseconds, as in HAProxy. */
export function haproxyTimeMs(t: string): number {
  const m = /^([0-9]+)(us|ms|s|m|h|d)?$/.exec(t);
  if (!m) return NaN;
  const n = Number(m[1]);
  const f = { us: 0.001, ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] ?? 'ms'] ?? 1;
  return n * f;
}
const HOST_RE = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;

export interface GlobalSettings {
  maxconnGlobal: number;
  spreadChecks: number;
  maxSpreadChecks: number;
  retries: number;
  backlog: number;
  maxconn: number;
  timeoutConnect: string;
  timeoutClient: string;
  timeoutServer: string;
  timeoutHttpKeepAlive: string;
  timeoutHttpRequest: string;
  timeoutQueue: string;
  hardStopAfter: string;
  /** Domain appended to service names for HTTP services without HAPROXY.FRONTEND.HOST. */
  domain: string | undefined;
  httpPort: number;
  statsPort: number;
  /** Address the traffic frontends bind to. */
  bindAddress: string;
  /** Include instances whose worst check is `warning`. */
  includeWarning: boolean;
  /** Override of the open-files hard limit HAProxy will run under (sidecar: another container's). */
  fdLimit: number | undefined;
  /** What to do when the config needs more descriptors than the limit: lower maxconn, or fail. */
  fdPolicy: 'adapt' | 'fail';
  /**
   * Group given read and write access to HAProxy's admin sockets (stats socket `mode 660 group G`,
   * master socket `mode,660,group,G`); undefined: mode 600, the owner only.
   */
  socketGroup: string | undefined;
}

interface Spec<K extends keyof GlobalSettings> {
  key: K;
  env: string;
  def: string | undefined;
  parse: (raw: string, env: string) => GlobalSettings[K];
  doc: string;
}

function invalid(env: string, raw: string, expected: string): HapilotError {
  // JSON-quoted so that a newline or NUL stays on the line; cut so that a huge value stays readable.
  const shown = raw.length <= 120 ? JSON.stringify(raw) : `${JSON.stringify(raw.slice(0, 120))}…(${raw.length} characters)`;
  return new HapilotError(ErrorCode.ENV_INVALID, `${env}=${shown} is invalid: expected ${expected}`);
}

function int(min: number, max: number) {
  return (raw: string, env: string): number => {
    const n = INT_RE.test(raw) ? Number(raw) : NaN;
    if (!Number.isInteger(n) || n < min || n > max) throw invalid(env, raw, `an integer from ${min} to ${max}`);
    return n;
  };
}

/** HAProxy's timers are signed 32-bit milliseconds: a longer time is a config error ("timer overflow"). */
export const MAX_TIME_MS = 2_147_483_647;

function time(raw: string, env: string): string {
  if (!TIME_RE.test(raw)) throw invalid(env, raw, 'an HAProxy time such as 500ms, 3s, 30m or 1h');
  if (haproxyTimeMs(raw) > MAX_TIME_MS) throw invalid(env, raw, 'an HAProxy time of at most 24d (2147483647ms)');
  return raw;
}

/** A time that must not be zero: HAProxy reads 0 as "no timeout" and warns that the config is unsafe. */
function positiveTime(raw: string, env: string): string {
  const t = time(raw, env);
  if (haproxyTimeMs(t) < 1) throw invalid(env, raw, 'a time of at least 1ms (0 would mean no timeout at all)');
  return t;
}

function bool(raw: string, env: string): boolean {
  if (/^(1|true|yes)$/i.test(raw)) return true;
  if (/^(0|false|no)$/i.test(raw)) return false;
  throw invalid(env, raw, 'true or false');
}

function domain(raw: string, env: string): string {
  const v = raw.toLowerCase();
  if (!HOST_RE.test(v)) throw invalid(env, raw, 'a DNS domain such as example.com');
  return v;
}

function bindAddress(raw: string, env: string): string {
  if (raw === '*' || isIP(raw) !== 0) return raw;
  throw invalid(env, raw, 'an IPv4 or IPv6 address, or * for all');
}

function fdPolicy(raw: string, env: string): 'adapt' | 'fail' {
  if (raw === 'adapt' || raw === 'fail') return raw;
  throw invalid(env, raw, 'adapt or fail');
}

/** A POSIX group name as useradd accepts it: nothing HAProxy could read as another keyword or line. */
const GROUP_RE = /^[a-z_][a-z0-9_-]{0,31}$/;

/** Whether the group exists on this machine: /etc/group, else NSS (`getent group`, LDAP and the like). */
export function groupExists(name: string, groupFile = '/etc/group'): boolean {
  try {
    if (readFileSync(groupFile, 'utf8').split('\n').some((l) => l.split(':')[0] === name)) return true;
  } catch { /* no /etc/group: ask NSS */ }
  try {
    execFileSync('getent', ['group', name], { stdio: 'ignore', timeout: 5000 });
    return true;
  } catch {
    return false;
  }
}

// HAProxy resolves the group when it reads the config (`haproxy -c` fails on an unknown one), so a
// missing group is refused here, at startup, by name, rather than as a config HAProxy rejects.
function socketGroup(raw: string, env: string): string {
  if (!GROUP_RE.test(raw)) throw invalid(env, raw, 'a group name such as haproxy or adm (lower-case letters, digits, _ and -)');
  if (!groupExists(raw)) throw invalid(env, raw, 'a group that exists on this machine (see /etc/group or getent group)');
  return raw;
}

const optionalInt = (min: number, max: number) => (raw: string, env: string) => int(min, max)(raw, env);

// The table the README's environment reference is written from.
export const SETTINGS: ReadonlyArray<Spec<keyof GlobalSettings>> = [
  { key: 'maxconnGlobal', env: 'HAPROXY_MAXCONN_GLOBAL', def: '50000', parse: int(1, 10_000_000), doc: 'global `maxconn`: connections for the whole process (≈2 descriptors each)' },
  { key: 'spreadChecks', env: 'HAPROXY_SPREAD_CHECKS', def: '5', parse: int(0, 50), doc: 'global `spread-checks` (percent of random jitter on check intervals)' },
  { key: 'maxSpreadChecks', env: 'HAPROXY_MAX_SPREAD_CHECKS', def: '15000', parse: int(0, 3_600_000), doc: 'global `max-spread-checks` in milliseconds' },
  { key: 'retries', env: 'HAPROXY_RETRIES', def: '3', parse: int(0, 100), doc: 'defaults `retries`' },
  { key: 'backlog', env: 'HAPROXY_BACKLOG', def: '10000', parse: int(1, 1_000_000), doc: 'defaults `backlog` (listen queue of each frontend)' },
  { key: 'maxconn', env: 'HAPROXY_MAXCONN', def: '10000', parse: int(1, 10_000_000), doc: 'defaults `maxconn` (per frontend)' },
  { key: 'timeoutConnect', env: 'HAPROXY_TIMEOUT_CONNECT', def: '3s', parse: positiveTime, doc: '`timeout connect`' },
  { key: 'timeoutClient', env: 'HAPROXY_TIMEOUT_CLIENT', def: '30s', parse: positiveTime, doc: '`timeout client`' },
  { key: 'timeoutServer', env: 'HAPROXY_TIMEOUT_SERVER', def: '30s', parse: positiveTime, doc: '`timeout server`' },
  { key: 'timeoutHttpKeepAlive', env: 'HAPROXY_TIMEOUT_HTTP_KEEP_ALIVE', def: '1s', parse: time, doc: '`timeout http-keep-alive`' },
  { key: 'timeoutHttpRequest', env: 'HAPROXY_TIMEOUT_HTTP_REQUEST', def: '15s', parse: time, doc: '`timeout http-request`' },
  { key: 'timeoutQueue', env: 'HAPROXY_TIMEOUT_QUEUE', def: '30s', parse: time, doc: '`timeout queue`' },
  { key: 'hardStopAfter', env: 'HAPROXY_HARD_STOP_AFTER', def: '30m', parse: positiveTime, doc: 'global `hard-stop-after`: old processes are ended this long after a reload' },
  { key: 'domain', env: 'HAPROXY_DOM', def: undefined, parse: domain, doc: 'domain for HTTP services without `HAPROXY.FRONTEND.HOST` (host = `<service>.<HAPROXY_DOM>`); no default' },
  { key: 'httpPort', env: 'HAPROXY_HTTP_PORT', def: '8080', parse: int(1, 65535), doc: 'port of the shared HTTP frontend (routing by Host header)' },
  { key: 'statsPort', env: 'HAPROXY_STATS_PORT', def: '8404', parse: int(1, 65535), doc: 'port of the read-only stats/Prometheus frontend (always bound to 127.0.0.1)' },
  { key: 'bindAddress', env: 'HAPROXY_BIND_ADDRESS', def: '127.0.0.1', parse: bindAddress, doc: 'address the traffic frontends bind to; loopback unless told otherwise (`*` or `::` for all)' },
  { key: 'includeWarning', env: 'HAPILOT_INCLUDE_WARNING', def: 'false', parse: bool, doc: 'also route to instances whose checks are `warning`' },
  { key: 'fdLimit', env: 'HAPILOT_FD_LIMIT', def: undefined, parse: optionalInt(64, 100_000_000), doc: 'open-files hard limit HAProxy runs under; default: hapilot\'s own (`/proc/self/limits`)' },
  { key: 'fdPolicy', env: 'HAPILOT_FD_POLICY', def: 'adapt', parse: fdPolicy, doc: '`adapt`: lower `maxconn` to fit the descriptor limit, with a warning; `fail`: refuse the config' },
  { key: 'socketGroup', env: 'HAPILOT_SOCKET_GROUP', def: undefined, parse: socketGroup, doc: 'group given access to HAProxy\'s admin stats socket and master socket (`mode 660 group G`); must exist on this machine; default: mode 600, the owner only' },
];

/** Reads every setting from `env`; throws the first invalid one. */
export function loadSettings(env: NodeJS.ProcessEnv = process.env): GlobalSettings {
  const out: Record<string, unknown> = {};
  for (const spec of SETTINGS) {
    const raw = env[spec.env];
    const value = raw === undefined || raw === '' ? spec.def : raw.trim();
    out[spec.key] = value === undefined ? undefined : spec.parse(value, spec.env);
  }
  const settings = out as unknown as GlobalSettings;
  if (settings.httpPort === settings.statsPort) {
    throw invalid('HAPROXY_STATS_PORT', String(settings.statsPort), `a port other than HAPROXY_HTTP_PORT (${settings.httpPort})`);
  }
  return settings;
}
