// Consul entries → model → (descriptor budget) → haproxy.cfg text. The one path every command and
// the daemon use to produce a config; the daemon steps in between model and render (guard,
// quarantine) through `finishConfig`.
import { buildModel, type Backend, type Model } from '../model/model.js';
import type { GlobalSettings } from '../settings.js';
import type { HealthEntry } from '../consul/schemas.js';
import { fitToFdLimit, type FdAudience } from './limits.js';
import { render, type RenderPaths, type RenderResult } from './render.js';
import type { TemplateSet } from './templates.js';

export interface FinishInput {
  model: Model;
  templates: TemplateSet;
  paths: RenderPaths;
  /** This process's open-files hard limit (HAPILOT_FD_LIMIT overrides it); undefined = unknown, no check. */
  fdLimit: number | undefined;
  /**
   * Who asks (see config/limits.ts): the daemon, which starts HAProxy under that limit and fits maxconn
   * to it, or render/check, which only warn. Defaults: `finishConfig` (the daemon's path) `daemon`,
   * `buildConfig` (the commands' path) `render`.
   */
  fdAudience?: FdAudience;
  /**
   * Renders the fitted model: `render` by default; the daemon passes one IncrementalRenderer for its
   * whole life (config/incremental-render.ts), which gives the same bytes re-rendering only the
   * backends that changed.
   */
  renderer?: { render(input: { model: Model; templates: TemplateSet; paths: RenderPaths }): RenderResult };
}

export interface BuildInput extends Omit<FinishInput, 'model'> {
  entries: readonly HealthEntry[];
  settings: GlobalSettings;
}

export interface BuildResult extends RenderResult {
  /** The model as rendered (settings after the descriptor budget, warnings included). */
  model: Model;
}

/** The last list of backends counted, and its count of servers. */
let counted: { backends: readonly Backend[]; servers: number } | undefined;

/**
 * The servers of `backends`, counted from the last list counted when it is as long: a backend that
 * is the same object has the same servers (models are never mutated), so only the others are read.
 */
export function serverCount(backends: readonly Backend[]): number {
  let servers = 0;
  const last = counted;
  if (last && last.backends.length === backends.length) {
    servers = last.servers;
    for (let i = 0; i < backends.length; i++) {
      const b = backends[i] as Backend;
      const was = last.backends[i] as Backend;
      if (b !== was) servers += b.servers.length - was.servers.length;
    }
  } else for (const b of backends) servers += b.servers.length;
  counted = { backends, servers };
  return servers;
}

/** Fits the model's settings to the descriptor limit and renders it. */
export function finishConfig({ model, templates, paths, fdLimit, fdAudience = 'daemon', renderer }: FinishInput): BuildResult {
  const { settings } = model;
  const servers = serverCount(model.backends);
  const fit = fitToFdLimit({
    maxconnGlobal: settings.maxconnGlobal,
    maxconn: settings.maxconn,
    listeners: 2 + model.portFrontends.length,
    servers,
    limit: settings.fdLimit ?? fdLimit,
    limitSource: settings.fdLimit !== undefined ? 'configured' : 'own',
    audience: fdAudience,
    policy: settings.fdPolicy,
  });
  const effective: Model = {
    ...model,
    settings: { ...settings, maxconnGlobal: fit.maxconnGlobal, maxconn: fit.maxconn },
    warnings: [...fit.warnings, ...model.warnings],
  };
  return { model: effective, ...(renderer ?? { render }).render({ model: effective, templates, paths }) };
}

export function buildConfig({ entries, settings, fdAudience = 'render', ...rest }: BuildInput): BuildResult {
  return finishConfig({ model: buildModel({ entries, settings }), fdAudience, ...rest });
}
