// KeptAnswer: each checks list compared with the kept one as it arrives, in chunks of any size, gives
// the same checks as parsing the whole answer and leaves the kept buffer holding exactly the new
// answer; a one-check change keeps only that check's bytes, and the buffer is patched in place; the
// buffer is held to about its answer's size; through the client, a chunked answer, an overtaken one
// and an error answer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import fc from 'fast-check';
import { createConsulClient } from '../../src/consul/client.js';
import { loadConsulConfig } from '../../src/consul/config.js';
import { KeptAnswer, mismatch } from '../../src/catalog/kept-answer.js';
import { checkRowsParser, elementStarts } from '../../src/catalog/checks-body.js';
import { spliceRegions, toRow, type CheckRow } from '../../src/catalog/checks-diff.js';
import { Interner } from '../../src/catalog/held-entry.js';
import { ErrorCode, isHapilotError } from '../../src/errors.js';
import type { HealthCheck } from '../../src/consul/schemas.js';

const check = (node: string, id: string, status: string, output: string): HealthCheck =>
  ({ Node: node, CheckID: id, Name: `n "${id}" {x}`, Status: status as HealthCheck['Status'], Notes: '', Output: output, ServiceID: id, ServiceName: id.split('-')[0] ?? '', ServiceTags: ['HAPROXY.ENABLE=true'], Definition: { Header: { Node: ['v'] } }, CreateIndex: 1, ModifyIndex: 2 });

const rowsOf = (checks: HealthCheck[]): CheckRow[] => checks.map((c) => toRow(c, new Interner()));

/** Writes `body` into a sink of `kept` in chunks of the given sizes (cycled), then ends it. */
async function receive(kept: KeptAnswer, body: Buffer, sizes: number[]) {
  const sink = kept.open();
  for (let at = 0, i = 0; at < body.length; i++) {
    const n = Math.max(1, sizes[i % sizes.length] ?? body.length);
    await new Promise<void>((resolve, reject) => sink.write(body.subarray(at, at + n), (err) => (err ? reject(err) : resolve())));
    at += n;
  }
  await new Promise<void>((resolve) => sink.end(resolve));
  return sink;
}

/** Receives `body` and applies what it decodes to `prev`, as the source does. */
async function apply(kept: KeptAnswer, prev: CheckRow[], body: Buffer, sizes: number[]) {
  const sink = await receive(kept, body, sizes);
  const d = sink.decode(checkRowsParser(), prev.length);
  const held = sink.heldBytes;
  const committed = d.commit();
  return { list: spliceRegions([...prev], d.regions, d.regions.flatMap((r) => r.items)), committed, held, parsed: d.parsedBytes, regions: d.regions.length };
}

const item = fc.record({ node: fc.constantFrom('n1', 'n2', 'n3'), id: fc.stringMatching(/^[a-c]-[0-9]{1,2}$/), status: fc.constantFrom('passing', 'critical'), output: fc.constantFrom('', 'ok', '},{"Node":"x"', 'é\\"[', '{', ']') });
const sorted = <T extends { node: string; id: string }>(l: T[]): T[] => [...l].sort((a, b) => (a.node + a.id < b.node + b.id ? -1 : 1));

test('property: an answer received in chunks against the kept one equals parsing it whole, and the kept buffer becomes it', async () => {
  const list = fc.uniqueArray(item, { selector: (c) => `${c.node}/${c.id}`, maxLength: 15 }).map(sorted);
  await fc.assert(fc.asyncProperty(fc.array(list, { minLength: 2, maxLength: 5 }), fc.boolean(), fc.array(fc.integer({ min: 1, max: 400 }), { minLength: 1, maxLength: 5 }), async (lists, pretty, sizes) => {
    const kept = new KeptAnswer();
    let prev: CheckRow[] = [];
    for (const l of lists) {
      const body = Buffer.from(JSON.stringify(l.map((c) => check(c.node, c.id, c.status, c.output)), null, pretty ? 4 : undefined));
      const r = await apply(kept, prev, body, sizes);
      assert.deepEqual(r.list, rowsOf(JSON.parse(body.toString()) as HealthCheck[]));
      assert.ok(r.committed.bytes.equals(body), 'the kept buffer holds the new answer');
      assert.deepEqual([...r.committed.starts], elementStarts(body, body.indexOf('[') + 1, body.lastIndexOf(']')));
      assert.equal(r.committed.close, body.lastIndexOf(']'));
      prev = r.list;
    }
  }), { numRuns: 400 });
});

