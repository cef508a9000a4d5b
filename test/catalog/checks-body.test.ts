// decodeArray: the checks list decoded against the previous answer's bytes (only the stretch that
// differs is parsed) gives the same checks as parsing the whole answer, compact or indented, for any
// edit; a malformed answer is a CONSUL_SHAPE error.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { checkRowsParser, decodeArray, type ArrayBody, type DecodeOptions } from '../../src/catalog/checks-body.js';
import { toRow, type CheckRow } from '../../src/catalog/checks-diff.js';
import { Interner } from '../../src/catalog/held-entry.js';
import { ErrorCode, isHapilotError } from '../../src/errors.js';
import type { HealthCheck } from '../../src/consul/schemas.js';

const check = (node: string, id: string, status: string, output: string): HealthCheck =>
  ({ Node: node, CheckID: id, Name: `n "${id}" {x}`, Status: status as HealthCheck['Status'], Notes: '', Output: output, ServiceID: id, ServiceName: id.split('-')[0] ?? '', ServiceTags: ['HAPROXY.ENABLE=true'], Definition: { Header: { Node: ['v'] } }, CreateIndex: 1, ModifyIndex: 2 });

/** The checks list decoded against the previous answer, as rows. */
function decodeChecks(previous: ArrayBody | undefined, bytes: Buffer, previousCount: number, o: DecodeOptions = {}) {
  const { items, ...rest } = decodeArray(previous, bytes, previousCount, checkRowsParser(), o);
  return { ...rest, rows: items };
}

/** What a whole parse of the answer gives, as rows. */
const rowsOf = (checks: HealthCheck[]): CheckRow[] => checks.map((c) => toRow(c, new Interner()));

/** Applies a decoded answer to the previous list, as the source does. */
function apply(prev: CheckRow[], body: Buffer, state: ArrayBody | undefined) {
  const d = decodeChecks(state, body, prev.length);
  return { list: [...prev.slice(0, d.from), ...d.rows, ...prev.slice(d.to)], state: d.body, parsed: d.parsedBytes };
}

test('property: decoding against the previous answer equals parsing the whole answer', () => {
  const item = fc.record({ node: fc.constantFrom('n1', 'n2', 'n3'), id: fc.stringMatching(/^[a-c]-[0-9]{1,2}$/), status: fc.constantFrom('passing', 'critical'), output: fc.constantFrom('', 'ok', '},{"Node":"x"', 'é\\"[', '{') });
  const list = fc.uniqueArray(item, { selector: (c) => `${c.node}/${c.id}`, maxLength: 15 });
  fc.assert(fc.property(fc.array(list, { minLength: 2, maxLength: 5 }), fc.boolean(), (lists, pretty) => {
    let prev: CheckRow[] = [];
    let state: ArrayBody | undefined;
    for (const l of lists) {
      const checks = l.map((c) => check(c.node, c.id, c.status, c.output));
      const body = Buffer.from(JSON.stringify(checks, null, pretty ? 4 : undefined));
      const r = apply(prev, body, state);
      assert.deepEqual(r.list, rowsOf(JSON.parse(body.toString()) as HealthCheck[]));
      prev = r.list;
      state = r.state;
    }
  }), { numRuns: 400 });
});

test('one flipped check in 2,000 parses that check, not the list', () => {
  const checks = Array.from({ length: 2000 }, (_, i) => check(`n${i % 10}`, `svc${i}-0`, 'passing', ''));
  const first = apply([], Buffer.from(JSON.stringify(checks)), undefined);
  const flipped = checks.map((c, i) => (i === 1234 ? { ...c, Status: 'critical' as const, ModifyIndex: 99 } : c));
  const body = Buffer.from(JSON.stringify(flipped));
  const r = apply(first.list, body, first.state);
  assert.deepEqual(r.list, rowsOf(flipped));
  assert.ok(r.parsed < 1000, `parsed ${r.parsed} of ${body.length} bytes`);
  const inserted = [...flipped.slice(0, 700), check('n9', 'new-1', 'passing', ''), ...flipped.slice(700)];
  const r2 = apply(r.list, Buffer.from(JSON.stringify(inserted)), r.state);
  assert.deepEqual(r2.list, rowsOf(inserted));
  assert.ok(r2.parsed < 1000, `parsed ${r2.parsed} bytes for an insertion`);
});

