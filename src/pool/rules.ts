// The pool rules: Consul instances + pool records (+ Consul maintenance, + the depool threshold) →
// what HAProxy should have for each server: in the config or not, admin state and weight, and why.
// Pure: the engine maps its model onto `PoolInstance` and the decisions back onto servers.
//   inactive                       → not in the config
//   Consul maintenance, `no`       → maint ("maintenance in Consul" says where to lift it)
//   failing Consul checks          → maint (in the config, so the threshold can keep it)
//   drain                          → drain (no new sessions; open ones finish)
//   yes and healthy                → ready
// then the threshold puts back into rotation (ready) as few as it takes.
import { dockerWeightId, type DockerWeights } from './docker-weights.js';
import type { PoolInstance } from './instances.js';
import type { PoolState } from './record.js';
import { createInvalidLookup, createPoolLookup, type PoolTable } from './table.js';
import { applyThreshold, type ThresholdMember } from './threshold.js';
import { sortShort } from '../util/sorted.js';

export type AdminState = 'ready' | 'drain' | 'maint';
export type OutKind = 'inactive' | 'consul-maintenance' | 'depooled' | 'unhealthy' | 'draining' | 'weight-0';

export const DEFAULT_DEPOOL_THRESHOLD = 0.5;

export interface ServerDecision {
  backend: string;
  server: string;
  service: string;
  node: string;
  serviceId: string;
  /** false for `inactive`: the server is left out of haproxy.cfg. */
  inConfig: boolean;
  admin: AdminState;
  weight: number;
  pool: PoolState;
  /** Where the pool state came from: a record, the default (`yes`, no record), or an unreadable record (kept as it was). */
  poolSource: 'record' | 'default' | 'unreadable';
  recordKey: string | undefined;
  /** The operator's reason from the record, if any. */
  recordReason: string | undefined;
  /** HAProxy sends it new sessions (its own checks permitting). */
  inRotation: boolean;
  /** What takes it out of rotation (or would, when kept by the threshold). */
  out: OutKind | undefined;
  /** The same, for people: says where to lift it. */
  outReason: string | undefined;
  keptByThreshold: boolean;
}

export interface BackendPoolSummary {
  backend: string;
  threshold: number;
  /** Servers in the config (every state but inactive). */
  counted: number;
  /** Servers that would be in rotation without the threshold. */
  wantIn: number;
  inRotation: number;
  minInRotation: number;
  /** Servers kept in rotation past the threshold (they wanted out). */
  kept: string[];
}

export interface PoolDecisions {
  /** Sorted by backend, then server. */
  servers: ServerDecision[];
  backends: BackendPoolSummary[];
  /** Unusable KV values (pool records and docker-haproxy weights), with key and reason. */
  invalid: Array<{ key: string; reason: string }>;
}

export interface ApplyPoolInput {
  instances: readonly PoolInstance[];
  table: PoolTable;
  /** Per-backend threshold (HAPROXY.BACKEND.DEPOOL_THRESHOLD); backends without one get `defaultThreshold`. */
  thresholds?: ReadonlyMap<string, number>;
  defaultThreshold?: number;
  /** `warning` instances are in rotation (HAPILOT_INCLUDE_WARNING). */
  includeWarning?: boolean;
  /** docker-haproxy weights; undefined when the flag is off. */
  dockerWeights?: DockerWeights | undefined;
  /** The previous decisions, by `backend/server`: stickiness of the threshold and fallback for unreadable records. */
  previous?: ReadonlyMap<string, ServerDecision>;
  /** HAProxy's admin state now, by `backend/server`: fallback for an unreadable record at startup. */
  current?: ReadonlyMap<string, AdminState>;
}

export function decisionKey(backend: string, server: string): string {
  return `${backend}/${server}`;
}

const ADMIN_TO_POOL: Record<AdminState, PoolState> = { ready: 'yes', drain: 'drain', maint: 'no' };

