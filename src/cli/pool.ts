// `hapilot pool|depool|drain|decommission SERVICE [INSTANCE ...]` and `hapilot cycle SERVICE
// INSTANCE -- COMMAND ...`: write pool records to Consul KV (check-and-set), and with --wait verify
// through every HAProxy given (--haproxy-status) that the server really is in the new state.
// Exit statuses: 0 done; 1 refused or failed write (unknown instance, depool threshold, CAS
// conflict, Consul); 2 usage; 3 not confirmed by HAProxy within --timeout. `cycle`: 3 depool refused
// or failed, 4 depool not confirmed, 5 the command failed (the instance is left depooled), 6 repool
// failed, 7 repool not confirmed.
import os from 'node:os';
import { Command, Option } from 'commander';
import { execa } from 'execa';
import { ErrorCode, HapilotError, isHapilotError } from '../errors.js';
import { loadConsulConfig, type Consistency, type ConsulConfig } from '../consul/config.js';
import { createConsulClient } from '../consul/client.js';
import { parseDurationMs } from '../util/duration.js';
import { createKvClient, type KvApi } from '../pool/kv.js';
import { DEFAULT_POOL_PREFIX, normalizePrefix, type PoolState } from '../pool/record.js';
import { DEFAULT_DEPOOL_THRESHOLD } from '../pool/rules.js';
import { parseThreshold } from '../pool/threshold.js';
import { planPoolChange, writePlan, VERB_STATE, type PlannedWrite, type PoolVerb } from '../pool/operate.js';
import { EXIT, PoolError, PoolErrorCode } from '../pool/errors.js';
import { observeServers } from '../pool/observe.js';
import { expectationFor, verifyStates, type VerifyTarget } from '../pool/verify.js';
import type { HealthEntry } from '../consul/schemas.js';
import type { KvPair } from '../pool/table.js';

type Selection = { instances: string[]; node: string | undefined; all: boolean };

interface PoolOptions {
  consul?: string;
  consistency: Consistency;
  prefix: string;
  node?: string;
  all?: boolean;
  reason?: string;
  weight?: string;
  depoolThreshold: string;
  wait?: boolean;
  timeout: string;
  haproxyStatus: string[];
}

const VERB_HELP: Record<PoolVerb, string> = {
  pool: 'put instances in rotation (pool state yes)',
  depool: 'take instances out of rotation (pool state no: HAProxy maint, still in the config and checked)',
  drain: 'let open sessions finish, send no new ones (pool state drain)',
  decommission: 'take instances out for a long time (pool state inactive: not in the config)',
};

function commonOptions(): Option[] {
  return [
    new Option('--consul <url>', 'Consul HTTP address (default: CONSUL_HTTP_ADDR or 127.0.0.1:8500)').env('HAPILOT_CONSUL'),
    new Option('--consistency <mode>', 'Consul read consistency').choices(['default', 'stale', 'consistent']).default('default').env('HAPILOT_CONSISTENCY'),
    new Option('--prefix <prefix>', 'KV prefix of the pool records').default(DEFAULT_POOL_PREFIX).env('HAPILOT_POOL_PREFIX'),
    new Option('--node <node>', 'only instances on this Consul node (with no INSTANCE: all of them)'),
    new Option('--reason <text>', 'why, stored in the record and shown on the status page'),
    new Option('--depool-threshold <ratio>', 'threshold for backends without HAPROXY.BACKEND.DEPOOL_THRESHOLD').default(String(DEFAULT_DEPOOL_THRESHOLD)).env('HAPILOT_DEPOOL_THRESHOLD'),
    new Option('--timeout <duration>', 'how long to wait for HAProxy to show the new state').default('60s'),
    new Option('--haproxy-status <source>', 'a hapilot /status URL, an HAProxy stats CSV URL or a stats socket path (repeatable; the environment variable takes a comma-separated list)')
      .default([]).env('HAPILOT_HAPROXY_STATUS').argParser((v: string, prev: string[]) => [...prev, ...v.split(',').map((x) => x.trim()).filter((x) => x.length > 0)]),
  ];
}

interface Context {
  consul: ConsulConfig;
  kv: KvApi;
  prefix: string;
  threshold: number;
  timeoutMs: number;
  out: (line: string) => void;
}

function context(opts: PoolOptions): Context {
  const threshold = parseThreshold(opts.depoolThreshold);
  if (threshold === undefined) throw new HapilotError(ErrorCode.USAGE, `--depool-threshold ${JSON.stringify(opts.depoolThreshold)} is invalid: expected a share from 0 to 1, such as 0.5`);
  const timeoutMs = parseDurationMs(opts.timeout);
  if (timeoutMs === undefined) throw new HapilotError(ErrorCode.USAGE, `--timeout ${JSON.stringify(opts.timeout)} is invalid: expected a duration such as 30s or 2m`);
  const consul = loadConsulConfig({ flagUrl: opts.consul, consistency: opts.consistency });
  return { consul, kv: createKvClient(consul), prefix: normalizePrefix(opts.prefix), threshold, timeoutMs, out: (line) => process.stdout.write(`${line}\n`) };
}

