// `hapilot run`: the long-running daemon. Wires the source, the daemon, HAProxy's controller and the
// status server together, and handles signals.
import path from 'node:path';
import { Option, type Command } from 'commander';
import { ErrorCode, HapilotError, messageOf } from '../errors.js';
import { createLogger, type Logger } from '../log.js';
import { ownPrivileges } from '../haproxy/privileges.js';
import { haproxyVersion } from '../haproxy/validate.js';
import { loadSettings } from '../settings.js';
import { loadConsulConfig, redactConsulConfig } from '../consul/config.js';
import { createConsulClient } from '../consul/client.js';
import { loadTemplates, BUILTIN_TEMPLATES_DIR } from '../config/templates.js';
import { ownFdHardLimit } from '../config/limits.js';
import { createDaemon } from '../daemon/daemon.js';
import type { ReloadMode } from '../daemon/appliers.js';
import { Metrics } from '../daemon/metrics.js';
import { parseWait } from '../daemon/debounce.js';
import { parseDurationMs } from '../util/duration.js';
import { boundHeapGrowth } from '../util/heap.js';
import { ConsulSource } from '../catalog/consul-source.js';
import { FileSource } from '../catalog/file-source.js';
import type { CatalogSource } from '../catalog/source.js';
import { parseListen, startStatusServer } from '../server/status.js';
import { pathsFor } from '../config/render.js';
import { createKvClient } from '../pool/kv.js';
import { DEFAULT_POOL_PREFIX, normalizePrefix } from '../pool/record.js';
import { PoolReconciler } from '../pool/reconciler.js';
import { DEFAULT_DEPOOL_THRESHOLD } from '../pool/rules.js';
import { parseThreshold } from '../model/tags.js';
import { inputNames, renderOptions, type InputName, type RenderOptions } from './common.js';

interface RunOptions extends RenderOptions {
  config?: string;
  haproxy: string;
  wait: string;
  minReloadInterval: string;
  statusListen: string;
  maxRemovalRatio: string;
  removalHold: string;
  history: string;
  consulWait: string;
  stopHaproxyOnExit?: boolean;
  reload: ReloadMode;
  haproxyMasterSocket?: string;
  reloadCommand?: string;
  maxOldWorkers: string;
  residualGrace: string;
  synDropPause: string;
  selfCheck: boolean;
  poolPrefix: string;
  depoolThreshold: string;
  dockerWeights?: boolean;
}

/** A duration flag, with the range that makes sense for it (`why` says what a value beyond it would do). */
function duration(input: InputName, flag: string, raw: string, range?: { min?: [number, string]; max: [number, string]; why: string }): number {
  const ms = parseDurationMs(raw);
  if (ms === undefined) throw new HapilotError(ErrorCode.USAGE, `${input(flag, raw)} is invalid: expected a duration such as 500ms, 5s or 2m`);
  if (range && (ms < (range.min?.[0] ?? 0) || ms > range.max[0])) {
    throw new HapilotError(ErrorCode.USAGE, `${input(flag, raw)} is invalid: expected a duration from ${range.min?.[1] ?? '0'} to ${range.max[1]} (${range.why})`);
  }
  return ms;
}