test('property: small edits (a check changed, added or removed here and there) are decoded against the kept answer', async () => {
  const base = fc.uniqueArray(item, { selector: (c) => `${c.node}/${c.id}`, minLength: 5, maxLength: 40 }).map(sorted);
  const edit = fc.record({ at: fc.nat(), kind: fc.constantFrom('status', 'add', 'remove'), add: item });
  await fc.assert(fc.asyncProperty(base, fc.array(fc.array(edit, { minLength: 1, maxLength: 3 }), { minLength: 1, maxLength: 4 }), fc.array(fc.integer({ min: 1, max: 300 }), { minLength: 1, maxLength: 4 }), async (start, rounds, sizes) => {
    const kept = new KeptAnswer();
    let l = start;
    let prev: CheckRow[] = [];
    for (const edits of [[], ...rounds]) {
      const next = [...l];
      for (const e of edits) {
        const i = e.at % Math.max(1, next.length);
        if (e.kind === 'status' && next[i]) next[i] = { ...next[i], status: next[i].status === 'passing' ? 'critical' : 'passing' };
        else if (e.kind === 'remove') next.splice(i, 1);
        else if (!next.some((c) => c.node === e.add.node && c.id === e.add.id)) next.splice(i, 0, e.add);
      }
      l = sorted(next);
      const body = Buffer.from(JSON.stringify(l.map((c) => check(c.node, c.id, c.status, c.output))));
      const r = await apply(kept, prev, body, sizes);
      assert.deepEqual(r.list, rowsOf(JSON.parse(body.toString()) as HealthCheck[]));
      assert.ok(r.committed.bytes.equals(body), 'the kept buffer holds the new answer');
      // One changed status among many checks: decoded against the kept answer, not whole.
      if (edits.length === 1 && edits[0]?.kind === 'status' && l.length >= 8) assert.ok(r.held < body.length / 2 && r.parsed < body.length / 2, `held ${r.held}, parsed ${r.parsed} of ${body.length}`);
      prev = r.list;
    }
  }), { numRuns: 300 });
});

test('a one-check change in a 4 MB list holds only that check and patches the kept buffer in place', async () => {
  const checks = Array.from({ length: 14_000 }, (_, i) => check(`node${String(Math.floor(i / 12)).padStart(4, '0')}`, `svc${i}-0`, 'passing', 'HTTP GET http://10.0.0.1:8080/health: 200 OK Output: ok'));
  const kept = new KeptAnswer();
  const first = Buffer.from(JSON.stringify(checks));
  assert.ok(first.length > 4_000_000);
  const a = await apply(kept, [], first, [65_536]);
  const capacity = kept.capacity;
  const buffer = a.committed.bytes.buffer;
  checks[7_000] = { ...checks[7_000] as HealthCheck, Status: 'critical', Output: 'connection refused' };
  const second = Buffer.from(JSON.stringify(checks));
  const b = await apply(kept, a.list, second, [65_536]);
  assert.deepEqual(b.list, rowsOf(checks));
  assert.ok(b.held < 2_000, `held ${b.held} bytes for one check`);
  assert.ok(b.parsed < 2_000, `parsed ${b.parsed} bytes for one check`);
  assert.equal(kept.capacity, capacity);
  assert.equal(b.committed.bytes.buffer, buffer, 'patched in place, not copied into a new buffer');
  assert.ok(b.committed.bytes.equals(second));
  // An answer identical to the kept one: nothing parsed, nothing held.
  const c = await apply(kept, b.list, second, [65_536]);
  assert.deepEqual([c.held, c.parsed, c.list.length], [0, 0, checks.length]);
});

test('a malformed answer is a CONSUL_SHAPE error and the kept answer stays as it was', async () => {
  const checks = [check('n1', 'a-1', 'passing', ''), check('n1', 'a-2', 'passing', ''), check('n2', 'b-1', 'passing', '')];
  const kept = new KeptAnswer();
  const body = Buffer.from(JSON.stringify(checks));
  const a = await apply(kept, [], body, [7]);
  for (const bad of [body.toString().replace('"a-2"', '"a-2" oops'), body.toString().slice(0, -1), body.toString().replace('"Status":"passing"', '"Status":"nope"')]) {
    const sink = await receive(kept, Buffer.from(bad), [5]);
    assert.throws(() => sink.decode(checkRowsParser(), a.list.length), (e: unknown) => isHapilotError(e, ErrorCode.CONSUL_SHAPE), bad.slice(0, 40));
    assert.deepEqual(kept.body?.bytes, body);
  }
});