export function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function maintenanceReason(i: PoolInstance): string {
  const m = i.maintenance;
  if (!m) return '';
  const why = m.reason ? `: ${m.reason}` : '';
  return m.scope === 'node'
    ? `maintenance in Consul (node ${i.node}${why}); lift it with \`consul maint -disable\` on node ${i.node}`
    : `maintenance in Consul (service ${i.serviceId}${why}); lift it with \`consul maint -disable -service ${i.serviceId}\` on node ${i.node}`;
}

interface Draft {
  d: ServerDecision;
  member: ThresholdMember;
}

function decide(i: PoolInstance, input: Omit<ApplyPoolInput, 'instances'>, lookup: ReturnType<typeof createPoolLookup>, invalidLookup: ReturnType<typeof createInvalidLookup>): Draft {
  const key = decisionKey(i.backend, i.server);
  const entry = lookup(i.service, i.serviceId, i.node);
  const unreadable = entry ? undefined : invalidLookup(i.service, i.serviceId, i.node);
  let pool: PoolState = 'yes';
  let poolSource: ServerDecision['poolSource'] = 'default';
  if (entry) {
    pool = entry.record.state;
    poolSource = 'record';
  } else if (unreadable) {
    // Leave the instance as it was: the last decision, else what HAProxy has now, else in the pool.
    const prev = input.previous?.get(key);
    const cur = input.current?.get(key);
    pool = prev ? prev.pool : cur ? ADMIN_TO_POOL[cur] : 'yes';
    poolSource = 'unreadable';
  }

  let weight = i.weight;
  if (input.dockerWeights) weight = input.dockerWeights.byInstance.get(dockerWeightId(i.service, i.address, i.port)) ?? input.dockerWeights.defaultWeight;
  if (entry?.record.weight !== undefined) weight = entry.record.weight;
  else if (poolSource === 'unreadable' && input.previous?.get(key)) weight = input.previous.get(key)?.weight ?? weight;

  const healthy = i.health === 'passing' || (i.health === 'warning' && input.includeWarning === true);
  let admin: AdminState = 'ready';
  let outReason: string | undefined;
  let out: OutKind | undefined;
  let outRank = 0;
  if (pool === 'inactive') {
    admin = 'maint';
    out = 'inactive';
    outReason = 'decommissioned (pool state "inactive")';
  } else if (i.maintenance) {
    admin = 'maint';
    out = 'consul-maintenance';
    outReason = maintenanceReason(i);
    outRank = 2;
  } else if (pool === 'no') {
    admin = 'maint';
    out = 'depooled';
    outReason = 'depooled (pool state "no")';
    outRank = 1;
  } else if (!healthy) {
    admin = 'maint';
    out = 'unhealthy';
    outReason = i.health === 'warning' ? 'warning in Consul checks (HAPILOT_INCLUDE_WARNING is off)' : 'failing Consul checks';
    outRank = 3;
  } else if (pool === 'drain') {
    admin = 'drain';
    out = 'draining';
    outReason = 'draining (pool state "drain")';
    outRank = 0;
  } else if (weight === 0) {
    out = 'weight-0';
    outReason = 'weight 0';
  }
  if (poolSource === 'unreadable' && outReason) outReason += ' (its pool record is unreadable: kept as it was)';

  const inConfig = pool !== 'inactive';
  const inRotation = inConfig && admin === 'ready' && weight > 0;
  const d: ServerDecision = {
    backend: i.backend,
    server: i.server,
    service: i.service,
    node: i.node,
    serviceId: i.serviceId,
    inConfig,
    admin,
    weight,
    pool,
    poolSource,
    recordKey: entry?.key ?? unreadable?.key,
    recordReason: entry?.record.reason,
    inRotation,
    out,
    outReason,
    keptByThreshold: false,
  };
  const member: ThresholdMember = {
    server: i.server,
    wantIn: inRotation,
    keepable: inConfig && weight > 0,
    wasIn: input.previous?.get(key)?.inRotation ?? false,
    healthy,
    outRank,
  };
  return { d, member };
}

/** The lookups of one pool table (built once per table, shared by every backend decided against it). */
export interface PoolLookups {
  lookup: ReturnType<typeof createPoolLookup>;
  invalidLookup: ReturnType<typeof createInvalidLookup>;
}

export function poolLookups(table: PoolTable): PoolLookups {
  return { lookup: createPoolLookup(table), invalidLookup: createInvalidLookup(table) };
}

