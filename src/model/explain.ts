// How each `HAPROXY.*` tag of each instance of a service was understood: the value used, the
// default, or why it was rejected and which instance that quarantined. Pure: it reads the entries,
// the TAGS table, parseTags and the model buildModel made from the same entries; it decides nothing
// the model does not already decide, so what it says is what the config got.
import type { HealthEntry } from '../consul/schemas.js';
import { entryHealth, type Backend, type Health, type Model } from './model.js';
import { DEFAULT_OPTIONS, ENABLE_ALIASES, TAGS, parseTags, type ServiceOptions } from './tags.js';

/** Bumped when a field changes meaning or disappears (adding fields does not bump it). */
export const EXPLAIN_VERSION = 1;

export type TagValue = string | number | boolean | null;

/**
 * - `used`: valid, and the service's config carries this value.
 * - `overridden`: valid, but the service takes this option from another instance (the most recently modified).
 * - `unused`: valid, but nothing of it reaches the config: the instance or the service is left out.
 * - `rejected`: value not matching its schema, missing, conflicting or inconsistent; the instance is quarantined.
 * - `ignored`: an unknown key (or one that only looks like ours); it never reaches the config, `reason` names the closest key.
 */
export type TagStatus = 'used' | 'overridden' | 'unused' | 'rejected' | 'ignored';

export interface TagExplanation {
  tag: string;
  /** The canonical key (`HAPROXY.BACKEND.BALANCE` for its alias `HAPROXY.BALANCE`), or undefined for an unknown key. */
  key: string | undefined;
  status: TagStatus;
  /** The value as parsed (numbers as numbers, host names lower-cased); null when rejected. */
  value: TagValue;
  /** The value the service's config carries for this key, when it differs from `value`. */
  effective: TagValue;
  /** Why it was rejected (rejected), or why it does not count (overridden, unused). */
  reason: string | undefined;
  /** Set for a deprecated alias: the tag to write instead. */
  deprecatedFor: string | undefined;
}

export interface DefaultExplanation {
  key: string;
  /** The default, or null for "none" (no per-server maxconn, no own frontend port, …). */
  value: TagValue;
  /** What the service's config carries for this key when another instance's tag set it. */
  effective: TagValue;
}

export type InstanceStatus = 'server' | 'quarantined' | 'not-enabled' | 'unhealthy' | 'left-out';

export interface InstanceExplanation {
  id: string;
  node: string;
  address: string;
  port: number;
  health: Health;
  status: InstanceStatus;
  /** The HAProxy server name, when the instance is a server. */
  server: string | undefined;
  /** Why it is not a server (quarantine reason, health, the service being left out). */
  reason: string | undefined;
  /** The tag the quarantine names, when it names one. */
  quarantineTag: string | undefined;
  tags: TagExplanation[];
  defaults: DefaultExplanation[];
}

export type ServiceStatus = 'balanced' | 'quarantined' | 'not-enabled';

export interface ServiceExplanation {
  service: string;
  status: ServiceStatus;
  reason: string | undefined;
  /** The instance whose tags set the service's options (most recently modified valid one). */
  optionsFrom: string | undefined;
  /** The backend as the model has it (undefined when the service is not balanced). */
  backend: Backend | undefined;
  /** Host routed to the backend (the map line), and its own frontend port. */
  host: string | undefined;
  port: number | undefined;
  instances: InstanceExplanation[];
}

type OptionPath = readonly string[];

/** Which field of ServiceOptions a tag key sets, found by applying its setter to a probe: no second table to keep in step. */
export function optionPath(key: string): OptionPath | undefined {
  const spec = TAGS[key];
  if (!spec) return undefined;
  const probe = structuredClone(DEFAULT_OPTIONS) as unknown as Record<string, unknown>;
  const marker = { marker: key };
  spec.set(probe as unknown as ServiceOptions, marker as never);
  const find = (o: Record<string, unknown>, at: string[]): OptionPath | undefined => {
    for (const [k, v] of Object.entries(o)) {
      if (v === marker) return [...at, k];
      if (v !== null && typeof v === 'object') {
        const inner = find(v as Record<string, unknown>, [...at, k]);
        if (inner) return inner;
      }
    }
    return undefined;
  };
  return find(probe, []);
}

function valueAt(options: ServiceOptions, at: OptionPath): TagValue {
  let v: unknown = options;
  for (const k of at) v = v !== null && typeof v === 'object' ? (v as Record<string, unknown>)[k] : undefined;
  return typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' ? v : null;
}

