// The one module that touches the `consul` npm package. It is no longer maintained upstream and its
// types and `watch` helper are weak, so it stays behind this adapter: typed, zod-checked results with
// the blocking-query metadata, and errors from our catalogue. Replacing the package means rewriting
// this file only. The blocking-query loop itself lives in watch code above this adapter.
import { EventEmitter } from 'node:events';
import { Writable } from 'node:stream';
import http from 'node:http';
import https from 'node:https';
import Consul from 'consul';
import { ErrorCode, HapilotError, messageOf } from '../errors.js';
import { parseDurationMs } from '../util/duration.js';
import { RawHttp, type ByteSink } from './raw-get.js';
import type { ConsulConfig, Consistency } from './config.js';
import { CatalogServices, checkHealthChecks, checkHealthEntries, zodShape, type HealthCheck, type HealthEntry, type ShapeResult } from './schemas.js';

export interface QueryOptions {
  /** Blocking query: wait for an index above this (> 0). https://developer.hashicorp.com/consul/api-docs/features/blocking */
  index?: number | undefined;
  /** Longest wait of a blocking query, as a Go duration ("30s", "5m"). */
  wait?: string | undefined;
  /** `?filter=` (bexpr) applied by Consul before it answers. https://developer.hashicorp.com/consul/api-docs/features/filtering */
  filter?: string | undefined;
  signal?: AbortSignal | undefined;
  /**
   * Called with X-Consul-Index as soon as the answer's headers arrive, before its body is read: a
   * 32 MB checks list takes hundreds of milliseconds to arrive and parse, its index a millisecond.
   */
  onIndex?: ((index: number) => void) | undefined;
}

/**
 * A stream an answer's body is piped into as it arrives, for a caller that parses it piece by piece
 * (catalog/node-dump.ts's NodeDumpStream) or compares it with the answer it kept
 * (kept-answer.ts's AnswerPatch, node-dump.ts's NodeDumpStream), rather than holding it whole. It never emits an error
 * (it keeps its own); `head` gives its first bytes (an error answer's text).
 */
export interface BodyStream extends Writable {
  head(): Buffer;
}

const isBodyStream = (v: unknown): v is BodyStream => v instanceof Writable && typeof (v as { head?: unknown }).head === 'function';
/** A body stream that also takes bytes synchronously, copying what it keeps (kept-answer.ts's AnswerPatch, node-dump.ts's NodeDumpStream). */
const isByteSink = (v: unknown): v is BodyStream & ByteSink => isBodyStream(v) && typeof (v as { accept?: unknown }).accept === 'function';

/** Options of an answer that may be streamed. */
export interface StreamQueryOptions extends QueryOptions {
  /** Pipe the body into this as it arrives: the result's bytes are then empty. */
  into?: BodyStream | undefined;
}

export interface QueryResult<T> {
  data: T;
  /** X-Consul-Index of the answer. */
  index: number;
  knownLeader: boolean | undefined;
  lastContactMs: number | undefined;
  /**
   * A blocking query answered with the index it asked for before its wait ran out: Consul abandoned
   * it (a snapshot restore replaced the state store) and the answer is the old store's. Ask again
   * without an index to see the restored state (and its lower index) now, not after the wait.
   */
  abandoned?: boolean;
}

export interface RequestObserver {
  /** Called when a request starts; the returned function is called when it ends. */
  start(endpoint: string, blocking: boolean): (outcome: 'ok' | 'error' | 'aborted') => void;
}

