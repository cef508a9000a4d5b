// Consul tags → typed service options. Every `HAPROXY.*` tag is matched by an anchored pattern and
// its value by an anchored, typed schema: a value that does not match is an error for that tag, so no
// tag can ever carry a newline, a space, a `#` or a quote into haproxy.cfg.
import { z } from 'zod';
import { haproxyTimeMs, TIME_RE } from '../settings.js';

export const BALANCE_ALGORITHMS = ['roundrobin', 'leastconn', 'source', 'first', 'static-rr', 'random', 'uri'] as const;
/** hdr(<name>): an HTTP header name, letters, digits and dashes only. */
const HDR_BALANCE_RE = /^hdr\([A-Za-z0-9-]{1,64}\)$/;
const HOST_RE = /^(?=.{1,253}$)([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9])?)(\.[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9])?)*$/;
/** A URL path without whitespace, quotes, backslashes or `#` (HAProxy's comment and quoting characters). */
const PATH_RE = /^\/[A-Za-z0-9._~%/?=&+,;:@!*()-]{0,255}$/;

export type Protocol = 'http' | 'tcp';

export interface CheckTiming {
  inter: string;
  fall: number;
  rise: number;
}

export interface ServiceOptions {
  protocol: Protocol;
  balance: string;
  /** Per-server connection limit (HAProxy queues beyond it). */
  maxconn: number | undefined;
  host: string | undefined;
  port: number | undefined;
  sticky: 'src' | undefined;
  check: CheckTiming;
  httpchk: string | undefined;
  /** Share of the backend's servers always kept in rotation (0 to 1); undefined: the daemon's default. */
  depoolThreshold?: number | undefined;
}

/** HAProxy's own check defaults (inter 2s, rise 2, fall 3). */
export const DEFAULT_OPTIONS: ServiceOptions = {
  protocol: 'http',
  balance: 'roundrobin',
  maxconn: undefined,
  host: undefined,
  port: undefined,
  sticky: undefined,
  check: { inter: '2s', fall: 3, rise: 2 },
  httpchk: undefined,
  depoolThreshold: undefined,
};

export interface TagError {
  tag: string;
  message: string;
}

/** A tag that was ignored but probably meant something to hapilot (unknown key, look-alike characters). */
export interface TagWarning {
  tag: string;
  message: string;
}

export interface ParsedTags {
  /** The service asked to be load-balanced (HAPROXY.ENABLE=true or an alias). */
  enabled: boolean;
  options: ServiceOptions;
  errors: TagError[];
  /** Ignored tags, each with advice (the closest known key); they never reach the config. */
  warnings: TagWarning[];
  /** Deprecated aliases seen, for a migration warning. */
  deprecated: string[];
}

const intIn = (min: number, max: number) =>
  z.string().regex(/^[0-9]{1,9}$/, 'expected digits only').transform(Number)
    .refine((n) => n >= min && n <= max, `expected an integer from ${min} to ${max}`);

const Bool = z.enum(['true', 'false'], { error: 'expected true or false' });
const ProtocolValue = z.enum(['http', 'tcp'], { error: 'expected http or tcp' });
const BalanceValue = z.string().refine(
  (v) => (BALANCE_ALGORITHMS as readonly string[]).includes(v) || HDR_BALANCE_RE.test(v),
  `expected one of ${BALANCE_ALGORITHMS.join(', ')} or hdr(<header-name>)`,
);
/** Check intervals: fast enough to matter, slow enough that a tag cannot make HAProxy hammer a server. */
export const CHECK_INTER_MIN_MS = 100;
export const CHECK_INTER_MAX_MS = 3_600_000;
const TimeValue = z.string().regex(TIME_RE, 'expected an HAProxy time such as 500ms, 1s or 2m')
  .refine((v) => !/^0+[a-z]*$/.test(v), 'expected a time above zero')
  .refine((v) => haproxyTimeMs(v) >= CHECK_INTER_MIN_MS && haproxyTimeMs(v) <= CHECK_INTER_MAX_MS, 'expected a time from 100ms to 1h');
