// Runs inside a private network namespace (test/netns/syn-drop-crash.test.ts): a hapilot killed with
// SIGKILL in the middle of a syn-drop reload, and NOT restarted, leaves its DROP rule for a bounded
// time only (the detached watchdog removes it). Also: the normal path leaves no watchdog behind.
// Prints one JSON object of findings. `child <dir>` is the process that gets killed.
import { mkdtemp, writeFile, readFile, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { assertPrivateNetns } from '../../bench/lib/scenario.js';
import { SynDropFirewall } from '../../src/haproxy/firewall.js';
import { SynDropApplier, bindPorts } from '../../src/haproxy/syn-drop.js';
import { createLogger } from '../../src/log.js';

const log = createLogger({ level: 'silent', destination: 2, pretty: false });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const BOUND_MS = 1500;
const PAUSE_MS = 2000;
const TAG = `hapilot-crash-test-${process.pid}`;
const canConnect = (port: number) => new Promise<boolean>((resolve) => {
  const s = net.connect({ port, host: '127.0.0.1' }, () => { s.destroy(); resolve(true); });
  s.setTimeout(500, () => { s.destroy(); resolve(false); });
  s.once('error', () => resolve(false));
});
const config = (dir: string) => ['global', `    stats socket ${dir}/haproxy.sock mode 600 level admin`, '    hard-stop-after 5s', 'defaults', '    mode http', '    timeout client 5s',
  '    timeout connect 1s', '    timeout server 5s', 'frontend f', '    bind 127.0.0.1:8080', '    http-request return status 200 content-type text/plain string ok', ''].join('\n');

function applier(dir: string, tag: string): SynDropApplier {
  const configPath = path.join(dir, 'haproxy.cfg');
  return new SynDropApplier({
    haproxy: 'haproxy', configPath, runDir: dir, statsSocket: path.join(dir, 'haproxy.sock'), firewall: new SynDropFirewall({ tag, crashBoundMs: BOUND_MS }), log,
    ports: async () => bindPorts(await readFile(configPath, 'utf8')), pauseMs: PAUSE_MS,
  });
}

async function child(dir: string, tag: string): Promise<void> {
  const ctl = applier(dir, tag);
  await ctl.start();
  process.stdout.write('started\n');
  await ctl.reload(); // killed during its pause
}

/**
 * Watchdogs tagged `tag`: processes whose command line names it, less those whose parent does too.
 * The watchdog's shell forks to run `sleep`, and until that child execs it carries the shell's
 * command line: a plain `pgrep -f` counted 2 in one CI run.
 */
async function watchdogs(tag: string): Promise<number> {
  const rows = (await execa('ps', ['-eo', 'pid=,ppid=,args='])).stdout.split('\n')
    .map((line) => /^\s*(\d+)\s+(\d+)\s+(.*)$/.exec(line))
    .filter((m): m is RegExpExecArray => m !== null && (m[3] ?? '').includes(tag));
  const pids = new Set(rows.map((m) => m[1]));
  return rows.filter((m) => !pids.has(m[2] ?? '')).length;
}

async function main(): Promise<void> {
  await assertPrivateNetns();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'hapilot-crash-'));
  await writeFile(path.join(dir, 'haproxy.cfg'), config(dir));
  const fw = new SynDropFirewall({ tag: TAG });
  const out: Record<string, unknown> = {};
  // The normal path: the rule and its watchdog are both gone after remove().
  await fw.insert({ ports: [8081], ipv6: false });
  out.watchdogDuringRule = await watchdogs(TAG);
  await fw.remove();
  await sleep(200);
  out.normal = { rules: await fw.count(), watchdogs: await watchdogs(TAG) };

  const proc = execa(process.execPath, ['--import', 'tsx', 'test/netns/syn-drop-crash-scenario.ts', 'child', dir, TAG], { reject: false, stdin: 'ignore' });
  const until = Date.now() + 20_000;
  let ruleAt = 0;
  while (Date.now() < until && ruleAt === 0) {
    await sleep(20);
    if ((await fw.count()) > 0) ruleAt = Date.now();
  }
  out.ruleSeen = ruleAt > 0;
  await sleep(200);
  proc.kill('SIGKILL');
  await proc;
  out.rulesAfterKill = await fw.count();
  out.blockedAfterKill = !(await canConnect(8080));
  // Nobody restarts hapilot: the watchdog removes the rule within the pause plus the bound.
  let goneAt = 0;
  while (Date.now() < ruleAt + PAUSE_MS + BOUND_MS + 5000) {
    if ((await fw.count()) === 0) { goneAt = Date.now(); break; }
    await sleep(50);
  }
  out.goneAfterMs = goneAt ? goneAt - ruleAt : -1;
  out.boundMs = PAUSE_MS + BOUND_MS;
  out.servingAfter = await canConnect(8080);
  for (const p of (await execa('pgrep', ['-f', dir], { reject: false })).stdout.split('\n').filter(Boolean).map(Number)) if (p !== process.pid) process.kill(p, 'SIGKILL');
  await rm(dir, { recursive: true, force: true });
  process.stdout.write(`${JSON.stringify(out)}\n`);
}

const [mode, dirArg, tagArg] = process.argv.slice(2);
(mode === 'child' ? child(dirArg ?? '', tagArg ?? '') : main()).then(() => process.exit(0), (err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
