// The syn-drop pid file names processes hapilot will signal: versioned and schema-checked.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseSynDropPidFile } from '../../src/haproxy/syn-drop.js';

test('parseSynDropPidFile: only a version-1 file of positive integer pids is used', () => {
  assert.deepEqual(parseSynDropPidFile('{"version":1,"current":123,"old":[{"pid":99,"sinceMs":5}]}'), { ok: true, tracked: { current: 123, old: [{ pid: 99, sinceMs: 5 }] } });
  assert.deepEqual(parseSynDropPidFile('{"version":1,"current":null,"old":[]}'), { ok: true, tracked: { current: undefined, old: [] } });
  const refused: Array<[string, RegExp]> = [
    ['{"current":123,"old":[]}', /version/],
    ['{"version":1,"current":-1,"old":[]}', /current/],
    ['{"version":1,"current":1.5,"old":[]}', /current/],
    ['{"version":1,"current":"123","old":[]}', /current/],
    ['{"version":1,"current":1,"old":[{"pid":0,"sinceMs":1}]}', /old\.0\.pid/],
    ['not json', /not JSON/],
  ];
  for (const [text, why] of refused) {
    const r = parseSynDropPidFile(text);
    assert.equal(r.ok, false, text);
    if (!r.ok) assert.match(r.reason, why, text);
  }
});
