// Loading and compiling the Handlebars templates. Compiled with `noEscape` (HTML escaping would turn
// `&` into `&amp;` in a config file) and `strict` (a misspelt field is an error, not an empty
// string). Handlebars' strict mode does not look at helper arguments (`{{#if httpchek}}` would be
// silently false), so templates also see the view through a proxy that throws on any field that does
// not exist. A partial that does not exist is an error when the templates are loaded. Errors name
// the template file and line.
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Handlebars from 'handlebars';
import { ErrorCode, HapilotError, messageOf } from '../errors.js';

export const MAIN_TEMPLATE = 'haproxy.cfg.hbs';
export const PARTIALS_DIR = 'partials';

export type TemplateFn = (view: object) => string;

export interface TemplateSet {
  dir: string;
  render: TemplateFn;
}

/** The templates shipped with hapilot, whether running from `src/` (tsx) or from `dist/src/` (built). */
export const BUILTIN_TEMPLATES_DIR = ((): string => {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const fromSource = path.resolve(here, '../../templates');
  return existsSync(path.join(fromSource, MAIN_TEMPLATE)) ? fromSource : path.resolve(here, '../../../templates');
})();

/** A template read a field the view does not have. */
class MissingField extends Error {
  constructor(readonly field: string, readonly where: string) {
    super(`field "${field}" does not exist${where ? ` in ${where}` : ''}`);
  }
}

// Properties Handlebars itself probes on values; reading them is not a template's mistake.
const PROBED = new Set(['then', 'toJSON', 'constructor', '__proto__', 'length', 'call', 'apply', 'prototype', 'toString', 'valueOf', 'hasOwnProperty']);

/** The view as templates see it: reading a field that does not exist throws, arguments of helpers included. */
export function strictView<T extends object>(view: T, where = ''): T {
  const cache = new WeakMap<object, object>();
  const wrap = (value: unknown, path: string): unknown => {
    if (value === null || typeof value !== 'object') return value;
    const hit = cache.get(value);
    if (hit) return hit;
    const proxy = new Proxy(value, {
      get(target, key, receiver) {
        if (typeof key === 'symbol' || key in target) {
          const inner = typeof key === 'string' && Array.isArray(target) && /^[0-9]+$/.test(key) ? `${path}[${key}]` : `${path}${path ? '.' : ''}${String(key)}`;
          return wrap(Reflect.get(target, key, receiver), inner);
        }
        if (PROBED.has(key)) return undefined;
        throw new MissingField(key, path);
      },
    });
    cache.set(value, proxy);
    return proxy;
  };
  return wrap(view, where) as T;
}

/** Lines of `source` where a path ending in `field` is read, for an error message. */
function linesReading(source: string, field: string): number[] {
  const lines: number[] = [];
  const visit = (node: unknown): void => {
    if (node === null || typeof node !== 'object') return;
    const n = node as { type?: unknown; parts?: unknown; original?: unknown; loc?: { start?: { line?: unknown } } };
    if (n.type === 'PathExpression' && Array.isArray(n.parts) && n.parts.includes(field) && typeof n.loc?.start?.line === 'number') {
      lines.push(n.loc.start.line);
    }
    for (const v of Object.values(node)) {
      if (Array.isArray(v)) v.forEach(visit);
      else if (v !== null && typeof v === 'object' && v !== n.loc) visit(v);
    }
  };
  try {
    visit(Handlebars.parse(source));
  } catch {
    return [];
  }
  return [...new Set(lines)].sort((a, b) => a - b);
}

/** Names of the partials a template calls by a fixed name (`{{> name}}`), with their lines. */
function partialCalls(source: string): Array<{ name: string; line: number }> {
  const out: Array<{ name: string; line: number }> = [];
  const visit = (node: unknown): void => {
    if (node === null || typeof node !== 'object') return;
    const n = node as { type?: unknown; name?: { type?: unknown; original?: unknown }; loc?: { start?: { line?: unknown } } };
    if ((n.type === 'PartialStatement' || n.type === 'PartialBlockStatement') && n.name?.type === 'PathExpression' && typeof n.name.original === 'string') {
      out.push({ name: n.name.original, line: typeof n.loc?.start?.line === 'number' ? n.loc.start.line : 0 });
    }
    for (const v of Object.values(node)) {
      if (Array.isArray(v)) v.forEach(visit);
      else if (v !== null && typeof v === 'object') visit(v);
    }
  };
  visit(Handlebars.parse(source));
  return out;
}

