// Watches the pool records (and, behind a flag, the docker-haproxy weights) with Consul blocking
// queries on the KV prefix, through the same loop as the catalog (src/consul/blocking-query.ts):
// one long-poll per prefix, whatever the number of records.
import { runBlockingLoop } from '../consul/blocking-query.js';
import { DOCKER_WEIGHT_PREFIX, ingestDockerWeights, type DockerWeights } from './docker-weights.js';
import type { KvApi } from './kv.js';
import { normalizePrefix } from './record.js';
import { EMPTY_POOL_TABLE, ingestPoolKv, type KvPair, type PoolTable } from './table.js';

export interface PoolSnapshot {
  table: PoolTable;
  /** undefined unless docker-haproxy weights are on. */
  dockerWeights: DockerWeights | undefined;
  /** X-Consul-Index of the latest pool answer. */
  index: number;
}

export interface PoolWatchOptions {
  kv: KvApi;
  prefix: string;
  /** Also watch `app/<service>/<address>/<port>` weights. */
  dockerWeights?: boolean;
  dockerPrefix?: string;
  /** `wait` of each blocking query. */
  wait?: string;
  signal: AbortSignal;
  /** Called once both prefixes have been read, then on every change of either. */
  onChange: (snapshot: PoolSnapshot) => void | Promise<void>;
  onError: (err: unknown, attempt: number, delayMs: number, prefix: string) => void;
  /** Every successful answer of a prefix, changed or not: a read that failed works again. */
  onContact?: (prefix: string) => void;
}

/**
 * One list of a prefix. A blocking query that comes back at once without a newer index was not
 * blocked (a Consul stand-in without KV answering 404 without an index): the next one waits a
 * second, so such a server is not asked in a tight loop. A real agent only returns the same index
 * after its `wait`.
 */
async function listPaced(kv: KvApi, prefix: string, index: number, wait: string | undefined, signal: AbortSignal) {
  const started = Date.now();
  const r = await kv.list(prefix, { index, wait, signal });
  const elapsed = Date.now() - started;
  if (index > 0 && r.index <= index && elapsed < 1000) {
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(t);
        signal.removeEventListener('abort', done);
        resolve();
      };
      const t = setTimeout(done, 1000 - elapsed);
      signal.addEventListener('abort', done, { once: true });
    });
  }
  return r;
}

function fingerprint(pairs: readonly KvPair[]): string {
  return JSON.stringify(pairs.map((p) => [p.key, p.modifyIndex, p.value]));
}

/** Runs until `signal` aborts; never throws (errors go to onError and are retried with backoff). */
export async function watchPool(o: PoolWatchOptions): Promise<void> {
  const prefix = normalizePrefix(o.prefix);
  let table: PoolTable = EMPTY_POOL_TABLE;
  let weights: DockerWeights | undefined;
  let index = 0;
  let poolRead = false;
  let weightsRead = !o.dockerWeights;
  const emit = async () => {
    if (poolRead && weightsRead) await o.onChange({ table, dockerWeights: weights, index });
  };
  const loops = [
    runBlockingLoop<KvPair[]>({
      name: `kv ${prefix}`,
      fetch: (i, signal) => listPaced(o.kv, prefix, i, o.wait, signal),
      fingerprint,
      signal: o.signal,
      onError: (err, attempt, delay) => o.onError(err, attempt, delay, prefix),
      onContact: () => o.onContact?.(prefix),
      onData: async (pairs, i) => {
        table = ingestPoolKv({ prefix, pairs, previous: table });
        index = i;
        poolRead = true;
        await emit();
      },
    }),
  ];
  if (o.dockerWeights) {
    const dp = normalizePrefix(o.dockerPrefix ?? DOCKER_WEIGHT_PREFIX);
    loops.push(runBlockingLoop<KvPair[]>({
      name: `kv ${dp}`,
      fetch: (i, signal) => listPaced(o.kv, dp, i, o.wait, signal),
      fingerprint,
      signal: o.signal,
      onError: (err, attempt, delay) => o.onError(err, attempt, delay, dp),
      onContact: () => o.onContact?.(dp),
      onData: async (pairs) => {
        weights = ingestDockerWeights({ pairs, previous: weights, prefix: dp });
        weightsRead = true;
        await emit();
      },
    }));
  }
  await Promise.all(loops);
}

/** One read of the records (no blocking), for the CLI. */
export async function readPoolTable(kv: KvApi, prefix: string): Promise<{ table: PoolTable; index: number }> {
  const p = normalizePrefix(prefix);
  const r = await kv.list(p);
  return { table: ingestPoolKv({ prefix: p, pairs: r.data }), index: r.index };
}
