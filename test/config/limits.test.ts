import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { execa } from 'execa';
import { fitToFdLimit, fdNeeded, ownFdHardLimit } from '../../src/config/limits.js';
import { ErrorCode, isHapilotError } from '../../src/errors.js';
import { ENABLE, entry } from '../helpers/entries.js';
import { renderEntries, tempPaths } from '../helpers/render.js';
import { HAPROXY, freePorts, haproxyCheck, tempDir } from '../helpers/haproxy.js';
import { waitForPort } from '../helpers/backends.js';

test('within the limit nothing changes', () => {
  const r = fitToFdLimit({ maxconnGlobal: 5000, maxconn: 1000, listeners: 3, servers: 10, limit: 20000, policy: 'adapt' });
  assert.deepEqual(r, { maxconnGlobal: 5000, maxconn: 1000, warnings: [] });
});

test('adapt lowers maxconn to fit, with a warning naming the variable', () => {
  const r = fitToFdLimit({ maxconnGlobal: 50000, maxconn: 10000, listeners: 3, servers: 10, limit: 20000, policy: 'adapt' });
  assert.ok(fdNeeded({ maxconnGlobal: r.maxconnGlobal, listeners: 3, servers: 10 }) <= 20000);
  assert.ok(r.maxconnGlobal > 9000);
  assert.equal(r.maxconn, r.maxconnGlobal);
  assert.match(r.warnings[0] ?? '', /^HAPROXY_MAXCONN_GLOBAL=50000 needs about 100141 file descriptors but the hard limit is 20000/);
});

test('policy fail refuses with what to change', () => {
  assert.throws(() => fitToFdLimit({ maxconnGlobal: 50000, maxconn: 10000, listeners: 3, servers: 10, limit: 20000, policy: 'fail' }),
    (err) => isHapilotError(err, ErrorCode.FD_LIMIT) && /set HAPROXY_MAXCONN_GLOBAL to at most \d+/.test(err.message));
});

test('the adapted config really starts under this machine\'s limit (the unadapted one does not)', async () => {
  const limit = await ownFdHardLimit();
  assert.ok(limit !== undefined && limit < 100_000, `this test needs an open-files hard limit below 100000 (have ${limit})`);
  const { dir, cleanup } = await tempDir();
  const [httpPort, statsPort] = await freePorts(2);
  const env = { HAPROXY_HTTP_PORT: String(httpPort), HAPROXY_STATS_PORT: String(statsPort), HAPILOT_FD_LIMIT: String(limit) };
  const paths = tempPaths(dir);
  try {
    const unadapted = await renderEntries([entry('web', 'w1', [ENABLE], { nodeAddress: '127.0.0.1' })], { env: { ...env, HAPILOT_FD_LIMIT: '10000000' }, paths });
    assert.equal((await haproxyCheck(unadapted, path.join(dir, 'a.cfg'))).ok, true, 'haproxy -c accepts it');
    const bad = await execa(HAPROXY, ['-db', '-f', path.join(dir, 'a.cfg')], { reject: false, timeout: 10_000, all: true });
    assert.match(bad.all ?? '', /Cannot raise FD limit/);

    const adapted = await renderEntries([entry('web', 'w1', [ENABLE], { nodeAddress: '127.0.0.1' })], { env, paths });
    assert.match(adapted.model.warnings.join('\n'), /HAPROXY_MAXCONN_GLOBAL=50000/);
    await haproxyCheck(adapted, path.join(dir, 'b.cfg'));
    const proc = execa(HAPROXY, ['-db', '-f', path.join(dir, 'b.cfg')], { reject: false, all: true });
    try {
      await waitForPort(httpPort!, 5000);
    } finally {
      proc.kill('SIGTERM');
    }
    const done = await proc;
    assert.doesNotMatch(done.all ?? '', /Cannot raise FD limit/);
  } finally {
    await cleanup();
  }
});