// ASCII is checked before lower-casing: some non-ASCII letters (the Kelvin sign) lower-case to ASCII.
const HostValue = z.string().refine((v) => /^[\x21-\x7e]+$/.test(v), 'expected a DNS host name such as api.example.com (ASCII only)')
  .transform((v) => v.toLowerCase())
  .refine((v) => HOST_RE.test(v), 'expected a DNS host name such as api.example.com');

/** A lower-case DNS host name HAProxy can match in the host map. */
export function isHostName(v: string): boolean {
  return HOST_RE.test(v);
}
const PathValue = z.string().regex(PATH_RE, 'expected a URL path starting with / without spaces, quotes or #');
const StickyValue = z.enum(['src'], { error: 'expected src' });

/** A depool threshold: a share of servers from 0 to 1, at most 4 decimals (`0.5`, `1`, `0.25`). */
const THRESHOLD_RE = /^(0(\.\d{1,4})?|1(\.0{1,4})?)$/;

/** A depool threshold from a tag, a flag or an environment variable, or undefined when it is not a number from 0 to 1. */
export function parseThreshold(raw: string): number | undefined {
  return THRESHOLD_RE.test(raw) ? Number(raw) : undefined;
}
const ThresholdValue = z.string().refine((v) => parseThreshold(v) !== undefined, 'expected a share of servers from 0 to 1, such as 0.5').transform(Number);

type Setter = (o: ServiceOptions, v: never) => void;
interface TagSpec {
  schema: z.ZodType;
  set: Setter;
  /** Set when the key is a deprecated alias from the docker-haproxy image. */
  aliasOf?: string;
}

const set = <T>(fn: (o: ServiceOptions, v: T) => void): Setter => fn as Setter;

// The tag reference (README "Tags") is written from this table.
export const TAGS: Readonly<Record<string, TagSpec>> = {
  'HAPROXY.ENABLE': { schema: Bool, set: () => undefined },
  'HAPROXY.PROTOCOL': { schema: ProtocolValue, set: set<Protocol>((o, v) => { o.protocol = v; }) },
  'HAPROXY.BACKEND.BALANCE': { schema: BalanceValue, set: set<string>((o, v) => { o.balance = v; }) },
  'HAPROXY.BACKEND.MAXCONN': { schema: intIn(1, 1_000_000), set: set<number>((o, v) => { o.maxconn = v; }) },
  'HAPROXY.FRONTEND.HOST': { schema: HostValue, set: set<string>((o, v) => { o.host = v; }) },
  'HAPROXY.FRONTEND.PORT': { schema: intIn(1, 65535), set: set<number>((o, v) => { o.port = v; }) },
  'HAPROXY.BACKEND.STICKY': { schema: StickyValue, set: set<'src'>((o, v) => { o.sticky = v; }) },
  'HAPROXY.BACKEND.CHECK.INTER': { schema: TimeValue, set: set<string>((o, v) => { o.check.inter = v; }) },
  'HAPROXY.BACKEND.CHECK.FALL': { schema: intIn(1, 100), set: set<number>((o, v) => { o.check.fall = v; }) },
  'HAPROXY.BACKEND.CHECK.RISE': { schema: intIn(1, 100), set: set<number>((o, v) => { o.check.rise = v; }) },
  'HAPROXY.BACKEND.HTTPCHK': { schema: PathValue, set: set<string>((o, v) => { o.httpchk = v; }) },
  'HAPROXY.BACKEND.DEPOOL_THRESHOLD': { schema: ThresholdValue, set: set<number>((o, v) => { o.depoolThreshold = v; }) },
  // Deprecated aliases: what the docker-haproxy image's template really matched.
  'HAPROXY.BALANCE': { schema: BalanceValue, set: set<string>((o, v) => { o.balance = v; }), aliasOf: 'HAPROXY.BACKEND.BALANCE' },
  'HAPROXY.MAXCONN': { schema: intIn(1, 1_000_000), set: set<number>((o, v) => { o.maxconn = v; }), aliasOf: 'HAPROXY.BACKEND.MAXCONN' },
};

