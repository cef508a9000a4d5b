// `hapilot render --watch`: re-render on every change of the catalog file or of a template, print a
// unified diff against the previous render and, with --check, HAProxy's verdict. A template or
// catalog error is printed with its location and the watch goes on; SIGINT/SIGTERM end it (exit 0).
import { watch, type FSWatcher } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createTwoFilesPatch } from 'diff';
import { ErrorCode, HapilotError, messageOf } from '../errors.js';
import { loadSettings } from '../settings.js';
import { readCatalogFile } from '../catalog/catalog-file.js';
import { BUILTIN_TEMPLATES_DIR, loadTemplates, PARTIALS_DIR } from '../config/templates.js';
import { pathsFor } from '../config/render.js';
import { buildConfig, type BuildResult } from '../config/build.js';
import { ownFdHardLimit } from '../config/limits.js';
import { validateConfigFile } from '../haproxy/validate.js';
import { writeRendered } from './common.js';
import { formatTemplateLocation, templateLocation } from './template-location.js';

export interface RenderWatchOptions {
  catalog: string;
  templates: string | undefined;
  runDir: string;
  /** Run `haproxy -c` on each render. */
  check: boolean;
  haproxy: string;
  /** Quiet time after the last file event before re-rendering (editors write in several steps). */
  debounceMs?: number;
}

export interface Output {
  write(text: string): void;
  isTTY?: boolean;
}

export interface RenderWatchIo {
  stdout: Output;
  stderr: Output;
  env: NodeJS.ProcessEnv;
  /** Resolves when the watch should stop (default: SIGINT or SIGTERM). */
  stopped?: Promise<void>;
}

/** Colour when told to (FORCE_COLOR, not 0/false) or when writing to a terminal; never with NO_COLOR. */
export function useColor(out: Output, env: NodeJS.ProcessEnv): boolean {
  if (env.NO_COLOR) return false;
  if (env.FORCE_COLOR !== undefined) return env.FORCE_COLOR !== '0' && env.FORCE_COLOR !== 'false';
  return out.isTTY === true;
}

const ANSI = { red: '\x1b[31m', green: '\x1b[32m', cyan: '\x1b[36m', bold: '\x1b[1m', reset: '\x1b[0m' } as const;

/** Colours a unified diff line by line: removals red, additions green, hunk headers cyan, file headers bold. */
export function colorizePatch(patch: string, color: boolean): string {
  if (!color) return patch;
  return patch.split('\n').map((line) => {
    if (line.startsWith('+++') || line.startsWith('---') || line.startsWith('===')) return `${ANSI.bold}${line}${ANSI.reset}`;
    if (line.startsWith('+')) return `${ANSI.green}${line}${ANSI.reset}`;
    if (line.startsWith('-')) return `${ANSI.red}${line}${ANSI.reset}`;
    if (line.startsWith('@@')) return `${ANSI.cyan}${line}${ANSI.reset}`;
    return line;
  }).join('\n');
}

interface Rendered {
  config: string;
  map: string;
}

/** The diff of one render against the previous one: the config, then the host map; '' when equal. */
export function renderDiff(previous: Rendered, next: Rendered): string {
  const parts: string[] = [];
  const body = (name: string, a: string, b: string) => {
    if (a === b) return;
    // Drop the `Index:`/`===` preamble: the ---/+++ headers name the file.
    parts.push(createTwoFilesPatch(`a/${name}`, `b/${name}`, a, b, 'previous render', 'this render').split('\n').slice(1).join('\n'));
  };
  body('haproxy.cfg', previous.config, next.config);
  body('hosts.map', previous.map, next.map);
  return parts.join('');
}

type Trigger = 'start' | 'catalog' | 'templates';

/** Watches a directory, calling `onChange` for the names `relevant` accepts; rename-replace writes show as events on the directory. */
function watchDir(dir: string, relevant: (name: string | null) => boolean, onChange: (name: string | null) => void, onError: (err: unknown) => void): FSWatcher | undefined {
  try {
    const w = watch(dir, { persistent: true }, (_event, name) => {
      const n = typeof name === 'string' ? name : null;
      if (relevant(n)) onChange(n);
    });
    w.on('error', onError);
    return w;
  } catch {
    return undefined;
  }
}

