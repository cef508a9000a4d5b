// ListedServers finds a listing's rows as a map by `backend/server` would, in whatever order the
// rows and the questions come.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ListedServers } from '../../src/haproxy/listed-servers.js';

test('ListedServers answers as a lookup by backend/server, rows in any order, backends listed in several runs', () => {
  const name = (prefix: string) => fc.integer({ min: 0, max: 5 }).map((i) => `${prefix}${i}`);
  const pair = fc.record({ backend: name('b'), server: name('s') });
  const rows = fc.uniqueArray(pair, { selector: (r) => `${r.backend}/${r.server}`, maxLength: 30 });
  fc.assert(fc.property(rows, fc.boolean(), fc.array(pair, { maxLength: 40 }), (listing, sorted, asked) => {
    // Sorted: every backend in one run, servers in order (the common case); else as generated.
    const rowsIn = sorted ? [...listing].sort((a, b) => (a.backend + '/' + a.server < b.backend + '/' + b.server ? -1 : 1)) : listing;
    const reference = new Map(rowsIn.map((r) => [`${r.backend}/${r.server}`, r]));
    const listed = new ListedServers(rowsIn);
    // Every row in listing order, then the questions asked.
    for (const q of [...rowsIn, ...asked]) assert.equal(listed.find(q.backend, q.server), reference.get(`${q.backend}/${q.server}`), `${q.backend}/${q.server}`);
    assert.deepEqual([...listed.backends()].sort(), [...new Set(rowsIn.map((r) => r.backend))].sort());
  }), { numRuns: 1000 });
});

test('ListedServers: in the listing\'s order no backend is indexed, and a server not listed is undefined', () => {
  const rows = [{ backend: 'a', server: 's1' }, { backend: 'a', server: 's2' }, { backend: 'b', server: 's1' }, { backend: 'a', server: 's3' }];
  const listed = new ListedServers(rows);
  assert.equal(listed.find('a', 's1'), rows[0]);
  assert.equal(listed.find('a', 's2'), rows[1]);
  assert.equal(listed.find('a', 's3'), rows[3], 'a backend listed again later');
  assert.equal(listed.find('b', 's1'), rows[2]);
  assert.equal(listed.find('b', 's2'), undefined);
  assert.equal(listed.find('c', 's1'), undefined);
  assert.deepEqual([...listed.backends()], ['a', 'b']);
});
