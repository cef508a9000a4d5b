// HAProxy managed elsewhere (the sidecar case): reloading through a shared master socket, or a
// user's reload command; and the self-check's view of frontends.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { MasterWorker } from '../../src/haproxy/master-worker.js';
import { CommandApplier } from '../../src/haproxy/command.js';
import { bindTargets, selfCheck } from '../../src/haproxy/self-check.js';
import { HAPROXY, freePort, freePorts, tempDir } from '../helpers/haproxy.js';
import { eventually, get } from '../helpers/backends.js';
import { testLog } from '../helpers/log.js';

const cfg = (port: number, dir: string, body: string) => ['global', `    stats socket ${dir}/admin.sock mode 600 level admin`, 'defaults', '    mode http', '    timeout client 5s', '    timeout connect 1s', '    timeout server 5s',
  'frontend f', `    bind 127.0.0.1:${port}`, `    http-request return status 200 content-type text/plain string ${body}`, ''].join('\n');

test('--haproxy-master-socket: reloads an HAProxy started elsewhere, and never stops it', async () => {
  const { dir, cleanup } = await tempDir();
  const port = await freePort();
  const configPath = path.join(dir, 'haproxy.cfg');
  const sock = path.join(dir, 'external-master.sock');
  await writeFile(configPath, cfg(port, dir, 'one'));
  const external = execa(HAPROXY, ['-W', '-S', `${sock},mode,600`, '-f', configPath], { reject: false, stdin: 'ignore' });
  try {
    const ctl = new MasterWorker({ haproxy: HAPROXY, configPath, runDir: path.join(dir, 'run'), log: testLog, externalMasterSocket: sock });
    await eventually(() => ctl.running(), 10_000, 'external HAProxy up');
    assert.deepEqual(await ctl.start(), { adopted: true });
    await writeFile(configPath, cfg(port, dir, 'two'));
    const r = await ctl.reload();
    assert.equal(r.ok, true, r.message);
    assert.equal((await get(port, 'x')).body, 'two');
    await ctl.stop();
    assert.equal(await ctl.running(), true, 'stop() leaves an external HAProxy alone');
    const missing = new MasterWorker({ haproxy: HAPROXY, configPath, runDir: dir, log: testLog, externalMasterSocket: path.join(dir, 'nope.sock') });
    await assert.rejects(missing.start(), /--haproxy-master-socket .*nope\.sock: the HAProxy master does not answer/);
  } finally {
    external.kill('SIGTERM');
    await external;
    await cleanup();
  }
});

test('--reload-command: runs the command with HAPILOT_CONFIG; a failing command is a failed reload', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const marker = path.join(dir, 'marker');
    const ok = new CommandApplier({ command: `echo "reload $HAPILOT_CONFIG" >> ${marker}`, configPath: '/etc/x/haproxy.cfg', log: testLog });
    await ok.start();
    assert.equal((await ok.reload()).ok, true);
    assert.equal(await readFile(marker, 'utf8'), 'reload /etc/x/haproxy.cfg\nreload /etc/x/haproxy.cfg\n');
    const bad = new CommandApplier({ command: 'echo nope >&2; exit 3', configPath: '/x', log: testLog });
    const r = await bad.reload();
    assert.equal(r.ok, false);
    assert.match(r.message, /exited with 3: nope/);
  } finally {
    await cleanup();
  }
});

test('self-check: wildcard binds are checked on loopback; a port nobody listens on is a problem', async () => {
  assert.deepEqual(bindTargets('    bind *:80\n    bind [::]:81\n    bind 10.1.2.3:82\n    bind [::1]:83\n'), [
    { host: '127.0.0.1', port: 80 }, { host: '::1', port: 81 }, { host: '10.1.2.3', port: 82 }, { host: '::1', port: 83 },
  ]);
  const [closed] = await freePorts(1);
  const r = await selfCheck({ config: `frontend f\n    bind 127.0.0.1:${closed}\n`, model: undefined, statsSocket: '/nonexistent', timeoutMs: 500 });
  assert.equal(r.ok, false);
  assert.match(r.problems[0] ?? '', new RegExp(`127\\.0\\.0\\.1:${closed} refuses connections`));
});