const FIELD_EXPECTED = 'expected a field of the view or a helper (see the built-in templates)';

function templateError(file: string, err: unknown, source?: string): HapilotError {
  if (err instanceof MissingField) {
    const lines = source === undefined ? [] : linesReading(source, err.field);
    const where = lines.length ? `${file}:${lines.join(',')}` : file;
    return new HapilotError(ErrorCode.TEMPLATE, `template ${where}: ${err.message}: ${FIELD_EXPECTED}`, { cause: err });
  }
  const msg = messageOf(err);
  const anyErr = err as { lineNumber?: unknown };
  // Parse errors: "Parse error on line 3:\n...\nExpecting 'ID', got 'EOF'"; runtime errors: "... - 5:4".
  const line = typeof anyErr.lineNumber === 'number'
    ? anyErr.lineNumber
    : Number(/line (\d+)/.exec(msg)?.[1] ?? /- (\d+):\d+$/.exec(msg)?.[1] ?? NaN);
  const lines = msg.split('\n').map((l) => l.trim()).filter(Boolean);
  const summary = lines.length > 1 ? `${lines[0]?.replace(/ on line \d+:?$/, '')}: ${lines[lines.length - 1]}` : (lines[0] ?? msg);
  const where = Number.isFinite(line) ? `${file}:${line}` : file;
  return new HapilotError(ErrorCode.TEMPLATE, `template ${where}: ${summary}`, { cause: err });
}

/** Compiles one template, failing now (not at first render) on a syntax error. */
function compile(hb: typeof Handlebars, file: string, source: string): Handlebars.TemplateDelegate {
  try {
    hb.parse(source);
  } catch (err) {
    throw templateError(file, err);
  }
  return hb.compile(source, { noEscape: true, strict: true });
}

/** Wraps a compiled template so that an error raised inside it names its file; the innermost file wins. */
function located(file: string, source: string, fn: Handlebars.TemplateDelegate): Handlebars.TemplateDelegate {
  return ((context: unknown, options?: Handlebars.RuntimeOptions) => {
    try {
      return fn(context, options);
    } catch (err) {
      if (err instanceof HapilotError) throw err;
      throw templateError(file, err, source);
    }
  }) as Handlebars.TemplateDelegate;
}

export async function loadTemplates(dir: string = BUILTIN_TEMPLATES_DIR): Promise<TemplateSet> {
  const hb = Handlebars.create();
  hb.registerHelper('eq', (a: unknown, b: unknown) => a === b);
  const mainFile = path.join(dir, MAIN_TEMPLATE);
  let mainSource: string;
  try {
    mainSource = await readFile(mainFile, 'utf8');
  } catch (err) {
    throw new HapilotError(ErrorCode.TEMPLATE_READ, `--templates ${dir}: cannot read ${MAIN_TEMPLATE} (${messageOf(err)}): expected a directory with ${MAIN_TEMPLATE} and ${PARTIALS_DIR}/*.hbs`, { cause: err });
  }
  const partialsDir = path.join(dir, PARTIALS_DIR);
  let partialFiles: string[] = [];
  try {
    partialFiles = (await readdir(partialsDir)).filter((f) => f.endsWith('.hbs')).sort();
  } catch {
    partialFiles = []; // a template set without partials is fine
  }
  const sources = new Map<string, string>([[mainFile, mainSource]]);
  for (const f of partialFiles) {
    const file = path.join(partialsDir, f);
    const source = await readFile(file, 'utf8');
    sources.set(file, source);
    hb.registerPartial(f.slice(0, -'.hbs'.length), located(file, source, compile(hb, file, source)));
  }
  const main = located(mainFile, mainSource, compile(hb, mainFile, mainSource));
  // Every partial called by name must exist now, not at the first render of the branch that calls it.
  const known = new Set(partialFiles.map((f) => f.slice(0, -'.hbs'.length)));
  for (const [file, source] of sources) {
    for (const call of partialCalls(source)) {
      if (!known.has(call.name)) {
        throw new HapilotError(ErrorCode.TEMPLATE, `template ${file}:${call.line}: partial "${call.name}" does not exist: expected ${path.join(partialsDir, `${call.name}.hbs`)}${known.size ? ` (partials: ${[...known].join(', ')})` : ''}`);
      }
    }
  }
  return { dir, render: (view) => main(strictView(view)) };
}
