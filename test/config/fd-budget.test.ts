// Whose descriptor limit counts: render/check warn and keep the config as asked (it may be meant for
// another machine); the daemon, which starts HAProxy here, adapts or fails; and when no maxconn can
// fit, the message says what cannot fit (servers' checks), never "at most 0". The servers are counted from the last list counted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { fitToFdLimit, fdNeeded } from '../../src/config/limits.js';
import { buildConfig, finishConfig, serverCount } from '../../src/config/build.js';
import fc from 'fast-check';
import { buildModel, type Backend } from '../../src/model/model.js';
import { ErrorCode, isHapilotError } from '../../src/errors.js';
import { ENABLE, entry, settings } from '../helpers/entries.js';
import { builtinTemplates, GOLDEN_PATHS } from '../helpers/render.js';
import { tempDir } from '../helpers/haproxy.js';

const base = { maxconnGlobal: 50000, maxconn: 10000, listeners: 3, servers: 10, limit: 20000, policy: 'adapt' as const };

test('render/check under this process\'s own limit: a warning saying what the config needs, the config unchanged', () => {
  const r = fitToFdLimit({ ...base, limitSource: 'own', audience: 'render' });
  assert.equal(r.maxconnGlobal, 50000);
  assert.equal(r.maxconn, 10000);
  assert.equal(r.warnings.length, 1);
  assert.match(r.warnings[0] ?? '', /needs about 100141 file descriptors .*hard limit here \(20000\).*config is unchanged.*HAPILOT_FD_LIMIT/);
});

test('render/check with HAPILOT_FD_LIMIT (the target machine\'s limit): fitted like the daemon, or refused by policy', () => {
  const r = fitToFdLimit({ ...base, limitSource: 'configured', audience: 'render' });
  assert.ok(r.maxconnGlobal < 10000 && fdNeeded({ maxconnGlobal: r.maxconnGlobal, listeners: 3, servers: 10 }) <= 20000);
  assert.throws(() => fitToFdLimit({ ...base, limitSource: 'configured', audience: 'render', policy: 'fail' }),
    (err) => isHapilotError(err, ErrorCode.FD_LIMIT) && /HAPILOT_FD_LIMIT|hard limit is 20000/.test(err.message));
});

test('the daemon adapts maxconn to its own limit (policy adapt) or refuses (policy fail)', () => {
  const r = fitToFdLimit({ ...base, limitSource: 'own', audience: 'daemon' });
  // Room for up to 1,024 checked servers, in steps of 100 connections.
  assert.equal(r.maxconnGlobal, 9400);
  assert.equal(r.maxconn, r.maxconnGlobal);
  assert.throws(() => fitToFdLimit({ ...base, limitSource: 'own', audience: 'daemon', policy: 'fail' }),
    (err) => isHapilotError(err, ErrorCode.FD_LIMIT) && /set HAPROXY_MAXCONN_GLOBAL to at most 9400/.test(err.message));
});

test('an adapted maxconn does not move with every server (else each instance change would be a settings change, a reload)', () => {
  const at = (servers: number) => fitToFdLimit({ ...base, servers, limitSource: 'own', audience: 'daemon' }).maxconnGlobal;
  assert.equal(at(200), at(201));
  assert.equal(at(1), at(1000));
  assert.ok(at(5000) < at(1000));
  for (const servers of [0, 1, 1023, 1024, 5000, 15000]) {
    assert.ok(fdNeeded({ maxconnGlobal: at(servers), listeners: 3, servers }) <= 20000, `${servers} servers fit`);
  }
});