/** The canonical keys an instance can set, in the table's order (aliases and ENABLE excluded). */
const OPTION_KEYS = Object.entries(TAGS).filter(([key, spec]) => !spec.aliasOf && key !== 'HAPROXY.ENABLE').map(([key]) => key);

/** The key part of a tag: what comes before the first `=`, or the whole tag. */
function keyOf(tag: string): string {
  const eq = tag.indexOf('=');
  return eq === -1 ? tag : tag.slice(0, eq);
}

/** The options the service's config carries, read back from the model (host and port from its routes). */
function effectiveOptions(model: Model, service: string): ServiceOptions | undefined {
  const b = model.backends.find((x) => x.service === service);
  if (!b) return undefined;
  return {
    protocol: b.mode,
    balance: b.balance,
    maxconn: b.maxconn,
    host: model.httpRoutes.find((r) => r.backend === b.name)?.host,
    port: model.portFrontends.find((f) => f.backend === b.name)?.port,
    sticky: b.sticky,
    check: b.check,
    httpchk: b.httpchk,
  };
}

export interface ExplainInput {
  service: string;
  /** Every entry of the catalog (only the service's are read). */
  entries: readonly HealthEntry[];
  /** The model built from the same entries. */
  model: Model;
}

/** Undefined when the catalog has no instance of the service. */
export function explainService({ service, entries, model }: ExplainInput): ServiceExplanation | undefined {
  const mine = entries.filter((e) => e.Service.Service === service)
    .sort((a, b) => cmp(a.Service.ID, b.Service.ID) || cmp(a.Node.Node, b.Node.Node));
  if (mine.length === 0) return undefined;
  const backend = model.backends.find((b) => b.service === service);
  const effective = effectiveOptions(model, service);
  const serviceQuarantine = model.quarantined.find((q) => q.service === service && q.instance === '*');
  const domainHost = model.settings.domain ? `${service.toLowerCase()}.${model.settings.domain}` : undefined;

  const instances = mine.map((entry) => explainInstance({ entry, model, service, effective, serviceLeftOut: serviceQuarantine?.reason, domainHost }));
  const optionsFrom = backend ? newestValid(mine, instances) : undefined;
  for (const inst of instances) {
    if (inst.status !== 'server' && inst.status !== 'unhealthy') continue;
    for (const t of inst.tags) {
      if (t.status === 'overridden' && optionsFrom) t.reason = `the service takes this option from instance ${optionsFrom} (most recently modified)`;
    }
  }

  let status: ServiceStatus;
  let reason: string | undefined;
  if (backend) {
    status = 'balanced';
  } else if (serviceQuarantine) {
    status = 'quarantined';
    reason = serviceQuarantine.reason;
  } else if (instances.some((i) => i.status === 'quarantined')) {
    status = 'quarantined';
    reason = 'every enabled instance is quarantined';
  } else {
    status = 'not-enabled';
    reason = 'no instance has HAPROXY.ENABLE=true';
  }
  return { service, status, reason, optionsFrom, backend, host: effective?.host, port: effective?.port, instances };
}

/** The instance the model took the service's options from: the most recently modified one that was not quarantined. */
function newestValid(entries: HealthEntry[], instances: InstanceExplanation[]): string | undefined {
  const ok = new Set(instances.filter((i) => i.status === 'server' || i.status === 'unhealthy' || i.status === 'left-out').map((i) => i.id));
  const newest = entries.filter((e) => ok.has(e.Service.ID))
    .sort((a, b) => (b.Service.ModifyIndex ?? 0) - (a.Service.ModifyIndex ?? 0) || cmp(a.Service.ID, b.Service.ID))[0];
  return newest?.Service.ID;
}

interface InstanceInput {
  entry: HealthEntry;
  model: Model;
  service: string;
  effective: ServiceOptions | undefined;
  serviceLeftOut: string | undefined;
  domainHost: string | undefined;
}

