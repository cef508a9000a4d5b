// A plain-HTTP GET whose body is handed to a sink straight from one reused read buffer. Node's HTTP
// client gives each socket read a buffer of its own: the checks list, 32 MB at 10,000 services ×
// 10 and read again on every change, arrived in ~500 of them per change, and receiving it cost a
// Node process 21–40 ms of CPU against ~5 ms read into one buffer (the socket's `onread`). Used for
// the answers read as they arrive (the checks list, the startup's node dump) over http: (https:
// stays with the Consul package's client). HTTP/1.1, a body framed by Content-Length, chunked, or
// the connection's end; keep-alive, one idle socket.
import net from 'node:net';

/** Takes the body as it arrives. `bytes` is valid during the call only (the read buffer is reused). */
export interface ByteSink {
  accept(bytes: Buffer): void;
}

export interface RawAnswer {
  status: number;
  /** Lower-case names; a repeated header keeps its first value. */
  headers: Record<string, string>;
  /** The first 4 KB of the body when the status is not 2xx (it is not given to the sink). */
  errorBody: Buffer;
}

export interface RawGetOptions {
  headers: Record<string, string>;
  sink: ByteSink;
  signal?: AbortSignal | undefined;
  timeoutMs: number;
  /** Called when the headers are in, before any of the body. */
  onHeaders?: ((headers: Record<string, string>) => void) | undefined;
}

const READ_BUFFER = 64 * 1024;
const MAX_HEAD = 64 * 1024;
const ERROR_BODY = 4096;
const LF = 0x0a;
const HEAD_END = Buffer.from('\r\n\r\n');

/** An error with the `code` the Consul client's error mapping reads (ECONNRESET, ETIMEDOUT, …). */
function netError(code: string, message: string): Error & { code: string } {
  return Object.assign(new Error(message), { code });
}

type Framing = { kind: 'length'; left: number } | { kind: 'chunked'; left: number; state: 'size' | 'data' | 'data-end' | 'trailer' } | { kind: 'close' };

/** One response being read: the head, then the body by its framing. */
class ResponseReader {
  head: Buffer | undefined = Buffer.alloc(0);
  answer: RawAnswer | undefined;
  framing: Framing | undefined;
  keepAlive = true;
  done = false;
  /** A chunk-size or trailer line not yet complete. */
  #line = '';

  constructor(private readonly o: RawGetOptions) {}

  /** Takes bytes [0, n) of `buf`; returns whether the response is complete. Throws on a malformed response. */
  take(buf: Buffer, n: number): boolean {
    let at = 0;
    if (this.head !== undefined) {
      const head: Buffer = Buffer.concat([this.head, buf.subarray(0, n)]);
      const end = head.indexOf(HEAD_END);
      if (end < 0) {
        if (head.length > MAX_HEAD) throw new Error(`response head over ${MAX_HEAD} bytes`);
        this.head = head;
        return false;
      }
      at = n - (head.length - (end + 4));
      this.head = undefined;
      this.#parseHead(head.toString('latin1', 0, end));
      if (this.answer === undefined) { this.head = Buffer.alloc(0); return this.take(buf.subarray(at), n - at); } // 1xx: the real answer follows
      this.o.onHeaders?.(this.answer.headers);
      if (this.framing?.kind === 'length' && this.framing.left === 0) return (this.done = true);
    }
    while (at < n && !this.done) at = this.#body(buf, at, n);
    return this.done;
  }

  #parseHead(text: string): void {
    const lines = text.split('\r\n');
    const status = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '');
    if (!status) throw new Error(`not an HTTP/1.x status line: ${JSON.stringify((lines[0] ?? '').slice(0, 80))}`);
    const code = Number(status[1]);
    if (code >= 100 && code < 200) return;
    const headers: Record<string, string> = {};
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(':');
      if (colon <= 0) continue;
      const name = line.slice(0, colon).trim().toLowerCase();
      if (!(name in headers)) headers[name] = line.slice(colon + 1).trim();
    }
    this.answer = { status: code, headers, errorBody: Buffer.alloc(0) };
    if (/close/i.test(headers.connection ?? '') || !lines[0]?.startsWith('HTTP/1.1')) this.keepAlive = false;
    if (/chunked/i.test(headers['transfer-encoding'] ?? '')) this.framing = { kind: 'chunked', left: 0, state: 'size' };
    else if (headers['content-length'] !== undefined) {
      const left = Number(headers['content-length']);
      if (!Number.isSafeInteger(left) || left < 0) throw new Error(`Content-Length ${JSON.stringify(headers['content-length'])} is not a length`);
      this.framing = { kind: 'length', left };
    } else {
      this.framing = { kind: 'close' };
      this.keepAlive = false;
    }
  }

  #deliver(bytes: Buffer): void {
    const a = this.answer as RawAnswer;
    if (a.status >= 200 && a.status < 300) this.o.sink.accept(bytes);
    else if (a.errorBody.length < ERROR_BODY) a.errorBody = Buffer.concat([a.errorBody, bytes.subarray(0, ERROR_BODY - a.errorBody.length)]);
  }

  /** Reads body bytes from `at`; returns the next offset. */
  #body(buf: Buffer, at: number, n: number): number {
    const f = this.framing as Framing;
    if (f.kind === 'close') {
      this.#deliver(buf.subarray(at, n));
      return n;
    }
    if (f.kind === 'length' || f.state === 'data') {
      const take = Math.min(n - at, f.left);
      this.#deliver(buf.subarray(at, at + take));
      f.left -= take;
      if (f.left === 0) {
        if (f.kind === 'length') this.done = true;
        else f.state = 'data-end';
      }
      return at + take;
    }
    // chunked: a size line, the data's CRLF, or the trailer lines up to an empty one.
    // Within the bytes read: past `n` the reused buffer holds an earlier read's.
    const found = buf.subarray(at, n).indexOf(LF);
    if (found < 0) {
      this.#line += buf.toString('latin1', at, n);
      if (this.#line.length > 4096) throw new Error('chunked body: a line over 4 KB');
      return n;
    }
    const eol = at + found;
    const line = (this.#line + buf.toString('latin1', at, eol)).replace(/\r$/, '');
    this.#line = '';
    if (f.state === 'data-end') {
      if (line !== '') throw new Error('chunked body: a chunk longer than its size');
      f.state = 'size';
    } else if (f.state === 'size') {
      const size = Number.parseInt(line.split(';')[0]?.trim() ?? '', 16);
      if (!/^[0-9a-fA-F]+/.test(line) || !Number.isSafeInteger(size)) throw new Error(`chunked body: chunk size ${JSON.stringify(line.slice(0, 40))}`);
      if (size === 0) f.state = 'trailer';
      else { f.left = size; f.state = 'data'; }
    } else if (line === '') this.done = true; // the trailer's end
    return eol + 1;
  }
}