test('a sink opened before another answer was kept cannot decode or commit', async () => {
  const kept = new KeptAnswer();
  const body = Buffer.from(JSON.stringify([check('n1', 'a-1', 'passing', '')]));
  const early = kept.open();
  const r = await apply(kept, [], body, [3]);
  early.end();
  assert.throws(() => early.decode(checkRowsParser(), r.list.length), /abandoned/);
  assert.deepEqual(kept.body?.bytes, body);
});

test('the buffer is held to about its answer\'s size: an answer a few checks longer is patched in place, a spike let go after', async () => {
  const list = (n: number, status = 'passing') => Buffer.from(JSON.stringify(Array.from({ length: n }, (_, i) => check(`n${String(i).padStart(6, '0')}`, `c-${i}`, status, 'o'.repeat(i % 50)))));
  const kept = new KeptAnswer();
  let prev = (await apply(kept, [], list(10_000), [65_536])).list;
  const size = (kept.body as { bytes: Buffer }).bytes.length;
  assert.ok(kept.capacity <= size * 1.25 + 1024 * 1024, `capacity ${kept.capacity} for ${size} bytes`);
  const capacity = kept.capacity;
  for (let k = 1; k <= 4; k++) prev = (await apply(kept, prev, list(10_000 + k), [65_536])).list;
  assert.equal(kept.capacity, capacity, 'no new buffer for answers that grew by a few checks');
  const spike = await apply(kept, prev, list(100_000, 'critical'), [65_536]);
  assert.ok(kept.capacity > 5 * capacity);
  const back = await apply(kept, spike.list, list(10_000), [65_536]);
  assert.deepEqual(back.list, rowsOf(JSON.parse(list(10_000).toString()) as HealthCheck[]));
  assert.ok(kept.capacity <= size * 1.25 + 1024 * 1024, `capacity ${kept.capacity} after the spike`);
});

test('through the client: a chunked answer is compared as it arrives; an overtaken one cannot be decoded; an error answer keeps its text', { timeout: 20_000 }, async () => {
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
  const kept = new KeptAnswer();
  const ask = async (o: { index?: number } = {}) => {
    const patch = kept.open();
    const r = await consul.healthStateBytes('any', { ...o, into: patch });
    return { r, patch };
  };
  try {
    const list = (status: string) => JSON.stringify(Array.from({ length: 3000 }, (_, n) => check(`node-${n}`, `web-${n}`, n === 1500 ? status : 'passing', 'o'.repeat(n % 300))));
    body = list('passing');
    const first = await ask();
    assert.equal(first.r.index, 42);
    const a = first.patch.decode(checkRowsParser(), 0);
    a.commit();
    const count = a.regions[0]?.items.length ?? 0;
    assert.equal(kept.body?.bytes.toString(), body);
    body = list('critical');
    const second = await ask();
    const b = second.patch.decode(checkRowsParser(), count);
    assert.ok(second.patch.heldBytes < 2_000, `held ${second.patch.heldBytes}`);
    assert.deepEqual(b.regions.map((r) => [r.from, r.to, r.items.map((x) => x.status)]), [[1500, 1501, ['critical']]]);
    b.commit();
    assert.equal(kept.body?.bytes.toString(), body);

    // A request overtaken by a newer one (the loop gave up on it) cannot be decoded; the kept answer is the newer one's.
    slowIndex = 9;
    const overtaken = ask({ index: 9 });
    await new Promise((r) => setTimeout(r, 50));
    const third = await ask();
    third.patch.decode(checkRowsParser(), count).commit();
    const late = await overtaken;
    assert.throws(() => late.patch.decode(checkRowsParser(), count), /abandoned/);
    assert.equal(kept.body?.bytes.toString(), body, 'the late answer changed nothing');

    status = 500;
    body = 'rpc error making call: No cluster leader';
    await assert.rejects(ask(), (err: unknown) => isHapilotError(err, ErrorCode.CONSUL_HTTP) && /answered HTTP 500: rpc error making call: No cluster leader/.test(err.message));
    assert.equal(kept.body?.bytes.toString(), list('critical'));
  } finally {
    consul.close();
    server.close();
  }
});

