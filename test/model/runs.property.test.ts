// A snapshot's entries are found from the entries the last build kept (pointer comparisons, a
// property read only along the runs that moved): over random catalogs changed one step at a time
// (services changed, with instances added at the end or the start, added, removed; entries in runs
// or interleaved), the entries picked for some services equal a filter of every entry, and the model
// built equals buildModel. serviceRuns equals a plain scan.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { buildModel } from '../../src/model/model.js';
import { IncrementalModel } from '../../src/model/incremental.js';
import type { HealthEntry } from '../../src/consul/schemas.js';
import { ENABLE, entry, settings } from '../helpers/entries.js';

const SERVICES = ['a', 'b', 'c', 'd', 'e'];

/** The reference: runs of equal service names, undefined when a service has two. */
function scan(entries: readonly HealthEntry[]): Map<string, readonly [number, number]> | undefined {
  const runs = new Map<string, readonly [number, number]>();
  for (let i = 0; i < entries.length;) {
    const s = (entries[i] as HealthEntry).Service.Service;
    let j = i + 1;
    while (j < entries.length && (entries[j] as HealthEntry).Service.Service === s) j++;
    if (runs.has(s)) return undefined;
    runs.set(s, [i, j]);
    i = j;
  }
  return runs;
}

const STEP = fc.record({
  service: fc.constantFrom(...SERVICES),
  kind: fc.constantFrom('replace', 'append', 'prepend', 'remove', 'same', 'interleave'),
  n: fc.integer({ min: 1, max: 3 }),
  pick: fc.subarray([...SERVICES, 'zz']),
});

test('property: entries picked from the kept ones equal a filter of every entry, and the model equals buildModel', () => {
  let serial = 0;
  const make = (service: string, n: number) => Array.from({ length: n }, () => entry(service, `${service}-${serial++}`, [ENABLE], { node: `n${serial % 3}` }));
  fc.assert(fc.property(fc.subarray(SERVICES, { minLength: 1 }), fc.array(STEP, { minLength: 1, maxLength: 10 }), (initial, steps) => {
    const s = settings();
    const inc = new IncrementalModel();
    const catalog = new Map(initial.map((x) => [x, make(x, 2)]));
    const flat = () => [...catalog.keys()].sort().flatMap((k) => catalog.get(k) ?? []);
    inc.build({ entries: flat(), settings: s });
    for (const step of steps) {
      const list = catalog.get(step.service) ?? [];
      if (step.kind === 'replace') catalog.set(step.service, make(step.service, step.n));
      if (step.kind === 'append') catalog.set(step.service, [...list, ...make(step.service, step.n)]);
      if (step.kind === 'prepend') catalog.set(step.service, [...make(step.service, step.n), ...list]);
      if (step.kind === 'remove') catalog.delete(step.service);
      let entries = flat();
      if (step.kind === 'interleave' && entries.length > 2) entries = [...entries.slice(1), entries[0] as HealthEntry];
      const want = new Set(step.pick);
      // Picked before the build of these entries (as the runtime-first path does), and again after.
      assert.deepEqual(inc.pick(entries, want), entries.filter((e) => want.has(e.Service.Service)));
      assert.deepEqual(inc.runs(entries), scan(entries));
      assert.deepEqual(inc.build({ entries, settings: s }), buildModel({ entries, settings: s }));
      assert.deepEqual(inc.pick(entries, want), entries.filter((e) => want.has(e.Service.Service)));
    }
  }), { numRuns: 400 });
});
