// Shared option handling for the commands: where the catalog comes from, the settings, the
// templates, the paths. Turns flags into the inputs of the stages below; holds no logic of its own.
import os from 'node:os';
import path from 'node:path';
import { Option, type Command } from 'commander';
import { ErrorCode, HapilotError } from '../errors.js';
import type { Logger } from '../log.js';
import { loadSettings, type GlobalSettings } from '../settings.js';
import { loadConsulConfig, redactConsulConfig, type Consistency } from '../consul/config.js';
import { createConsulClient, type ConsulApi } from '../consul/client.js';
import { fetchCatalog } from '../catalog/fetch-catalog.js';
import type { HealthEntry } from '../consul/schemas.js';
import { readCatalogFile } from '../catalog/catalog-file.js';
import { BUILTIN_TEMPLATES_DIR, loadTemplates, type TemplateSet } from '../config/templates.js';
import { pathsFor, type RenderPaths, type RenderResult } from '../config/render.js';
import { removeUnreferencedFiles, stageConfig } from '../config/config-file.js';
import { buildConfig, type BuildResult } from '../config/build.js';
import { ownFdHardLimit } from '../config/limits.js';
import { buildModel, showName, type Model } from '../model/model.js';

export interface SourceOptions {
  catalog?: string;
  consul?: string;
  consistency: Consistency;
}

export interface RenderOptions extends SourceOptions {
  templates?: string;
  runDir: string;
  logLevel: string;
}

export function defaultRunDir(): string {
  return process.getuid?.() === 0 ? '/run/hapilot' : path.join(os.tmpdir(), `hapilot-${process.getuid?.() ?? 'user'}`);
}

/** Options every catalog-reading command takes, each with its HAPILOT_* environment twin. */
export function sourceOptions(): Option[] {
  return [
    new Option('--catalog <file>', 'read the catalog from a JSON file (Consul health-entry format) instead of Consul').env('HAPILOT_CATALOG').conflicts('consul'),
    new Option('--consul <url>', 'Consul HTTP address (default: CONSUL_HTTP_ADDR or 127.0.0.1:8500)').env('HAPILOT_CONSUL'),
    new Option('--consistency <mode>', 'Consul read consistency').choices(['default', 'stale', 'consistent']).default('default').env('HAPILOT_CONSISTENCY'),
  ];
}

/** How an input is named in a message: as given on the command line (`--wait "x"`) or in the environment (`HAPILOT_WAIT="x"`). */
export type InputName = (flag: string, raw: string) => string;

export function inputNames(cmd: Command): InputName {
  return (flag, raw) => {
    const option = cmd.options.find((o) => o.long === flag);
    const fromEnv = option?.envVar !== undefined && cmd.getOptionValueSource(option.attributeName()) === 'env';
    return fromEnv ? `${option.envVar}=${JSON.stringify(raw)}` : `${flag} ${JSON.stringify(raw)}`;
  };
}

/** Options that only mean something when the catalog comes from Consul (attribute names). */
const CONSUL_ONLY = ['consistency', 'consulWait', 'poolPrefix', 'depoolThreshold', 'dockerWeights'];

/**
 * A Consul-only option with a catalog file does nothing, so saying it is a mistake: on the command
 * line it is a usage error; from the environment (often shared by several deployments) a warning.
 */
export function checkConsulOnlyOptions(cmd: Command, warn: (line: string) => void = (l) => process.stderr.write(`hapilot: warning: ${l}\n`)): void {
  const catalog = cmd.getOptionValue('catalog') as unknown;
  if (typeof catalog !== 'string') return;
  const via = cmd.getOptionValueSource('catalog') === 'env' ? `HAPILOT_CATALOG=${JSON.stringify(catalog)}` : `--catalog ${JSON.stringify(catalog)}`;
  for (const option of cmd.options) {
    const key = option.attributeName();
    if (!CONSUL_ONLY.includes(key)) continue;
    const source = cmd.getOptionValueSource(key);
    const value = cmd.getOptionValue(key) as unknown;
    const shown = typeof value === 'string' ? ` ${JSON.stringify(value)}` : '';
    if (source === 'cli') {
      throw new HapilotError(ErrorCode.USAGE, `${option.long}${shown} applies only to a Consul source, not to ${via}: expected no ${option.long} with a catalog file (or --consul instead of --catalog)`);
    }
    if (source === 'env' && option.envVar) warn(`${option.envVar}${typeof value === 'string' ? `=${JSON.stringify(value)}` : ''} applies only to a Consul source: ignored with ${via}`);
  }
}