test('changes spread over the list (a new service on ten nodes) are ten small regions, each parsed on its own, patched in place', async () => {
  const checks = Array.from({ length: 14_000 }, (_, i) => check(`node${String(Math.floor(i / 14)).padStart(4, '0')}`, `svc${i}-0`, 'passing', 'ok'));
  const kept = new KeptAnswer();
  const a = await apply(kept, [], Buffer.from(JSON.stringify(checks)), [65_536]);
  const buffer = a.committed.bytes.buffer;
  const next = [...checks];
  // One new check on each of ten nodes across the list, one removed, one changed in place.
  for (let k = 9; k >= 0; k--) next.splice(k * 1_400 + 7, 0, check(`node${String(k * 100).padStart(4, '0')}`, `new-${k}`, 'passing', 'new'));
  next.splice(5_000, 1);
  next[9_000] = { ...next[9_000] as HealthCheck, Status: 'critical' };
  const body = Buffer.from(JSON.stringify(next));
  const b = await apply(kept, a.list, body, [65_536]);
  assert.deepEqual(b.list, rowsOf(next));
  assert.equal(b.regions, 12);
  assert.ok(b.held < 12 * 600 && b.parsed < 12 * 600, `held ${b.held}, parsed ${b.parsed}`);
  assert.equal(b.committed.bytes.buffer, buffer, 'patched in place');
  assert.ok(b.committed.bytes.equals(body));
  assert.deepEqual([...b.committed.starts], elementStarts(body, 1, body.length - 1));
});

test('spliceRegions: in place for a few elements, a new array for many, the same list either way', () => {
  const naive = (list: number[], regions: Array<{ from: number; to: number; items: number[] }>) => {
    const out: number[] = [];
    let k = 0;
    for (const r of regions) { out.push(...list.slice(k, r.from), ...r.items); k = r.to; }
    return [...out, ...list.slice(k)];
  };
  fc.assert(fc.property(fc.array(fc.nat(), { maxLength: 40 }), fc.array(fc.tuple(fc.nat(), fc.nat(), fc.integer({ min: 0, max: 12_000 }))), (list, cuts) => {
    // Regions ascending and apart: cut points sorted, each region taking some elements and giving others.
    const points = [...new Set(cuts.flatMap(([a, b]) => [a % (list.length + 1), b % (list.length + 1)]))].sort((x, y) => x - y);
    const regions: Array<{ from: number; to: number; items: number[] }> = [];
    for (let i = 0; i + 1 < points.length; i += 2) regions.push({ from: points[i] as number, to: points[i + 1] as number, items: Array.from({ length: (cuts[i >> 1]?.[2] ?? 0) % (i === 0 ? 12_000 : 5) }, (_, x) => -x - 1) });
    const expected = naive(list, regions);
    assert.deepEqual(spliceRegions([...list], regions, regions.flatMap((r) => r.items)), expected);
  }), { numRuns: 200 });
});

test('property: mismatch finds the first byte that differs (or none), wherever it lies in a chunk', () => {
  const bytewise = (a: Buffer, aAt: number, b: Buffer, bAt: number, n: number) => {
    let i = 0;
    while (i < n && a[aAt + i] === b[bAt + i]) i++;
    return i;
  };
  fc.assert(fc.property(fc.uint8Array({ minLength: 1, maxLength: 2000 }), fc.array(fc.nat(), { maxLength: 3 }), fc.nat(), fc.nat(), fc.nat(), (base, flips, aAtSeed, bAtSeed, nSeed) => {
    const b = Buffer.from(base);
    const bAt = bAtSeed % b.length;
    const n = nSeed % (b.length - bAt + 1);
    // `a`: the same bytes at another offset, some flipped.
    const aAt = aAtSeed % 50;
    const a = Buffer.concat([Buffer.alloc(aAt, 7), b.subarray(bAt, bAt + n), Buffer.alloc(3, 9)]);
    for (const f of flips) if (n > 0) a[aAt + (f % n)] = (a[aAt + (f % n)] as number) ^ 0x5a;
    assert.equal(mismatch(a, aAt, b, bAt, n), bytewise(a, aAt, b, bAt, n));
  }), { numRuns: 2000 });
});
