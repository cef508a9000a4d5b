// Shapes of the Consul responses hapilot reads, as zod schemas; types are derived from them.
// Unknown fields are kept (loose objects): Consul adds fields over time, and `snapshot` must write
// back what Consul said. https://developer.hashicorp.com/consul/api-docs/health#list-service-instances-for-service
import { z } from 'zod';

const Str = z.string();
const OptStr = z.string().nullish();

export const CheckStatus = z.enum(['passing', 'warning', 'critical', 'maintenance']);
export type CheckStatus = z.infer<typeof CheckStatus>;

export const HealthCheck = z.looseObject({
  Node: OptStr,
  CheckID: Str,
  Name: OptStr,
  Status: CheckStatus,
  ServiceID: OptStr,
  ServiceName: OptStr,
  Notes: OptStr,
  Output: OptStr,
});
export type HealthCheck = z.infer<typeof HealthCheck>;

export const NodeInfo = z.looseObject({
  ID: OptStr,
  Node: Str,
  Address: Str,
  Datacenter: OptStr,
});

export const Weights = z.looseObject({
  Passing: z.number().int().nonnegative(),
  Warning: z.number().int().nonnegative(),
});

export const ServiceInfo = z.looseObject({
  ID: Str,
  Service: Str,
  Tags: z.array(Str).nullish(),
  Address: OptStr,
  Port: z.number().int(),
  Weights: Weights.nullish(),
  CreateIndex: z.number().int().nonnegative().optional(),
  ModifyIndex: z.number().int().nonnegative().optional(),
});

/** One element of `GET /v1/health/service/:name`; a catalog file is an array of these. */
export const HealthEntry = z.looseObject({
  Node: NodeInfo,
  Service: ServiceInfo,
  Checks: z.array(HealthCheck).nullish(),
});
export type HealthEntry = z.infer<typeof HealthEntry>;

export const HealthEntries = z.array(HealthEntry);

/** `GET /v1/catalog/services`: service name → tags. */
export const CatalogServices = z.record(z.string(), z.array(z.string()).nullable());
export type CatalogServices = z.infer<typeof CatalogServices>;

/** `GET /v1/health/state/:state`: every check in that state (`any` = all of them). */
export const HealthChecks = z.array(HealthCheck);

/** Turns a zod error into one line: where in the input, and what was expected. */
export function describeZodError(err: z.ZodError): string {
  const issue = err.issues[0];
  if (!issue) return 'unexpected shape';
  const where = issue.path.length ? issue.path.map(String).join('.') : '(top level)';
  return `at ${where}: ${issue.message}`;
}

/**
 * The answer, checked for what hapilot reads, or one line saying where it is not what was expected.
 * Large answers (100,000 checks at 10,000 services) are checked by hand, field by field, instead of
 * through zod (about ten times faster, and it keeps the objects as parsed); the zod schemas above stay
 * the definition, and test/consul/shape.test.ts holds both to the same verdicts.
 */
export type ShapeResult<T> = { ok: true; data: T } | { ok: false; message: string };

const STATUSES: ReadonlySet<string> = new Set(CheckStatus.options);

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const optStr = (v: unknown) => v === undefined || v === null || typeof v === 'string';
const expected = (where: string, what: string, v: unknown) => `at ${where}: expected ${what}, received ${v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v}`;

function checkProblem(c: unknown, where: string): string | undefined {
  if (!isObj(c)) return expected(where, 'object', c);
  if (typeof c.CheckID !== 'string') return expected(`${where}.CheckID`, 'string', c.CheckID);
  if (typeof c.Status !== 'string' || !STATUSES.has(c.Status)) return `at ${where}.Status: expected one of ${CheckStatus.options.map((s) => `"${s}"`).join('|')}`;
  for (const k of ['Node', 'Name', 'ServiceID', 'ServiceName', 'Notes', 'Output'] as const) if (!optStr(c[k])) return expected(`${where}.${k}`, 'string', c[k]);
  return undefined;
}

