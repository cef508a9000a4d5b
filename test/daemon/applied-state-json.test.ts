// applied-model.json is written after every applied change: its JSON is assembled from the JSON of
// each backend kept between writes, and must be `JSON.stringify` of the model byte for byte (fields
// left undefined included), whatever changed between two writes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { modelJson } from '../../src/daemon/model-file.js';
import { IncrementalModel } from '../../src/model/incremental.js';
import type { HealthEntry } from '../../src/consul/schemas.js';
import type { Model } from '../../src/model/model.js';
import { ENABLE, entry, settings } from '../helpers/entries.js';

const TAG = fc.constantFrom('HAPROXY.FRONTEND.HOST=a.example.test', 'HAPROXY.FRONTEND.PORT=9000', 'HAPROXY.PROTOCOL=tcp', 'HAPROXY.BACKEND.MAXCONN=50', 'HAPROXY.BACKEND.STICKY=src', 'HAPROXY.BACKEND.DEPOOL_THRESHOLD=0.5', 'x"quote\\');
const SERVICE = fc.record({ name: fc.constantFrom('web', 'api', 'db', 'a b'), tags: fc.array(TAG, { maxLength: 2 }), n: fc.nat(3), weight: fc.constantFrom(1, 7) });

test('property: modelJson is JSON.stringify of the model, step after step', () => {
  fc.assert(fc.property(fc.array(fc.array(SERVICE, { maxLength: 4 }), { minLength: 1, maxLength: 6 }), (steps) => {
    const incremental = new IncrementalModel();
    const s = settings();
    for (const services of steps) {
      const byName = new Map(services.map((x) => [x.name, x]));
      const entries: HealthEntry[] = [...byName.values()].sort((a, b) => (a.name < b.name ? -1 : 1)).flatMap((x) => Array.from({ length: x.n }, (_, i) => entry(x.name, `${x.name}-${i}`, [ENABLE, ...x.tags], { node: `n${i}`, weights: { Passing: x.weight, Warning: 1 } })));
      const model = incremental.build({ entries, settings: s });
      assert.equal(modelJson(model), JSON.stringify(model));
      // A model made from it (new backend objects for some, an undefined field): the same.
      const copy: Model = { ...model, backends: model.backends.map((b, i) => (i % 2 ? { ...b, servers: b.servers.slice(1) } : b)), warnings: [...model.warnings, 'w'] };
      assert.equal(modelJson(copy), JSON.stringify(copy));
      assert.equal(modelJson({ ...model, quarantined: undefined as unknown as Model['quarantined'] }), JSON.stringify({ ...model, quarantined: undefined }));
    }
  }), { numRuns: 200 });
});
