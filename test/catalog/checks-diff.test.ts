// diffChecks: the checks list diffed by key against the previous answer (in step, with a few checks
// inserted or removed, or in another order), touching exactly the checks that changed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { diffChecks, toRow, type CheckRow } from '../../src/catalog/checks-diff.js';
import { Interner } from '../../src/catalog/held-entry.js';
import type { HealthCheck } from '../../src/consul/schemas.js';

const chk = (node: string, id: string, status: HealthCheck['Status'] = 'passing', service = id.startsWith('service:') ? id.slice(8).replace(/-\d+$/, '') : ''): HealthCheck =>
  ({ Node: node, CheckID: id, Status: status, ServiceName: service, ServiceID: service ? id.slice(8) : '', Notes: '', Output: 'ignored' });

/** The checks as parsed (checks-body.ts makes each one a row as it parses it). */
const asRows = (checks: HealthCheck[]) => checks.map((c) => toRow(c, new Interner()));

function run(prev: HealthCheck[], next: HealthCheck[]) {
  const rows0 = diffChecks([], asRows(prev), () => undefined);
  const touched: string[] = [];
  const rows = diffChecks(rows0, asRows(next), (r, c) => touched.push(`${c ? '' : '-'}${r.node}/${r.id}:${r.status}`));
  return { rows, rows0, touched: touched.sort() };
}

const base = [chk('n1', 'serfHealth'), chk('n1', 'service:a-1'), chk('n1', 'service:b-1'), chk('n2', 'serfHealth'), chk('n2', 'service:a-2'), chk('n2', 'service:c-1')];

test('diffChecks: each kind of change touches exactly its checks', () => {
  const cases: Array<{ name: string; next: HealthCheck[]; touched: string[] }> = [
    { name: 'same list', next: base.map((c) => ({ ...c })), touched: [] },
    { name: 'output only', next: base.map((c) => ({ ...c, Output: 'other' })), touched: [] },
    { name: 'flip', next: base.map((c) => (c.CheckID === 'service:b-1' ? { ...c, Status: 'critical' as const } : c)), touched: ['n1/service:b-1:critical', 'n1/service:b-1:passing'] },
    { name: 'maintenance reason', next: base.map((c) => (c.CheckID === 'serfHealth' && c.Node === 'n2' ? { ...c, Notes: 'x' } : c)), touched: ['n2/serfHealth:passing', 'n2/serfHealth:passing'] },
    { name: 'registration in the middle', next: [...base.slice(0, 2), chk('n1', 'service:a-9'), ...base.slice(2)], touched: ['n1/service:a-9:passing'] },
    { name: 'registration at the end', next: [...base, chk('n3', 'serfHealth'), chk('n3', 'service:d-1')], touched: ['n3/serfHealth:passing', 'n3/service:d-1:passing'] },
    { name: 'deregistration', next: base.filter((c) => c.CheckID !== 'service:b-1'), touched: ['-n1/service:b-1:passing'] },
    { name: 'node gone', next: base.filter((c) => c.Node !== 'n2'), touched: ['-n2/serfHealth:passing', '-n2/service:a-2:passing', '-n2/service:c-1:passing'] },
    { name: 'another order', next: [...base].reverse(), touched: [] },
    { name: 'reordered and flipped', next: [...base].reverse().map((c) => (c.CheckID === 'service:a-1' ? { ...c, Status: 'warning' as const } : c)), touched: ['n1/service:a-1:passing', 'n1/service:a-1:warning'] },
    { name: 'everything replaced', next: [chk('x', 'serfHealth')], touched: [...base.map((c) => `-${c.Node}/${c.CheckID}:passing`), 'x/serfHealth:passing'].sort() },
  ];
  for (const c of cases) assert.deepEqual(run(base, c.next).touched, c.touched, c.name);
});

test('diffChecks: unchanged checks keep their row (nothing allocated for them)', () => {
  const { rows, rows0 } = run(base, [...base.slice(0, 2), chk('n1', 'service:a-9'), ...base.slice(2)]);
  assert.equal(rows[0], rows0[0]);
  assert.equal(rows[3], rows0[2]);
  assert.equal(rows.length, base.length + 1);
});

test('property: the checks touched are exactly those whose key is new, gone, or whose status/notes/service differ', () => {
  const key = fc.record({ node: fc.constantFrom('n1', 'n2', 'n3'), id: fc.constantFrom('serfHealth', 'service:a-1', 'service:a-2', 'service:b-1', 'x', 'y') });
  const check = fc.record({ k: key, status: fc.constantFrom('passing', 'warning', 'critical') as fc.Arbitrary<HealthCheck['Status']>, notes: fc.constantFrom('', 'm') });
  const list = fc.uniqueArray(check, { selector: (c) => `${c.k.node}/${c.k.id}`, maxLength: 12 });
  fc.assert(fc.property(list, list, (a, b) => {
    const toCheck = (c: { k: { node: string; id: string }; status: HealthCheck['Status']; notes: string }): HealthCheck => ({ ...chk(c.k.node, c.k.id, c.status), Notes: c.notes });
    const prev = a.map(toCheck);
    const next = b.map(toCheck);
    const got = new Set<string>();
    const rows0 = diffChecks([], asRows(prev), () => undefined);
    const rows = diffChecks(rows0, asRows(next), (r) => got.add(`${r.node}/${r.id}`));
    const m = (l: HealthCheck[]) => new Map(l.map((c) => [`${c.Node}/${c.CheckID}`, `${c.Status}|${c.Notes}`]));
    const pa = m(prev);
    const pb = m(next);
    const want = new Set([...pa.keys(), ...pb.keys()].filter((k) => pa.get(k) !== pb.get(k)));
    assert.deepEqual([...got].sort(), [...want].sort());
    assert.deepEqual(rows.map((r: CheckRow) => `${r.node}/${r.id}|${r.status}`), next.map((c) => `${c.Node}/${c.CheckID}|${c.Status}`));
  }), { numRuns: 500 });
});