export class RawHttp {
  readonly #host: string;
  readonly #port: number;
  readonly #buffer = Buffer.allocUnsafeSlow(READ_BUFFER);
  #idle: net.Socket | undefined;
  /** Each socket's handler of its reads (set while a request is on it). */
  readonly #onRead = new WeakMap<net.Socket, (n: number) => void>();

  constructor(host: string, port: number) {
    this.#host = host;
    this.#port = port;
  }

  /** GET `pathAndQuery`; the body goes to `o.sink` as it arrives. Resolves once it has all arrived. */
  async get(pathAndQuery: string, o: RawGetOptions): Promise<RawAnswer> {
    const reused = this.#idle;
    this.#idle = undefined;
    try {
      return await this.#once(reused?.ref() ?? this.#connect(), pathAndQuery, o, reused !== undefined);
    } catch (err) {
      // A kept-alive socket the server had closed meanwhile: nothing was answered, ask on a new one.
      if (reused && (err as { retry?: boolean }).retry && !o.signal?.aborted) return this.#once(this.#connect(), pathAndQuery, o, false);
      throw err;
    }
  }

  close(): void {
    this.#idle?.destroy();
    this.#idle = undefined;
  }

  #connect(): net.Socket {
    const socket: net.Socket = net.connect({
      host: this.#host, port: this.#port, noDelay: true,
      onread: {
        buffer: this.#buffer,
        callback: (n: number) => {
          const onRead = this.#onRead.get(socket);
          // Bytes on a socket no request is reading (past an answer's end): it cannot be trusted again.
          if (onRead) onRead(n);
          else socket.destroy();
          return true;
        },
      },
    });
    // An idle socket's end or error only retires it.
    socket.on('error', () => undefined);
    socket.on('close', () => { if (this.#idle === socket) this.#idle = undefined; });
    return socket;
  }

  #once(socket: net.Socket, pathAndQuery: string, o: RawGetOptions, reused: boolean): Promise<RawAnswer> {
    return new Promise<RawAnswer>((resolve, reject) => {
      const reader = new ResponseReader(o);
      let received = false;
      let settled = false;
      const finish = (err: Error | undefined) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        o.signal?.removeEventListener('abort', onAbort);
        socket.removeListener('error', onError);
        socket.removeListener('end', onEnd);
        socket.removeListener('close', onEnd);
        this.#onRead.delete(socket);
        if (err) {
          socket.destroy();
          return reject(err);
        }
        if (reader.keepAlive && !socket.destroyed && this.#idle === undefined) {
          this.#idle = socket.unref(); // an idle socket keeps no process alive
        } else socket.destroy();
        resolve(reader.answer as RawAnswer);
      };
      const onAbort = () => finish(Object.assign(new Error('aborted'), { name: 'AbortError' }));
      const onError = (err: Error) => finish(Object.assign(err, { retry: reused && !received }));
      const onEnd = () => {
        if (reader.done) return finish(undefined);
        if (reader.framing?.kind === 'close') { reader.done = true; return finish(undefined); }
        finish(Object.assign(netError('ECONNRESET', received ? 'the connection closed before the answer ended' : 'the connection closed without an answer'), { retry: reused && !received }));
      };
      const timer = setTimeout(() => finish(netError('ETIMEDOUT', `no complete answer in ${o.timeoutMs} ms`)), o.timeoutMs);
      if (o.signal?.aborted) return onAbort();
      o.signal?.addEventListener('abort', onAbort, { once: true });
      socket.on('error', onError);
      socket.on('end', onEnd);
      socket.on('close', onEnd);
      this.#onRead.set(socket, (n) => {
        received = true;
        try {
          if (reader.take(this.#buffer, n)) finish(undefined);
        } catch (err) {
          finish(netError('EPROTO', `malformed HTTP answer: ${(err as Error).message}`));
        }
      });
      const host = this.#host.includes(':') ? `[${this.#host}]` : this.#host;
      const headers = Object.entries({ host: `${host}:${this.#port}`, 'user-agent': 'hapilot', accept: 'application/json', ...o.headers });
      // A value with a line break would end the header early (and the rest would be a header of its own).
      const broken = headers.find(([, v]) => /[\r\n]/.test(v));
      if (broken) return finish(netError('EINVAL', `the ${broken[0]} header's value holds a line break`));
      socket.write(`GET ${pathAndQuery} HTTP/1.1\r\n${headers.map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`);
    });
  }
}
