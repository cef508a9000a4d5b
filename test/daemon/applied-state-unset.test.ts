// A setting left unset (HAPILOT_FD_LIMIT, …) is not saved in applied-model.json (JSON drops
// undefined): the next start must still accept its own file, or the mass-removal guard loses its
// baseline across restarts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AppliedState } from '../../src/daemon/applied-state.js';
import { buildModel } from '../../src/model/model.js';
import { ENABLE, entry, settings } from '../helpers/entries.js';
import { tempDir } from '../helpers/haproxy.js';

test('applied-model.json written with an unset setting (fdLimit) is read back by the next start', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const s = { ...settings(), fdLimit: undefined };
    const model = buildModel({ entries: [entry('web', 'a', [ENABLE]), entry('web', 'b', [ENABLE], { node: 'n2' })], settings: s });
    await new AppliedState({ runDir: dir, settings: s }).set({ config: 'cfg', model, serverLines: new Map(), index: 3, atMs: 0 });
    // A new process: a new AppliedState with the same environment.
    const r = await new AppliedState({ runDir: dir, settings: s }).loadModel('cfg');
    assert.equal(r.reason, 'ok');
    assert.deepEqual(r.model?.backends.map((b) => [b.name, b.servers.length]), [['web', 2]]);
    // The same file when the limit is set at the next start: still accepted, the environment's value wins.
    const r2 = await new AppliedState({ runDir: dir, settings: { ...s, fdLimit: 4096 } }).loadModel('cfg');
    assert.equal(r2.reason, 'ok');
    assert.equal(r2.model?.settings.fdLimit, 4096);
  } finally {
    await cleanup();
  }
});