/** What the rest of hapilot needs from Consul. */
export interface ConsulApi {
  readonly address: string;
  catalogServices(opts?: QueryOptions): Promise<QueryResult<CatalogServices>>;
  healthService(service: string, opts?: QueryOptions): Promise<QueryResult<HealthEntry[]>>;
  healthState(state: 'any' | 'passing' | 'warning' | 'critical', opts?: QueryOptions): Promise<QueryResult<HealthCheck[]>>;
  /** The same answer undecoded: its bytes, for a caller that parses only what changed (catalog/checks-body.ts). */
  healthStateBytes(state: 'any' | 'passing' | 'warning' | 'critical', opts?: StreamQueryOptions): Promise<QueryResult<Buffer>>;
  /**
   * `/v1/health/node/:node`: one node's checks, under the whole checks table's X-Consul-Index (Consul
   * looks the node up by index, so asking for a node that does not exist costs it nothing and says
   * how far the checks table has moved).
   */
  healthNode(node: string, opts?: QueryOptions): Promise<QueryResult<HealthCheck[]>>;
  /**
   * `/v1/internal/ui/nodes` undecoded: every node with its services and checks, one request (the
   * endpoint Consul's UI reads; not in the documented API, so callers fall back to
   * `/v1/health/service/:name` reads when it answers 4xx, or when absent). catalog/node-dump.ts decodes it.
   */
  nodeDumpBytes?(opts?: StreamQueryOptions): Promise<QueryResult<Buffer> & { filteredByAcls: boolean }>;
  close(): void;
}

/** Go duration → milliseconds, for the forms `wait` takes here. */
function durationMs(d: string): number {
  const ms = parseDurationMs(d);
  if (ms === undefined) throw new HapilotError(ErrorCode.USAGE, `wait ${JSON.stringify(d)} is invalid: expected a duration such as 30s or 5m`);
  return ms;
}

interface PapiResponse {
  headers: Record<string, string | string[] | undefined>;
  body?: unknown;
}

interface PapiRequest {
  err?: Error & { response?: unknown };
  res?: PapiResponse & { body?: Buffer };
}

type RawCall = (opts: Record<string, unknown>) => Promise<[PapiResponse, unknown]>;