/** Bare tags the docker-haproxy image used to enable a service (deprecated). */
export const ENABLE_ALIASES = ['haproxy_enable', 'haproxy.enable=true'] as const;

const PREFIX = 'HAPROXY.';
/** Longest tag shown whole in a message; longer ones are cut (a 64 KiB tag must not become a 64 KiB log line). */
const SHOWN_TAG_MAX = 120;

/** A tag as it appears in messages: JSON-quoted (newlines, NUL and quotes escaped), long ones cut with their length. */
export function showTag(tag: string): string {
  if (tag.length <= SHOWN_TAG_MAX) return JSON.stringify(tag);
  return `${JSON.stringify(tag.slice(0, SHOWN_TAG_MAX))}…(${tag.length} characters)`;
}

// Letters that look like the Latin capitals of tag keys (Cyrillic, Greek); full-width forms fold under NFKC.
const LOOK_ALIKES: Readonly<Record<string, string>> = {
  А: 'A', В: 'B', Е: 'E', К: 'K', М: 'M', Н: 'H', О: 'O', Р: 'P', С: 'C', Т: 'T', Х: 'X', У: 'Y', І: 'I', Ј: 'J', Ѕ: 'S',
  а: 'A', в: 'B', е: 'E', к: 'K', м: 'M', н: 'H', о: 'O', р: 'P', с: 'C', т: 'T', х: 'X', у: 'Y', і: 'I', ј: 'J', ѕ: 'S',
  Α: 'A', Β: 'B', Ε: 'E', Ζ: 'Z', Η: 'H', Ι: 'I', Κ: 'K', Μ: 'M', Ν: 'N', Ο: 'O', Ρ: 'P', Τ: 'T', Υ: 'Y', Χ: 'X',
  ο: 'O', ρ: 'P', ν: 'V', '\u2024': '.', '\uff0e': '.', '\u3002': '.',
};

/** The key as a careless eye reads it: NFKC, look-alikes folded to Latin, upper case, invisible characters dropped. */
function foldKey(key: string): string {
  let out = '';
  for (const ch of key.normalize('NFKC')) {
    if (/[\p{Cf}\p{Cc}\s]/u.test(ch)) continue;
    out += LOOK_ALIKES[ch] ?? ch.toUpperCase();
  }
  return out;
}

/** Levenshtein distance, bounded: stops counting past `max`. */
function distance(a: string, b: string, max: number): number {
  if (Math.abs(a.length - b.length) > max) return max + 1;
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    let best = i;
    for (let j = 1; j <= b.length; j++) {
      const v = Math.min((prev[j] ?? 0) + 1, (row[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1));
      row.push(v);
      best = Math.min(best, v);
    }
    if (best > max) return max + 1;
    prev = row;
  }
  return prev[b.length] ?? max + 1;
}

// The same unknown tag is usually carried by every instance of a service: remember the answers.
const closestCache = new Map<string, string | undefined>();

/** The known key closest to `key` (after folding look-alikes and case), or undefined when none is close. */
export function closestTagKey(key: string): string | undefined {
  const short = key.slice(0, 96);
  if (closestCache.has(short)) return closestCache.get(short);
  const near = computeClosest(foldKey(short).slice(0, 64));
  if (closestCache.size >= 1000) closestCache.clear();
  closestCache.set(short, near);
  return near;
}

function computeClosest(folded: string): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const known of Object.keys(TAGS)) {
    const d = distance(folded, known, Math.min(bestD, 8));
    if (d < bestD) {
      best = known;
      bestD = d;
    }
  }
  return best !== undefined && bestD <= Math.max(3, Math.floor(best.length / 3)) ? best : undefined;
}