test('a malformed or truncated answer is a CONSUL_SHAPE error, with or without a previous answer', () => {
  const checks = Array.from({ length: 50 }, (_, i) => check('n1', `s${i}-0`, 'passing', ''));
  const first = apply([], Buffer.from(JSON.stringify(checks)), undefined);
  const text = JSON.stringify(checks);
  for (const bad of [text.slice(0, 40), text.slice(0, -1), '{"a":1}', JSON.stringify([{ CheckID: 'x', Status: 'dead' }])]) {
    for (const state of [undefined, first.state]) {
      assert.throws(() => decodeChecks(state, Buffer.from(bad), state ? checks.length : 0), (e: unknown) => isHapilotError(e, ErrorCode.CONSUL_SHAPE), bad.slice(0, 30));
    }
  }
});

test('property: a whole answer parsed in batches of elements gives the rows and offsets of one parse of it, whatever the batch size', () => {
  const item = fc.record({ node: fc.constantFrom('n1', 'n2'), id: fc.stringMatching(/^[a-c]-[0-9]{1,3}$/), status: fc.constantFrom('passing', 'critical'), output: fc.constantFrom('', 'x'.repeat(300), '},{"Node":"x"', 'é\\"[', '{', ']') });
  fc.assert(fc.property(fc.uniqueArray(item, { selector: (c) => `${c.node}/${c.id}`, maxLength: 40 }), fc.boolean(), fc.integer({ min: 1, max: 3000 }), (list, pretty, batchBytes) => {
    const checks = list.map((c) => check(c.node, c.id, c.status, c.output));
    const body = Buffer.from(JSON.stringify(checks, null, pretty ? 3 : undefined));
    const d = decodeChecks(undefined, body, 0, { batchBytes });
    assert.deepEqual(d.rows, rowsOf(checks));
    assert.equal(d.body.starts.length, checks.length, 'offsets kept for the next answer');
    assert.deepEqual(d.body.starts, decodeChecks(undefined, body, 0, { batchBytes: Infinity }).body.starts);
  }), { numRuns: 300 });
});

test('parsed in batches, a misshapen check is still named by its place in the whole list', () => {
  const checks: unknown[] = Array.from({ length: 60 }, (_, i) => check('n1', `s${i}-0`, 'passing', ''));
  checks[47] = { ...(checks[47] as object), Status: 'dead' };
  assert.throws(() => decodeChecks(undefined, Buffer.from(JSON.stringify(checks)), 0, { batchBytes: 500 }), (e: unknown) => isHapilotError(e, ErrorCode.CONSUL_SHAPE) && /at 47\.Status/.test(e.message));
  // Something other than objects between the brackets: parsed whole, not kept for the next answer.
  const odd = Buffer.from(`[${JSON.stringify(check('n1', 'a-1', 'passing', ''))}, ]`);
  assert.throws(() => decodeChecks(undefined, odd, 0, { batchBytes: 1 }), (e: unknown) => isHapilotError(e, ErrorCode.CONSUL_SHAPE));
});

test('a whole answer: the parsed checks are made rows a batch at a time (their full objects never all exist at once)', () => {
  const checks = Array.from({ length: 3000 }, (_, i) => ({ ...check(`n${i % 10}`, `svc${i}-0`, 'passing', ''), ServiceTags: Array.from({ length: 20 }, (_, k) => `HAPROXY.TAG${k}=value-${i}`) }));
  const body = Buffer.from(JSON.stringify(checks));
  // How many checks each JSON.parse made at once.
  const made: number[] = [];
  const parse = JSON.parse;
  JSON.parse = (text: string, reviver?: Parameters<typeof JSON.parse>[1]) => {
    const out = parse(text, reviver) as unknown;
    made.push(Array.isArray(out) ? out.length : 1);
    return out;
  };
  let d: ReturnType<typeof decodeChecks>;
  try {
    d = decodeChecks(undefined, body, 0, { batchBytes: 64 * 1024 });
  } finally {
    JSON.parse = parse;
  }
  assert.deepEqual(d.rows, rowsOf(checks));
  const perCheck = body.length / checks.length;
  assert.ok(Math.max(...made) <= 2 * Math.ceil((64 * 1024) / perCheck), `checks made by one parse: ${made.join(', ')}`);
  assert.equal(made.reduce((a, b) => a + b, 0), 3000, 'each check parsed once');
  // Rows keep nothing of what hapilot does not read.
  assert.deepEqual(Object.keys(d.rows[0]!).sort(), ['id', 'modifyIndex', 'node', 'notes', 'service', 'serviceId', 'status']);
});
