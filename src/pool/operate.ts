// What `hapilot pool|depool|drain|decommission` and `cycle` do, apart from parsing flags: pick the
// instances (refusing ones Consul does not know), work out the records to write, refuse a change
// that would cross a backend's depool threshold, and write with check-and-set so two operators
// cannot silently overwrite each other.
import type { HealthEntry } from '../consul/schemas.js';
import { PoolError, PoolErrorCode } from './errors.js';
import { poolInstance, type PoolInstance } from './instances.js';
import type { KvApi } from './kv.js';
import { formatPoolValue, normalizePrefix, poolKey, type PoolRecord, type PoolState } from './record.js';
import { applyPoolStates, describeOut, thresholdRefusal, type PoolDecisions } from './rules.js';
import { createPoolLookup, ingestPoolKv, type KvPair } from './table.js';
import { thresholdFromTags } from './threshold.js';

export type PoolVerb = 'pool' | 'depool' | 'drain' | 'decommission';

export const VERB_STATE: Record<PoolVerb, PoolState> = { pool: 'yes', depool: 'no', drain: 'drain', decommission: 'inactive' };

export interface Selection {
  /** Consul service IDs. */
  instances: readonly string[];
  node: string | undefined;
  all: boolean;
}

export interface PlannedWrite {
  instance: PoolInstance;
  key: string;
  /** ModifyIndex the key had when read (0: it did not exist): the `?cas=` of the write. */
  cas: number;
  /** The pool state in force before (a record's, or `yes` without one). */
  before: PoolState;
  next: PoolRecord;
  /** The record in force already has this state and weight: nothing to write. */
  unchanged: boolean;
}

export interface PoolPlan {
  writes: PlannedWrite[];
  /** Set when the change would take the backend below its depool threshold. */
  refusal: string | undefined;
  threshold: number;
  after: PoolDecisions;
}

/** The instances a selection names; an instance Consul does not know is refused, naming those it does. */
export function selectInstances(service: string, all: readonly PoolInstance[], sel: Selection): PoolInstance[] {
  if (all.length === 0) throw new PoolError(PoolErrorCode.NOT_FOUND, `service ${JSON.stringify(service)} has no instances in Consul: expected a registered service name`);
  const onNode = sel.node === undefined ? all : all.filter((i) => i.node === sel.node);
  if (sel.node !== undefined && onNode.length === 0) {
    throw new PoolError(PoolErrorCode.NOT_FOUND, `service ${service} has no instance on node ${JSON.stringify(sel.node)}: its nodes are ${[...new Set(all.map((i) => i.node))].sort().join(', ')}`);
  }
  if (sel.all || sel.instances.length === 0) return [...onNode];
  const out: PoolInstance[] = [];
  for (const id of sel.instances) {
    const found = onNode.filter((i) => i.serviceId === id);
    if (found.length === 0) {
      const known = [...new Set(onNode.map((i) => i.serviceId))].sort().join(', ');
      throw new PoolError(PoolErrorCode.NOT_FOUND, `instance ${JSON.stringify(id)} of service ${service}${sel.node !== undefined ? ` on node ${sel.node}` : ''} does not exist in Consul: expected one of ${known}`);
    }
    if (found.length > 1) {
      throw new PoolError(PoolErrorCode.NOT_FOUND, `instance ${JSON.stringify(id)} of service ${service} is registered on nodes ${found.map((i) => i.node).sort().join(', ')}: pick one with --node`);
    }
    out.push(...found);
  }
  return out;
}

export interface PlanInput {
  service: string;
  entries: readonly HealthEntry[];
  /** Every KV pair under the prefix, as read (raw, so an unreadable value's ModifyIndex is known too). */
  pairs: readonly KvPair[];
  prefix: string;
  state: PoolState;
  selection: Selection;
  /** Kept from the current record unless given. */
  weight?: number | undefined;
  reason?: string | undefined;
  by?: string | undefined;
  at?: string | undefined;
  defaultThreshold: number;
  includeWarning?: boolean;
}

