// Loading and compiling the Handlebars templates. Compiled with `noEscape` (HTML escaping would turn
// `&` into `&amp;` in a config file) and a field check compiled into every path a template reads,
// helper arguments included (Handlebars' own `strict` skips them: `{{#if httpchek}}` would be
// silently false): a misspelt field is an error naming the template file, the line and the field,
// never an empty string. A partial that does not exist is an error when the templates are loaded.
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

/** Where a template reads a field: the file, the line and 0-based column of the path, the path as written. */
interface FieldSite {
  file: string;
  line: number;
  column: number;
  expression: string;
}

/** A template read a field its view does not have: thrown by the compiled lookups, located in the view by `render`. */
class MissingField extends Error {
  readonly line: number;
  /** 0-based, as Handlebars counts (cli/template-location.ts reads it). */
  readonly column: number;
  constructor(readonly site: FieldSite, readonly parent: unknown, readonly field: string) {
    super(`field "${site.expression}" does not exist`);
    this.line = site.line;
    this.column = site.column;
  }
}

/** The parts of Handlebars' JavaScriptCompiler this module extends (Handlebars ships no types for them). */
interface JsCompiler {
  options: { hapilotFile?: string; hapilotSites?: FieldSite[] };
  source: { currentLocation?: { start?: { line?: number; column?: number } } };
  popStack(): unknown;
  push(expr: unknown): void;
  quotedString(s: string): string;
  aliasable(name: string): unknown;
  nameLookup(parent: unknown, name: string, type: string): unknown;
}

/** The helper slot holding the field check: its name has a space, so no template can call it. */
const FIELD_CHECK = 'hapilot field';

/**
 * A JavaScriptCompiler whose path lookups all go through the field check: `{{name}}`, helper
 * arguments (`{{#if httpchek}}`, `{{#each backendz}}`, `(eq mod "http")`), block parameters and
 * `@root.x` alike, each part of each path. The first part of a data path (`@index`, `@root`) is the
 * data frame's own. Each lookup site (file, line, column, path as written) is recorded at compile time
 * and the generated code passes only its number: nothing is allocated per lookup.
 */
function strictCompiler(base: new () => object): new () => object {
  function Strict(this: object): void {
    base.call(this);
  }
  Strict.prototype = Object.create(base.prototype as object) as object;
  Object.assign(Strict.prototype, {
    compiler: Strict, // nested blocks are compiled by `new this.compiler()`
    resolvePath(this: JsCompiler, type: string, parts: string[], startPartIndex: number): void {
      const sites = this.options.hapilotSites ?? [];
      let stack = this.popStack();
      for (let i = startPartIndex; i < parts.length; i++) {
        const part = parts[i] as string;
        if (type === 'data' && i === 0) {
          stack = this.nameLookup(stack, part, type);
          continue;
        }
        const loc = this.source.currentLocation?.start;
        sites.push({ file: this.options.hapilotFile ?? '', line: loc?.line ?? 0, column: loc?.column ?? 0, expression: `${type === 'data' ? '@' : ''}${parts.slice(0, i + 1).join('.')}` });
        stack = [this.aliasable(`helpers[${this.quotedString(FIELD_CHECK)}].read`), '(', stack, ', ', this.quotedString(part), ', ', String(sites.length - 1), ')'];
      }
      this.push(stack);
    },
  });
  return Strict as unknown as new () => object;
}

/**
 * The runtime half of the check, over the sites of one environment's templates: an own property of
 * the object (or string) read, else `MissingField`. Stored as an object, not a function, so that
 * Handlebars does not wrap it as a helper.
 */
function fieldCheck(sites: readonly FieldSite[]): { read: (parent: unknown, name: string, site: number) => unknown } {
  return {
    read(parent, name, site) {
      if (parent !== null && parent !== undefined && Object.hasOwn(parent, name)) return (parent as Record<string, unknown>)[name];
      throw new MissingField(sites[site] ?? { file: '', line: 0, column: 0, expression: name }, parent, name);
    },
  };
}

/** Where `target` sits in `view` (`['backends', '3', 'servers', '0']`), or undefined. Only ever run for an error. */
function pathIn(view: unknown, target: object): string[] | undefined {
  if (target === view) return [];
  const seen = new Set<unknown>();
  const stack: Array<{ value: unknown; at: string[] }> = [{ value: view, at: [] }];
  for (let next = stack.pop(); next; next = stack.pop()) {
    const { value, at } = next;
    if (value === null || typeof value !== 'object' || seen.has(value)) continue;
    seen.add(value);
    for (const [k, v] of Object.entries(value)) {
      if (v === target) return [...at, k];
      if (v !== null && typeof v === 'object') stack.push({ value: v, at: [...at, k] });
    }
  }
  return undefined;
}

