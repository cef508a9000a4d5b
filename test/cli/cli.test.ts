// The commands as a user runs them: exit codes, one-line errors, files written.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { hapilot } from '../helpers/cli.js';
import { freePort, tempDir } from '../helpers/haproxy.js';
import { startSim } from '../helpers/sim.js';
import { readCatalogFile } from '../../src/catalog/catalog-file.js';

const oneLineError = (stderr: string) => {
  const lines = stderr.trim().split('\n');
  assert.equal(lines.length, 1, `expected one line, got:\n${stderr}`);
  return lines[0] ?? '';
};

test('--help and --version work', async () => {
  const help = await hapilot(['--help']);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /render/);
  assert.match(help.stdout, /check/);
  assert.match(help.stdout, /snapshot/);
  assert.match((await hapilot(['--version'])).stdout, /^\d+\.\d+\.\d+/);
});

test('render prints the config; render --out writes it and its map so that haproxy -c accepts the files as written', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const printed = await hapilot(['render', '--catalog', 'examples/catalog.json', '--run-dir', dir]);
    assert.equal(printed.code, 0, printed.stderr);
    assert.match(printed.stdout, /^backend web$/m);
    assert.match(printed.stderr, /quarantined service broken instance broken-1 tag/);
    const out = path.join(dir, 'haproxy.cfg');
    const r = await hapilot(['render', '--catalog', 'examples/catalog.json', '--out', out, '--run-dir', dir]);
    assert.equal(r.code, 0, r.stderr);
    const files = (await readdir(dir)).sort();
    assert.equal(files.length, 2);
    assert.match(files[0] ?? '', /^hapilot-hosts-[0-9a-f]{12}\.map$/);
    assert.equal(files[1], 'haproxy.cfg');
    assert.equal(await readFile(out, 'utf8'), printed.stdout.replaceAll(process.cwd(), dir));
    const check = await hapilot(['check', '--catalog', 'examples/catalog.json', '--run-dir', dir]);
    assert.equal(check.code, 0, check.stderr);
    const { execa } = await import('execa');
    const direct = await execa('haproxy', ['-c', '-f', out], { reject: false });
    assert.equal(direct.exitCode, 0, String(direct.stderr));
  } finally {
    await cleanup();
  }
});

test('check fails with HAProxy\'s own message when the config is invalid', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    await writeFile(path.join(dir, 'haproxy.cfg.hbs'), 'global\n    maxconn {{settings.maxconnGlobal}}\n    no-such-directive 1\n');
    const r = await hapilot(['check', '--catalog', 'examples/catalog.json', '--templates', dir, '--log-level', 'error']);
    assert.equal(r.code, 1);
    const line = oneLineError(r.stderr);
    assert.match(line, /^hapilot: error: haproxy -c rejected the config: .*unknown keyword 'no-such-directive'/);
  } finally {
    await cleanup();
  }
});

