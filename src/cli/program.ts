// The command tree: each command parses its flags and wires the stages together.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Command, Option } from 'commander';
import { ErrorCode, HapilotError } from '../errors.js';
import { createLogger } from '../log.js';
import { removeUnreferencedFiles, stageConfig } from '../config/config-file.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { fetchCatalog } from '../catalog/fetch-catalog.js';
import { addRunCommand } from './run.js';
import { addPoolCommands } from './pool.js';
import { buildFromOptions, checkConsulOnlyOptions, openConsul, prepare, readCatalog, renderOptions, sourceOptions, writeRendered, type RenderOptions, type SourceOptions } from './common.js';
import { buildConfig } from '../config/build.js';
import { pathsFor } from '../config/render.js';
import { ownFdHardLimit } from '../config/limits.js';
import { explainService } from '../model/explain.js';
import { configLinesFor, explainJson, explainText } from './explain.js';
import { runRenderWatch } from './render-watch.js';
import { checkAllCatalogs } from './check-catalogs.js';

const VERSION = '0.1.0';

function addAll(cmd: Command, options: Option[]): Command {
  for (const o of options) cmd.addOption(o);
  return cmd;
}

const haproxyOption = () => new Option('--haproxy <path>', 'haproxy binary').default('haproxy').env('HAPILOT_HAPROXY');