export function addRunCommand(program: Command): void {
  const cmd = program.command('run').description('follow the catalog and keep HAProxy in step with it (the daemon)');
  for (const o of renderOptions()) cmd.addOption(o);
  cmd
    .addOption(new Option('--config <path>', 'where haproxy.cfg is written (default: <run-dir>/haproxy.cfg)').env('HAPILOT_CONFIG'))
    .addOption(new Option('--haproxy <path>', 'haproxy binary').default('haproxy').env('HAPILOT_HAPROXY'))
    .addOption(new Option('--wait <min:max>', 'quiet time before applying a change, and the longest a burst may delay it').default('1s:5s').env('HAPILOT_WAIT'))
    .addOption(new Option('--min-reload-interval <duration>', 'never reload more often than this').default('2s').env('HAPILOT_MIN_RELOAD_INTERVAL'))
    .addOption(new Option('--status-listen <host:port>', 'status server (/healthz, /ready, /status, /metrics)').default('127.0.0.1:9105').env('HAPILOT_STATUS_LISTEN'))
    .addOption(new Option('--max-removal-ratio <ratio>', 'largest share of a backend\'s servers removed at once without holding').default('0.5').env('HAPILOT_MAX_REMOVAL_RATIO'))
    .addOption(new Option('--removal-hold <duration>', 'how long a larger removal (or an emptied backend) is held before it applies').default('2m').env('HAPILOT_REMOVAL_HOLD'))
    .addOption(new Option('--history <n>', 'configs (with diffs) kept in <run-dir>/history').default('10').env('HAPILOT_HISTORY'))
    .addOption(new Option('--consul-wait <duration>', 'wait of each Consul blocking query').default('5m').env('HAPILOT_CONSUL_WAIT'))
    .addOption(new Option('--stop-haproxy-on-exit', 'stop HAProxy when hapilot stops (default: leave it serving)').env('HAPILOT_STOP_HAPROXY_ON_EXIT'))
    .addOption(new Option('--reload <strategy>', 'how changes reach HAProxy').choices(['auto', 'seamless', 'runtime', 'syn-drop']).default('auto').env('HAPILOT_RELOAD'))
    .addOption(new Option('--haproxy-master-socket <path>', 'reload an HAProxy started elsewhere through its master CLI socket').env('HAPILOT_HAPROXY_MASTER_SOCKET').conflicts('reloadCommand'))
    .addOption(new Option('--reload-command <cmd>', 'run this shell command to start or reload an HAProxy managed elsewhere').env('HAPILOT_RELOAD_COMMAND'))
    .addOption(new Option('--max-old-workers <n>', 'delay a reload while this many old HAProxy processes are still draining').default('5').env('HAPILOT_MAX_OLD_WORKERS'))
    .addOption(new Option('--residual-grace <duration>', 'end old HAProxy processes alive longer than hard-stop-after plus this').default('1m').env('HAPILOT_RESIDUAL_GRACE'))
    .addOption(new Option('--syn-drop-pause <duration>', 'syn-drop: pause after inserting the rule, so the old accept queue drains').default('100ms').env('HAPILOT_SYN_DROP_PAUSE'))
    .addOption(new Option('--pool-prefix <prefix>', 'Consul KV prefix of the pool records (<prefix>/<service>/<instance>)').default(DEFAULT_POOL_PREFIX).env('HAPILOT_POOL_PREFIX'))
    .addOption(new Option('--depool-threshold <ratio>', 'share of a backend\'s servers always kept in rotation, for backends without HAPROXY.BACKEND.DEPOOL_THRESHOLD').default(String(DEFAULT_DEPOOL_THRESHOLD)).env('HAPILOT_DEPOOL_THRESHOLD'))
    .addOption(new Option('--docker-weights', 'also take per-instance weights from KV app/<service>/<address>/<port> (the docker-haproxy image\'s keys; default 100)').env('HAPILOT_DOCKER_WEIGHTS'))
    .addOption(new Option('--no-self-check', 'skip the checks after each reload (frontend ports accept, backends have their servers)').env('HAPILOT_NO_SELF_CHECK'))
    .action(async (opts: RunOptions, command: Command) => {
      const log = createLogger({ level: opts.logLevel as 'info', destination: 1 });
      boundHeapGrowth();
      await run(opts, log, inputNames(command));
    });
}

/** `auto`: HAProxy before 1.8 has no master-worker mode, so it gets syn-drop; otherwise the Runtime API, then master-worker reloads. */
function chooseReloadMode(opts: RunOptions, haproxy: { version: string; major: number; minor: number }, log: Logger): ReloadMode {
  if (opts.reload !== 'auto' || opts.haproxyMasterSocket || opts.reloadCommand) return opts.reload;
  if (haproxy.major < 1 || (haproxy.major === 1 && haproxy.minor < 8)) {
    log.warn({ version: haproxy.version }, 'this HAProxy has no master-worker mode: reloading with syn-drop');
    return 'syn-drop';
  }
  return 'auto';
}

