// The soak bench's load: workers sending GETs through HAProxy to 127.0.0.1 only, each paced by a
// pause between requests (bounded rate), either on a new connection per request or on one kept-alive
// connection. Every answer is recorded with what the backend said about itself, so failures can be
// classified afterwards (see soak-classify.ts).
import http from 'node:http';

export type SoakMode = 'close' | 'keepalive';

export interface Outcome {
  /** When the request started and when its answer (or failure) came (ms since epoch). */
  t: number;
  end: number;
  mode: SoakMode;
  service: string;
  /** HTTP status, or 0 when there was no response. */
  status: number;
  /** Error code when there was no response (ECONNREFUSED, ECONNRESET, timeout). */
  error?: string;
  /** `x-soak-backend` (service/id) of the backend that answered, if one did. */
  backend?: string;
  /** `x-soak-state` of that backend (critical, draining). */
  state?: string;
  /** How long that backend had been in that state (ms). */
  stateAgeMs?: number;
}

export interface LoadTotals {
  requests: number;
  ok: number;
  byMode: Record<SoakMode, number>;
  /** Every answer that was not a plain 200 from the right service's healthy backend. */
  notable: Outcome[];
  /** Answers from a draining backend (200, fine; their age is a staleness figure). */
  drainingServed: number;
  drainingMaxAgeMs: number;
}

export interface LoadOptions {
  port: number;
  services: string[];
  domain: string;
  workers: number;
  mode: SoakMode;
  thinkMs: number;
  timeoutMs?: number;
}

export function emptyTotals(): LoadTotals {
  return { requests: 0, ok: 0, byMode: { close: 0, keepalive: 0 }, notable: [], drainingServed: 0, drainingMaxAgeMs: 0 };
}

function request(o: LoadOptions, agent: http.Agent | false, service: string): Promise<Omit<Outcome, 't' | 'end' | 'mode' | 'service'>> {
  return new Promise((resolve) => {
    let settled = false;
    const done = (r: Omit<Outcome, 't' | 'end' | 'mode' | 'service'>) => {
      if (!settled) {
        settled = true;
        resolve(r);
      }
    };
    const req = http.request({
      host: '127.0.0.1', port: o.port, path: '/', agent,
      headers: { host: `${service}.${o.domain}`, ...(agent === false ? { connection: 'close' } : {}) },
      timeout: o.timeoutMs ?? 5000,
    }, (res) => {
      res.resume();
      res.on('end', () => {
        const since = Number(res.headers['x-soak-since']);
        done({
          status: res.statusCode ?? 0,
          backend: res.headers['x-soak-backend'] as string | undefined,
          state: res.headers['x-soak-state'] as string | undefined,
          ...(since ? { stateAgeMs: Date.now() - since } : {}),
        });
      });
      res.on('error', (e: NodeJS.ErrnoException) => done({ status: 0, error: e.code ?? e.message }));
    });
    req.on('timeout', () => {
      req.destroy();
      done({ status: 0, error: 'timeout' });
    });
    req.on('error', (e: NodeJS.ErrnoException) => done({ status: 0, error: e.code ?? e.message }));
    req.end();
  });
}

/** Runs the workers until `signal` aborts; `totals` is updated as answers come. */
export async function runSoakLoad(o: LoadOptions, totals: LoadTotals, signal: AbortSignal): Promise<void> {
  const workers = Array.from({ length: o.workers }, async (_, w) => {
    const agent = o.mode === 'keepalive' ? new http.Agent({ keepAlive: true, maxSockets: 1 }) : false;
    let n = w;
    while (!signal.aborted) {
      const service = o.services[n++ % o.services.length]!;
      const t = Date.now();
      const r = await request(o, agent, service);
      totals.requests++;
      totals.byMode[o.mode]++;
      const right = r.backend?.startsWith(`${service}/`) ?? false;
      if (r.status === 200 && right && r.state === undefined) totals.ok++;
      else if (r.status === 200 && right && r.state === 'draining') {
        totals.ok++;
        totals.drainingServed++;
        totals.drainingMaxAgeMs = Math.max(totals.drainingMaxAgeMs, r.stateAgeMs ?? 0);
      } else totals.notable.push({ ...r, t, end: Date.now(), mode: o.mode, service });
      if (o.thinkMs) await new Promise((res) => setTimeout(res, o.thinkMs));
    }
    if (agent) agent.destroy();
  });
  await Promise.all(workers);
}