export async function runRenderWatch(opts: RenderWatchOptions, io: RenderWatchIo): Promise<void> {
  const settings = loadSettings(io.env);
  const templatesDir = path.resolve(opts.templates ?? BUILTIN_TEMPLATES_DIR);
  const partialsDir = path.join(templatesDir, PARTIALS_DIR);
  const catalogFile = path.resolve(opts.catalog);
  const color = useColor(io.stdout, io.env);
  const debounceMs = opts.debounceMs ?? 150;
  const fdLimit = await ownFdHardLimit();
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'hapilot-watch-'));
  const configPath = path.join(tmp, 'haproxy.cfg');
  const paths = pathsFor({ configPath, runDir: opts.runDir });

  let previous: Rendered | undefined;
  let count = 0;
  const note = (text: string) => io.stdout.write(color ? `${ANSI.bold}${text}${ANSI.reset}\n` : `${text}\n`);
  const problem = (text: string) => io.stderr.write(`hapilot: ${text} (still watching)\n`);

  async function cycle(triggers: Set<Trigger>): Promise<void> {
    const stamp = new Date().toISOString().slice(11, 19);
    const why = [...triggers].join(', ');
    let result: BuildResult;
    try {
      const templates = await loadTemplates(templatesDir);
      const entries = await readCatalogFile(catalogFile);
      result = buildConfig({ entries, settings, templates, paths, fdLimit });
    } catch (err) {
      const loc = templateLocation(err);
      problem(loc ? `template error: ${formatTemplateLocation(loc)}` : `error: ${messageOf(err)}`);
      return;
    }
    count += 1; // renders printed; a failed attempt prints only its error
    const next: Rendered = { config: result.config, map: result.files.map((f) => f.contents).join('') };
    const { model } = result;
    note(`# ${stamp} render ${count} (${why}): ${model.backends.length} backends, ${model.quarantined.length} quarantined`);
    for (const q of model.quarantined) {
      note(`# quarantined service ${q.service} instance ${q.instance}${q.tag !== undefined ? ` tag ${JSON.stringify(q.tag)}` : ''}: ${q.reason}`);
    }
    if (previous === undefined) {
      io.stdout.write(next.config);
    } else {
      const patch = renderDiff(previous, next);
      if (patch) io.stdout.write(colorizePatch(patch, color));
      else note('# no change');
    }
    previous = next;
    if (opts.check) {
      try {
        await writeRendered(configPath, result);
        const verdict = await validateConfigFile({ haproxy: opts.haproxy, file: configPath });
        if (verdict.ok) note(`# haproxy -c: valid (${Math.round(verdict.durationMs)} ms)`);
        else note(`# haproxy -c: REJECTED: ${verdict.message}`);
      } catch (err) {
        problem(`error: ${messageOf(err)}`);
      }
    }
  }

  // Events arriving while a render runs are gathered into the next one: never two renders at once.
  let pending = new Set<Trigger>();
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();
  let busy = false;
  let stopping = false;
  const schedule = (t: Trigger) => {
    if (stopping) return;
    pending.add(t);
    if (timer) clearTimeout(timer);
    timer = setTimeout(fire, debounceMs);
  };
  const fire = () => {
    timer = undefined;
    if (busy || stopping || pending.size === 0) return;
    const triggers = pending;
    pending = new Set();
    busy = true;
    running = cycle(triggers).finally(() => {
      busy = false;
      // Re-armed only when it is gone: closing a live watcher drops the events it has read but not yet
      // delivered (an edit made during this render would be lost).
      if (!partialsWatcher) armPartials();
      if (pending.size && !stopping) timer = setTimeout(fire, debounceMs);
    });
  };

  const watchers: FSWatcher[] = [];
  const onWatchError = (err: unknown) => problem(`watch error: ${messageOf(err)}`);
  const isTemplate = (name: string | null) => name === null || name.endsWith('.hbs');
  const add = (w: FSWatcher | undefined) => { if (w) watchers.push(w); };
  const catalogName = path.basename(catalogFile);
  const catalogWatcher = watchDir(path.dirname(catalogFile), (n) => n === null || n === catalogName, () => schedule('catalog'), onWatchError);
  if (!catalogWatcher) {
    await rm(tmp, { recursive: true, force: true });
    throw new HapilotError(ErrorCode.CATALOG_READ, `--catalog ${opts.catalog}: cannot watch its directory ${path.dirname(catalogFile)}: expected a file in an existing directory`);
  }
  add(catalogWatcher);
  add(watchDir(templatesDir, (n) => isTemplate(n) || n === PARTIALS_DIR, (n) => {
    // The partials directory was created, replaced or removed: watch what is there now.
    if (n === PARTIALS_DIR) armPartials();
    schedule('templates');
  }, onWatchError));
  // The partials directory is watched apart (fs.watch is not recursive on Linux here) and re-armed
  // when it is created or replaced.
  let partialsWatcher: FSWatcher | undefined;
  function armPartials(): void {
    if (stopping) return;
    partialsWatcher?.close();
    partialsWatcher = watchDir(partialsDir, isTemplate, () => schedule('templates'), () => {
      partialsWatcher?.close();
      partialsWatcher = undefined;
    });
  }
  armPartials();

  const stopped = io.stopped ?? new Promise<void>((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
  io.stderr.write(`hapilot: watching ${catalogFile} and ${templatesDir} (Ctrl-C to stop)\n`);
  schedule('start');
  await stopped;
  stopping = true;
  if (timer) clearTimeout(timer);
  for (const w of watchers) w.close();
  partialsWatcher?.close();
  await running.catch(() => undefined);
  await rm(tmp, { recursive: true, force: true });
}