function parseWeight(raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  if (!/^\d{1,3}$/.test(raw) || Number(raw) > 256) throw new HapilotError(ErrorCode.USAGE, `--weight ${JSON.stringify(raw)} is invalid: expected an integer from 0 to 256`);
  return Number(raw);
}

async function readState(ctx: Context, service: string): Promise<{ entries: HealthEntry[]; pairs: KvPair[] }> {
  const consul = createConsulClient(ctx.consul);
  try {
    const [health, kv] = await Promise.all([consul.healthService(service), ctx.kv.list(ctx.prefix)]);
    return { entries: health.data, pairs: kv.data };
  } finally {
    consul.close();
  }
}

function targetsOf(writes: readonly PlannedWrite[], state: (w: PlannedWrite) => PoolState): VerifyTarget[] {
  return writes.map((w) => ({ backend: w.instance.backend, server: w.instance.server, expect: expectationFor(state(w)) }));
}

async function verify(ctx: Context, sources: readonly string[], targets: VerifyTarget[], what: string, exitCode: number): Promise<void> {
  const backends = new Set(targets.map((t) => t.backend));
  const r = await verifyStates({ sources, targets, timeoutMs: ctx.timeoutMs, observe: (s) => observeServers(s, 5000, backends) });
  if (!r.ok) {
    throw new PoolError(PoolErrorCode.UNVERIFIED, `${what} not confirmed by HAProxy within ${Math.round(ctx.timeoutMs / 1000)} s: ${r.problems.join('; ')}`, { exitCode });
  }
  ctx.out(`verified on ${sources.length} HAProxy: ${targets.map((t) => `${t.backend}/${t.server} ${t.expect}`).join(', ')} (${(r.elapsedMs / 1000).toFixed(1)} s)`);
}

function who(): string {
  let user = 'unknown';
  try {
    user = os.userInfo().username;
  } catch {
    // no passwd entry (containers): keep "unknown"
  }
  return `${user}@${os.hostname()}`;
}

/** Plans, refuses past the threshold, writes with CAS the planned records `only` keeps; returns them all. */
async function change(ctx: Context, service: string, state: PoolState, sel: Selection, opts: { reason?: string | undefined; weight?: number | undefined; only?: (w: PlannedWrite) => boolean }): Promise<PlannedWrite[]> {
  const { entries, pairs } = await readState(ctx, service);
  const plan = planPoolChange({ service, entries, pairs, prefix: ctx.prefix, state, selection: sel, reason: opts.reason, weight: opts.weight, by: who(), at: new Date().toISOString(), defaultThreshold: ctx.threshold });
  const writes = opts.only ? plan.writes.filter(opts.only) : plan.writes;
  if (plan.refusal && writes.some((w) => !w.unchanged)) {
    throw new PoolError(PoolErrorCode.THRESHOLD, `refused to set ${writes.map((w) => w.instance.serviceId).join(', ')} to ${state}: ${plan.refusal}`);
  }
  for (const o of await writePlan(ctx.kv, writes)) {
    ctx.out(`${o.write.key}: ${o.write.before} → ${o.write.next.state}${o.written ? '' : ' (unchanged)'}`);
  }
  return plan.writes;
}

async function runVerb(verb: PoolVerb, service: string, instances: string[], opts: PoolOptions): Promise<void> {
  if (instances.length === 0 && !opts.all && opts.node === undefined) {
    throw new HapilotError(ErrorCode.USAGE, `${verb} ${service}: name the instances (Consul service IDs), or use --node NODE or --all`);
  }
  if (opts.wait && opts.haproxyStatus.length === 0) throw new HapilotError(ErrorCode.USAGE, `${verb} --wait needs at least one --haproxy-status (a hapilot /status URL, an HAProxy stats CSV URL or a stats socket path)`);
  const ctx = context(opts);
  try {
    const state = VERB_STATE[verb];
    const writes = await change(ctx, service, state, { instances, node: opts.node, all: opts.all === true }, { reason: opts.reason, weight: parseWeight(opts.weight) });
    if (opts.wait) await verify(ctx, opts.haproxyStatus, targetsOf(writes, () => state), `${verb} ${service}`, EXIT.UNVERIFIED);
  } finally {
    ctx.kv.close();
  }
}

/** Re-raises an error of one cycle step with that step's exit status (keeping a PoolError's own message). */
function asStep(err: unknown, exitCode: number, suffix = ''): never {
  if (isHapilotError(err)) throw new PoolError(err.code, `${err.message}${suffix}`, { exitCode, cause: err });
  throw err;
}

