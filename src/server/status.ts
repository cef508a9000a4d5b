// The status server: / (the status page, src/server/page.ts), /healthz, /ready, /status, /metrics.
// It reads the daemon's state and changes nothing. Binds loopback unless told otherwise.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { ErrorCode, HapilotError } from '../errors.js';
import type { Logger } from '../log.js';
import { writeJson, writeParts, type PieceSink } from '../util/piece-writer.js';

export interface StatusProvider {
  ready(): Promise<{ ready: boolean; reason: string }>;
  /** `only`: the backends asked for (`?backend=` repeated); undefined for all. */
  status(only?: ReadonlySet<string>): Promise<object>;
  /** The status page, in parts rendered as they are taken. */
  page(only?: ReadonlySet<string>): Promise<Iterable<string>>;
  metrics(): Promise<{ contentType: string; body: string }>;
}

/** Parses `HOST:PORT` (`[::1]:9105` for IPv6). `shown` names the input in the error (flag or environment variable, and the value). */
export function parseListen(raw: string, shown = `--status-listen ${JSON.stringify(raw)}`): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(raw);
  const port = Number(m?.[3]);
  if (!m || port > 65535) {
    throw new HapilotError(ErrorCode.USAGE, `${shown} is invalid: expected HOST:PORT such as 127.0.0.1:9105 or [::1]:9105`);
  }
  return { host: m[1] ?? m[2] ?? '127.0.0.1', port };
}

/** A response as a sink of pieces: each waits for the response to drain; one gone client takes no more. */
function responseSink(res: http.ServerResponse): PieceSink {
  return {
    write: (piece) => new Promise<void>((resolve) => {
      if (res.destroyed || res.write(piece)) return resolve();
      const done = () => {
        res.off('drain', done);
        res.off('close', done);
        resolve();
      };
      res.on('drain', done);
      res.on('close', done);
    }),
  };
}

export async function startStatusServer({ listen, provider, log, shown = `--status-listen ${JSON.stringify(listen)}` }: { listen: string; provider: StatusProvider; log: Logger; shown?: string }): Promise<{ server: http.Server; url: string; close: () => Promise<void> }> {
  const { host, port } = parseListen(listen, shown);
  const server = http.createServer((req, res) => {
    const send = (status: number, type: string, body: string) => {
      // Encoded once: `end` of a string measures it and then encodes it (the 65 MB /status of
      // 10,000 services: 350 ms each).
      const bytes = Buffer.from(body, 'utf8');
      res.writeHead(status, { 'content-type': type, 'content-length': bytes.length, 'cache-control': 'no-store' });
      res.end(bytes);
    };
    const url = new URL(req.url ?? '/', 'http://status');
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'text/plain', 'method not allowed\n');
    // `?backend=NAME` (repeatable): only those backends on the page and in /status. At 10,000
    // services the whole /status is 65 MB; `pool --wait` asks for the backends it verifies.
    const asked = url.searchParams.getAll('backend');
    const only = asked.length ? new Set(asked) : undefined;
    void (async () => {
      switch (url.pathname) {
        case '/': {
          // Written in parts as they are rendered: never one 48 MB string.
          const parts = await provider.page(only);
          res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
          await writeParts(responseSink(res), parts);
          res.end();
          return;
        }
        case '/healthz':
          return send(200, 'text/plain', 'ok\n');
        case '/ready': {
          const r = await provider.ready();
          return send(r.ready ? 200 : 503, 'text/plain', `${r.reason}\n`);
        }
        case '/status': {
          // Written in pieces as it is made (src/util/piece-writer.ts): never one 65 MB string.
          const doc = await provider.status(only);
          res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
          await writeJson(responseSink(res), doc);
          res.end('\n');
          return;
        }
        case '/metrics': {
          const m = await provider.metrics();
          return send(200, m.contentType, m.body);
        }
        default:
          return send(404, 'text/plain', 'not found: try /, /healthz, /ready, /status, /metrics\n');
      }
    })().catch((err: unknown) => {
      log.error({ err: String(err), path: url.pathname }, 'status request failed');
      if (!res.headersSent) send(500, 'text/plain', 'internal error\n');
      else res.destroy(); // cut short: the client sees a broken answer, not a complete-looking one
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => reject(new HapilotError(ErrorCode.USAGE,
      `${shown} cannot be listened on (${err.code ?? err.message}): expected an address of this machine and a port no other process uses`, { cause: err })));
    server.listen(port, host, () => resolve());
  });
  const addr = server.address() as AddressInfo;
  const url = `http://${addr.family === 'IPv6' ? `[${addr.address}]` : addr.address}:${addr.port}`;
  return { server, url, close: () => new Promise((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }) };
}
