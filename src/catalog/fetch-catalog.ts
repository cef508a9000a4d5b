// One complete read of the catalog: the service list, then the health entries of every service that
// may be load-balanced. Used by `render`/`check`/`snapshot` and as the daemon's initial snapshot.
import type { HealthEntry } from '../consul/schemas.js';
import type { ConsulApi, QueryOptions } from '../consul/client.js';
import { ENABLE_ALIASES } from '../model/tags.js';

/** Services whose tags (the union over instances, as /v1/catalog/services gives them) may enable them. */
export function candidateServices(services: Record<string, string[] | null>): string[] {
  return Object.entries(services)
    .filter(([, tags]) => (tags ?? []).some((t) => t.startsWith('HAPROXY.') || (ENABLE_ALIASES as readonly string[]).includes(t)))
    .map(([name]) => name)
    .sort();
}

/** Runs `fn` over `items` with at most `limit` in flight; results in input order. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

export interface CatalogRead {
  entries: HealthEntry[];
  /** X-Consul-Index of the service list. */
  index: number;
  services: string[];
}

export async function fetchCatalog(consul: ConsulApi, opts: Pick<QueryOptions, 'signal'> & { concurrency?: number } = {}): Promise<CatalogRead> {
  const list = await consul.catalogServices({ signal: opts.signal });
  const services = candidateServices(list.data);
  const perService = await mapLimit(services, opts.concurrency ?? 8, async (name) => (await consul.healthService(name, { signal: opts.signal })).data);
  return { entries: perService.flat(), index: list.index, services };
}
