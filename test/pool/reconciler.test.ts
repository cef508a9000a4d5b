// The PoolReconciler's own duties, apart from the CLI: admin changes go straight to HAProxy
// without the engine; changes the config must show (inactive, weights) ask the engine for a sync;
// after a reload, a full reconcile puts back what HAProxy lost; an unusable record changes nothing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { eventually } from '../helpers/backends.js';
import { socketCommand } from '../../src/haproxy/socket.js';
import { startLab } from './lab.js';

test('PoolReconciler: admin at runtime, config changes through the engine, full reconcile, unusable records', { timeout: 60_000 }, async () => {
  const lab = await startLab({ consul: 'sim' });
  const status = async (server: string) => (await lab.stat()).find((r) => r.server === server)?.status ?? '';
  try {
    const before = lab.configChanges();
    await lab.consul.kvPut('hapilot/pool/web/web-1', '{"state":"drain"}');
    await eventually(async () => /^DRAIN/.test(await status('n1:web-1')), 10_000, 'web-1 drained');
    assert.equal(lab.configChanges(), before, 'an admin state alone needs no sync of the engine');

    await lab.consul.kvPut('hapilot/pool/web/web-2', '{"state":"yes","weight":42}');
    await eventually(async () => (await lab.stat()).find((r) => r.server === 'n2:web-2')?.weight === 42, 10_000, 'weight 42');
    assert.equal(lab.configChanges(), before + 1, 'a weight must be in the config too: the engine is asked to sync');
    await lab.consul.kvPut('hapilot/pool/web/web-3', '{"state":"inactive"}');
    await eventually(() => lab.configChanges() === before + 2, 10_000, 'inactive asks for a sync');
    assert.equal(lab.reconciler.decisions()?.servers.find((s) => s.server === 'n3:web-3')?.inConfig, false);

    // HAProxy loses runtime state (as a reload without a state file would): a full reconcile restores it.
    await socketCommand(lab.socket, 'set server web/n1:web-1 state ready');
    assert.match(await status('n1:web-1'), /^UP/);
    const commands = await lab.reconciler.reconcile({ full: true });
    assert.deepEqual(commands, ['set server web/n1:web-1 state drain']);
    // After a reload the self-check's rows are looked at instead of asking HAProxy again: the
    // rows given are what is corrected, though HAProxy itself already shows web-1 drained.
    assert.match(await status('n1:web-1'), /^DRAIN/);
    const shown = (await lab.stat()).map((r) => (r.server === 'n1:web-1' ? { ...r, status: 'UP' } : r));
    assert.deepEqual(await lab.reconciler.reconcile({ full: true, observed: shown }), ['set server web/n1:web-1 state drain']);

    // An unusable value: the last valid record still applies, and the reconciler sends nothing.
    await lab.consul.kvPut('hapilot/pool/web/web-1', '{"state":"sideways"}');
    await eventually(() => (lab.reconciler.decisions()?.invalid.length ?? 0) === 1, 10_000, 'reported');
    assert.match(lab.reconciler.decisions()?.invalid[0]?.reason ?? '', /at state: Invalid option.*\(the last valid record still applies\)/);
    assert.deepEqual(await lab.reconciler.reconcile(), []);
    assert.match(await status('n1:web-1'), /^DRAIN/);
  } finally {
    await lab.teardown();
  }
});
