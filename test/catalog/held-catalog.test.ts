// HeldCatalog: which services have an instance on a node, and which held services' checks differ
// from a checks list (their own checks and their nodes'), and the model built from its lists.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { HeldCatalog } from '../../src/catalog/held-catalog.js';
import type { CheckRow } from '../../src/catalog/checks-diff.js';
import type { HealthEntry } from '../../src/consul/schemas.js';
import { ENABLE, entry, settings } from '../helpers/entries.js';
import { IncrementalModel } from '../../src/model/incremental.js';
import { buildModel } from '../../src/model/model.js';
import { spliceOf } from '../../src/model/spliced-lists.js';
import { collectAfterJob } from '../helpers/gc.js';

const row = (node: string, id: string, service: string, status = 'passing'): CheckRow => ({ node, id, service, serviceId: service ? id.replace('service:', '') : '', status, notes: '', modifyIndex: undefined });

test('HeldCatalog: services by node follow set and unset; checks that differ name their services', () => {
  const held = new HeldCatalog();
  held.set('web', [entry('web', 'w1', [ENABLE], { node: 'n1' }), entry('web', 'w2', [ENABLE], { node: 'n2' })]);
  held.set('api', [entry('api', 'a1', [ENABLE], { node: 'n1' })]);
  assert.deepEqual([...held.servicesOn('n1')].sort(), ['api', 'web']);
  assert.deepEqual([...held.servicesOn('n2')], ['web']);
  assert.deepEqual(held.all().map((e) => e.Service.ID), ['a1', 'w1', 'w2'], 'by service name');

  const list = [row('n1', 'serfHealth', ''), row('n2', 'serfHealth', ''), row('n1', 'service:w1', 'web'), row('n2', 'service:w2', 'web'), row('n1', 'service:a1', 'api')];
  assert.deepEqual(held.differFrom(list, ['web', 'api']), [], 'the list says what is held');
  assert.deepEqual(held.differFrom(list.map((r) => (r.id === 'service:w2' ? { ...r, status: 'critical' } : r)), ['web', 'api']), ['web']);
  assert.deepEqual(held.differFrom(list.map((r) => (r.node === 'n1' && r.id === 'serfHealth' ? { ...r, status: 'critical' } : r)), ['web', 'api']).sort(), ['api', 'web'], 'a node check concerns every service on the node');
  assert.deepEqual(held.differFrom([...list, row('n3', 'service:w3', 'web')], ['web', 'api']), ['web'], 'a check the held entries lack');
  assert.deepEqual(held.differFrom(list, ['api']), [], 'only the names asked about');

  held.set('api', undefined);
  assert.deepEqual([...held.servicesOn('n1')], ['web']);
  assert.equal(held.get('api'), undefined);
  assert.deepEqual(held.names(), ['web']);
});

test('property: all() is every held entry by service name after any sets, a new array each time (built from the last list while the same services are held)', () => {
  const op = fc.record({ service: fc.constantFrom('a', 'b', 'c', 'd'), count: fc.option(fc.nat(3), { freq: 4 }) });
  fc.assert(fc.property(fc.array(fc.array(op, { maxLength: 3 }), { minLength: 1, maxLength: 12 }), (batches) => {
    const held = new HeldCatalog();
    const naive = new Map<string, HealthEntry[]>();
    let n = 0;
    let previous: readonly HealthEntry[] | undefined;
    for (const batch of batches) {
      for (const { service, count } of batch) {
        const list = count === null ? undefined : Array.from({ length: count }, () => entry(service, `${service}${n++}`, [ENABLE]));
        held.set(service, list);
        if (list) naive.set(service, list);
        else naive.delete(service);
      }
      const all = held.all();
      assert.deepEqual(all.map((e) => e.Service.ID), [...naive.keys()].sort().flatMap((k) => (naive.get(k) ?? []).map((e) => e.Service.ID)));
      assert.notEqual(all, previous, 'a new array');
      previous = all;
    }
  }), { numRuns: 300 });
});

test('property: the model built from each all() list, told what the catalog spliced, equals a full build (builds skipped, services re-set unchanged, emptied, gone)', () => {
  const services = ['a', 'b', 'c', 'd', 'e', 'f'];
  const op = fc.record({ service: fc.constantFrom(...services), kind: fc.constantFrom('new', 'same', 'empty', 'gone', 'new', 'same') });
  const s = settings();
  let taken = 0;
  fc.assert(fc.property(fc.array(fc.tuple(fc.array(op, { maxLength: 3 }), fc.boolean(), fc.subarray(services)), { minLength: 1, maxLength: 12 }), (batches) => {
    const held = new HeldCatalog();
    const model = new IncrementalModel();
    let n = 0;
    const fresh = (service: string) => Array.from({ length: 1 + (n % 3) }, () => entry(service, `${service}-${n++}`, [ENABLE], { node: `n${n % 2}`, port: 8000 + (n % 5) }));
    for (const name of services) held.set(name, fresh(name));
    model.build({ entries: held.all(), settings: s });
    for (const [batch, build, asked] of batches) {
      for (const { service, kind } of batch) {
        if (kind === 'new') held.set(service, fresh(service));
        else if (kind === 'same') held.set(service, held.get(service));
        else if (kind === 'empty') held.set(service, []);
        else held.set(service, undefined);
      }
      const all = held.all();
      // A sync may skip a list (the next one comes first): its splice is then of a list never built.
      if (!build) continue;
      const want = new Set(asked);
      assert.deepEqual(model.pick(all, want).map((e) => e.Service.ID), all.filter((e) => want.has(e.Service.Service)).map((e) => e.Service.ID));
      assert.deepEqual(model.build({ entries: all, settings: s }), buildModel({ entries: all, settings: s }));
    }
    taken += model.splicesTaken;
  }), { numRuns: 300 });
  assert.ok(taken > 0, 'the splice was taken');
});

test('lists spliced one from another are let go: the newest holds the one it was made from, no more', async () => {
  // Each all() of a server-only change is spliced from the last one and says so; its record held
  // the list before it, whose record held the one before that, back to the last list built whole:
  // at 100,000 servers 0.8 MB a change, kept for as long as the daemon ran.
  const held = new HeldCatalog();
  const services = Array.from({ length: 200 }, (_, k) => `s${String(k).padStart(3, '0')}`);
  for (const name of services) held.set(name, [entry(name, `${name}-0`, [ENABLE])]);
  const model = new IncrementalModel();
  const s = settings();
  let list = held.all();
  model.build({ entries: list, settings: s });
  const lists: Array<WeakRef<readonly HealthEntry[]>> = [];
  for (let k = 1; k <= 30; k++) {
    const name = services[(k * 7) % services.length] as string;
    held.set(name, [entry(name, `${name}-${k}`, [ENABLE])]);
    const before = list;
    list = held.all();
    assert.equal(spliceOf(list)?.base, before, `change ${k}: spliced from the list before it`);
    assert.equal(spliceOf(before), undefined, `change ${k}: the list before it no longer names its own base`);
    model.build({ entries: list, settings: s });
    lists.push(new WeakRef(list));
  }
  assert.ok(model.splicesTaken >= 30, `the model took the splices (${model.splicesTaken})`);
  await collectAfterJob();
  const alive = lists.filter((r) => r.deref() !== undefined).length;
  // The newest (held here, by the catalog and by the model) and the one it was spliced from.
  assert.ok(alive <= 2, `${alive} of 30 spliced lists still reachable`);
});