function serviceProblem(s: unknown, where: string): string | undefined {
  if (!isObj(s)) return expected(where, 'object', s);
  if (typeof s.ID !== 'string') return expected(`${where}.ID`, 'string', s.ID);
  if (typeof s.Service !== 'string') return expected(`${where}.Service`, 'string', s.Service);
  if (s.Tags !== undefined && s.Tags !== null) {
    if (!Array.isArray(s.Tags)) return expected(`${where}.Tags`, 'array', s.Tags);
    for (let i = 0; i < s.Tags.length; i++) if (typeof s.Tags[i] !== 'string') return expected(`${where}.Tags.${i}`, 'string', s.Tags[i]);
  }
  if (!optStr(s.Address)) return expected(`${where}.Address`, 'string', s.Address);
  if (!Number.isInteger(s.Port)) return typeof s.Port === 'number' ? `at ${where}.Port: expected int, received number` : expected(`${where}.Port`, 'number', s.Port);
  const w = s.Weights;
  if (w !== undefined && w !== null) {
    if (!isObj(w)) return expected(`${where}.Weights`, 'object', w);
    for (const k of ['Passing', 'Warning'] as const) {
      const x = w[k];
      if (typeof x !== 'number') return expected(`${where}.Weights.${k}`, 'number', x);
      if (!Number.isInteger(x)) return `at ${where}.Weights.${k}: expected int, received number`;
      if (x < 0) return `at ${where}.Weights.${k}: Too small: expected number to be >=0`;
    }
  }
  for (const k of ['CreateIndex', 'ModifyIndex'] as const) {
    const x = s[k];
    if (x === undefined) continue;
    if (typeof x !== 'number') return expected(`${where}.${k}`, 'number', x);
    if (!Number.isInteger(x) || x < 0) return `at ${where}.${k}: expected a non-negative integer`;
  }
  return undefined;
}

function entryProblem(e: unknown, where: string): string | undefined {
  if (!isObj(e)) return expected(where, 'object', e);
  const n = e.Node;
  if (!isObj(n)) return expected(`${where}.Node`, 'object', n);
  if (typeof n.Node !== 'string') return expected(`${where}.Node.Node`, 'string', n.Node);
  if (typeof n.Address !== 'string') return expected(`${where}.Node.Address`, 'string', n.Address);
  if (!optStr(n.ID)) return expected(`${where}.Node.ID`, 'string', n.ID);
  if (!optStr(n.Datacenter)) return expected(`${where}.Node.Datacenter`, 'string', n.Datacenter);
  const sp = serviceProblem(e.Service, `${where}.Service`);
  if (sp) return sp;
  const cs = e.Checks;
  if (cs !== undefined && cs !== null) {
    if (!Array.isArray(cs)) return expected(`${where}.Checks`, 'array', cs);
    for (let i = 0; i < cs.length; i++) {
      const p = checkProblem(cs[i], `${where}.Checks.${i}`);
      if (p) return p;
    }
  }
  return undefined;
}

/** One node of `/v1/internal/ui/nodes`: its services and every check on it (node checks included). */
export interface DumpNode {
  Node: string;
  Address: string;
  Services?: Array<HealthEntry['Service']> | null;
  Checks?: HealthCheck[] | null;
}

function dumpNodeProblem(n: unknown, where: string): string | undefined {
  if (!isObj(n)) return expected(where, 'object', n);
  if (typeof n.Node !== 'string') return expected(`${where}.Node`, 'string', n.Node);
  if (typeof n.Address !== 'string') return expected(`${where}.Address`, 'string', n.Address);
  for (const [k, problem] of [['Services', serviceProblem], ['Checks', checkProblem]] as const) {
    const xs = n[k];
    if (xs === undefined || xs === null) continue;
    if (!Array.isArray(xs)) return expected(`${where}.${k}`, 'array', xs);
    for (let i = 0; i < xs.length; i++) {
      const p = problem(xs[i], `${where}.${k}.${i}`);
      if (p) return p;
    }
  }
  return undefined;
}

function listOf<T>(problem: (x: unknown, where: string) => string | undefined) {
  return (body: unknown): ShapeResult<T[]> => {
    if (!Array.isArray(body)) return { ok: false, message: expected('(top level)', 'array', body) };
    for (let i = 0; i < body.length; i++) {
      const p = problem(body[i], String(i));
      if (p) return { ok: false, message: p };
    }
    // Every element was checked above for each field the HealthCheck/HealthEntry types promise.
    return { ok: true, data: body as T[] };
  };
}

/** `GET /v1/health/state/:state`, checked by hand (see ShapeResult). */
export const checkHealthChecks = listOf<HealthCheck>(checkProblem);
/** `GET /v1/health/service/:name` (and a catalog file), checked by hand (see ShapeResult). */
export const checkHealthEntries = listOf<HealthEntry>(entryProblem);
/** One element of `GET /v1/internal/ui/nodes` (catalog/node-dump.ts parses them one at a time). */
export function checkDumpNode(node: unknown, where: string): ShapeResult<DumpNode> {
  const p = dumpNodeProblem(node, where);
  return p ? { ok: false, message: p } : { ok: true, data: node as DumpNode };
}

/** A zod schema as a shape check. */
export function zodShape<S extends z.ZodType>(schema: S): (body: unknown) => ShapeResult<z.infer<S>> {
  return (body) => {
    const r = schema.safeParse(body);
    return r.success ? { ok: true, data: r.data } : { ok: false, message: describeZodError(r.error) };
  };
}
