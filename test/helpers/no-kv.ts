// A Consul KV that is never read: for a PoolReconciler whose pool records a test hands it itself
// (`takePool`), without a watch.
import type { KvApi } from '../../src/pool/kv.js';

export const noKv: KvApi = {
  address: 'none',
  list: () => Promise.reject(new Error('not used')),
  get: () => Promise.reject(new Error('not used')),
  cas: () => Promise.reject(new Error('not used')),
  close: () => undefined,
};
