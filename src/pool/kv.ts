// Consul KV for pool records: list a prefix (blocking queries), read a key, write with
// check-and-set. A small adapter of its own (src/consul/client.ts has no KV), configured from the
// same ConsulConfig (address, TLS, token, consistency, datacenter) and returning the same
// QueryResult, so the blocking-query loop in src/consul/blocking-query.ts drives it unchanged.
// https://developer.hashicorp.com/consul/api-docs/kv
import http from 'node:http';
import https from 'node:https';
import { z } from 'zod';
import { ErrorCode, HapilotError, messageOf } from '../errors.js';
import { parseDurationMs } from '../util/duration.js';
import type { ConsulConfig } from '../consul/config.js';
import type { QueryOptions, QueryResult } from '../consul/client.js';
import { describeZodError } from '../consul/schemas.js';
import type { KvPair } from './table.js';

const KvEntry = z.looseObject({
  Key: z.string(),
  /** Base64; null for a key written without a value. */
  Value: z.string().nullable(),
  ModifyIndex: z.number().int().nonnegative(),
});
const KvEntries = z.array(KvEntry);

export interface KvApi {
  readonly address: string;
  /** Every pair under the prefix (`?recurse`); none is an empty list (Consul answers 404). */
  list(prefix: string, opts?: QueryOptions): Promise<QueryResult<KvPair[]>>;
  /** One key, or undefined when it does not exist. */
  get(key: string, opts?: QueryOptions): Promise<QueryResult<KvPair | undefined>>;
  /**
   * Writes only if the key's ModifyIndex is still `index` (0: only if the key does not exist).
   * false: someone else wrote it since it was read.
   */
  cas(key: string, value: string, index: number): Promise<boolean>;
  close(): void;
}

function encodeKey(key: string): string {
  return key.split('/').map(encodeURIComponent).join('/');
}