/** The one-line error for a field a template read that its view does not have. */
function missingFieldError(err: MissingField, view: unknown): HapilotError {
  const { site, parent, field } = err;
  const at = parent !== null && typeof parent === 'object' ? pathIn(view, parent) : undefined;
  const shown = at ? [...at, field].join('.') : site.expression;
  let expected: string;
  if (Array.isArray(parent)) {
    expected = `an index below ${parent.length}, or length`;
  } else if (parent !== null && typeof parent === 'object') {
    const keys = Object.keys(parent);
    expected = `one of ${keys.slice(0, 12).join(', ')}${keys.length > 12 ? ', …' : ''}, or a helper`;
  } else {
    const parentPath = site.expression.split('.').slice(0, -1).join('.');
    expected = `a field of an object, but ${parentPath ? `"${parentPath}"` : 'the context'} is ${parent === undefined ? 'undefined' : parent === null ? 'null' : `a ${typeof parent}`}`;
  }
  return new HapilotError(ErrorCode.TEMPLATE, `template ${site.file}:${site.line}: field "${shown}" does not exist: expected ${expected}`, { cause: err });
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

function templateError(file: string, err: unknown): HapilotError {
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
function compile(hb: typeof Handlebars, file: string, source: string, sites: FieldSite[]): Handlebars.TemplateDelegate {
  try {
    hb.parse(source);
  } catch (err) {
    throw templateError(file, err);
  }
  // `strict` too: a mustache naming neither a field nor a helper is not sent to helperMissing.
  const options = { noEscape: true, strict: true, hapilotFile: file, hapilotSites: sites };
  return hb.compile(source, options as CompileOptions);
}

type CompileOptions = NonNullable<Parameters<typeof Handlebars.compile>[1]>;

/**
 * Wraps a compiled template so that an error raised inside it names its file; the innermost file
 * wins. A missing field passes through: it knows its file, and is located in the whole view at the top.
 */
function located(file: string, fn: Handlebars.TemplateDelegate): Handlebars.TemplateDelegate {
  return ((context: unknown, options?: Handlebars.RuntimeOptions) => {
    try {
      return fn(context, options);
    } catch (err) {
      if (err instanceof MissingField && !err.site.file) err.site.file = file; // the `lookup` helper's
      if (err instanceof HapilotError || err instanceof MissingField) throw err;
      throw templateError(file, err);
    }
  }) as Handlebars.TemplateDelegate;
}

export async function loadTemplates(dir: string = BUILTIN_TEMPLATES_DIR): Promise<TemplateSet> {
  const hb = Handlebars.create();
  const sites: FieldSite[] = [];
  const env = hb as unknown as { JavaScriptCompiler: new () => object };
  env.JavaScriptCompiler = strictCompiler(env.JavaScriptCompiler);
  hb.registerHelper(FIELD_CHECK, fieldCheck(sites) as unknown as Handlebars.HelperDelegate);
  hb.registerHelper('eq', (a: unknown, b: unknown) => a === b);
  // Handlebars' own `lookup` answers undefined for a field that does not exist: checked like a path.
  hb.registerHelper('lookup', (parent: unknown, name: unknown, options: Handlebars.HelperOptions) => {
    if (parent === null || parent === undefined) return parent;
    const key = String(name);
    if (Object.hasOwn(parent, key)) return (parent as Record<string, unknown>)[key];
    const loc = (options as { loc?: { start?: { line?: number; column?: number } } }).loc?.start;
    throw new MissingField({ file: '', line: loc?.line ?? 0, column: loc?.column ?? 0, expression: `(lookup … ${JSON.stringify(key)})` }, parent, key);
  });
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
    hb.registerPartial(f.slice(0, -'.hbs'.length), located(file, compile(hb, file, source, sites)));
  }
  const main = located(mainFile, compile(hb, mainFile, mainSource, sites));
  // Every partial called by name must exist now, not at the first render of the branch that calls it.
  const known = new Set(partialFiles.map((f) => f.slice(0, -'.hbs'.length)));
  for (const [file, source] of sources) {
    for (const call of partialCalls(source)) {
      if (!known.has(call.name)) {
        throw new HapilotError(ErrorCode.TEMPLATE, `template ${file}:${call.line}: partial "${call.name}" does not exist: expected ${path.join(partialsDir, `${call.name}.hbs`)}${known.size ? ` (partials: ${[...known].join(', ')})` : ''}`);
      }
    }
  }
  const render = (view: object): string => {
    try {
      return main(view);
    } catch (err) {
      throw err instanceof MissingField ? missingFieldError(err, view) : err;
    }
  };
  return { dir, render };
}