async function run(opts: RunOptions, log: Logger, input: InputName): Promise<void> {
  const wait = parseWait(opts.wait);
  if (!wait) throw new HapilotError(ErrorCode.USAGE, `${input('--wait', opts.wait)} is invalid: expected MIN:MAX durations such as 1s:5s`);
  const ratio = Number(opts.maxRemovalRatio);
  if (!/^\d*\.?\d+$/.test(opts.maxRemovalRatio) || ratio < 0 || ratio > 1) {
    throw new HapilotError(ErrorCode.USAGE, `${input('--max-removal-ratio', opts.maxRemovalRatio)} is invalid: expected a number from 0 to 1`);
  }
  const historySize = Number(opts.history);
  if (!/^\d{1,4}$/.test(opts.history) || historySize < 1) throw new HapilotError(ErrorCode.USAGE, `${input('--history', opts.history)} is invalid: expected a whole number from 1 to 9999`);
  parseListen(opts.statusListen, input('--status-listen', opts.statusListen));
  const maxOldWorkers = Number(opts.maxOldWorkers);
  if (!/^\d{1,4}$/.test(opts.maxOldWorkers) || maxOldWorkers < 1) throw new HapilotError(ErrorCode.USAGE, `${input('--max-old-workers', opts.maxOldWorkers)} is invalid: expected a whole number from 1 to 9999`);
  const settings = loadSettings();
  const templatesDir = opts.templates ?? BUILTIN_TEMPLATES_DIR;
  const templates = await loadTemplates(templatesDir);
  const metrics = new Metrics();
  const configPath = path.resolve(opts.config ?? path.join(opts.runDir, 'haproxy.cfg'));
  const defaultThreshold = parseThreshold(opts.depoolThreshold);
  if (defaultThreshold === undefined) throw new HapilotError(ErrorCode.USAGE, `${input('--depool-threshold', opts.depoolThreshold)} is invalid: expected a share of servers from 0 to 1, such as 0.5`);
  // Every duration is checked before anything starts, whatever the source (a bad value is an error
  // even where it would be ignored).
  duration(input, '--consul-wait', opts.consulWait, { min: [1000, '1s'], max: [600_000, '10m'], why: 'Consul caps a blocking query\'s wait at 10m' });
  const synDropPauseMs = duration(input, '--syn-drop-pause', opts.synDropPause, { max: [5000, '5s'], why: 'new connections are dropped for this long at every syn-drop reload' });
  const minIntervalMs = duration(input, '--min-reload-interval', opts.minReloadInterval, { max: [3_600_000, '1h'], why: 'changes that need a reload wait for it' });
  const holdMs = duration(input, '--removal-hold', opts.removalHold, { max: [86_400_000, '24h'], why: 'a held removal keeps dead servers configured this long' });
  const residualGraceMs = duration(input, '--residual-grace', opts.residualGrace, { max: [86_400_000, '24h'], why: 'old HAProxy processes may live this long past hard-stop-after' });
  const poolPrefix = normalizePrefix(opts.poolPrefix);
  if (!/^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/.test(poolPrefix)) throw new HapilotError(ErrorCode.USAGE, `${input('--pool-prefix', opts.poolPrefix)} is invalid: expected a Consul KV path such as hapilot/pool`);

  let source: CatalogSource;
  let closeConsul: (() => void) | undefined;
  let pool: PoolReconciler | undefined;
  if (opts.catalog !== undefined) {
    source = new FileSource({ file: opts.catalog, log: log.child({ component: 'file' }) });
  } else {
    const consulConfig = loadConsulConfig({ flagUrl: opts.consul, consistency: opts.consistency });
    log.info({ component: 'watch', consul: redactConsulConfig(consulConfig) }, 'following Consul');
    const consul = createConsulClient(consulConfig, metrics.consulObserver());
    const kv = createKvClient(consulConfig);
    closeConsul = () => {
      consul.close();
      kv.close();
    };
    // Pool states from KV, watched like the catalog; the daemon starts it and waits for its first read.
    pool = new PoolReconciler({
      kv, prefix: poolPrefix, dockerWeights: Boolean(opts.dockerWeights), wait: opts.consulWait, statsSocket: pathsFor({ configPath, runDir: opts.runDir }).statsSocket,
      defaultThreshold, includeWarning: settings.includeWarning, log: log.child({ component: 'pool' }),
    });
    source = new ConsulSource({ consul, log: log.child({ component: 'watch' }), wait: opts.consulWait, onFullResync: () => metrics.fullResyncs.inc(),
      onLostLongPoll: (lost) => metrics.lostLongPolls.inc({ endpoint: lost.name }) });
  }

  // Every config is judged by `haproxy -c`, whoever runs HAProxy: a binary that does not run at
  // startup is a configuration error (exit 1, one line); one that disappears later is retried.
  const haproxy = await haproxyVersion(opts.haproxy);
  log.info({ component: 'haproxy', haproxy: opts.haproxy, version: haproxy.version }, `HAProxy ${haproxy.version} (${opts.haproxy})`);
  const reloadMode = chooseReloadMode(opts, haproxy, log);
  const privileges = ownPrivileges(reloadMode === 'syn-drop', settings.socketGroup);
  (privileges.ok ? log.info.bind(log) : log.error.bind(log))({ component: 'privileges', ...privileges },
    `running as uid ${privileges.euid}${privileges.root ? ' (root)' : ''}${privileges.netAdmin ? ' with NET_ADMIN' : ''}; needs ${privileges.needs}${privileges.ok ? '' : ': missing, reloads will fail'}; ${privileges.sockets}`);
  const daemon = createDaemon({
    source, settings, templates, configPath, runDir: opts.runDir, haproxyBin: opts.haproxy, log, metrics,
    reload: reloadMode, masterSocket: opts.haproxyMasterSocket, reloadCommand: opts.reloadCommand, synDropPauseMs,
    wait: { ...wait, minIntervalMs },
    guard: { maxRemovalRatio: ratio, holdMs },
    fdLimit: await ownFdHardLimit(), historySize, stopHaproxyOnExit: Boolean(opts.stopHaproxyOnExit),
    selfCheck: opts.selfCheck, maxOldWorkers, residualGraceMs, pool,
  });
  const status = await startStatusServer({
    listen: opts.statusListen,
    shown: input('--status-listen', opts.statusListen),
    log,
    provider: {
      ready: () => daemon.ready(),
      status: (only) => daemon.status(only),
      page: (only) => daemon.page(only),
      metrics: () => daemon.metricsText(),
    },
  });
  log.info({ component: 'status', url: status.url, config: configPath, runDir: opts.runDir, source: source.kind }, `hapilot running; status on ${status.url}`);

  process.on('unhandledRejection', (err) => log.error({ err: messageOf(err) }, 'unhandled rejection'));
  process.on('SIGHUP', () => {
    void (async () => {
      log.info({ component: 'signal' }, 'SIGHUP: re-reading templates, re-rendering and reloading');
      try {
        daemon.setTemplates(await loadTemplates(templatesDir));
      } catch (err) {
        log.error({ err: messageOf(err) }, 'templates invalid; keeping the previous ones');
      }
      await daemon.requestSync({ trigger: 'SIGHUP', force: true });
    })();
  });
  await daemon.start();
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      log.info({ component: 'signal', signal }, `${signal}: shutting down${opts.stopHaproxyOnExit ? ' and stopping HAProxy' : '; HAProxy keeps serving'}`);
      void Promise.allSettled([daemon.stop(), status.close()]).then(() => resolve());
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  closeConsul?.();
  // Anything still holding the event loop now (a socket in its keep-alive) must not delay the exit.
  setTimeout(() => process.exit(process.exitCode ?? 0), 200).unref();
}
