// Per-instance weights as the docker-haproxy image keeps them: KV `app/<service>/<address>/<port>`
// holding a number (default 100 for an instance without a key). Behind a flag: only users coming
// from that image want it. An unusable value is reported with its key and the instance keeps the
// weight it had (or the default).
import { MAX_WEIGHT } from './record.js';
import type { KvPair } from './table.js';

export const DOCKER_WEIGHT_PREFIX = 'app';
export const DOCKER_DEFAULT_WEIGHT = 100;

export interface DockerWeights {
  /** `<service>/<address>/<port>` → weight. */
  readonly byInstance: ReadonlyMap<string, number>;
  readonly invalid: ReadonlyArray<{ key: string; reason: string }>;
  readonly defaultWeight: number;
}

export function dockerWeightId(service: string, address: string, port: number): string {
  return `${service}/${address}/${port}`;
}

/** Folds the pairs under `app/` into weights; an invalid value keeps the previous weight of its key. */
export function ingestDockerWeights({ pairs, previous, prefix = DOCKER_WEIGHT_PREFIX, defaultWeight = DOCKER_DEFAULT_WEIGHT }: {
  pairs: readonly KvPair[];
  previous?: DockerWeights;
  prefix?: string;
  defaultWeight?: number;
}): DockerWeights {
  const byInstance = new Map<string, number>();
  const invalid: Array<{ key: string; reason: string }> = [];
  const p = `${prefix.replace(/^\/+|\/+$/g, '')}/`;
  for (const pair of pairs) {
    if (!pair.key.startsWith(p) || (pair.key.endsWith('/') && pair.value === null)) continue;
    const parts = pair.key.slice(p.length).split('/');
    // Other tools keep their own keys under app/<service>/...: only the <service>/<address>/<port> shape is ours.
    if (parts.length !== 3 || !/^\d{1,5}$/.test(parts[2] ?? '')) continue;
    const id = parts.join('/');
    const raw = (pair.value ?? '').trim();
    const n = /^\d+$/.test(raw) ? Number(raw) : Number.NaN;
    if (Number.isInteger(n) && n >= 0 && n <= MAX_WEIGHT) {
      byInstance.set(id, n);
      continue;
    }
    invalid.push({ key: pair.key, reason: `weight ${JSON.stringify(raw.slice(0, 40))} is invalid: expected an integer 0 to ${MAX_WEIGHT}` });
    const last = previous?.byInstance.get(id);
    if (last !== undefined) byInstance.set(id, last);
  }
  return { byInstance, invalid, defaultWeight };
}
