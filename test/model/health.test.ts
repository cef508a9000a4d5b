// entryHealth: an instance is as healthy as its worst check, node checks and maintenance included.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { entryHealth } from '../../src/model/model.js';
import { ENABLE, entry } from '../helpers/entries.js';

test('entryHealth: the worst check wins; maintenance is critical; a failing node check counts', () => {
  const cases: Array<{ name: string; o: Parameters<typeof entry>[3]; want: string }> = [
    { name: 'all passing', o: {}, want: 'passing' },
    { name: 'service warning', o: { status: 'warning' }, want: 'warning' },
    { name: 'service critical', o: { status: 'critical' }, want: 'critical' },
    { name: 'service maintenance', o: { status: 'maintenance' }, want: 'critical' },
    { name: 'node critical, service passing', o: { nodeStatus: 'critical' }, want: 'critical' },
    { name: 'node critical, service warning', o: { nodeStatus: 'critical', status: 'warning' }, want: 'critical' },
  ];
  for (const c of cases) assert.equal(entryHealth(entry('web', 'a', [ENABLE], c.o)), c.want, c.name);
  assert.equal(entryHealth({ ...entry('web', 'a', [ENABLE]), Checks: [] }), 'passing', 'no checks at all');
});
