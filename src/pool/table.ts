// The pool records read from KV, folded into a table. A value that fails its schema never replaces
// the last valid record of its key (the instance stays as it was) and is reported with key and
// reason; it never stops the other keys from being taken.
import { parsePoolKey, parsePoolValue, type PoolRecord, type PoolTarget } from './record.js';

/** One KV pair as Consul returns it, value already base64-decoded (null: a key without value). */
export interface KvPair {
  key: string;
  value: string | null;
  modifyIndex: number;
}

export interface PoolEntry {
  key: string;
  target: PoolTarget;
  record: PoolRecord;
  /** ModifyIndex of the KV pair the record came from (for check-and-set). */
  modifyIndex: number;
}

export interface InvalidRecord {
  key: string;
  reason: string;
  /** The instance the key names, when the key itself is well-formed. */
  target: PoolTarget | undefined;
  /** The last valid record of this key, still applied; undefined when there never was one. */
  kept: PoolRecord | undefined;
}

export interface PoolTable {
  /** Valid records (or the last valid record of a key whose value is now invalid), by KV key. */
  readonly byKey: ReadonlyMap<string, PoolEntry>;
  readonly invalid: readonly InvalidRecord[];
}

export const EMPTY_POOL_TABLE: PoolTable = { byKey: new Map(), invalid: [] };

/** Folds the current KV pairs under the prefix into a table, given the previous table. */
export function ingestPoolKv({ prefix, pairs, previous = EMPTY_POOL_TABLE }: { prefix: string; pairs: readonly KvPair[]; previous?: PoolTable }): PoolTable {
  const byKey = new Map<string, PoolEntry>();
  const invalid: InvalidRecord[] = [];
  for (const pair of [...pairs].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))) {
    if (pair.key.endsWith('/') && pair.value === null) continue; // a "folder" key
    const k = parsePoolKey(prefix, pair.key);
    if (!k.ok) {
      invalid.push({ key: pair.key, reason: `key is not a pool key: ${k.reason}`, target: undefined, kept: undefined });
      continue;
    }
    const v = parsePoolValue(pair.value);
    if (v.ok) {
      byKey.set(pair.key, { key: pair.key, target: k.target, record: v.record, modifyIndex: pair.modifyIndex });
      continue;
    }
    const last = previous.byKey.get(pair.key);
    if (last) byKey.set(pair.key, last);
    invalid.push({ key: pair.key, reason: v.reason, target: k.target, kept: last?.record });
  }
  return { byKey, invalid };
}

function targetId(service: string, serviceId: string, node: string | undefined): string {
  return JSON.stringify([service, serviceId, node ?? null]);
}

/** Finds the record of an instance: `<id>@<node>` first, then the plain `<id>`. */
export function createPoolLookup(table: PoolTable): (service: string, serviceId: string, node: string) => PoolEntry | undefined {
  const index = new Map<string, PoolEntry>();
  for (const e of table.byKey.values()) index.set(targetId(e.target.service, e.target.serviceId, e.target.node), e);
  // No records (the usual case): no key to build per instance.
  if (index.size === 0) return () => undefined;
  return (service, serviceId, node) => index.get(targetId(service, serviceId, node)) ?? index.get(targetId(service, serviceId, undefined));
}

/** The invalid records of an instance that has no valid record to fall back on. */
export function createInvalidLookup(table: PoolTable): (service: string, serviceId: string, node: string) => InvalidRecord | undefined {
  const index = new Map<string, InvalidRecord>();
  for (const i of table.invalid) if (i.target) index.set(targetId(i.target.service, i.target.serviceId, i.target.node), i);
  if (index.size === 0) return () => undefined;
  return (service, serviceId, node) => index.get(targetId(service, serviceId, node)) ?? index.get(targetId(service, serviceId, undefined));
}