export function createConsulClient(config: ConsulConfig, observer?: RequestObserver): ConsulApi {
  const secure = config.url.protocol === 'https:';
  const agent = secure
    ? new https.Agent({ keepAlive: true, ca: config.ca, cert: config.cert, key: config.key, rejectUnauthorized: config.verify })
    : new http.Agent({ keepAlive: true });
  const base = config.url.toString().replace(/\/$/, '');
  const port = Number(config.url.port || (secure ? 443 : 80));
  const consul = new Consul({ host: config.url.hostname, port, secure, agent });
  // Over http:, an answer a sink takes synchronously is read into one reused buffer (raw-get.ts).
  const rawHttp = secure ? undefined : new RawHttp(config.url.hostname.replace(/^\[(.*)\]$/, '$1'), port);
  const address = base;
  // The package's types leave out that its client is papi's EventEmitter.
  const papiEvents = consul as unknown as EventEmitter;

  async function call<T>(endpoint: string, fn: RawCall, shape: (body: unknown) => ShapeResult<T>, extra: Record<string, unknown>, opts: QueryOptions): Promise<QueryResult<T>> {
    const blocking = opts.index !== undefined && opts.index > 0;
    const ctx = Object.assign(new EventEmitter(), { includeResponse: true });
    const onAbort = () => ctx.emit('cancel');
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    const waitMs = opts.wait ? durationMs(opts.wait) : 300_000;
    const startedMs = Date.now();
    const done = observer?.start(endpoint, blocking);
    // papi reports each response's headers on its 'log' event before it reads the body.
    const onIndex = opts.onIndex;
    const wantIndex = blocking ? `index=${opts.index}` : undefined;
    const onLog = onIndex && ((tags: unknown, data: unknown) => {
      if (!Array.isArray(tags) || tags[1] !== 'response' || typeof data !== 'object' || data === null) return;
      const { path: p, headers } = data as { path?: unknown; headers?: unknown };
      if (typeof p !== 'string' || !p.startsWith(endpoint) || (wantIndex && !p.includes(wantIndex))) return;
      const v = typeof headers === 'object' && headers !== null ? (headers as Record<string, unknown>)['x-consul-index'] : undefined;
      const n = Number(v);
      if (Number.isFinite(n) && n > 0) onIndex(n);
    });
    if (onLog) papiEvents.on('log', onLog);
    try {
      if (opts.signal?.aborted) throw new HapilotError(ErrorCode.ABORTED, `${endpoint}: aborted`);
      const query = {
        ...extra,
        ...consistencyFlag(config.consistency),
        ...(config.token ? { token: config.token } : {}),
        ...(config.datacenter ? { dc: config.datacenter } : {}),
        ...(blocking ? { index: String(opts.index), wait: opts.wait ?? '5m' } : {}),
        ...(opts.filter !== undefined ? { filter: opts.filter } : {}),
        // The headers of an answer read by raw-get.ts (papi's are seen on its 'log' event, above).
        ...(onIndex ? { onHeaders: (h: Record<string, string>) => { const n = Number(h['x-consul-index']); if (Number.isFinite(n) && n > 0) onIndex(n); } } : {}),
        // Consul may hold a blocking query for wait + wait/16; give it that and a margin.
        timeout: blocking ? waitMs + Math.ceil(waitMs / 16) + 15_000 : 30_000,
        ctx,
      };
      let res: PapiResponse;
      let body: unknown;
      try {
        [res, body] = await fn(query);
      } catch (err) {
        throw mapError(err, endpoint, address, opts.signal);
      }
      const parsed = shape(body);
      if (!parsed.ok) {
        throw new HapilotError(ErrorCode.CONSUL_SHAPE, `Consul ${endpoint} answered an unexpected shape ${parsed.message}`);
      }
      const header = (name: string) => {
        const v = res.headers[name];
        return Array.isArray(v) ? v[0] : v;
      };
      const index = Number(header('x-consul-index'));
      const lastContact = header('x-consul-lastcontact');
      const knownLeader = header('x-consul-knownleader');
      // With ACLs on, default policy deny and no token, Consul answers 200 with everything filtered
      // out. A catalog without even the `consul` service is that: report it as the denial it is.
      if (endpoint === '/v1/catalog/services' && !config.token && header('x-consul-default-acl-policy') === 'deny'
        && typeof parsed.data === 'object' && parsed.data !== null && Object.keys(parsed.data).length === 0) {
        throw new HapilotError(ErrorCode.CONSUL_HTTP, `Consul ${endpoint} answered an empty catalog: ACLs are on (default policy deny) and no token is set, as good as HTTP 403 permission denied: ${TOKEN_ADVICE}`);
      }
      // A token without read on some instances' nodes (or services) gets them silently left out: for
      // a service hapilot balances that would empty its servers, so it is the denial it is.
      if (endpoint.startsWith('/v1/health/service/') && header('x-consul-results-filtered-by-acls') === 'true') {
        throw new HapilotError(ErrorCode.CONSUL_HTTP, `Consul ${endpoint} left out instances this token may not read (X-Consul-Results-Filtered-By-ACLs), as good as HTTP 403 permission denied: ${TOKEN_ADVICE}`);
      }
      done?.('ok');
      // Consul answers a blocking query no earlier than its wait (capped at 10 minutes) on a timeout.
      const abandoned = blocking && index === opts.index && Date.now() - startedMs < Math.min(waitMs, 600_000) - 50;
      return {
        data: parsed.data,
        index: Number.isFinite(index) ? index : 0,
        knownLeader: knownLeader === undefined ? undefined : knownLeader === 'true',
        lastContactMs: lastContact === undefined ? undefined : Number(lastContact),
        ...(abandoned ? { abandoned } : {}),
      };
    } catch (err) {
      done?.(err instanceof HapilotError && err.code === ErrorCode.ABORTED ? 'aborted' : 'error');
      throw err;
    } finally {
      if (onLog) papiEvents.removeListener('log', onLog);
      opts.signal?.removeEventListener('abort', onAbort);
    }
  }

  const raw = consul as unknown as {
    health: { service: RawCall; state: RawCall; node: RawCall };
    _get(req: Record<string, unknown>, next: (request: PapiRequest, next: (...args: unknown[]) => void) => void): Promise<[PapiResponse, unknown]>;
  };
  // The query string of a GET, as the package builds its own.
  const queryOf = (o: Record<string, unknown>) => Object.fromEntries(Object.entries({
    index: o.index, wait: o.wait, filter: o.filter, dc: o.dc,
    ...(o.consistent ? { consistent: '1' } : o.stale ? { stale: '1' } : {}),
  }).filter(([, v]) => v !== undefined).map(([k, v]) => [k, String(v)]));
  const tokenHeader = (o: Record<string, unknown>): Record<string, string> => (typeof o.token === 'string' ? { 'x-consul-token': o.token } : {});
  // A GET as the package builds its own, but with papi's `buffer`: the body is not decoded.
  // With a stream (`o.stream`), it is piped into that and the bytes returned are empty; a stream
  // that takes bytes synchronously is given them from raw-get.ts's read buffer when over http:.
  const bytesGet = (name: string, path: string, params: Record<string, unknown>): RawCall => (o) => {
    const stream = isBodyStream(o.stream) ? o.stream : undefined;
    if (rawHttp && isByteSink(stream)) return streamedGet(rawHttp, path.replace(/\{(\w+)\}/g, (_, k: string) => encodeURIComponent(String(params[k]))), stream, o);
    return raw._get({
      name, path, params, query: queryOf(o), headers: tokenHeader(o),
      ctx: o.ctx, timeout: o.timeout, ...(stream ? { pipe: stream } : { buffer: true }),
    }, (request, next) => {
      if (request.err) {
        if (stream && request.res) request.res.body = Buffer.from(stream.head());
        request.err.response = request.res;
        return next(false, request.err);
      }
      next(false, undefined, [request.res, stream ? Buffer.alloc(0) : request.res?.body ?? Buffer.alloc(0)]);
    });
  };
  const streamedGet = async (http: RawHttp, path: string, sink: ByteSink, o: Record<string, unknown>): Promise<[PapiResponse, unknown]> => {
    const ac = new AbortController();
    const ctx = o.ctx as EventEmitter;
    const cancel = () => ac.abort();
    ctx.once('cancel', cancel);
    try {
      const query = new URLSearchParams(queryOf(o)).toString();
      const onHeaders = o.onHeaders as ((h: Record<string, string>) => void) | undefined;
      const answer = await http.get(`/v1${path}${query ? `?${query}` : ''}`, { headers: tokenHeader(o), sink, signal: ac.signal, timeoutMs: Number(o.timeout), onHeaders });
      if (answer.status < 200 || answer.status >= 300) throw Object.assign(new Error(`HTTP ${answer.status}`), { statusCode: answer.status, response: { body: answer.errorBody } });
      return [{ headers: answer.headers }, Buffer.alloc(0)];
    } catch (err) {
      const e = err as { code?: string; message?: string };
      if (e.code === 'EPROTO') throw new HapilotError(ErrorCode.CONSUL_SHAPE, `Consul /v1${path} sent a ${e.message ?? 'malformed HTTP answer'}: expected an HTTP/1.1 answer (a proxy cutting the answer, or not Consul at ${address})`, { cause: err });
      throw err;
    } finally {
      ctx.removeListener('cancel', cancel);
    }
  };

  // The last unfiltered /v1/catalog/services answer. Registering an instance of an existing service
  // moves the list's index, not its bytes: an identical answer is not parsed nor checked again, and
  // is the very same object (its reader can tell it saw it already). 10,000 services: ~35 ms a change.
  let lastServices: { bytes: Buffer; data: CatalogServices } | undefined;
  const servicesFromBytes = (remember: boolean) => (body: unknown): ShapeResult<CatalogServices> => {
    if (!Buffer.isBuffer(body)) return { ok: false, message: 'at (top level): expected a body' };
    if (remember && lastServices?.bytes.equals(body)) return { ok: true, data: lastServices.data };
    let json: unknown;
    try {
      json = JSON.parse(body.toString('utf8'));
    } catch (err) {
      throw new HapilotError(ErrorCode.CONSUL_SHAPE, `Consul /v1/catalog/services answered malformed JSON (${messageOf(err).slice(0, 200)}): expected a complete JSON document (a proxy cutting the answer, or not Consul at ${address})`);
    }
    const r = servicesShape(json);
    if (r.ok && remember) lastServices = { bytes: body, data: r.data };
    return r;
  };

  return {
    address,
    catalogServices: (opts = {}) => call('/v1/catalog/services', bytesGet('catalog.services', '/catalog/services', {}), servicesFromBytes(opts.filter === undefined), {}, opts),
    healthService: (service, opts = {}) => call(`/v1/health/service/${service}`, (o) => raw.health.service(o), checkHealthEntries, { service }, opts),
    healthState: (state, opts = {}) => call(`/v1/health/state/${state}`, (o) => raw.health.state(o), checkHealthChecks, { state }, opts),
    healthNode: (node, opts = {}) => call(`/v1/health/node/${node}`, (o) => raw.health.node(o), checkHealthChecks, { node }, opts),
    healthStateBytes: (state, opts = {}) => {
      const { into, ...query } = opts;
      return call(`/v1/health/state/${state}`, (o) => bytesGet('health.state', '/health/state/{state}', { state })(into ? { ...o, stream: into } : o), bytesShape, { state }, query);
    },
    nodeDumpBytes: async (opts = {}) => {
      const { into, ...query } = opts;
      let filteredByAcls = false;
      const r = await call('/v1/internal/ui/nodes', async (o) => {
        const [res, body] = await bytesGet('internal.ui.nodes', '/internal/ui/nodes', {})(into ? { ...o, stream: into } : o);
        filteredByAcls = res.headers['x-consul-results-filtered-by-acls'] === 'true';
        return [res, body];
      }, bytesShape, {}, query);
      return { ...r, filteredByAcls };
    },
    close: () => {
      agent.destroy();
      rawHttp?.close();
    },
  };
}