test('bad input of every kind: one line, what to fix, non-zero exit, no stack trace', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    await writeFile(path.join(dir, 'bad.json'), '{"not": "an array"');
    await writeFile(path.join(dir, 'shape.json'), '[{"Node": {"Node": "n"}}]');
    const cases: Array<[string[], Record<string, string>, RegExp]> = [
      [['render', '--catalog', path.join(dir, 'missing.json')], {}, /--catalog .*missing\.json: cannot read \(ENOENT\)/],
      [['render', '--catalog', path.join(dir, 'bad.json')], {}, /malformed JSON/],
      [['render', '--catalog', path.join(dir, 'shape.json')], {}, /wrong shape at 0\.Node\.Address/],
      [['render', '--no-such-flag'], {}, /unknown option '--no-such-flag'/],
      [['render', '--consul', `http://127.0.0.1:${await freePort()}`], {}, /Consul at http:\/\/127\.0\.0\.1:\d+ is unreachable \(ECONNREFUSED\)/],
      [['render', '--catalog', 'examples/catalog.json'], { HAPROXY_MAXCONN: 'abc' }, /HAPROXY_MAXCONN="abc" is invalid/],
      [['render', '--catalog', 'examples/catalog.json', '--templates', path.join(dir, 'nope')], {}, /--templates .*nope: cannot read haproxy\.cfg\.hbs/],
      [['check', '--catalog', 'examples/catalog.json', '--haproxy', '/nonexistent/haproxy'], {}, /--haproxy \(HAPILOT_HAPROXY\) "\/nonexistent\/haproxy": not found/],
      [['render', '--consistency', 'weird'], {}, /argument 'weird' is invalid/],
    ];
    for (const [args, env, re] of cases) {
      const r = await hapilot(args, { env: { HAPILOT_LOG_LEVEL: 'error', ...env } });
      assert.notEqual(r.code, 0, args.join(' '));
      assert.match(oneLineError(r.stderr), re);
      assert.doesNotMatch(r.stderr, /\s+at .*\.js:\d+/, 'no stack trace');
    }
  } finally {
    await cleanup();
  }
});

test('snapshot dumps the live catalog in the catalog-file format; rendering it equals rendering from Consul', async () => {
  const sim = await startSim(await readCatalogFile('examples/catalog.json'));
  const { dir, cleanup } = await tempDir();
  try {
    const file = path.join(dir, 'snap.json');
    const snap = await hapilot(['snapshot', '--consul', sim.url, '--out', file], { env: { CONSUL_HTTP_TOKEN: 'tok-SECRET-123', HAPILOT_LOG_LEVEL: 'debug' } });
    assert.equal(snap.code, 0, snap.stderr);
    assert.doesNotMatch(snap.stderr + snap.stdout, /tok-SECRET-123/, 'the token never reaches the logs');
    const entries = JSON.parse(await readFile(file, 'utf8')) as unknown[];
    assert.equal(entries.length, 9, 'every instance of every service with HAPROXY tags (not redis)');
    const fromFile = await hapilot(['render', '--catalog', file]);
    const fromConsul = await hapilot(['render', '--consul', sim.url]);
    assert.equal(fromFile.code, 0);
    assert.equal(fromFile.stdout, fromConsul.stdout);
    assert.match(fromConsul.stdout, /server node1:web-1 127\.0\.0\.1:18001 weight 10/);
  } finally {
    await cleanup();
    await sim.stop();
  }
});

test('check --out writes a config only when haproxy -c accepts that very file; a rejected one leaves the old file and no temp file', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const out = path.join(dir, 'etc', 'haproxy.cfg');
    const { mkdir, cp } = await import('node:fs/promises');
    await mkdir(path.dirname(out));
    const good = await hapilot(['check', '--catalog', 'examples/catalog.json', '--out', out, '--run-dir', dir]);
    assert.equal(good.code, 0, good.stderr);
    const before = await readFile(out, 'utf8');
    assert.match(before, /^backend web$/m);

    const templates = path.join(dir, 'templates');
    await cp('templates', templates, { recursive: true });
    const partial = path.join(templates, 'partials', 'backends.hbs');
    await writeFile(partial, (await readFile(partial, 'utf8')).replace('balance {{balance}}', 'balance {{balance}}\n    no-such-directive on'));
    const bad = await hapilot(['check', '--catalog', 'examples/catalog.json', '--templates', templates, '--out', out, '--run-dir', dir]);
    assert.equal(bad.code, 1);
    const errors = bad.stderr.split('\n').filter((l) => l.startsWith('hapilot: error:'));
    assert.equal(errors.length, 1, bad.stderr);
    assert.match(errors[0] ?? '', /haproxy -c rejected the config: .*no-such-directive/);
    assert.equal(await readFile(out, 'utf8'), before, 'the valid config is untouched');
    assert.deepEqual((await readdir(path.dirname(out))).filter((f) => f.endsWith('.tmp')), []);
  } finally {
    await cleanup();
  }
});
