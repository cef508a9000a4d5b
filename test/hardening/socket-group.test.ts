// HAPILOT_SOCKET_GROUP: HAProxy's admin stats socket and its master socket are created mode 0660 owned
// by the group the user names, so that a member of that group (and only one) can use the Runtime API; a group that does not
// exist is refused at startup by name. Without the setting the socket stays 0600
// (test/hardening/scale-and-sockets.test.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { CLI, hapilot } from '../helpers/cli.js';
import { eventually } from '../helpers/backends.js';
import { freePorts, tempDir } from '../helpers/haproxy.js';

const GROUP = 'adm'; // exists on every Debian

async function gidOf(name: string): Promise<number> {
  const line = (await readFile('/etc/group', 'utf8')).split('\n').find((l) => l.startsWith(`${name}:`));
  assert.ok(line, `group ${name} exists`);
  return Number(line.split(':')[2]);
}

/**
 * One command on a socket as uid/gid 65534 (nobody), with or without the given supplementary groups:
 * 'answered' when the answer matches `expect`, else the error code (EACCES) or 'no answer'.
 */
async function commandAs(socket: string, command: string, expect: RegExp, groups: string[]): Promise<string> {
  const client = `const s=require('net').connect(process.argv[1]);let b='';s.on('connect',()=>s.end(process.argv[2]+'\\n'));`
    + `s.on('data',(d)=>b+=d);s.on('close',()=>console.log(new RegExp(process.argv[3]).test(b)?'answered':'no answer'));s.on('error',(e)=>{console.log(e.code);process.exit(0)});`;
  const args = ['--reuid', '65534', '--regid', '65534', ...(groups.length ? ['--groups', groups.join(',')] : ['--clear-groups']), process.execPath, '-e', client, socket, command, expect.source];
  const r = await execa('setpriv', args, { reject: false, timeout: 10_000 });
  return `${String(r.stdout).trim()}${r.exitCode === 0 ? '' : ` (exit ${r.exitCode}: ${String(r.stderr).trim()})`}`;
}

test('HAPILOT_SOCKET_GROUP: hapilot run has HAProxy create its stats socket mode 0660 in that group; a member may use it, anyone else may not', { timeout: 60_000 }, async () => {
  const { dir, cleanup } = await tempDir();
  const [httpPort, statsPort, statusPort] = await freePorts(3) as [number, number, number];
  const runDir = path.join(dir, 'run');
  await chmod(dir, 0o711); // nobody may traverse to the socket; the socket's own mode decides
  const proc = execa(process.execPath, [CLI, 'run', '--catalog', 'examples/catalog.json', '--run-dir', runDir, '--status-listen', `127.0.0.1:${statusPort}`,
    '--log-level', 'info', '--stop-haproxy-on-exit'], {
    reject: false,
    env: { HAPROXY_DOM: 'example.test', HAPROXY_HTTP_PORT: String(httpPort), HAPROXY_STATS_PORT: String(statsPort), HAPROXY_MAXCONN_GLOBAL: '1000', HAPILOT_SOCKET_GROUP: GROUP },
  });
  try {
    await eventually(async () => (await fetch(`http://127.0.0.1:${statusPort}/ready`).catch(() => undefined))?.status === 200, 20_000, 'hapilot ready');
    const config = await readFile(path.join(runDir, 'haproxy.cfg'), 'utf8');
    assert.match(config, new RegExp(`^    stats socket \\S+/haproxy\\.sock mode 660 group ${GROUP} level admin`, 'm'));
    const sock = path.join(runDir, 'haproxy.sock');
    const st = await stat(sock);
    assert.ok(st.isSocket());
    assert.equal(st.mode & 0o777, 0o660, `mode ${(st.mode & 0o777).toString(8)}`);
    assert.equal(st.gid, await gidOf(GROUP), 'owned by the named group');
    assert.equal(await commandAs(sock, 'show info', /Name: HAProxy/, [String(await gidOf(GROUP))]), 'answered', 'a member of the group uses the Runtime API');
    assert.equal(await commandAs(sock, 'show info', /Name: HAProxy/, []), 'EACCES', 'anyone else is refused');
    // The master socket (hapilot starts HAProxy with -S path,mode,660,group,G): the same rule.
    const master = path.join(runDir, 'master.sock');
    const ms = await stat(master);
    assert.equal(ms.mode & 0o777, 0o660, `master socket mode ${(ms.mode & 0o777).toString(8)}`);
    assert.equal(ms.gid, await gidOf(GROUP), 'master socket owned by the named group');
    assert.equal(await commandAs(master, 'show proc', /master/, [String(await gidOf(GROUP))]), 'answered', 'a member of the group uses the master CLI');
    assert.equal(await commandAs(master, 'show proc', /master/, []), 'EACCES', 'anyone else is refused the master CLI');
  } finally {
    proc.kill('SIGTERM');
    const r = await proc;
    await cleanup();
    // The startup line says which privileges hapilot runs with and who may use the socket.
    const lines = String(r.stdout).split('\n').filter((l) => l.includes('"component":"privileges"'));
    assert.equal(lines.length, 1, String(r.stdout).slice(0, 2000));
    const line = JSON.parse(lines[0] ?? '{}') as { ok?: boolean; sockets?: string; needs?: string; msg?: string };
    assert.equal(line.ok, true);
    assert.equal(line.sockets, `stats socket mode 660, group ${GROUP} (HAPILOT_SOCKET_GROUP)`);
    assert.match(line.needs ?? '', /^no privilege/);
    assert.match(line.msg ?? '', new RegExp(`^running as uid 0 \\(root\\).*; needs no privilege .*; stats socket mode 660, group ${GROUP}`));
  }
});

test('HAPILOT_SOCKET_GROUP naming a group that does not exist, or not a group name: one line, exit 1, before anything starts', async () => {
  for (const [value, expected] of [
    ['hapilot-no-such-group', /^hapilot: error: HAPILOT_SOCKET_GROUP="hapilot-no-such-group" is invalid: expected a group that exists on this machine/],
    ['adm level admin', /^hapilot: error: HAPILOT_SOCKET_GROUP="adm level admin" is invalid: expected a group name such as haproxy or adm/],
  ] as const) {
    for (const cmd of [['render', '--catalog', 'examples/catalog.json'], ['run', '--catalog', 'examples/catalog.json', '--status-listen', '127.0.0.1:0']]) {
      const r = await hapilot(cmd, { env: { HAPILOT_SOCKET_GROUP: value }, timeout: 20_000 });
      assert.equal(r.code, 1, `${cmd[0]} ${value}: ${r.stderr}`);
      assert.match(r.stderr, expected);
      assert.equal(r.stderr.trimEnd().split('\n').length, 1, r.stderr);
      assert.equal(r.stdout, '');
    }
  }
});
