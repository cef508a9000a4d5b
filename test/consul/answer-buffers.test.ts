// The checks list is received into two buffers in turn: the answer the caller keeps is never
// written over by the next one, a buffer grows without losing what it held, an abandoned request
// writes nothing into a buffer handed on, each is held to about its answer's size, and through the
// client the bytes (and an error answer's text) are those Consul sent.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { AnswerBuffers, type AnswerSink } from '../../src/consul/answer-buffers.js';
import { createConsulClient } from '../../src/consul/client.js';
import { loadConsulConfig } from '../../src/consul/config.js';
import { ErrorCode, isHapilotError } from '../../src/errors.js';

function receive(sink: AnswerSink, text: string, chunk = 7): Buffer {
  for (let i = 0; i < text.length; i += chunk) sink.write(Buffer.from(text.slice(i, i + chunk)));
  return sink.bytes();
}

test('answers alternate between two buffers: the kept one is never written over', () => {
  const buffers = new AnswerBuffers();
  const a = receive(buffers.open(undefined), 'first answer');
  const b = receive(buffers.open(a), 'second answer, longer');
  assert.equal(a.toString(), 'first answer', 'kept while the second was received');
  assert.equal(b.toString(), 'second answer, longer');
  assert.notEqual(a.buffer, b.buffer);
  const c = receive(buffers.open(b), 'third');
  assert.equal(b.toString(), 'second answer, longer', 'the kept answer is not the one reused');
  assert.equal(c.toString(), 'third');
  assert.equal(c.buffer, a.buffer, 'the first answer\'s buffer is reused');
  // Not kept (an answer the caller did not adopt): the next one may go anywhere but the kept one.
  const d = receive(buffers.open(b), 'fourth');
  assert.equal(b.toString(), 'second answer, longer');
  assert.equal(d.toString(), 'fourth');
});

test('a buffer grows keeping what it received, and is reused at its size after', () => {
  const buffers = new AnswerBuffers();
  const big = 'x'.repeat(70_000) + 'y'.repeat(70_000) + 'z'.repeat(100_003);
  const first = receive(buffers.open(undefined), big, 4096);
  assert.equal(first.toString(), big);
  const second = receive(buffers.open(first), big.slice(5), 65_536);
  assert.equal(second.toString(), big.slice(5));
  const capacity = buffers.capacity;
  receive(buffers.open(second), big.slice(10), 65_536);
  assert.equal(buffers.capacity, capacity, 'no new buffer for an answer that fits');
});

test('a buffer grown by a spike is let go for one of the answer\'s size', () => {
  const buffers = new AnswerBuffers();
  const spike = receive(buffers.open(undefined), 'x'.repeat(4_000_000), 65_536);
  const other = receive(buffers.open(spike), 'y'.repeat(100_000), 65_536);
  const grown = buffers.capacity;
  const small = receive(buffers.open(other), 'z'.repeat(100_000), 65_536);
  assert.equal(small.toString(), 'z'.repeat(100_000));
  assert.equal(other.toString(), 'y'.repeat(100_000), 'the kept answer is untouched');
  assert.ok(buffers.capacity < grown / 10, `capacity ${buffers.capacity} after ${grown}`);
});

test('an abandoned answer writes nothing into a buffer handed to a newer one', () => {
  const buffers = new AnswerBuffers();
  const stale = buffers.open(undefined);
  stale.write(Buffer.from('half an ans'));
  const fresh = buffers.open(undefined);
  stale.write(Buffer.from('wer, arriving late'));
  const bytes = receive(fresh, 'the new answer');
  assert.equal(bytes.toString(), 'the new answer');
  assert.throws(() => stale.bytes(), /reused/);
});

test('through the client: a chunked answer arrives whole, the kept one intact; an overtaken one fails; an error answer keeps its text', { timeout: 20_000 }, async () => {
  let body = '';
  let status = 200;
  let slowIndex = 0;
  const server = http.createServer(async (req, res) => {
    if (slowIndex && req.url?.includes(`index=${slowIndex}`)) await new Promise((r) => setTimeout(r, 300));
    res.statusCode = status;
    res.setHeader('content-type', status === 200 ? 'application/json' : 'text/plain');
    res.setHeader('x-consul-index', '42');
    // Chunked, in pieces of uneven size, as Consul sends a large list.
    let i = 0;
    const step = () => {
      if (i >= body.length) return res.end();
      const n = 1 + ((i * 7919) % 50_000);
      res.write(body.slice(i, i + n));
      i += n;
      setImmediate(step);
    };
    step();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const consul = createConsulClient(loadConsulConfig({ flagUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, env: {} }));
  const buffers = new AnswerBuffers();
  try {
    const check = (n: number, status: string) => ({ Node: `node-${n}`, CheckID: `service:web-${n}`, Status: status, ServiceName: 'web', Output: 'o'.repeat(n % 300) });
    const list = (status: string) => JSON.stringify(Array.from({ length: 3000 }, (_, n) => check(n, status)));
    body = list('passing');
    const first = await consul.healthStateBytes('any', { into: { buffers, keep: undefined } });
    assert.equal(first.index, 42);
    assert.equal(first.data.toString(), body);
    const kept = body;
    body = list('critical');
    const second = await consul.healthStateBytes('any', { into: { buffers, keep: first.data } });
    assert.equal(second.data.toString(), body);
    assert.equal(first.data.toString(), kept, 'the kept answer is untouched by the next');

    // A request overtaken by a newer one on the same buffers (the loop gave up on it) fails; nothing crashes.
    slowIndex = 9;
    const overtaken = consul.healthStateBytes('any', { index: 9, into: { buffers, keep: second.data } });
    await new Promise((r) => setTimeout(r, 50));
    const third = await consul.healthStateBytes('any', { into: { buffers, keep: second.data } });
    await assert.rejects(overtaken, /abandoned/);
    assert.equal(third.data.toString(), body, 'the late answer wrote nothing into the newer one\'s buffer');
    assert.equal(second.data.toString(), list('critical'), 'the kept answer is untouched');

    status = 500;
    body = 'rpc error making call: No cluster leader';
    await assert.rejects(consul.healthStateBytes('any', { into: { buffers, keep: second.data } }),
      (err: unknown) => isHapilotError(err, ErrorCode.CONSUL_HTTP) && /answered HTTP 500: rpc error making call: No cluster leader/.test(err.message));
    assert.equal(second.data.toString(), list('critical'));
  } finally {
    consul.close();
    server.close();
  }
});

test('each buffer is held to about its answer\'s size (an eighth more), and answers a few bytes longer are received with no new buffer', () => {
  const buffers = new AnswerBuffers();
  // Just above a size the buffer reaches growing by halves from 64 KB: grown so, it would end ~50% above.
  const size = Math.ceil(65_536 * 1.5 ** 13) + 1000;
  const a = receive(buffers.open(undefined), 'a'.repeat(size), 65_536);
  const b = receive(buffers.open(a), 'b'.repeat(size + 100), 65_536);
  assert.ok(buffers.capacity <= 2 * Math.ceil(size * 1.13), `capacity ${buffers.capacity} for two answers of ${size} bytes`);
  const capacity = buffers.capacity;
  let last = b;
  for (let k = 1; k <= 4; k++) last = receive(buffers.open(last), 'c'.repeat(size + 100 * k), 65_536);
  assert.equal(last.toString(), 'c'.repeat(size + 400));
  assert.equal(buffers.capacity, capacity, 'no new buffer for answers that grew by a few bytes');
});