/** One backend's decisions (sorted by server) and summary: the part of `applyPoolStates` for the instances of `backend`. */
export function decideBackend(backend: string, instances: readonly PoolInstance[], input: Omit<ApplyPoolInput, 'instances'>, lookups: PoolLookups = poolLookups(input.table)): { servers: ServerDecision[]; summary: BackendPoolSummary } {
  const drafts = sortShort(instances.map((i) => decide(i, input, lookups.lookup, lookups.invalidLookup)), (a, b) => cmp(a.d.server, b.d.server));
  const threshold = input.thresholds?.get(backend) ?? input.defaultThreshold ?? DEFAULT_DEPOOL_THRESHOLD;
  const counted = drafts.filter((x) => x.d.inConfig);
  const t = applyThreshold(counted.map((x) => x.member), threshold);
  const kept = new Set(t.kept);
  const servers: ServerDecision[] = [];
  for (const x of drafts) {
    if (kept.has(x.d.server)) {
      x.d.admin = 'ready';
      x.d.inRotation = true;
      x.d.keptByThreshold = true;
    }
    servers.push(x.d);
  }
  const summary: BackendPoolSummary = {
    backend,
    threshold,
    counted: t.counted,
    wantIn: t.wantIn,
    inRotation: counted.filter((x) => x.d.inRotation).length,
    minInRotation: t.min,
    kept: t.kept,
  };
  return { servers, summary };
}

/** The unusable KV values of a table (and of the docker-haproxy weights), as decisions report them. */
export function invalidOf(table: PoolTable, dockerWeights: DockerWeights | undefined): PoolDecisions['invalid'] {
  return [
    ...table.invalid.map((i) => ({ key: i.key, reason: i.kept ? `${i.reason} (the last valid record still applies)` : i.reason })),
    ...(dockerWeights?.invalid ?? []),
  ];
}

/** Decides, for every instance, what HAProxy should have; see the file header for the rules. */
export function applyPoolStates(input: ApplyPoolInput): PoolDecisions {
  const lookups = poolLookups(input.table);
  const byBackend = new Map<string, PoolInstance[]>();
  for (const i of input.instances) {
    const list = byBackend.get(i.backend) ?? [];
    list.push(i);
    byBackend.set(i.backend, list);
  }
  const servers: ServerDecision[] = [];
  const backends: BackendPoolSummary[] = [];
  for (const backend of [...byBackend.keys()].sort(cmp)) {
    const one = decideBackend(backend, byBackend.get(backend) ?? [], input, lookups);
    for (const d of one.servers) servers.push(d);
    backends.push(one.summary);
  }
  return { servers, backends, invalid: invalidOf(input.table, input.dockerWeights) };
}

/** Why a proposed change may not be written: it takes a backend below its threshold. */
export function thresholdRefusal(before: BackendPoolSummary, after: BackendPoolSummary, outBreakdown: string): string | undefined {
  if (after.wantIn >= after.minInRotation || after.wantIn >= before.wantIn) return undefined;
  const out = after.counted - after.wantIn;
  return `backend ${after.backend} would have ${after.wantIn} of ${after.counted} servers in rotation (${out} out: ${outBreakdown}), below its depool threshold ${after.threshold} (at least ${after.minInRotation})`;
}

const OUT_WORDS: Record<OutKind, string> = {
  depooled: 'depooled',
  draining: 'draining',
  'consul-maintenance': 'in Consul maintenance',
  unhealthy: 'failing Consul checks',
  'weight-0': 'at weight 0',
  inactive: 'decommissioned',
};

/** "2 depooled, 1 failing Consul checks": what takes the counted servers out (kept ones included). */
export function describeOut(servers: readonly ServerDecision[]): string {
  const counts = new Map<OutKind, number>();
  for (const s of servers) if (s.inConfig && s.out) counts.set(s.out, (counts.get(s.out) ?? 0) + 1);
  return (Object.keys(OUT_WORDS) as OutKind[]).filter((k) => counts.has(k)).map((k) => `${counts.get(k)} ${OUT_WORDS[k]}`).join(', ') || 'none';
}
