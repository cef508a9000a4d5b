// `hapilot check --all-catalogs`: a template author's safety net. Every catalog shipped with
// hapilot (examples/catalog.json and examples/catalogs/*.json, the catalogs of the golden tests)
// goes through the user's templates and the real `haproxy -c`; each verdict is one line.
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ErrorCode, HapilotError, messageOf } from '../errors.js';
import { loadSettings } from '../settings.js';
import { readCatalogFile } from '../catalog/catalog-file.js';
import { BUILTIN_TEMPLATES_DIR, loadTemplates } from '../config/templates.js';
import { pathsFor } from '../config/render.js';
import { buildConfig } from '../config/build.js';
import { ownFdHardLimit } from '../config/limits.js';
import { validateConfigFile } from '../haproxy/validate.js';
import { writeRendered } from './common.js';
import { formatTemplateLocation, templateLocation } from './template-location.js';
import type { Output } from './render-watch.js';

/** The examples shipped with hapilot, whether running from `src/` (tsx) or from `dist/src/` (built). */
export const EXAMPLES_DIR = ((): string => {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const fromSource = path.resolve(here, '../../examples');
  return existsSync(path.join(fromSource, 'catalog.json')) ? fromSource : path.resolve(here, '../../../examples');
})();

/** Domain used when HAPROXY_DOM is unset, so that HTTP services without a host tag are checked too. */
export const CHECK_DOMAIN = 'example.test';

export interface NamedCatalog {
  name: string;
  file: string;
}

export async function builtinCatalogs(dir: string = EXAMPLES_DIR): Promise<NamedCatalog[]> {
  const more = (await readdir(path.join(dir, 'catalogs')).catch(() => [])).filter((f) => f.endsWith('.json')).sort();
  return [
    { name: 'example', file: path.join(dir, 'catalog.json') },
    ...more.map((f) => ({ name: f.slice(0, -'.json'.length), file: path.join(dir, 'catalogs', f) })),
  ];
}

export interface CatalogVerdict {
  name: string;
  file: string;
  ok: boolean;
  /** HAProxy's message, or the template/catalog error, when not ok. */
  message: string;
  backends: number;
}

export interface CheckCatalogsInput {
  templates: string | undefined;
  haproxy: string;
  runDir: string;
  env: NodeJS.ProcessEnv;
  catalogs?: NamedCatalog[];
}

async function checkOne(c: NamedCatalog, input: CheckCatalogsInput, fdLimit: number | undefined): Promise<CatalogVerdict> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'hapilot-check-'));
  try {
    const file = path.join(dir, 'haproxy.cfg');
    const result = buildConfig({
      entries: await readCatalogFile(c.file),
      settings: loadSettings({ HAPROXY_DOM: CHECK_DOMAIN, ...input.env }),
      templates: await loadTemplates(input.templates ?? BUILTIN_TEMPLATES_DIR),
      paths: pathsFor({ configPath: file, runDir: input.runDir }),
      fdLimit,
    });
    await writeRendered(file, result);
    const verdict = await validateConfigFile({ haproxy: input.haproxy, file });
    return { ...c, ok: verdict.ok, message: verdict.ok ? '' : `haproxy -c: ${verdict.message}`, backends: result.model.backends.length };
  } catch (err) {
    if (err instanceof HapilotError && (err.code === ErrorCode.HAPROXY_EXEC || err.code === ErrorCode.ENV_INVALID || err.code === ErrorCode.TEMPLATE_READ)) throw err;
    const loc = templateLocation(err);
    return { ...c, ok: false, message: loc ? `template error: ${formatTemplateLocation(loc)}` : messageOf(err), backends: 0 };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Checks every catalog, printing one line each; throws (exit 1) naming those HAProxy rejected. */
export async function checkAllCatalogs(input: CheckCatalogsInput, out: Output): Promise<CatalogVerdict[]> {
  const catalogs = input.catalogs ?? await builtinCatalogs();
  const fdLimit = await ownFdHardLimit();
  const verdicts: CatalogVerdict[] = [];
  for (const c of catalogs) {
    const v = await checkOne(c, input, fdLimit);
    verdicts.push(v);
    out.write(v.ok ? `ok    ${v.name}: ${v.backends} backends\n` : `FAIL  ${v.name} (${v.file}): ${v.message}\n`);
  }
  const failed = verdicts.filter((v) => !v.ok);
  const dir = input.templates ?? 'built-in';
  if (failed.length) {
    throw new HapilotError(ErrorCode.HAPROXY_INVALID, `--templates ${dir}: ${failed.length} of ${verdicts.length} built-in catalogs fail: ${failed.map((v) => v.name).join(', ')}`);
  }
  return verdicts;
}