async function runCycle(service: string, instance: string, command: string[], opts: PoolOptions): Promise<void> {
  if (command.length === 0) throw new HapilotError(ErrorCode.USAGE, 'cycle: give the command after --, e.g. hapilot cycle web web-1 -- systemctl restart web');
  if (opts.haproxyStatus.length === 0) throw new HapilotError(ErrorCode.USAGE, 'cycle needs at least one --haproxy-status to verify the depool and the repool');
  const ctx = context(opts);
  const sel = { instances: [instance], node: opts.node, all: false };
  try {
    // 1. Depool what is pooled (yes or drain); an instance already `no` or `inactive` is left so.
    let planned: PlannedWrite[];
    try {
      planned = await change(ctx, service, 'no', sel, { reason: opts.reason ?? `hapilot cycle: ${command.join(' ')}`, only: (w) => w.before !== 'inactive' });
    } catch (err) {
      asStep(err, EXIT.CYCLE_DEPOOL);
    }
    const restore = planned.filter((w) => w.before === 'yes' || w.before === 'drain');
    // 2. Verify: out of rotation (or, for inactive, gone) with no sessions, on every HAProxy.
    try {
      await verify(ctx, opts.haproxyStatus, targetsOf(planned, (w) => (w.before === 'inactive' ? 'inactive' : 'no')), `depool of ${service}/${instance}`, EXIT.CYCLE_DEPOOL_UNVERIFIED);
    } catch (err) {
      // The command did not run: put back what was pooled, then fail.
      const back = await repool(ctx, service, sel, restore).then(() => (restore.length ? ' (its previous pool state was put back; the command did not run)' : ' (the command did not run)'), () => ' (putting its previous pool state back failed too: check it; the command did not run)');
      asStep(err, EXIT.CYCLE_DEPOOL_UNVERIFIED, back);
    }
    // 3. The command.
    ctx.out(`running: ${command.join(' ')}`);
    const r = await execa(command[0] ?? '', command.slice(1), { stdio: 'inherit', reject: false });
    if (r.exitCode !== 0) {
      throw new PoolError(PoolErrorCode.COMMAND, `command ${JSON.stringify(command.join(' '))} failed (${r.exitCode === undefined ? r.shortMessage : `exit status ${r.exitCode}`}): ${service}/${instance} is left depooled; pool it again with \`hapilot pool ${service} ${instance}\` once it is fixed`, { exitCode: EXIT.CYCLE_COMMAND });
    }
    // 4. Repool only what was pooled before; 5. verify.
    if (restore.length === 0) {
      ctx.out(`${service}/${instance} was not pooled before (${planned.map((w) => w.before).join(', ')}): left as it is`);
      return;
    }
    try {
      await repool(ctx, service, sel, restore);
    } catch (err) {
      asStep(err, EXIT.CYCLE_REPOOL);
    }
    await verify(ctx, opts.haproxyStatus, targetsOf(restore, (w) => w.before), `repool of ${service}/${instance}`, EXIT.CYCLE_REPOOL_UNVERIFIED);
  } finally {
    ctx.kv.close();
  }
}

/**
 * Writes back the state each instance had before the cycle (only those `restore` lists), and only
 * while the record still says `no`: a state someone else set meanwhile is not overwritten.
 */
async function repool(ctx: Context, service: string, sel: Selection, restore: readonly PlannedWrite[]): Promise<void> {
  const id = (w: PlannedWrite) => `${w.instance.node}\0${w.instance.serviceId}`;
  for (const state of new Set(restore.map((w) => w.before))) {
    const ids = new Set(restore.filter((w) => w.before === state).map(id));
    await change(ctx, service, state, sel, {
      only: (w) => {
        if (!ids.has(id(w))) return false;
        if (w.before !== 'no') throw new PoolError(PoolErrorCode.CONFLICT, `${w.key} was changed to ${w.before} by someone else during the cycle: left as it is, not repooled`);
        return true;
      },
    });
  }
}

export function addPoolCommands(program: Command): void {
  for (const verb of ['pool', 'depool', 'drain', 'decommission'] as const) {
    const cmd = program.command(`${verb} <service> [instances...]`).description(VERB_HELP[verb]);
    for (const o of commonOptions()) cmd.addOption(o);
    cmd
      .option('--all', 'every instance of the service')
      .option('--weight <n>', 'also set the server weight (0-256)')
      .option('--wait', 'then verify through each --haproxy-status that HAProxy shows the new state (depool/drain: and 0 sessions)')
      .action((service: string, instances: string[], opts: PoolOptions) => runVerb(verb, service, instances, opts));
  }
  const cycle = program.command('cycle <service> <instance> [command...]')
    .description('depool, verify, run the command (e.g. a restart), repool only what was pooled before, verify again');
  for (const o of commonOptions()) cycle.addOption(o);
  cycle.action((service: string, instance: string, command: string[], opts: PoolOptions) => runCycle(service, instance, command, opts));
}