export function createKvClient(config: ConsulConfig): KvApi {
  const secure = config.url.protocol === 'https:';
  const agent = secure
    ? new https.Agent({ keepAlive: true, ca: config.ca, cert: config.cert, key: config.key, rejectUnauthorized: config.verify })
    : new http.Agent({ keepAlive: true });
  const address = config.url.toString().replace(/\/$/, '');

  function request(method: 'GET' | 'PUT', key: string, query: URLSearchParams, opts: QueryOptions, body?: string): Promise<{ status: number; headers: http.IncomingHttpHeaders; text: string }> {
    const blocking = opts.index !== undefined && opts.index > 0;
    if (config.datacenter) query.set('dc', config.datacenter);
    if (method === 'GET' && config.consistency === 'stale') query.set('stale', '');
    if (method === 'GET' && config.consistency === 'consistent') query.set('consistent', '');
    let waitMs = 0;
    if (blocking) {
      const wait = opts.wait ?? '5m';
      const parsed = parseDurationMs(wait);
      if (parsed === undefined) throw new HapilotError(ErrorCode.USAGE, `wait ${JSON.stringify(wait)} is invalid: expected a duration such as 30s or 5m`);
      waitMs = parsed;
      query.set('index', String(opts.index));
      query.set('wait', wait);
    }
    // Consul may hold a blocking query for wait + wait/16; give it that and a margin.
    const timeoutMs = blocking ? waitMs + Math.ceil(waitMs / 16) + 15_000 : 30_000;
    const qs = query.toString().replace(/=(&|$)/g, '$1');
    const url = new URL(`/v1/kv/${encodeKey(key)}${qs ? `?${qs}` : ''}`, config.url);
    const endpoint = `${method} /v1/kv/${key}`;
    return new Promise((resolve, reject) => {
      if (opts.signal?.aborted) return reject(new HapilotError(ErrorCode.ABORTED, `${endpoint}: aborted`));
      const headers: Record<string, string> = {};
      if (config.token) headers['X-Consul-Token'] = config.token;
      if (body !== undefined) headers['Content-Length'] = String(Buffer.byteLength(body));
      const req = (secure ? https : http).request(url, { method, agent, headers, signal: opts.signal, timeout: timeoutMs }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', (err) => reject(mapError(err, endpoint, address, opts.signal)));
      });
      req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
      req.on('error', (err) => reject(mapError(err, endpoint, address, opts.signal)));
      req.end(body);
    });
  }

  function meta(headers: http.IncomingHttpHeaders): Omit<QueryResult<unknown>, 'data'> {
    const h = (name: string) => {
      const v = headers[name];
      return Array.isArray(v) ? v[0] : v;
    };
    const index = Number(h('x-consul-index'));
    const known = h('x-consul-knownleader');
    const contact = h('x-consul-lastcontact');
    return { index: Number.isFinite(index) ? index : 0, knownLeader: known === undefined ? undefined : known === 'true', lastContactMs: contact === undefined ? undefined : Number(contact) };
  }

  async function read(key: string, recurse: boolean, opts: QueryOptions): Promise<QueryResult<KvPair[]>> {
    const query = new URLSearchParams();
    if (recurse) query.set('recurse', '');
    const res = await request('GET', key, query, opts);
    const endpoint = `/v1/kv/${key}`;
    if (res.status === 404) return { data: [], ...meta(res.headers) };
    if (res.status !== 200) throw httpError(endpoint, res.status, res.text);
    let json: unknown;
    try {
      json = JSON.parse(res.text);
    } catch {
      throw new HapilotError(ErrorCode.CONSUL_SHAPE, `Consul ${endpoint} answered something that is not JSON`);
    }
    const parsed = KvEntries.safeParse(json);
    if (!parsed.success) throw new HapilotError(ErrorCode.CONSUL_SHAPE, `Consul ${endpoint} answered an unexpected shape ${describeZodError(parsed.error)}`);
    const data = parsed.data.map((e) => ({ key: e.Key, value: e.Value === null ? null : Buffer.from(e.Value, 'base64').toString('utf8'), modifyIndex: e.ModifyIndex }));
    return { data, ...meta(res.headers) };
  }

  return {
    address,
    list: (prefix, opts = {}) => read(prefix.endsWith('/') ? prefix : `${prefix}/`, true, opts),
    get: async (key, opts = {}) => {
      const r = await read(key, false, opts);
      return { ...r, data: r.data.find((p) => p.key === key) };
    },
    cas: async (key, value, index) => {
      const res = await request('PUT', key, new URLSearchParams({ cas: String(index) }), {}, value);
      if (res.status !== 200) throw httpError(`/v1/kv/${key}`, res.status, res.text);
      const answer = res.text.trim();
      if (answer !== 'true' && answer !== 'false') throw new HapilotError(ErrorCode.CONSUL_SHAPE, `Consul PUT /v1/kv/${key} answered ${JSON.stringify(answer.slice(0, 60))}: expected true or false`);
      return answer === 'true';
    },
    close: () => agent.destroy(),
  };
}

function httpError(endpoint: string, status: number, text: string): HapilotError {
  const firstLine = text.split('\n')[0]?.slice(0, 200) ?? '';
  return new HapilotError(ErrorCode.CONSUL_HTTP, `Consul ${endpoint} answered HTTP ${status}${firstLine ? `: ${firstLine}` : ''}`);
}

function mapError(err: unknown, endpoint: string, address: string, signal: AbortSignal | undefined): HapilotError {
  if (err instanceof HapilotError) return err;
  if (signal?.aborted || (err as { name?: string }).name === 'AbortError') return new HapilotError(ErrorCode.ABORTED, `${endpoint}: aborted`, { cause: err });
  const code = (err as { code?: string }).code;
  return new HapilotError(ErrorCode.CONSUL_UNREACHABLE, `Consul at ${address} is unreachable (${code ?? messageOf(err)}): check --consul or CONSUL_HTTP_ADDR`, { cause: err });
}
