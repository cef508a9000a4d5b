// Runs inside a private network namespace (test/netns/firewall.test.ts): the SYN-drop rule is gone
// after an invalid config, after HAProxy fails to start, and after hapilot is killed with SIGKILL
// in the middle of a reload and restarted. Prints one JSON object of findings.
import http from 'node:http';
import { mkdtemp, writeFile, readFile, mkdir, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { assertPrivateNetns } from '../../bench/lib/scenario.js';
import { SynDropFirewall } from '../../src/haproxy/firewall.js';
import { SynDropApplier, bindPorts, pidAlive } from '../../src/haproxy/syn-drop.js';
import { createLogger } from '../../src/log.js';

const log = createLogger({ level: 'silent', destination: 2, pretty: false });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const canConnect = (port: number) => new Promise<boolean>((resolve) => {
  const s = net.connect({ port, host: '127.0.0.1' }, () => { s.destroy(); resolve(true); });
  s.setTimeout(500, () => { s.destroy(); resolve(false); });
  s.once('error', () => resolve(false));
});

function config(dir: string, extraPort?: number): string {
  return ['global', `    stats socket ${dir}/haproxy.sock mode 600 level admin`, '    hard-stop-after 5s', 'defaults', '    mode http', '    timeout client 5s', '    timeout connect 1s', '    timeout server 5s',
    'frontend f', '    bind 127.0.0.1:8080', '    http-request return status 200 content-type text/plain string ok',
    ...(extraPort ? ['frontend g', `    bind 127.0.0.1:${extraPort}`, '    http-request return status 200'] : []), ''].join('\n');
}

async function main(): Promise<void> {
  await assertPrivateNetns();
  const out: Record<string, unknown> = {};
  const dir = await mkdtemp(path.join(os.tmpdir(), 'hapilot-fw-'));
  const configPath = path.join(dir, 'haproxy.cfg');
  const fw = new SynDropFirewall();
  await writeFile(configPath, config(dir));
  const ctl = new SynDropApplier({ haproxy: 'haproxy', configPath, runDir: dir, statsSocket: path.join(dir, 'haproxy.sock'), firewall: fw, log, ports: async () => bindPorts(await readFile(configPath, 'utf8')), pauseMs: 50 });
  await ctl.start();
  out.startedServing = await canConnect(8080);

  // 1. An invalid config reaches the reload (validation bypassed on purpose).
  await writeFile(configPath, `${config(dir)}    no-such-keyword\n`);
  const bad = await ctl.reload();
  out.invalid = { reloadOk: bad.ok, rulesLeft: await fw.count(), stillServing: await canConnect(8080) };

  // 2. A valid config whose new port is taken: HAProxy fails to start.
  const blocker = http.createServer().listen(9999, '127.0.0.1');
  await sleep(100);
  await writeFile(configPath, config(dir, 9999));
  const fail = await ctl.reload();
  out.startFailure = { reloadOk: fail.ok, message: fail.message.slice(0, 200), rulesLeft: await fw.count(), stillServing: await canConnect(8080) };
  blocker.close();
  await ctl.stop();

  // IPv6 binds: the rule goes to ip6tables too, and both are removed.
  await fw.insert({ ports: [8080, 8443], ipv6: true });
  const v6 = (await execa('ip6tables', ['-w', '-S', 'INPUT'])).stdout.split('\n').filter((l) => l.includes(fw.tag)).length;
  const both = await fw.count();
  await fw.remove();
  out.ipv6 = { ip6tablesRules: v6, allRules: both, after: await fw.count() };

  // 3. hapilot killed with SIGKILL mid-reload (during a long pause with the rule in place), restarted.
  const runDir = path.join(dir, 'run');
  await mkdir(runDir);
  const catalog = path.join(dir, 'catalog.json');
  await writeFile(catalog, JSON.stringify([{ Node: { Node: 'n', Address: '127.0.0.1' }, Service: { ID: 'w', Service: 'web', Tags: ['HAPROXY.ENABLE=true'], Port: 9 }, Checks: [] }]));
  const env = { HAPROXY_DOM: 'example.test', HAPROXY_MAXCONN_GLOBAL: '2000', HAPROXY_MAXCONN: '1000' };
  const args = ['dist/src/cli/main.js', 'run', '--catalog', catalog, '--run-dir', runDir, '--reload', 'syn-drop', '--syn-drop-pause', '4s', '--status-listen', '127.0.0.1:9105', '--log-level', 'warn'];
  const first = execa(process.execPath, args, { env, reject: false, stdin: 'ignore' });
  const until = Date.now() + 20_000;
  while (!(await canConnect(8080)) && Date.now() < until) await sleep(100);
  await sleep(300);
  first.kill('SIGHUP');
  let ruleSeen = 0;
  for (let i = 0; i < 40 && ruleSeen === 0; i++) { await sleep(50); ruleSeen = await fw.count(); }
  first.kill('SIGKILL');
  await first;
  const afterKill = await fw.count();
  // The restart (with a short pause this time) sweeps the crashed run's rule before anything else.
  const restartArgs = args.map((a) => (a === '4s' ? '50ms' : a));
  const second = execa(process.execPath, [...restartArgs, '--stop-haproxy-on-exit'], { env, reject: false, stdin: 'ignore', all: true });
  let ready = false;
  for (let i = 0; i < 150 && !ready; i++) {
    await sleep(100);
    // Applied: the last good config was served (adopting the running HAProxy and reloading it).
    ready = await fetch('http://127.0.0.1:9105/status').then(async (r) => ((await r.json()) as { reloads: Array<{ ok: boolean }> }).reloads[0]?.ok === true).catch(() => false);
  }
  let rulesAfterRestart = await fw.count();
  for (let i = 0; i < 50 && rulesAfterRestart > 0; i++) { await sleep(100); rulesAfterRestart = await fw.count(); }
  out.sigkill = { ruleDuringReload: ruleSeen, rulesAfterKill: afterKill, rulesAfterRestart, servingAfterRestart: await canConnect(8080), ready };
  second.kill('SIGTERM');
  const secondDone = await second;
  (out.sigkill as Record<string, unknown>).sweptLogged = /removed SYN-drop rules left by an earlier run/.test(String(secondDone.all));
  const pid = Number((await readFile(path.join(runDir, 'haproxy.pid'), 'utf8').catch(() => '0')).trim());
  out.haproxyStoppedAtEnd = !pid || !pidAlive(pid);
  // Nothing of ours may outlive the scenario.
  for (const p of (await execa('pgrep', ['-f', dir], { reject: false })).stdout.split('\n').filter(Boolean).map(Number)) if (p !== process.pid) process.kill(p, 'SIGKILL');
  await rm(dir, { recursive: true, force: true });
  process.stdout.write(`${JSON.stringify(out)}\n`);
}

main().then(() => process.exit(0), (err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
