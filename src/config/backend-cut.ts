// Where the backends are: in a rendered config (one run of sections, cut at their `backend <name>`
// lines) and in the templates (what the `{{#each backends}}` body reads besides its backend).
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import Handlebars from 'handlebars';
import { SECTION } from './render.js';
import { MAIN_TEMPLATE, PARTIALS_DIR } from './templates.js';

/**
 * Where each backend's text starts (and where the last ends) in a rendered config: at the blank and
 * comment lines just before its `backend <name>` line. The backends must follow one another with no
 * other section between them. A string says why the config cannot be cut.
 */
export function cutBackends(text: string, names: readonly string[]): { bounds: number[] } | string {
  const headers: Array<{ kind: string; name: string; start: number }> = [];
  let triviaStart = -1;
  const content = /\S/g;
  // Lines are cut with indexOf; an indented line (most of them) is only looked at for content.
  for (let start = 0; start <= text.length;) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    const first = text.charCodeAt(start);
    if (first === 32 || first === 9) {
      content.lastIndex = start;
      const m = content.exec(text);
      if (m && m.index < end) triviaStart = -1;
      else if (triviaStart < 0) triviaStart = start;
    } else {
      const line = text.slice(start, end);
      const trimmed = line.trim();
      if (trimmed === '' || line.startsWith('#')) {
        if (triviaStart < 0) triviaStart = start;
      } else {
        const header = SECTION.exec(trimmed);
        if (header) headers.push({ kind: header[1] ?? '', name: header[2] ?? '', start: triviaStart < 0 ? start : triviaStart });
        triviaStart = -1;
      }
    }
    start = end + 1;
  }
  const first = headers.findIndex((h) => h.kind === 'backend' && h.name === names[0]);
  if (first < 0) return `backend ${names[0]} not found in the rendered config`;
  const bounds: number[] = [];
  for (const [i, name] of names.entries()) {
    const h = headers[first + i];
    if (!h || h.kind !== 'backend' || h.name !== name) return `the backends are not one run of sections in model order (expected backend ${name})`;
    bounds.push(h.start);
  }
  const next = headers[first + names.length];
  bounds.push(next ? next.start : text.length);
  return { bounds };
}

/** The first line that is neither blank nor a comment opens a section (or there is none). */
export function startsOwnSection(text: string): boolean {
  for (let start = 0, n = 0; start <= text.length && n < 64; n++) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    const line = text.slice(start, end);
    start = end + 1;
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith('#')) continue;
    return !line.startsWith(' ') && !line.startsWith('\t') && SECTION.test(trimmed);
  }
  return !/\n[ \t]+[^\s#]/.test(text);
}

/**
 * What the body of the templates' `{{#each backends}}` reads (with the partials it calls): anything
 * but its backend (`../`, `@root`, block parameters: not isolated), or its position (`@index`,
 * `@first`, `@last`, `@key`: not cuttable). No such loop: not isolated.
 */
export function scanTemplates(dir: string): { isolated: boolean; uncuttable: string | undefined } {
  const files = new Map<string, string>([['', path.join(dir, MAIN_TEMPLATE)]]);
  try {
    for (const f of readdirSync(path.join(dir, PARTIALS_DIR)).filter((x) => x.endsWith('.hbs')).sort()) files.set(f.slice(0, -'.hbs'.length), path.join(dir, PARTIALS_DIR, f));
  } catch {
    // no partials
  }
  const asts = new Map<string, unknown>();
  for (const [name, file] of files) {
    try {
      asts.set(name, Handlebars.parse(readFileSync(file, 'utf8')));
    } catch {
      return { isolated: false, uncuttable: undefined }; // loadTemplates parsed them already; a file changed since
    }
  }
  type Node = { type?: string; depth?: number; data?: boolean; parts?: unknown[]; original?: unknown; blockParams?: unknown[]; path?: Node; params?: Node[]; name?: Node; program?: Node; inverse?: Node };
  let isolated = true;
  let loops = 0;
  let uncuttable: string | undefined;
  const seenPartials = new Set<string>();
  // Inside a backends loop: everything it reads, partials included.
  const inside = (node: unknown, where: string): void => {
    if (node === null || typeof node !== 'object') return;
    const n = node as Node;
    if (n.type === 'PathExpression') {
      if ((n.depth ?? 0) > 0 || (n.data && n.parts?.[0] === 'root')) isolated = false;
      if (n.data && ['index', 'first', 'last', 'key'].includes(String(n.parts?.[0]))) uncuttable ??= `${where} uses @${String(n.parts?.[0])} in the backends loop`;
    }
    if (Array.isArray(n.blockParams) && n.blockParams.length) isolated = false;
    if ((n.type === 'PartialStatement' || n.type === 'PartialBlockStatement') && n.name?.type === 'PathExpression' && typeof n.name.original === 'string' && !seenPartials.has(n.name.original)) {
      seenPartials.add(n.name.original);
      const ast = asts.get(n.name.original);
      if (ast) inside(ast, `partial ${n.name.original}`);
      else isolated = false;
    }
    for (const v of Object.values(node)) {
      if (Array.isArray(v)) for (const x of v) inside(x, where);
      else if (v !== null && typeof v === 'object') inside(v, where);
    }
  };
  // Everywhere: find the backends loops.
  const find = (node: unknown, where: string): void => {
    if (node === null || typeof node !== 'object') return;
    const n = node as Node;
    const param = n.params?.[0];
    if (n.type === 'BlockStatement' && n.path?.original === 'each' && param?.type === 'PathExpression' && param.parts?.join('.') === 'backends' && ((param.depth ?? 0) === 0 || param.data)) {
      loops++;
      inside(n.program, where);
      inside(n.inverse, where);
      if (Array.isArray(n.program?.blockParams) && n.program.blockParams.length) isolated = false;
      return;
    }
    for (const v of Object.values(node)) {
      if (Array.isArray(v)) for (const x of v) find(x, where);
      else if (v !== null && typeof v === 'object') find(v, where);
    }
  };
  for (const [name, ast] of asts) find(ast, name === '' ? MAIN_TEMPLATE : `partial ${name}`);
  return { isolated: isolated && loops > 0, uncuttable };
}
