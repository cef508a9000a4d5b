// A load generator that times each request from connect() to the last byte (wrk starts its clock
// after connect, so it cannot see a dropped SYN's ~1 s retransmit), and classifies every failure:
// refused, reset, timeout, non-2xx. Two modes: a new connection per request (`close`), and
// persistent connections (`keepalive`) that reconnect when the server closes them cleanly.
import net from 'node:net';

export type LoadMode = 'close' | 'keepalive';

export interface LoadOptions {
  port: number;
  hostHeader: string;
  concurrency: number;
  mode: LoadMode;
  timeoutMs?: number;
  /** Pause between a worker's requests (0: as fast as possible). */
  thinkMs?: number;
}

export interface LoadStats {
  requests: number;
  ok: number;
  refused: number;
  reset: number;
  timeout: number;
  non2xx: number;
  other: number;
  latenciesMs: number[];
}

export function emptyStats(): LoadStats {
  return { requests: 0, ok: 0, refused: 0, reset: 0, timeout: 0, non2xx: 0, other: 0, latenciesMs: [] };
}

export function failures(s: LoadStats): number {
  return s.refused + s.reset + s.timeout + s.non2xx + s.other;
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

function classify(stats: LoadStats, err: NodeJS.ErrnoException | 'timeout'): void {
  if (err === 'timeout') stats.timeout++;
  else if (err.code === 'ECONNREFUSED') stats.refused++;
  else if (err.code === 'ECONNRESET' || err.code === 'EPIPE' || err.code === 'ERR_PREMATURE_CLOSE') stats.reset++;
  else stats.other++;
}

/** One request on a new connection; resolves when done (never rejects). */
function oneShot(o: Required<LoadOptions>, stats: LoadStats): Promise<void> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    let done = false;
    let data = '';
    const sock = net.connect({ port: o.port, host: '127.0.0.1' });
    const finish = (err?: NodeJS.ErrnoException | 'timeout') => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      stats.requests++;
      if (err) classify(stats, err);
      else {
        const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(data)?.[1]);
        if (status >= 200 && status < 300) {
          stats.ok++;
          stats.latenciesMs.push(performance.now() - t0);
        } else if (data.length === 0) stats.reset++; // closed without a byte
        else stats.non2xx++;
      }
      resolve();
    };
    const timer = setTimeout(() => finish('timeout'), o.timeoutMs);
    sock.setNoDelay(true);
    sock.on('connect', () => sock.write(`GET / HTTP/1.1\r\nHost: ${o.hostHeader}\r\nConnection: close\r\n\r\n`));
    sock.on('data', (c: Buffer) => { data += c.toString('latin1'); });
    sock.on('end', () => finish());
    sock.on('error', (e) => finish(e));
  });
}

/** A persistent connection sending requests back to back; reconnects when the server closes cleanly. */
class KeepAliveClient {
  #sock: net.Socket | undefined;
  #buf = '';
  #pending: ((r: { status: number; close: boolean } | NodeJS.ErrnoException | 'timeout') => void) | undefined;
  #expect: number | undefined;
  #headerEnd = -1;
  #status = 0;
  #close = false;

  constructor(readonly o: Required<LoadOptions>) {}

  #connect(): Promise<void> {
    return new Promise((resolve, reject) => {
      const sock = net.connect({ port: this.o.port, host: '127.0.0.1' });
      sock.setNoDelay(true);
      sock.once('connect', () => { sock.off('error', reject); resolve(); });
      sock.once('error', reject);
      sock.on('data', (c: Buffer) => this.#onData(c));
      sock.on('error', (e) => this.#fail(e));
      sock.on('close', () => {
        if (this.#sock === sock) this.#sock = undefined;
        this.#fail(Object.assign(new Error('closed'), { code: 'ECONNRESET' }));
      });
      this.#sock = sock;
      this.#buf = '';
    });
  }

  #fail(e: NodeJS.ErrnoException): void {
    const p = this.#pending;
    this.#pending = undefined;
    p?.(e);
  }

  #onData(c: Buffer): void {
    this.#buf += c.toString('latin1');
    if (this.#headerEnd < 0) {
      this.#headerEnd = this.#buf.indexOf('\r\n\r\n');
      if (this.#headerEnd < 0) return;
      const head = this.#buf.slice(0, this.#headerEnd);
      this.#status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1]);
      this.#expect = Number(/\r\ncontent-length:\s*(\d+)/i.exec(head)?.[1] ?? 0);
      this.#close = /\r\nconnection:\s*close/i.test(head);
    }
    if (this.#buf.length - (this.#headerEnd + 4) >= (this.#expect ?? 0)) {
      const p = this.#pending;
      this.#pending = undefined;
      this.#buf = '';
      this.#headerEnd = -1;
      p?.({ status: this.#status, close: this.#close });
    }
  }

  async request(stats: LoadStats): Promise<void> {
    const t0 = performance.now();
    try {
      if (!this.#sock) {
        // The connect counts against the same timeout (a dropped SYN is retried for minutes).
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([
          this.#connect(),
          new Promise<never>((_, reject) => { timer = setTimeout(() => reject(Object.assign(new Error('timeout'), { code: 'ETIMEDOUT' })), this.o.timeoutMs); }),
        ]).finally(() => clearTimeout(timer));
      }
    } catch (e) {
      stats.requests++;
      if ((e as NodeJS.ErrnoException).code === 'ETIMEDOUT') {
        stats.timeout++;
        this.#sock?.destroy();
        this.#sock = undefined;
      } else classify(stats, e as NodeJS.ErrnoException);
      return;
    }
    const sock = this.#sock!;
    const result = await new Promise<{ status: number; close: boolean } | NodeJS.ErrnoException | 'timeout'>((resolve) => {
      const timer = setTimeout(() => { this.#pending = undefined; resolve('timeout'); }, Math.max(1, this.o.timeoutMs - (performance.now() - t0)));
      this.#pending = (r) => { clearTimeout(timer); resolve(r); };
      this.#headerEnd = -1;
      sock.write(`GET / HTTP/1.1\r\nHost: ${this.o.hostHeader}\r\n\r\n`);
    });
    stats.requests++;
    if (result === 'timeout' || result instanceof Error) {
      classify(stats, result);
      sock.destroy();
      this.#sock = undefined;
      return;
    }
    if (result.status >= 200 && result.status < 300) {
      stats.ok++;
      stats.latenciesMs.push(performance.now() - t0);
    } else stats.non2xx++;
    if (result.close) {
      // A clean close announced in the response (idle-close-on-response): reconnect next time.
      sock.removeAllListeners('close');
      sock.destroy();
      this.#sock = undefined;
    }
  }

  close(): void {
    this.#sock?.removeAllListeners('close');
    this.#sock?.destroy();
  }
}

/** Runs until `signal` aborts; returns the statistics. */
export async function runLoad(opts: LoadOptions, signal: AbortSignal): Promise<LoadStats> {
  const o: Required<LoadOptions> = { timeoutMs: 5000, thinkMs: 0, ...opts };
  const stats = emptyStats();
  const workers = Array.from({ length: o.concurrency }, async () => {
    const ka = o.mode === 'keepalive' ? new KeepAliveClient(o) : undefined;
    while (!signal.aborted) {
      if (ka) await ka.request(stats);
      else await oneShot(o, stats);
      if (o.thinkMs) await new Promise((r) => setTimeout(r, o.thinkMs));
    }
    ka?.close();
  });
  await Promise.all(workers);
  return stats;
}
