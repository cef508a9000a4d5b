// Consul entries → model → (descriptor budget) → haproxy.cfg text. The one path every command and
// the daemon use to produce a config.
import { buildModel, type Model } from '../catalog/model.js';
import type { GlobalSettings } from '../config/settings.js';
import type { HealthEntry } from '../consul/schemas.js';
import { fitToFdLimit } from '../haproxy/limits.js';
import { render, type RenderPaths, type RenderResult } from '../render/render.js';
import type { TemplateSet } from '../render/templates.js';

export interface BuildInput {
  entries: readonly HealthEntry[];
  settings: GlobalSettings;
  templates: TemplateSet;
  paths: RenderPaths;
  /** Open-files hard limit HAProxy will run under; undefined = unknown, no check. */
  fdLimit: number | undefined;
}

export interface BuildResult extends RenderResult {
  model: Model;
}

export function buildConfig({ entries, settings, templates, paths, fdLimit }: BuildInput): BuildResult {
  const model = buildModel({ entries, settings });
  const servers = model.backends.reduce((n, b) => n + b.servers.length, 0);
  const fit = fitToFdLimit({
    maxconnGlobal: settings.maxconnGlobal,
    maxconn: settings.maxconn,
    listeners: 2 + model.portFrontends.length,
    servers,
    limit: settings.fdLimit ?? fdLimit,
    policy: settings.fdPolicy,
  });
  const effective: Model = {
    ...model,
    settings: { ...settings, maxconnGlobal: fit.maxconnGlobal, maxconn: fit.maxconn },
    warnings: [...fit.warnings, ...model.warnings],
  };
  return { model: effective, ...render({ model: effective, templates, paths }) };
}