const servicesShape = zodShape(CatalogServices);
const bytesShape = (body: unknown): ShapeResult<Buffer> =>
  (Buffer.isBuffer(body) ? { ok: true, data: body } : { ok: false, message: 'at (top level): expected a body' });

function consistencyFlag(c: Consistency): Record<string, boolean> {
  if (c === 'stale') return { stale: true };
  if (c === 'consistent') return { consistent: true };
  return {};
}

const TOKEN_ADVICE = 'set CONSUL_HTTP_TOKEN or CONSUL_HTTP_TOKEN_FILE to a token with read on services, nodes and the hapilot/ KV prefix';

function mapError(err: unknown, endpoint: string, address: string, signal: AbortSignal | undefined): HapilotError {
  if (err instanceof HapilotError) return err;
  const e = err as { name?: string; statusCode?: number; response?: { body?: unknown }; cause?: unknown; code?: string };
  if (signal?.aborted || e.name === 'AbortError') {
    return new HapilotError(ErrorCode.ABORTED, `${endpoint}: aborted`, { cause: err });
  }
  if (typeof e.statusCode === 'number') {
    const body = e.response?.body;
    const text = typeof body === 'string' ? body : Buffer.isBuffer(body) ? body.toString('utf8') : '';
    const firstLine = text.split('\n')[0]?.slice(0, 200) ?? '';
    if (e.statusCode === 403) {
      return new HapilotError(ErrorCode.CONSUL_HTTP, `Consul ${endpoint} answered HTTP 403${firstLine ? ` (${firstLine})` : ''}: the ACL token is missing, unknown or lacks permission: ${TOKEN_ADVICE}`, { cause: err });
    }
    return new HapilotError(ErrorCode.CONSUL_HTTP, `Consul ${endpoint} answered HTTP ${e.statusCode}${firstLine ? `: ${firstLine}` : ''}`, { cause: err });
  }
  const cause = e.cause as { code?: string; message?: string } | undefined;
  // papi failed to decode the body (truncated or not JSON): Consul answered, and what it said is bad.
  if (e.cause instanceof SyntaxError || /^decode \(/.test(messageOf(err))) {
    return new HapilotError(ErrorCode.CONSUL_SHAPE, `Consul ${endpoint} answered malformed JSON (${messageOf(err).slice(0, 200)}): expected a complete JSON document (a proxy cutting the answer, or not Consul at ${address})`, { cause: err });
  }
  const detail = cause?.code ?? e.code ?? messageOf(err);
  return new HapilotError(ErrorCode.CONSUL_UNREACHABLE, `Consul at ${address} is unreachable (${detail}): check --consul or CONSUL_HTTP_ADDR`, { cause: err });
}
