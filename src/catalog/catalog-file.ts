// The offline catalog: a JSON array of entries exactly as Consul's GET /v1/health/service/:name
// returns them, all services concatenated. Also the format `hapilot snapshot` writes.
import { readFile } from 'node:fs/promises';
import { ErrorCode, HapilotError, messageOf } from '../errors.js';
import { HealthEntries, describeZodError, type HealthEntry } from '../consul/schemas.js';

export function parseCatalogText(text: string, source: string): HealthEntry[] {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new HapilotError(ErrorCode.CATALOG_JSON, `--catalog ${source}: malformed JSON (${messageOf(err)}): expected a JSON array of health entries`, { cause: err });
  }
  const parsed = HealthEntries.safeParse(json);
  if (!parsed.success) {
    throw new HapilotError(ErrorCode.CATALOG_SHAPE, `--catalog ${source}: wrong shape ${describeZodError(parsed.error)}: expected an array of {Node, Service, Checks} as GET /v1/health/service/:name returns`);
  }
  return parsed.data;
}

export async function readCatalogFile(file: string): Promise<HealthEntry[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as { code?: string }).code;
    throw new HapilotError(ErrorCode.CATALOG_READ, `--catalog ${file}: cannot read (${code ?? messageOf(err)}): expected a readable JSON file`, { cause: err });
  }
  return parseCatalogText(text, file);
}
