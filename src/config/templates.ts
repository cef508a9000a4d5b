// Loading and compiling the Handlebars templates. Compiled with `noEscape` (HTML escaping would turn
// `&` into `&amp;` in a config file) and `strict` (a misspelt field is an error, not an empty
// string). Errors name the template file and line.
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
function compile(hb: typeof Handlebars, file: string, source: string): Handlebars.TemplateDelegate {
  try {
    hb.parse(source);
  } catch (err) {
    throw templateError(file, err);
  }
  return hb.compile(source, { noEscape: true, strict: true });
}

/** Wraps a compiled template so that an error raised inside it names its file; the innermost file wins. */
function located(file: string, fn: Handlebars.TemplateDelegate): Handlebars.TemplateDelegate {
  return ((context: unknown, options?: Handlebars.RuntimeOptions) => {
    try {
      return fn(context, options);
    } catch (err) {
      if (err instanceof HapilotError) throw err;
      throw templateError(file, err);
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
  for (const f of partialFiles) {
    const file = path.join(partialsDir, f);
    const fn = compile(hb, file, await readFile(file, 'utf8'));
    hb.registerPartial(f.slice(0, -'.hbs'.length), located(file, fn));
  }
  const main = located(mainFile, compile(hb, mainFile, mainSource));
  return { dir, render: (view) => main(view) };
}
