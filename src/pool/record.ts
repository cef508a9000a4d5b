// The pool record an operator writes to Consul KV for one instance: its pool state and weight.
// Key: `<prefix>/<service>/<instance>`; the instance is the Consul service ID, or
// `<service ID>@<node>` when one service ID is registered on several nodes (Consul only makes IDs
// unique per agent). The node-qualified key wins over the plain one. Value: JSON checked by zod.
// States follow conftool (../shared/seeds/conftool-pool-states.txt):
//   yes      in rotation if healthy
//   no       out of rotation (HAProxy maint), still in the config, still checked, still counted
//   drain    no new sessions (HAProxy drain), open ones finish
//   inactive out for a long time: not in the config at all
import { z } from 'zod';
import { describeZodError } from '../consul/schemas.js';

export const DEFAULT_POOL_PREFIX = 'hapilot/pool';
export const MAX_WEIGHT = 256;

export const PoolState = z.enum(['yes', 'no', 'inactive', 'drain']);
export type PoolState = z.infer<typeof PoolState>;

export const PoolRecord = z.object({
  state: PoolState,
  /** HAProxy server weight 0–256; absent: the instance's own weight (Consul Weights, docker-haproxy key). */
  weight: z.number().int().min(0).max(MAX_WEIGHT).optional(),
  /** Free text for the next operator ("kernel upgrade, T1234"); shown on the status page. */
  reason: z.string().max(500).optional(),
  /** Who wrote it (the CLI puts user@host). */
  by: z.string().max(200).optional(),
  /** When it was written (ISO 8601). */
  at: z.string().max(64).optional(),
});
export type PoolRecord = z.infer<typeof PoolRecord>;

/** Where a record applies: a service and an instance (service ID, optionally on one node). */
export interface PoolTarget {
  service: string;
  serviceId: string;
  node: string | undefined;
}

/** `hapilot/pool/` → `hapilot/pool`: the prefix without slashes at either end. */
export function normalizePrefix(prefix: string): string {
  return prefix.replace(/^\/+|\/+$/g, '');
}

export function poolKey(prefix: string, t: PoolTarget): string {
  return `${normalizePrefix(prefix)}/${t.service}/${t.node === undefined ? t.serviceId : `${t.serviceId}@${t.node}`}`;
}

/** The target of a key under the prefix, or a reason it is not a pool key. */
export function parsePoolKey(prefix: string, key: string): { ok: true; target: PoolTarget } | { ok: false; reason: string } {
  const p = `${normalizePrefix(prefix)}/`;
  if (!key.startsWith(p)) return { ok: false, reason: `not under ${p}` };
  const rest = key.slice(p.length);
  const slash = rest.indexOf('/');
  if (slash <= 0 || slash === rest.length - 1) return { ok: false, reason: `expected ${p}<service>/<instance>` };
  const service = rest.slice(0, slash);
  const instance = rest.slice(slash + 1);
  const at = instance.lastIndexOf('@');
  if (at > 0 && at < instance.length - 1) return { ok: true, target: { service, serviceId: instance.slice(0, at), node: instance.slice(at + 1) } };
  return { ok: true, target: { service, serviceId: instance, node: undefined } };
}

/** The record in a KV value (already base64-decoded), or why it is unusable. */
export function parsePoolValue(raw: string | null): { ok: true; record: PoolRecord } | { ok: false; reason: string } {
  if (raw === null || raw.trim() === '') return { ok: false, reason: 'empty value: expected JSON such as {"state":"no"}' };
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    return { ok: false, reason: `not JSON (${JSON.stringify(raw.slice(0, 60))}): expected JSON such as {"state":"no"}` };
  }
  const parsed = PoolRecord.safeParse(json);
  if (!parsed.success) return { ok: false, reason: `invalid record ${describeZodError(parsed.error)}` };
  return { ok: true, record: parsed.data };
}

export function formatPoolValue(record: PoolRecord): string {
  return JSON.stringify(record);
}
