// A KV read that failed and works again clears the pool's degraded reason even when the records did
// not change meanwhile (a Consul restart): /status must not keep reporting an outage that is over.
// Found by the 30-minute soak: "pool records: Consul KV read failing (ECONNREFUSED)" was still on
// /status minutes after the simulator came back, because only a changed answer cleared it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ErrorCode, HapilotError } from '../../src/errors.js';
import { createLogger } from '../../src/log.js';
import type { KvApi } from '../../src/pool/kv.js';
import { PoolReconciler } from '../../src/pool/reconciler.js';
import { eventually } from '../helpers/backends.js';

/** KV that answers, fails `failures` times, then answers the same records again and holds. */
function flakyKv(failures: number): KvApi & { calls: number } {
  const pairs = [{ key: 'hapilot/pool/web/web-1', value: '{"state":"drain"}', modifyIndex: 5 }];
  const kv = {
    address: 'http://kv.invalid',
    calls: 0,
    async list(_prefix: string, opts: { index?: number; signal?: AbortSignal } = {}) {
      kv.calls += 1;
      if (kv.calls === 1) return { data: pairs, index: 5, knownLeader: true, lastContactMs: 0 };
      if (kv.calls <= 1 + failures) throw new HapilotError(ErrorCode.CONSUL_UNREACHABLE, 'Consul at http://kv.invalid is unreachable (ECONNREFUSED)');
      if (!opts.index) return { data: pairs, index: 5, knownLeader: true, lastContactMs: 0 };
      // A blocking query with nothing new: held until the reconciler stops.
      return new Promise<never>((_, reject) => opts.signal?.addEventListener('abort', () => reject(new HapilotError(ErrorCode.ABORTED, 'aborted')), { once: true }));
    },
    async get() { throw new Error('not used'); },
    async cas() { throw new Error('not used'); },
    close() {},
  };
  return kv as unknown as KvApi & { calls: number };
}

test('pool: a failing KV read is reported, and cleared by the next answer even when nothing changed', { timeout: 20_000 }, async () => {
  const kv = flakyKv(2);
  const reconciler = new PoolReconciler({
    kv, prefix: 'hapilot/pool', statsSocket: '/nonexistent.sock', defaultThreshold: 0, log: createLogger({ level: 'silent' }),
  });
  reconciler.start();
  try {
    await reconciler.ready();
    await eventually(() => /Consul KV read failing \(.*ECONNREFUSED/.test(reconciler.degradedReason() ?? ''), 5_000, 'the failure reported');
    await eventually(() => reconciler.degradedReason() === undefined, 10_000, 'cleared once KV answers again with the same records');
    assert.ok(kv.calls >= 4, `the failed read was retried (${kv.calls} calls)`);
  } finally {
    await reconciler.stop();
  }
});