function explainInstance({ entry, model, service, effective, serviceLeftOut, domainHost }: InstanceInput): InstanceExplanation {
  const id = entry.Service.ID;
  const tags = [...new Set(entry.Service.Tags ?? [])].sort();
  const parsed = parseTags(tags);
  const health = entryHealth(entry);
  const quarantine = model.quarantined.find((q) => q.service === service && q.instance === id);
  const server = model.backends.find((b) => b.service === service)?.servers.find((s) => s.serviceId === id && s.node === entry.Node.Node);

  let status: InstanceStatus;
  let reason: string | undefined;
  if (!parsed.enabled) {
    status = 'not-enabled';
    reason = 'no HAPROXY.ENABLE=true tag';
  } else if (quarantine) {
    status = 'quarantined';
    reason = quarantine.reason;
  } else if (server) {
    status = 'server';
  } else if (serviceLeftOut !== undefined) {
    status = 'left-out';
    reason = `the service is quarantined: ${serviceLeftOut}`;
  } else if (health !== 'passing') {
    status = 'unhealthy';
    reason = health === 'warning'
      ? 'a check is warning (HAPILOT_INCLUDE_WARNING is off)'
      : 'a check (service or node) is critical or in maintenance';
  } else {
    status = 'left-out';
    reason = 'a duplicate of another instance with the same node and ID';
  }
  const counts = status === 'server' || status === 'unhealthy';

  // Errors are attached to the tag they name, or to the first tag with the same key (the
  // consistency checks name the parsed value, e.g. a host name lower-cased).
  const errorsByTag = new Map<string, string>();
  for (const err of parsed.errors) {
    const target = tags.includes(err.tag) ? err.tag : tags.find((t) => keyOf(t) === keyOf(err.tag));
    if (target !== undefined && !errorsByTag.has(target)) errorsByTag.set(target, err.message);
  }
  const warningsByTag = new Map(parsed.warnings.map((w) => [w.tag, w.message]));

  const explained: TagExplanation[] = [];
  const setKeys = new Set<string>();
  for (const tag of tags) {
    if ((ENABLE_ALIASES as readonly string[]).includes(tag)) {
      explained.push({ tag, key: 'HAPROXY.ENABLE', status: 'used', value: 'true', effective: null, reason: undefined, deprecatedFor: 'HAPROXY.ENABLE=true' });
      continue;
    }
    const warning = warningsByTag.get(tag);
    if (warning !== undefined) {
      explained.push({ tag, key: undefined, status: 'ignored', value: null, effective: null, reason: warning, deprecatedFor: undefined });
      continue;
    }
    if (!tag.startsWith('HAPROXY.')) continue;
    const rawKey = keyOf(tag);
    const spec = Object.hasOwn(TAGS, rawKey) ? TAGS[rawKey] : undefined;
    const key = spec ? spec.aliasOf ?? rawKey : undefined;
    if (key) setKeys.add(key);
    const raw = tag.slice(rawKey.length + 1);
    const deprecatedFor = spec?.aliasOf ? `${spec.aliasOf}=${raw}` : undefined;
    const error = errorsByTag.get(tag);
    if (error !== undefined || !spec || key === undefined || rawKey === tag) {
      explained.push({ tag, key, status: 'rejected', value: null, effective: null, reason: error ?? `expected ${rawKey}=<value>`, deprecatedFor });
      continue;
    }
    const result = spec.schema.safeParse(raw);
    const value = result.success ? toValue(result.data) : null;
    if (key === 'HAPROXY.ENABLE') {
      explained.push({ tag, key, status: 'used', value, effective: null, reason: undefined, deprecatedFor });
      continue;
    }
    const at = optionPath(key);
    const inEffect = effective && at ? valueAt(effective, at) : null;
    let tagStatus: TagStatus;
    let why: string | undefined;
    if (!counts || !effective) {
      tagStatus = 'unused';
      why = status === 'quarantined' ? 'the instance is quarantined' : reason;
    } else if (inEffect === value) {
      tagStatus = 'used';
    } else {
      tagStatus = 'overridden';
    }
    explained.push({ tag, key, status: tagStatus, value, effective: tagStatus === 'overridden' ? inEffect : null, reason: why, deprecatedFor });
  }

  const defaults: DefaultExplanation[] = [];
  if (parsed.enabled) {
    for (const key of OPTION_KEYS) {
      if (setKeys.has(key)) continue;
      const at = optionPath(key);
      if (!at) continue;
      let value = valueAt(DEFAULT_OPTIONS, at);
      if (key === 'HAPROXY.FRONTEND.HOST' && parsed.options.protocol === 'http') value = domainHost ?? null;
      const inEffect = counts && effective ? valueAt(effective, at) : null;
      defaults.push({ key, value, effective: counts && effective && inEffect !== value ? inEffect : null });
    }
  }

  return {
    id,
    node: entry.Node.Node,
    address: entry.Service.Address || entry.Node.Address,
    port: entry.Service.Port,
    health,
    status,
    server: server?.name,
    reason,
    quarantineTag: quarantine?.tag,
    tags: explained,
    defaults,
  };
}

function toValue(v: unknown): TagValue {
  return typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' ? v : null;
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