export function planPoolChange(input: PlanInput): PoolPlan {
  const prefix = normalizePrefix(input.prefix);
  const instances = input.entries.filter((e) => e.Service.Service === input.service).map((e) => poolInstance(e));
  const chosen = selectInstances(input.service, instances, input.selection);
  const before = ingestPoolKv({ prefix, pairs: input.pairs });
  const lookup = createPoolLookup(before);
  const indexOf = new Map(input.pairs.map((p) => [p.key, p.modifyIndex]));
  const idCount = new Map<string, number>();
  for (const i of instances) idCount.set(i.serviceId, (idCount.get(i.serviceId) ?? 0) + 1);

  const writes: PlannedWrite[] = chosen.map((instance) => {
    const current = lookup(instance.service, instance.serviceId, instance.node);
    // Write where the record in force lives; a new record is node-qualified only when the ID is not unique.
    const key = current?.key ?? poolKey(prefix, { service: instance.service, serviceId: instance.serviceId, node: (idCount.get(instance.serviceId) ?? 0) > 1 ? instance.node : undefined });
    const weight = input.weight ?? current?.record.weight;
    const next: PoolRecord = {
      state: input.state,
      ...(weight !== undefined ? { weight } : {}),
      ...(input.reason !== undefined ? { reason: input.reason } : {}),
      ...(input.by !== undefined ? { by: input.by } : {}),
      ...(input.at !== undefined ? { at: input.at } : {}),
    };
    const beforeState = current?.record.state ?? 'yes';
    const unchanged = beforeState === next.state && (current?.record.weight ?? undefined) === weight;
    return { instance, key, cas: indexOf.get(key) ?? 0, before: beforeState, next, unchanged };
  });

  const threshold = thresholdFromTags(instances.flatMap((i) => input.entries.find((e) => e.Service.ID === i.serviceId && e.Node.Node === i.node)?.Service.Tags ?? [])) ?? input.defaultThreshold;
  const thresholds = new Map([[input.service, threshold]]);
  const afterPairs = new Map(input.pairs.map((p) => [p.key, p]));
  for (const w of writes) afterPairs.set(w.key, { key: w.key, value: formatPoolValue(w.next), modifyIndex: w.cas + 1 });
  const common = { instances, thresholds, includeWarning: input.includeWarning ?? false };
  const decBefore = applyPoolStates({ ...common, table: before });
  const after = applyPoolStates({ ...common, table: ingestPoolKv({ prefix, pairs: [...afterPairs.values()] }) });
  const b = decBefore.backends[0];
  const a = after.backends[0];
  const refusal = b && a ? thresholdRefusal(b, a, describeOut(after.servers)) : undefined;
  return { writes, refusal, threshold, after };
}

export interface WriteOutcome {
  write: PlannedWrite;
  /** false: unchanged (the record already said so). */
  written: boolean;
}

/**
 * Writes each planned record with `?cas=`. A lost CAS stops at once with a conflict naming the key;
 * what was written before it is listed in the message, so nothing is silently half-done.
 */
export async function writePlan(kv: KvApi, writes: readonly PlannedWrite[]): Promise<WriteOutcome[]> {
  const done: WriteOutcome[] = [];
  for (const w of writes) {
    if (w.unchanged) {
      done.push({ write: w, written: false });
      continue;
    }
    const ok = await kv.cas(w.key, formatPoolValue(w.next), w.cas);
    if (!ok) {
      const earlier = done.filter((d) => d.written).map((d) => d.write.key);
      throw new PoolError(PoolErrorCode.CONFLICT, `${w.key} changed since it was read (check-and-set index ${w.cas} lost: another operator or tool wrote it); nothing was overwritten there${earlier.length ? `, but ${earlier.join(', ')} ${earlier.length === 1 ? 'was' : 'were'} already written` : ''}: read the state again and retry`);
    }
    done.push({ write: w, written: true });
  }
  return done;
}