function unknownKeyMessage(key: string): string {
  const near = closestTagKey(key);
  const nonAscii = /[^\x20-\x7e]/.test(key) ? ' (it contains non-ASCII or invisible characters)' : '';
  return near !== undefined
    ? `unknown key ${showTag(key)}${nonAscii}, tag ignored: did you mean ${near}?`
    : `unknown key ${showTag(key)}${nonAscii}, tag ignored: expected one of ${Object.keys(TAGS).join(', ')}`;
}

/** Parses one instance's tags. Tags that do not start with `HAPROXY.` belong to other tools and are ignored. */
export function parseTags(tags: readonly string[]): ParsedTags {
  const options: ServiceOptions = { ...DEFAULT_OPTIONS, check: { ...DEFAULT_OPTIONS.check } };
  const errors: TagError[] = [];
  const warnings: TagWarning[] = [];
  const deprecated: string[] = [];
  const seen = new Map<string, string>();
  let enabled = false;

  for (const tag of [...new Set(tags)].sort()) {
    if ((ENABLE_ALIASES as readonly string[]).includes(tag)) {
      enabled = true;
      deprecated.push(tag);
      continue;
    }
    const eq = tag.indexOf('=');
    const key = eq === -1 ? tag : tag.slice(0, eq);
    if (!tag.startsWith(PREFIX)) {
      // Another tool's tag, unless it only looks like ours (lower case, Cyrillic or full-width letters).
      if (foldKey(key.slice(0, 64)).startsWith(PREFIX)) {
        warnings.push({ tag, message: unknownKeyMessage(key) });
      }
      continue;
    }
    const spec = Object.hasOwn(TAGS, key) ? TAGS[key] : undefined;
    if (spec === undefined) {
      warnings.push({ tag, message: unknownKeyMessage(key) });
      continue;
    }
    if (eq === -1) {
      errors.push({ tag, message: `expected ${key}=<value>` });
      if (key === 'HAPROXY.ENABLE') enabled = true;
      continue;
    }
    const raw = tag.slice(eq + 1);
    const canonical = spec.aliasOf ?? key;
    const previous = seen.get(canonical);
    if (previous !== undefined && previous !== tag) {
      errors.push({ tag, message: `conflicts with tag ${showTag(previous)}: expected one value for ${canonical}` });
      continue;
    }
    seen.set(canonical, tag);
    const parsed = spec.schema.safeParse(raw);
    if (!parsed.success) {
      errors.push({ tag, message: parsed.error.issues[0]?.message ?? 'invalid value' });
      // A malformed enable tag still shows intent: the service is reported as quarantined, not skipped.
      if (key === 'HAPROXY.ENABLE') enabled = true;
      continue;
    }
    if (key === 'HAPROXY.ENABLE') enabled = parsed.data === 'true';
    if (spec.aliasOf) deprecated.push(tag);
    spec.set(options, parsed.data as never);
  }

  if (options.protocol === 'tcp') {
    if (options.balance === 'uri' || HDR_BALANCE_RE.test(options.balance)) {
      errors.push({ tag: `HAPROXY.BACKEND.BALANCE=${options.balance}`, message: 'uri and hdr() balancing need HAPROXY.PROTOCOL=http' });
    }
    if (options.httpchk !== undefined) {
      errors.push({ tag: `HAPROXY.BACKEND.HTTPCHK=${options.httpchk}`, message: 'an HTTP check needs HAPROXY.PROTOCOL=http' });
    }
    if (options.host !== undefined) {
      errors.push({ tag: `HAPROXY.FRONTEND.HOST=${options.host}`, message: 'host routing needs HAPROXY.PROTOCOL=http' });
    }
    if (options.port === undefined) {
      errors.push({ tag: 'HAPROXY.PROTOCOL=tcp', message: 'a TCP service needs its own port: add HAPROXY.FRONTEND.PORT=<port>' });
    }
  }
  return { enabled, options, errors, warnings, deprecated };
}
