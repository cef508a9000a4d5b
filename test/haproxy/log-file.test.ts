// HAProxy's own output in <run dir>/haproxy.log: written by HAProxy itself (the file is its stdout and
// stderr, not a pipe through hapilot), read back from its end only when a start or reload fails, and
// kept under a cap (its end moved to haproxy.log.1).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readlinkSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { haproxyLogAlerts, LOG_TAIL_BYTES, readTail, trimLog } from '../../src/haproxy/log-file.js';
import { MasterWorker } from '../../src/haproxy/master-worker.js';
import { HAPROXY, freePort, tempDir } from '../helpers/haproxy.js';
import { testLog } from '../helpers/log.js';

test('the alerts of a failure come from the end of the log: an old one far up a long log is not reported', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const file = path.join(dir, 'haproxy.log');
    const noise = '[WARNING]  (7) : Proxy svc00001 stopped (cumulated conns: FE: 0, BE: 0).\n'.repeat(Math.ceil((2 * LOG_TAIL_BYTES) / 70));
    await writeFile(file, `[ALERT]    (5) : config : an old failure\n${noise}[ALERT]    (9) : config : the failure now\n[NOTICE]   (9) : done\n`);
    assert.equal(await haproxyLogAlerts(file), 'config : the failure now');
    const tail = await readTail(file);
    assert.ok(tail.length <= LOG_TAIL_BYTES && tail.length > LOG_TAIL_BYTES - 200, String(tail.length));
    assert.match(tail, /^\[WARNING\] /, 'the line cut at the start of the tail is dropped');
    await writeFile(file, 'short log without alerts\nlast line\n');
    assert.equal(await haproxyLogAlerts(file), 'short log without alerts | last line');
    assert.equal(await haproxyLogAlerts(path.join(dir, 'missing.log')), 'no HAProxy output');
  } finally {
    await cleanup();
  }
});

test('trimLog: past the cap the log\'s end (from a line start) goes to <file>.1 and the file starts again; under it nothing moves', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const file = path.join(dir, 'haproxy.log');
    const lines = Array.from({ length: 100 }, (_, i) => `[WARNING]  (7) : line ${i}\n`).join('');
    await writeFile(file, lines);
    assert.equal(await trimLog(file, { maxBytes: lines.length, keepBytes: 100 }), false);
    assert.equal(await readFile(file, 'utf8'), lines);
    assert.equal(await trimLog(file, { maxBytes: 1000, keepBytes: 100 }), true);
    assert.equal(await readFile(file, 'utf8'), '');
    const kept = await readFile(`${file}.1`, 'utf8');
    assert.ok(kept.length <= 100 && lines.endsWith(kept) && kept.startsWith('[WARNING]'), JSON.stringify(kept));
    assert.match(kept, /line 99\n$/);
    assert.equal(await trimLog(path.join(dir, 'missing.log')), false);
  } finally {
    await cleanup();
  }
});

test('HAProxy started by hapilot writes its log file itself, across reloads and a trim', async () => {
  const { dir, cleanup } = await tempDir();
  const port = await freePort();
  const configPath = path.join(dir, 'haproxy.cfg');
  await writeFile(configPath, ['global', `    stats socket ${dir}/admin.sock mode 600 level admin`, 'defaults', '    mode http', '    timeout client 5s',
    '    timeout connect 1s', '    timeout server 5s', 'frontend f', `    bind 127.0.0.1:${port}`, '    http-request return status 200', ''].join('\n'));
  const ctl = new MasterWorker({ haproxy: HAPROXY, configPath, runDir: dir, log: testLog });
  try {
    assert.deepEqual(await ctl.start(), { adopted: false });
    const { masterPid } = await ctl.processes();
    assert.ok(masterPid);
    // Its stdout and stderr are the file, not a pipe: no line of it crosses hapilot's event loop, and
    // it keeps logging there when this hapilot is gone.
    for (const fd of [1, 2]) assert.equal(readlinkSync(`/proc/${masterPid}/fd/${fd}`), ctl.logFile);
    const r = await ctl.reload();
    assert.equal(r.ok, true, r.message);
    const log = await readFile(ctl.logFile, 'utf8');
    assert.match(log, new RegExp(`\\(${masterPid}\\) : Reloading HAProxy`));
    assert.match(log, /Loading success/);
    // Trimmed while HAProxy holds it: HAProxy's next lines land at the new start (it appends), with
    // no hole of zero bytes where the old text was.
    assert.equal(await trimLog(ctl.logFile, { maxBytes: 10, keepBytes: 1000 }), true);
    assert.equal((await ctl.reload()).ok, true);
    const after = await readFile(ctl.logFile, 'utf8');
    assert.ok(after.length > 0 && after.length < log.length + 1000, String(after.length));
    assert.doesNotMatch(after, /\0/);
    assert.match(after, /^\[NOTICE\] .*Reloading HAProxy/);
  } finally {
    await ctl.stop();
    await cleanup();
  }
});
