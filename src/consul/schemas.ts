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
