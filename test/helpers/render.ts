// Rendering in tests: catalog → config text with fixed or temporary paths.
import path from 'node:path';
import { buildConfig, type BuildResult } from '../../src/config/build.js';
import type { HealthEntry } from '../../src/consul/schemas.js';
import { loadTemplates, type TemplateSet } from '../../src/config/templates.js';
import type { RenderPaths } from '../../src/config/render.js';
import { settings } from './entries.js';

let builtin: Promise<TemplateSet> | undefined;
export function builtinTemplates(): Promise<TemplateSet> {
  builtin ??= loadTemplates();
  return builtin;
}

export const GOLDEN_PATHS: RenderPaths = { filesDir: '/etc/hapilot', statsSocket: '/run/hapilot/haproxy.sock', serverState: '/run/hapilot/server-state' };

/** Paths with everything inside `dir`, for configs HAProxy really loads. */
export function tempPaths(dir: string): RenderPaths {
  return { filesDir: dir, statsSocket: path.join(dir, 'haproxy.sock'), serverState: path.join(dir, 'server-state') };
}

/** A config rendered with `tempPaths(dir)`, with the golden paths put back. */
export function toGoldenPaths(text: string, dir: string): string {
  return text.replaceAll(path.join(dir, 'haproxy.sock'), GOLDEN_PATHS.statsSocket).replaceAll(path.join(dir, 'server-state'), GOLDEN_PATHS.serverState).replaceAll(dir, GOLDEN_PATHS.filesDir);
}

export async function renderEntries(entries: readonly HealthEntry[], opts: { env?: Record<string, string>; paths?: RenderPaths; templates?: TemplateSet } = {}): Promise<BuildResult> {
  return buildConfig({
    entries,
    settings: settings({ HAPILOT_FD_LIMIT: '1000000', ...opts.env }),
    templates: opts.templates ?? await builtinTemplates(),
    paths: opts.paths ?? GOLDEN_PATHS,
    fdLimit: undefined,
  });
}
