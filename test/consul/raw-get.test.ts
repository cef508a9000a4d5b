import { test } from 'node:test';
import assert from 'node:assert/strict';
import net, { type AddressInfo } from 'node:net';
import fc from 'fast-check';
import { RawHttp, type ByteSink } from '../../src/consul/raw-get.js';
import { createConsulClient } from '../../src/consul/client.js';
import { loadConsulConfig } from '../../src/consul/config.js';
import { KeptAnswer } from '../../src/catalog/kept-answer.js';
import { ErrorCode, isHapilotError } from '../../src/errors.js';

/** A sink that copies what it is given (the bytes are the reused read buffer's). */
function collector(): ByteSink & { text(): string; calls: number } {
  const parts: Buffer[] = [];
  let calls = 0;
  return {
    accept(bytes) { parts.push(Buffer.from(bytes)); calls++; },
    text: () => Buffer.concat(parts).toString(),
    get calls() { return calls; },
  };
}

/**
 * A server that answers each request on a connection with the next of `answers` (raw bytes, written
 * in the pieces given, a tick apart); counts connections and keeps the requests' heads.
 */
async function rawServer(answers: Array<Buffer[] | 'close'>, host = '127.0.0.1') {
  const requests: string[] = [];
  let connections = 0;
  let next = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    let pending = '';
    socket.on('data', async (d) => {
      pending += d.toString('latin1');
      while (pending.includes('\r\n\r\n')) {
        const end = pending.indexOf('\r\n\r\n');
        requests.push(pending.slice(0, end));
        pending = pending.slice(end + 4);
        const answer = answers[Math.min(next++, answers.length - 1)] as Buffer[] | 'close';
        if (answer === 'close') { socket.destroy(); return; }
        for (const piece of answer) {
          socket.write(piece);
          await new Promise((r) => setImmediate(r));
        }
      }
    });
    socket.on('error', () => undefined);
  });
  await new Promise<void>((r) => server.listen(0, host, r));
  return {
    port: (server.address() as AddressInfo).port,
    requests,
    get connections() { return connections; },
    /** Ends every connection without a word. */
    drop: () => { for (const s of sockets) s.destroy(); },
    close: () => new Promise<void>((r) => { for (const s of sockets) s.destroy(); server.close(() => r()); }),
  };
}

const head = (lines: string[]) => Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1');