test('no maxconn fits: the message names the servers\' checks, the limit and the hard limit to ask for, never "at most 0"', () => {
  for (const audience of ['daemon', 'render'] as const) {
    const source = audience === 'daemon' ? 'own' : 'configured';
    assert.throws(() => fitToFdLimit({ ...base, servers: 100_000, limitSource: source, audience }), (err) => {
      assert.ok(isHapilotError(err, ErrorCode.FD_LIMIT));
      assert.doesNotMatch(err.message, /at most 0|at most -/);
      assert.match(err.message, /^100,000 servers with health checks need one file descriptor each for their checks, plus 3 listeners and 128 for HAProxy itself: 100,131 before the first connection, more than .*20000.* no maxconn can fit; raise the hard limit .* to at least 200,131 for HAPROXY_MAXCONN_GLOBAL=50000/);
      return true;
    });
  }
  // render/check under the own limit: a warning, and the config as asked.
  const r = fitToFdLimit({ ...base, servers: 100_000, limitSource: 'own', audience: 'render' });
  assert.equal(r.maxconnGlobal, 50000);
  assert.match(r.warnings[0] ?? '', /needs about 200131 file descriptors/);
});

test('buildConfig (the commands\' path) defaults to render, finishConfig (the daemon\'s path) to daemon', async () => {
  const templates = await builtinTemplates();
  const s = settings({});
  const entries = [entry('web', 'w1', [ENABLE])];
  const rendered = buildConfig({ entries, settings: s, templates, paths: GOLDEN_PATHS, fdLimit: 20000 });
  assert.match(rendered.config, /^ {4}maxconn 50000$/m);
  const daemon = finishConfig({ model: buildModel({ entries, settings: s }), templates, paths: GOLDEN_PATHS, fdLimit: 20000 });
  assert.match(daemon.config, /^ {4}maxconn 9400$/m);
});

test('hapilot render of 25,000 servers under a 20,000 hard limit warns and writes the config as asked', { timeout: 120_000 }, async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const entries = [];
    for (let s = 0; s < 2500; s++) for (let i = 0; i < 10; i++) entries.push(entry(`svc${s}`, `svc${s}-${i}`, [ENABLE], { node: `n${i}`, nodeAddress: `10.1.${i}.${1 + (s % 250)}`, port: 20000 + s }));
    const catalog = path.join(dir, 'catalog.json');
    await writeFile(catalog, JSON.stringify(entries));
    // prlimit gives the CLI a 20,000 hard limit whatever this machine's is.
    const r = await execa('prlimit', ['--nofile=20000:20000', process.execPath, '--import', 'tsx', 'src/cli/main.ts', 'render', '--catalog', catalog, '--out', path.join(dir, 'haproxy.cfg')], {
      reject: false, timeout: 100_000, env: { HAPROXY_DOM: 'example.test', HAPILOT_LOG_LEVEL: 'warn' }, extendEnv: true, stdin: 'ignore',
    });
    assert.equal(r.exitCode, 0, r.stderr);
    assert.match(r.stderr, /this config needs about 125130 file descriptors .*hard limit here \(20000\)/);
    const { readFile } = await import('node:fs/promises');
    const config = await readFile(path.join(dir, 'haproxy.cfg'), 'utf8');
    assert.match(config, /^ {4}maxconn 50000$/m);
    assert.equal(config.match(/^ {4}server /gm)?.length, 25000);
  } finally {
    await cleanup();
  }
});

test('property: the servers counted from the last list are the servers of the list (backends replaced, added, removed)', () => {
  const backend = (n: number) => ({ servers: Array.from({ length: n }, () => ({})) }) as unknown as Backend;
  const step = fc.record({ replace: fc.array(fc.tuple(fc.nat(), fc.nat(5)), { maxLength: 4 }), resize: fc.option(fc.nat(8), { freq: 4 }) });
  fc.assert(fc.property(fc.array(fc.nat(5), { maxLength: 8 }), fc.array(step, { minLength: 1, maxLength: 8 }), (first, steps) => {
    let list = first.map(backend);
    assert.equal(serverCount(list), first.reduce((a, b) => a + b, 0));
    for (const s of steps) {
      list = s.resize === null ? [...list] : Array.from({ length: s.resize }, (_, i) => list[i] ?? backend(i % 3));
      for (const [at, n] of s.replace) if (list.length) list[at % list.length] = backend(n);
      assert.equal(serverCount(list), list.reduce((a, b) => a + b.servers.length, 0));
    }
  }), { numRuns: 300 });
});
