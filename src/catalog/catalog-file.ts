// The offline catalog: a JSON array of entries exactly as Consul's GET /v1/health/service/:name
// returns them, all services concatenated. Also the format `hapilot snapshot` writes. Everything
// read here is input: a truncated, malformed or wrongly shaped file is one line naming the file, where
// it went wrong, what was found and what was expected.
import { readFile } from 'node:fs/promises';
import { ErrorCode, HapilotError, messageOf } from '../errors.js';
import { HealthEntries, describeZodError, type HealthEntry } from '../consul/schemas.js';

const EXPECTED = 'expected a JSON array of health entries as GET /v1/health/service/:name returns';

/** Line and column (1-based) of a character offset. */
function lineColumn(text: string, offset: number): string {
  const before = text.slice(0, offset);
  const line = before.split('\n').length;
  return `line ${line} column ${offset - before.lastIndexOf('\n')}`;
}

/** V8's JSON.parse message, made one line and free of the input's own text. */
function describeJsonError(text: string, err: unknown): string {
  const msg = messageOf(err);
  if (text.trim() === '') return 'the file is empty';
  if (/Unexpected end of JSON input/.test(msg)) return `truncated: the text ends (after ${text.length} characters) before the JSON does`;
  const pos = /at position (\d+)/.exec(msg);
  if (pos) {
    const at = Number(pos[1]);
    // An error at the very end (an unterminated string, a missing bracket) is a file cut short.
    if (at >= text.trimEnd().length) return `truncated: the text ends (after ${text.length} characters) before the JSON does`;
    return `${msg.replace(/ at position \d+.*$/s, '').replace(/ in JSON$/, '').replace(/ JSON$/, ' the JSON').toLowerCase()} at ${lineColumn(text, at)}`;
  }
  // "Unexpected token 'x', "<the input>" is not valid JSON": keep the token, drop the quoted input.
  const token = /^Unexpected token '(.+?)', /s.exec(msg);
  if (token?.[1] !== undefined) {
    const at = text.indexOf(token[1]);
    return `unexpected character ${JSON.stringify(token[1])}${at >= 0 ? ` at ${lineColumn(text, at)}` : ''}`;
  }
  return JSON.stringify(msg.slice(0, 120));
}

/** The value at a zod issue's path, shown short. */
function foundAt(json: unknown, path: readonly PropertyKey[]): string {
  let v: unknown = json;
  for (const key of path) {
    if (v === null || typeof v !== 'object') return '';
    v = (v as Record<PropertyKey, unknown>)[key];
  }
  if (v === undefined) return ' (missing)';
  let shown: string;
  try {
    shown = JSON.stringify(v) ?? String(v);
  } catch {
    shown = Array.isArray(v) ? 'a deeply nested array' : 'a deeply nested object'; // beyond JSON.stringify's depth
  }
  return ` (found ${shown.length > 80 ? `${shown.slice(0, 80)}…` : shown})`;
}

export function parseCatalogText(text: string, source: string): HealthEntry[] {
  // A byte-order mark (some editors write one) is not part of the JSON.
  const body = text.startsWith('\ufeff') ? text.slice(1) : text;
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch (err) {
    throw new HapilotError(ErrorCode.CATALOG_JSON, `--catalog ${source}: malformed JSON, ${describeJsonError(body, err)}: ${EXPECTED}`, { cause: err });
  }
  let parsed: ReturnType<typeof HealthEntries.safeParse>;
  try {
    parsed = HealthEntries.safeParse(json);
  } catch (err) {
    // Only a nesting deeper than the stack gets here.
    throw new HapilotError(ErrorCode.CATALOG_SHAPE, `--catalog ${source}: wrong shape, nested too deeply to read (${messageOf(err)}): expected an array of {Node, Service, Checks} as GET /v1/health/service/:name returns`, { cause: err });
  }
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const found = issue ? foundAt(json, issue.path) : '';
    throw new HapilotError(ErrorCode.CATALOG_SHAPE, `--catalog ${source}: wrong shape ${describeZodError(parsed.error)}${found}: expected an array of {Node, Service, Checks} as GET /v1/health/service/:name returns`);
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