/** `bytes` cut at the offsets given (sorted, within it). */
function cut(bytes: Buffer, at: number[]): Buffer[] {
  const points = [...new Set(at.filter((n) => n > 0 && n < bytes.length))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let from = 0;
  for (const p of [...points, bytes.length]) { out.push(bytes.subarray(from, p)); from = p; }
  return out;
}

function chunked(body: string, sizes: number[]): Buffer {
  let out = '';
  let i = 0;
  let k = 0;
  while (i < body.length) {
    const n = Math.max(1, sizes[k++ % sizes.length] ?? 1);
    const part = body.slice(i, i + n);
    out += `${Buffer.byteLength(part).toString(16)}${k % 3 === 0 ? ';ext=1' : ''}\r\n${part}\r\n`;
    i += n;
  }
  return Buffer.from(`${out}0\r\nX-Trailer: yes\r\n\r\n`);
}

test('raw GET: a body by Content-Length or chunked, cut anywhere, reaches the sink whole; headers first; the connection is kept', async () => {
  await fc.assert(fc.asyncProperty(
    fc.string({ minLength: 0, maxLength: 300 }),
    fc.boolean(),
    fc.array(fc.integer({ min: 1, max: 40 }), { minLength: 1, maxLength: 6 }),
    fc.array(fc.nat({ max: 800 }), { maxLength: 12 }),
    async (body, isChunked, sizes, cuts) => {
      const bytes = Buffer.from(body);
      const framing = isChunked ? 'Transfer-Encoding: chunked' : `Content-Length: ${bytes.length}`;
      const answer = Buffer.concat([head(['HTTP/1.1 200 OK', 'X-Consul-Index: 17', 'Content-Type: application/json', framing]), isChunked ? chunked(body, sizes) : bytes]);
      const srv = await rawServer([cut(answer, cuts)]);
      const client = new RawHttp('127.0.0.1', srv.port);
      try {
        for (let round = 0; round < 2; round++) {
          const sink = collector();
          let seenAt = -1;
          const r = await client.get('/v1/health/state/any?index=3', { headers: { 'x-consul-token': 'tok' }, sink, timeoutMs: 5000, onHeaders: (h) => { seenAt = sink.calls; assert.equal(h['x-consul-index'], '17'); } });
          assert.equal(r.status, 200);
          assert.equal(sink.text(), body);
          assert.equal(seenAt, 0, 'headers are reported before any of the body');
        }
        assert.equal(srv.connections, 1, 'the second request reuses the kept-alive connection');
        assert.match(srv.requests[0] ?? '', /^GET \/v1\/health\/state\/any\?index=3 HTTP\/1\.1\r\n/);
        assert.match(srv.requests[0] ?? '', /\r\nx-consul-token: tok(\r\n|$)/);
      } finally {
        client.close();
        await srv.close();
      }
    },
  ), { numRuns: 60 });
});

test('raw GET: a kept-alive connection the server closed is asked again on a new one; a close mid-answer is an error', async () => {
  const ok = head(['HTTP/1.1 200 OK', 'Content-Length: 2']);
  // First connection: one answer, then the server drops the next request unanswered.
  const srv = await rawServer([[Buffer.concat([ok, Buffer.from('[]')])], 'close', [Buffer.concat([ok, Buffer.from('[]')])]]);
  const client = new RawHttp('127.0.0.1', srv.port);
  try {
    for (let round = 0; round < 2; round++) {
      const sink = collector();
      await client.get('/x', { headers: {}, sink, timeoutMs: 5000 });
      assert.equal(sink.text(), '[]');
    }
    assert.equal(srv.connections, 2, 'the unanswered request was asked again on a new connection');
    assert.equal(srv.requests.length, 3);
  } finally {
    client.close();
    await srv.close();
  }

  const cutShort = await rawServer([[head(['HTTP/1.1 200 OK', 'Content-Length: 10']), Buffer.from('[1,2')]]);
  const c2 = new RawHttp('127.0.0.1', cutShort.port);
  try {
    const sink = collector();
    const pending = c2.get('/x', { headers: {}, sink, timeoutMs: 5000 });
    await new Promise((r) => setTimeout(r, 50));
    cutShort.drop();
    await assert.rejects(pending, (err: Error & { code?: string }) => err.code === 'ECONNRESET' && /before the answer ended/.test(err.message));
    assert.equal(sink.text(), '[1,2');
  } finally {
    c2.close();
    await cutShort.close();
  }
});

test('raw GET: abort and timeout end the request and its connection; a malformed answer is an error', async () => {
  const hang = await rawServer([[head(['HTTP/1.1 200 OK', 'Content-Length: 100']), Buffer.from('[')]]);
  const client = new RawHttp('127.0.0.1', hang.port);
  try {
    const ac = new AbortController();
    const pending = client.get('/x', { headers: {}, sink: collector(), signal: ac.signal, timeoutMs: 5000 });
    setTimeout(() => ac.abort(), 50);
    await assert.rejects(pending, { name: 'AbortError' });
    await assert.rejects(client.get('/x', { headers: {}, sink: collector(), timeoutMs: 100 }), (err: Error & { code?: string }) => err.code === 'ETIMEDOUT');
  } finally {
    client.close();
    await hang.close();
  }
  const bad = await rawServer([[Buffer.from('SSH-2.0-OpenSSH\r\n\r\n')]]);
  const c2 = new RawHttp('127.0.0.1', bad.port);
  try {
    await assert.rejects(c2.get('/x', { headers: {}, sink: collector(), timeoutMs: 5000 }), (err: Error & { code?: string }) => err.code === 'EPROTO' && /not an HTTP\/1\.x status line/.test(err.message));
  } finally {
    c2.close();
    await bad.close();
  }
});

test('raw GET: an IPv6 host is bracketed in the Host header; a header value with a line break is refused, not sent', async () => {
  const srv = await rawServer([[head(['HTTP/1.1 200 OK', 'Content-Length: 2']), Buffer.from('[]')]], '::1');
  const client = new RawHttp('::1', srv.port);
  try {
    await assert.rejects(client.get('/x', { headers: { 'x-consul-token': 'abc\r\nX-Injected: 1' }, sink: collector(), timeoutMs: 5000 }), (err: Error & { code?: string }) => err.code === 'EINVAL' && /x-consul-token header's value holds a line break/.test(err.message) && !err.message.includes('abc'));
    const sink = collector();
    await client.get('/x', { headers: {}, sink, timeoutMs: 5000 });
    assert.equal(sink.text(), '[]');
    assert.equal(srv.requests.length, 1, 'the refused request was never sent');
    assert.match(srv.requests[0] ?? '', new RegExp(`\r\nhost: \\[::1\\]:${srv.port}\r\n`));
  } finally {
    client.close();
    await srv.close();
  }
});

test('the checks list over http: is read by the raw GET into the kept answer; errors name the endpoint and Consul\'s text', async () => {
  const list = JSON.stringify([{ Node: 'n1', CheckID: 'c1', Status: 'passing' }]);
  const srv = await rawServer([
    [head(['HTTP/1.1 200 OK', 'X-Consul-Index: 9', 'Transfer-Encoding: chunked']), chunked(list, [7, 3, 50])],
    [head(['HTTP/1.1 403 Forbidden', 'Content-Length: 24']), Buffer.from('ACL not found\nmore lines')],
    [Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n')],
  ]);
  const consul = createConsulClient(loadConsulConfig({ flagUrl: `http://127.0.0.1:${srv.port}`, env: { CONSUL_HTTP_TOKEN: 'secret-token' } }));
  try {
    const kept = new KeptAnswer();
    const patch = kept.open();
    let headerIndex = 0;
    const r = await consul.healthStateBytes('any', { index: 5, wait: '30s', into: patch, onIndex: (i) => { headerIndex = i; } });
    assert.equal(r.index, 9);
    assert.equal(headerIndex, 9);
    assert.equal(patch.head().toString(), list);
    assert.match(srv.requests[0] ?? '', /^GET \/v1\/health\/state\/any\?index=5&wait=30s HTTP\/1\.1\r\n/);
    assert.match(srv.requests[0] ?? '', /x-consul-token: secret-token/);
    await assert.rejects(consul.healthStateBytes('any', { into: kept.open() }), (err) => isHapilotError(err, ErrorCode.CONSUL_HTTP) && /\/v1\/health\/state\/any answered HTTP 403 \(ACL not found\)/.test(err.message) && !err.message.includes('secret-token'));
    await assert.rejects(consul.healthStateBytes('any', { into: kept.open() }), (err) => isHapilotError(err, ErrorCode.CONSUL_SHAPE) && /Content-Length "x" is not a length/.test(err.message));
  } finally {
    consul.close();
    await srv.close();
  }
});
