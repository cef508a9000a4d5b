// Backends for the soak bench: real HTTP servers on loopback that know their own state, so a failed
// request can be told apart from one that reached an instance the churn had just made critical.
// - `ok`: 200, `x-soak-backend: <service>/<id>`;
// - `critical`: the churn flipped its Consul check to critical: 500 with `x-soak-state: critical`
//   and `x-soak-since` (ms timestamp of the flip), as a broken instance whose check caught it;
// - `draining`: deregistered, still serving for a grace period: 200 with `x-soak-state: draining`;
// - closed: the server really went away (crash, or the end of a drain).
import http from 'node:http';
import type net from 'node:net';

export type BackendState = 'ok' | 'critical' | 'draining';

export class SoakBackend {
  state: BackendState = 'ok';
  /** When the state last changed (ms since the epoch). */
  since = Date.now();
  closed = false;
  readonly #server: http.Server;
  #port = 0;

  constructor(readonly service: string, readonly id: string) {
    this.#server = http.createServer((req, res) => {
      req.resume();
      const headers: Record<string, string> = { 'content-type': 'text/plain', 'x-soak-backend': `${service}/${id}` };
      if (this.state !== 'ok') {
        headers['x-soak-state'] = this.state;
        headers['x-soak-since'] = String(this.since);
      }
      res.writeHead(this.state === 'critical' ? 500 : 200, headers);
      res.end(this.state === 'critical' ? 'critical\n' : 'ok\n');
    });
    this.#server.keepAliveTimeout = 5000;
  }

  get port(): number {
    return this.#port;
  }

  async listen(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(0, '127.0.0.1', () => resolve());
    });
    this.#port = (this.#server.address() as net.AddressInfo).port;
  }

  setState(state: BackendState): void {
    this.state = state;
    this.since = Date.now();
  }

  /** Goes away at once: the listener closes and open connections are cut. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}

/** Every backend the bench started, so that each one is closed on every exit path. */
export class BackendSet {
  readonly #all = new Set<SoakBackend>();

  async start(service: string, id: string): Promise<SoakBackend> {
    const b = new SoakBackend(service, id);
    this.#all.add(b);
    await b.listen();
    return b;
  }

  async close(b: SoakBackend): Promise<void> {
    await b.close();
    this.#all.delete(b);
  }

  get size(): number {
    return this.#all.size;
  }

  async closeAll(): Promise<void> {
    await Promise.all([...this.#all].map((b) => b.close()));
    this.#all.clear();
  }
}
