// decodeChecks: the checks list decoded against the previous answer's bytes (only the stretch that
// differs is parsed) gives the same checks as parsing the whole answer, compact or indented, for any
// edit; a malformed answer is a CONSUL_SHAPE error.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { decodeChecks, type ChecksBody } from '../../src/catalog/checks-body.js';
import { ErrorCode, isHapilotError } from '../../src/errors.js';
import type { HealthCheck } from '../../src/consul/schemas.js';

const check = (node: string, id: string, status: string, output: string): HealthCheck =>
  ({ Node: node, CheckID: id, Name: `n "${id}" {x}`, Status: status as HealthCheck['Status'], Notes: '', Output: output, ServiceID: id, ServiceName: id.split('-')[0] ?? '', ServiceTags: ['HAPROXY.ENABLE=true'], Definition: { Header: { Node: ['v'] } }, CreateIndex: 1, ModifyIndex: 2 });

/** Applies a decoded answer to the previous list, as the source does. */
function apply(prev: HealthCheck[], body: Buffer, state: ChecksBody | undefined) {
  const d = decodeChecks(state, body, prev.length);
  return { list: [...prev.slice(0, d.from), ...d.checks, ...prev.slice(d.to)], state: d.body, parsed: d.parsedBytes };
}

test('property: decoding against the previous answer equals parsing the whole answer', () => {
  const item = fc.record({ node: fc.constantFrom('n1', 'n2', 'n3'), id: fc.stringMatching(/^[a-c]-[0-9]{1,2}$/), status: fc.constantFrom('passing', 'critical'), output: fc.constantFrom('', 'ok', '},{"Node":"x"', 'é\\"[', '{') });
  const list = fc.uniqueArray(item, { selector: (c) => `${c.node}/${c.id}`, maxLength: 15 });
  fc.assert(fc.property(fc.array(list, { minLength: 2, maxLength: 5 }), fc.boolean(), (lists, pretty) => {
    let prev: HealthCheck[] = [];
    let state: ChecksBody | undefined;
    for (const l of lists) {
      const checks = l.map((c) => check(c.node, c.id, c.status, c.output));
      const body = Buffer.from(JSON.stringify(checks, null, pretty ? 4 : undefined));
      const r = apply(prev, body, state);
      assert.deepEqual(r.list, JSON.parse(body.toString()));
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
  assert.deepEqual(r.list, flipped);
  assert.ok(r.parsed < 1000, `parsed ${r.parsed} of ${body.length} bytes`);
  const inserted = [...flipped.slice(0, 700), check('n9', 'new-1', 'passing', ''), ...flipped.slice(700)];
  const r2 = apply(r.list, Buffer.from(JSON.stringify(inserted)), r.state);
  assert.deepEqual(r2.list, inserted);
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