export function buildProgram(): Command {
  const program = new Command('hapilot')
    .description('Keeps HAProxy in step with the Consul service catalog')
    .version(VERSION)
    .showSuggestionAfterError(true)
    .exitOverride()
    // Commander's own usage errors in the form of every other error: `hapilot: error: …`, one line.
    .configureOutput({ outputError: (text, write) => write(`hapilot: ${text.trim().replace(/\s*\n\s*/g, ' ')}\n`) })
    .hook('preAction', (_program, action) => checkConsulOnlyOptions(action));

  addAll(program.command('render').description('render haproxy.cfg from the catalog; print it, or write it (and its map files) with --out'), renderOptions())
    .option('--out <file>', 'write the config atomically to this file, with the files it references next to it')
    .option('--watch', 'with --catalog: re-render whenever the catalog file or a template changes, printing a diff of each render')
    .option('--check', 'with --watch: also run haproxy -c on each render')
    .addOption(haproxyOption())
    .action(async (opts: RenderOptions & { out?: string; watch?: boolean; check?: boolean; haproxy: string }) => {
      const log = createLogger({ level: opts.logLevel as 'info', destination: 2 });
      if (opts.check && !opts.watch) throw new HapilotError(ErrorCode.USAGE, '--check: expected together with --watch (to check one render, use hapilot check)');
      if (opts.watch) {
        if (opts.catalog === undefined) throw new HapilotError(ErrorCode.USAGE, '--watch: expected --catalog FILE (a Consul catalog is not watched; capture it with hapilot snapshot)');
        if (opts.out !== undefined) throw new HapilotError(ErrorCode.USAGE, `--out ${opts.out}: not with --watch (the watch prints diffs; write a config with render --out or check --out)`);
        await runRenderWatch(
          { catalog: opts.catalog, templates: opts.templates, runDir: opts.runDir, check: opts.check === true, haproxy: opts.haproxy },
          { stdout: process.stdout, stderr: process.stderr, env: process.env },
        );
        return;
      }
      const configPath = opts.out ?? path.join(process.cwd(), 'haproxy.cfg');
      const result = await buildFromOptions(opts, configPath, log);
      if (opts.out) {
        await writeRendered(opts.out, result);
        log.info({ out: opts.out, backends: result.model.backends.length }, `wrote ${opts.out}`);
      } else {
        process.stdout.write(result.config);
      }
    });

  addAll(program.command('check').description('render and validate with the real haproxy -c; exit 0 when valid'), [...renderOptions(), haproxyOption()])
    .option('--out <file>', 'also write the config (and its map files) when it is valid')
    .addOption(new Option('--all-catalogs', 'check the templates against every catalog shipped with hapilot (examples/) instead of one catalog').conflicts(['catalog', 'consul', 'out']))
    .action(async (opts: RenderOptions & { out?: string; haproxy: string; allCatalogs?: boolean }) => {
      const log = createLogger({ level: opts.logLevel as 'info', destination: 2 });
      if (opts.allCatalogs) {
        await checkAllCatalogs({ templates: opts.templates, haproxy: opts.haproxy, runDir: opts.runDir, env: process.env }, process.stdout);
        return;
      }
      // Without --out the config is staged in a scratch directory (with its map file) and thrown away.
      const dir = opts.out ? undefined : await mkdtemp(path.join(os.tmpdir(), 'hapilot-check-'));
      try {
        const configPath = path.resolve(opts.out ?? path.join(dir ?? '.', 'haproxy.cfg'));
        const result = await buildFromOptions(opts, configPath, log);
        // The one config-file path: staged next to its destination, judged by haproxy -c, committed only when valid.
        const staged = await stageConfig({ configPath, config: result.config, files: result.files, haproxy: opts.haproxy });
        const verdict = staged.validation;
        if (!verdict?.ok) {
          await staged.discard();
          throw new HapilotError(ErrorCode.HAPROXY_INVALID, `haproxy -c rejected the config: ${verdict?.message ?? 'not validated'}`, { detail: verdict?.output });
        }
        if (opts.out) {
          await staged.commit();
          await removeUnreferencedFiles({ dir: path.dirname(configPath), keep: [result.config] });
        } else {
          await staged.discard();
        }
        log.info({ backends: result.model.backends.length, quarantined: result.model.quarantined.length, durationMs: Math.round(verdict.durationMs) }, 'configuration is valid');
      } finally {
        if (dir) await rm(dir, { recursive: true, force: true });
      }
    });

  addAll(program.command('snapshot').description('dump the live Consul catalog (services hapilot may balance) as a catalog file'), sourceOptions().filter((o) => o.long !== '--catalog'))
    .option('--out <file>', 'write to this file instead of stdout')
    .addOption(new Option('--log-level <level>', 'log level').default('info').env('HAPILOT_LOG_LEVEL'))
    .action(async (opts: SourceOptions & { out?: string; logLevel: string }) => {
      const log = createLogger({ level: opts.logLevel as 'info', destination: 2 });
      const consul = openConsul(opts, log);
      try {
        const read = await fetchCatalog(consul);
        const text = `${JSON.stringify(read.entries, null, 2)}\n`;
        if (opts.out) {
          await writeFileAtomic(opts.out, text);
          log.info({ out: opts.out, services: read.services.length, instances: read.entries.length, index: read.index }, `wrote ${opts.out}`);
        } else {
          process.stdout.write(text);
        }
      } finally {
        consul.close();
      }
    });

  addAll(program.command('explain').argument('<service>', 'the Consul service name').description('how each HAPROXY.* tag of each instance of SERVICE was understood, and the config lines it produced'), renderOptions())
    .option('--json', 'print a JSON document (stable shape, see src/cli/explain.ts) instead of text')
    .action(async (service: string, opts: RenderOptions & { json?: boolean }) => {
      const log = createLogger({ level: opts.logLevel as 'info', destination: 2 });
      const { settings, templates } = await prepare(opts);
      const entries = await readCatalog(opts, log);
      const paths = pathsFor({ configPath: path.join(process.cwd(), 'haproxy.cfg'), runDir: opts.runDir });
      const result = buildConfig({ entries, settings, templates, paths, fdLimit: await ownFdHardLimit() });
      const explanation = explainService({ service, entries, model: result.model });
      if (!explanation) {
        const known = [...new Set(entries.map((e) => e.Service.Service))].sort();
        const list = known.length > 20 ? `${known.slice(0, 20).join(', ')}, …` : known.join(', ');
        throw new HapilotError(ErrorCode.USAGE, `service ${JSON.stringify(service)} is not in the catalog (${opts.catalog ?? 'Consul'}): expected one of ${list || '(no services)'}`);
      }
      const lines = configLinesFor(explanation, result);
      process.stdout.write(opts.json ? explainJson(explanation, lines) : explainText(explanation, lines));
    });

  addRunCommand(program);
  addPoolCommands(program);
  return program;
}

