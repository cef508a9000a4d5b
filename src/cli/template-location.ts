// Where a template error is: file, line and column, for `render --watch` and `check --all-catalogs`.
// loadTemplates/render report `template FILE:LINE: summary` with the Handlebars error as `cause`;
// the column is in the cause (a runtime error's `column`) or in the caret diagram of a parse error.
import { readFileSync } from 'node:fs';
import { ErrorCode, isHapilotError } from '../errors.js';

export interface TemplateLocation {
  file: string;
  line: number;
  /** 1-based; undefined when Handlebars did not say. */
  column: number | undefined;
  summary: string;
}

// Stopgap until config/templates.ts carries the location as fields (see the report of issue 12):
// the file and line come from our own message, `template FILE:LINE[,LINE…]: summary`.
const MESSAGE_RE = /^template (.+?):(\d+)((?:,\d+)*): ([\s\S]*)$/;

/** The location of a template error, or undefined for any other error. */
export function templateLocation(err: unknown): TemplateLocation | undefined {
  if (!isHapilotError(err, ErrorCode.TEMPLATE)) return undefined;
  const m = MESSAGE_RE.exec(err.message);
  if (!m?.[1] || !m[2] || m[4] === undefined) return undefined;
  const file = m[1];
  const line = Number(m[2]);
  const cause = err.cause as { column?: unknown; message?: unknown; field?: unknown } | undefined;
  let column: number | undefined;
  if (typeof cause?.column === 'number') {
    column = cause.column + 1; // Handlebars counts runtime-error columns from 0
  } else if (typeof cause?.field === 'string') {
    column = fieldColumn(cause.field, lineOf(file, line)); // a field the view does not have
  } else if (typeof cause?.message === 'string') {
    column = parseErrorColumn(cause.message, lineOf(file, line));
  }
  // A runtime error's summary ends with Handlebars' own " - 8:14"; the location says it better.
  // "not defined in [object Object]" names no object worth showing.
  const summary = (m[4] ?? '').replace(/ - \d+:\d+$/, '').replace(/ in \[object Object\]/, '');
  const more = m[3] ? ` (also line ${m[3].slice(1).split(',').join(', ')})` : '';
  return { file, line, column, summary: `${summary}${more}` };
}

export function formatTemplateLocation(loc: TemplateLocation): string {
  return `${loc.file}:${loc.line}${loc.column !== undefined ? `:${loc.column}` : ''}: ${loc.summary}`;
}

function lineOf(file: string, line: number): string | undefined {
  try {
    return readFileSync(file, 'utf8').split('\n')[line - 1];
  } catch {
    return undefined;
  }
}

/** The 1-based column where `field` is read on the line: inside a `{{…}}`, as a whole path segment. */
export function fieldColumn(field: string, sourceLine: string | undefined): number | undefined {
  if (sourceLine === undefined) return undefined;
  const escaped = field.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const segment = new RegExp(`(?<![A-Za-z0-9_$-])${escaped}(?![A-Za-z0-9_$-])`);
  for (const m of sourceLine.matchAll(/\{\{[\s\S]*?\}\}/g)) {
    const at = m[0].search(segment);
    if (at >= 0) return (m.index ?? 0) + at + 1;
  }
  return undefined;
}

/**
 * The 1-based column of a Handlebars (jison) parse error. Its message shows up to 20 characters
 * before the error (newlines removed, `...` when cut) and a `---^` line pointing at the error; the
 * column is where that text ends on the reported line.
 */
export function parseErrorColumn(message: string, sourceLine: string | undefined): number | undefined {
  const lines = message.split('\n');
  const caretIndex = lines.findIndex((l) => /^-*\^$/.test(l));
  const context = lines[caretIndex - 1];
  if (caretIndex < 1 || context === undefined || sourceLine === undefined) return undefined;
  const dashes = (lines[caretIndex] ?? '').length - 1;
  const before = context.slice(0, dashes).replace(/^\.\.\./, '');
  for (let c = sourceLine.length; c >= 0; c--) {
    const head = sourceLine.slice(0, c);
    if (head.endsWith(before) || (before.endsWith(head) && c > 0)) return c + 1;
  }
  return before.length === 0 ? 1 : undefined;
}
