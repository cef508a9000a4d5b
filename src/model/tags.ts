// Consul tags → typed service options. Every `HAPROXY.*` tag is matched by an anchored pattern and
// its value by an anchored, typed schema: a value that does not match is an error for that tag, so no
// tag can ever carry a newline, a space, a `#` or a quote into haproxy.cfg.
import { z } from 'zod';
import { TIME_RE } from '../settings.js';

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
};

export interface TagError {
  tag: string;
  message: string;
}

export interface ParsedTags {
  /** The service asked to be load-balanced (HAPROXY.ENABLE=true or an alias). */
  enabled: boolean;
  options: ServiceOptions;
  errors: TagError[];
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
const TimeValue = z.string().regex(TIME_RE, 'expected an HAProxy time such as 500ms, 1s or 2m')
  .refine((v) => !/^0+[a-z]*$/.test(v), 'expected a time above zero');
const HostValue = z.string().transform((v) => v.toLowerCase())
  .refine((v) => HOST_RE.test(v), 'expected a DNS host name such as api.example.com');
const PathValue = z.string().regex(PATH_RE, 'expected a URL path starting with / without spaces, quotes or #');
const StickyValue = z.enum(['src'], { error: 'expected src' });

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
  // Deprecated aliases: what the docker-haproxy image's template really matched.
  'HAPROXY.BALANCE': { schema: BalanceValue, set: set<string>((o, v) => { o.balance = v; }), aliasOf: 'HAPROXY.BACKEND.BALANCE' },
  'HAPROXY.MAXCONN': { schema: intIn(1, 1_000_000), set: set<number>((o, v) => { o.maxconn = v; }), aliasOf: 'HAPROXY.BACKEND.MAXCONN' },
};

/** Bare tags the docker-haproxy image used to enable a service (deprecated). */
export const ENABLE_ALIASES = ['haproxy_enable', 'haproxy.enable=true'] as const;

const KEY_VALUE_RE = /^(HAPROXY\.[A-Z.]+)=([\s\S]*)$/;

/** Parses one instance's tags. Tags that do not start with `HAPROXY.` belong to other tools and are ignored. */
export function parseTags(tags: readonly string[]): ParsedTags {
  const options: ServiceOptions = { ...DEFAULT_OPTIONS, check: { ...DEFAULT_OPTIONS.check } };
  const errors: TagError[] = [];
  const deprecated: string[] = [];
  const seen = new Map<string, string>();
  let enabled = false;

  for (const tag of [...tags].sort()) {
    if ((ENABLE_ALIASES as readonly string[]).includes(tag)) {
      enabled = true;
      deprecated.push(tag);
      continue;
    }
    if (!tag.startsWith('HAPROXY.')) continue;
    const m = KEY_VALUE_RE.exec(tag);
    const key = m?.[1];
    const raw = m?.[2];
    const spec = key === undefined ? undefined : TAGS[key];
    if (key === undefined || raw === undefined || spec === undefined) {
      errors.push({ tag, message: 'unknown HAPROXY tag: expected one of ' + Object.keys(TAGS).join(', ') + ' as KEY=VALUE' });
      continue;
    }
    const canonical = spec.aliasOf ?? key;
    const previous = seen.get(canonical);
    if (previous !== undefined && previous !== tag) {
      errors.push({ tag, message: `conflicts with tag ${JSON.stringify(previous)}` });
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
  return { enabled, options, errors, deprecated };
}