export function renderOptions(): Option[] {
  return [
    ...sourceOptions(),
    new Option('--templates <dir>', 'directory with haproxy.cfg.hbs and partials/*.hbs').env('HAPILOT_TEMPLATES'),
    new Option('--run-dir <dir>', 'directory for HAProxy sockets, pid files and state').default(defaultRunDir()).env('HAPILOT_RUN_DIR'),
    new Option('--log-level <level>', 'log level').choices(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info').env('HAPILOT_LOG_LEVEL'),
  ];
}

export function openConsul(opts: SourceOptions, log: Logger): ConsulApi {
  const config = loadConsulConfig({ flagUrl: opts.consul, consistency: opts.consistency });
  log.debug({ consul: redactConsulConfig(config) }, 'consul configuration');
  return createConsulClient(config);
}

/** Reads the whole catalog once, from the file or from Consul. */
export async function readCatalog(opts: SourceOptions, log: Logger): Promise<HealthEntry[]> {
  if (opts.catalog !== undefined) return readCatalogFile(opts.catalog);
  const consul = openConsul(opts, log);
  try {
    return (await fetchCatalog(consul)).entries;
  } finally {
    consul.close();
  }
}

export interface Prepared {
  settings: GlobalSettings;
  templates: TemplateSet;
}

export async function prepare(opts: RenderOptions): Promise<Prepared> {
  const settings = loadSettings();
  const templates = await loadTemplates(opts.templates ?? BUILTIN_TEMPLATES_DIR);
  return { settings, templates };
}

export async function buildFromOptions(opts: RenderOptions, configPath: string, log: Logger): Promise<BuildResult> {
  const { settings, templates } = await prepare(opts);
  const entries = await readCatalog(opts, log);
  const paths: RenderPaths = pathsFor({ configPath, runDir: opts.runDir });
  const result = buildConfig({ entries, settings, templates, paths, fdLimit: await ownFdHardLimit() });
  reportModel(result.model, log);
  const needing = servicesNeedingDomain(entries, settings, result.model);
  if (needing.length > 0) {
    const shown = needing.slice(0, 5).map((n) => JSON.stringify(n)).join(', ') + (needing.length > 5 ? `, … (${needing.length})` : '');
    throw new HapilotError(ErrorCode.ENV_INVALID, `HAPROXY_DOM is not set: expected a domain such as example.com, which HTTP services without HAPROXY.FRONTEND.HOST or .PORT need for their host <service>.<HAPROXY_DOM>: ${shown}`);
  }
  return result;
}

/**
 * The services left out only because HAPROXY_DOM is unset: they have a backend once a domain is
 * given. For `render` and `check` that is the operator's missing setting, not a bad registration,
 * so it is an error (the daemon quarantines them and says why on /status).
 */
export function servicesNeedingDomain(entries: readonly HealthEntry[], settings: GlobalSettings, model: Model): string[] {
  if (settings.domain !== undefined) return [];
  const out = new Set(model.quarantined.filter((q) => q.instance === '*').map((q) => q.service));
  if (out.size === 0) return [];
  const withDomain = buildModel({ entries, settings: { ...settings, domain: 'hapilot.invalid' } });
  return [...new Set(withDomain.backends.map((b) => b.service))].filter((s) => out.has(s)).sort();
}

/** One warning per quarantined service or instance, and per model warning. */
export function reportModel(model: Model, log: Logger): void {
  for (const q of model.quarantined) {
    log.warn({ service: q.service, instance: q.instance, tag: q.tag }, `quarantined service ${showName(q.service)} instance ${showName(q.instance)}${q.tag !== undefined ? ` tag ${JSON.stringify(q.tag)}` : ''}: ${q.reason}`);
  }
  for (const w of model.warnings) log.warn(w);
}

/**
 * Writes the config through the one config-file path (stage next to it with the map files it names,
 * commit by rename; no validation here: `check` validates first), then removes the maps nothing
 * refers to any more.
 */
export async function writeRendered(out: string, result: RenderResult): Promise<void> {
  const staged = await stageConfig({ configPath: path.resolve(out), config: result.config, files: result.files });
  await staged.commit();
  await removeUnreferencedFiles({ dir: path.dirname(path.resolve(out)), keep: [result.config] });
}
