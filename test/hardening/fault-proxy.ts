// A tiny HTTP fault injector in front of the Consul simulator: it forwards requests, or answers
// with a status, a delay, a body cut short (complete HTTP, truncated JSON), or a connection that hangs
// and is then reset (what a client timeout looks like from the other side).
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export type Fault =
  | { kind: 'pass' }
  | { kind: 'status'; status: number; body: string }
  | { kind: 'delay'; ms: number }
  | { kind: 'truncate' }
  | { kind: 'hang-reset'; ms: number };

export class FaultProxy {
  fault: Fault = { kind: 'pass' };
  requests = 0;
  #server: http.Server | undefined;
  #upstream: URL;

  constructor(upstream: string) {
    this.#upstream = new URL(upstream);
  }

  get url(): string {
    const a = this.#server?.address() as AddressInfo | undefined;
    return `http://127.0.0.1:${a?.port ?? 0}`;
  }

  async start(): Promise<void> {
    this.#server = http.createServer((req, res) => {
      this.requests++;
      const fault = this.fault;
      if (fault.kind === 'status') {
        res.writeHead(fault.status, { 'content-type': 'text/plain' });
        res.end(fault.body);
        return;
      }
      if (fault.kind === 'hang-reset') {
        setTimeout(() => req.socket.destroy(), fault.ms);
        return;
      }
      const forward = () => {
        const up = http.request({ host: this.#upstream.hostname, port: this.#upstream.port, path: req.url, method: req.method, headers: req.headers }, (upRes) => {
          const chunks: Buffer[] = [];
          upRes.on('data', (c: Buffer) => chunks.push(c));
          upRes.on('end', () => {
            let body = Buffer.concat(chunks);
            if (fault.kind === 'truncate' && body.length > 1) body = body.subarray(0, Math.floor(body.length / 2));
            const headers = { ...upRes.headers, 'content-length': String(body.length) };
            delete headers['transfer-encoding'];
            res.writeHead(upRes.statusCode ?? 502, headers);
            res.end(body);
          });
        });
        up.on('error', () => req.socket.destroy());
        req.pipe(up);
      };
      if (fault.kind === 'delay') setTimeout(forward, fault.ms);
      else forward();
    });
    await new Promise<void>((resolve) => this.#server?.listen(0, '127.0.0.1', resolve));
  }

  async stop(): Promise<void> {
    this.#server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.#server ? this.#server.close(() => resolve()) : resolve()));
  }
}
