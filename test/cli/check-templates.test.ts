// A template author's safety net: `hapilot check --templates DIR --all-catalogs` runs every catalog
// shipped with hapilot through the templates and the real `haproxy -c`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cp, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { hapilot } from '../helpers/cli.js';
import { tempDir } from '../helpers/haproxy.js';
import { builtinCatalogs } from '../../src/cli/check-catalogs.js';

test('check --all-catalogs: the built-in templates and the example template set pass every shipped catalog', async () => {
  const shipped = await builtinCatalogs();
  assert.deepEqual(shipped.map((c) => c.name), ['example', 'empty', 'ipv6-and-weights', 'openstack-ports']);
  for (const templates of [[], ['--templates', 'examples/templates']]) {
    const r = await hapilot(['check', '--all-catalogs', ...templates]);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.deepEqual(r.stdout.trim().split('\n').map((l) => l.replace(/: \d+ backends$/, '')), shipped.map((c) => `ok    ${c.name}`));
  }
});

test('check --all-catalogs: a template HAProxy rejects for some catalogs is reported per catalog with HAProxy\'s message; exit 1', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    await cp('templates', dir, { recursive: true });
    // Broken only where a service has its own port (frontend port_<n>): not every catalog has one.
    const frontends = path.join(dir, 'partials', 'frontends.hbs');
    const text = await readFile(frontends, 'utf8');
    await writeFile(frontends, text.replace('    default_backend {{backend}}\n{{/each}}', '    default_backend {{backend}}\n    no-such-keyword on\n{{/each}}'));
    const r = await hapilot(['check', '--templates', dir, '--all-catalogs']);
    assert.equal(r.code, 1, r.stdout);
    const lines = r.stdout.trim().split('\n');
    assert.equal(lines.length, 4);
    assert.match(r.stdout, /^ok {4}empty: 0 backends$/m);
    assert.match(r.stdout, /^FAIL {2}openstack-ports \(\S+openstack-ports\.json\): haproxy -c: .*unknown keyword 'no-such-keyword' in 'frontend' section/m);
    const failed = lines.filter((l) => l.startsWith('FAIL')).map((l) => l.split(/\s+/)[1]);
    assert.ok(failed.length >= 1 && failed.length < 4, r.stdout);
    assert.equal(r.stderr, `hapilot: error: --templates ${dir}: ${failed.length} of 4 built-in catalogs fail: ${failed.join(', ')}\n`);
  } finally {
    await cleanup();
  }
});

test('check --all-catalogs: a template syntax error fails every catalog, located by file:line:column', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    await cp('templates', dir, { recursive: true });
    const backends = path.join(dir, 'partials', 'backends.hbs');
    await writeFile(backends, (await readFile(backends, 'utf8')).replace('    balance {{balance}}\n', '    balance {{balance}\n'));
    const r = await hapilot(['check', '--templates', dir, '--all-catalogs']);
    assert.equal(r.code, 1);
    const lines = r.stdout.trim().split('\n');
    assert.equal(lines.length, 4);
    for (const l of lines) assert.match(l, new RegExp(`^FAIL .*: template error: ${backends.replaceAll('.', '\\.')}:8:22: Parse error`));
  } finally {
    await cleanup();
  }
});

test('check --all-catalogs does not combine with a catalog of its own', async () => {
  const r = await hapilot(['check', '--all-catalogs', '--catalog', 'examples/catalog.json']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /option '--all-catalogs' cannot be used with option '--catalog/);
});

test('the package ships the catalogs --all-catalogs reads (they are the golden-test catalogs too)', async () => {
  const pkg = JSON.parse(await readFile('package.json', 'utf8')) as { files: string[] };
  assert.ok(pkg.files.includes('examples'), 'package.json files ships examples/');
  assert.ok((await readdir('examples/catalogs')).length >= 3, 'examples/catalogs holds the shipped catalogs');
});

test('examples/templates overrides one partial: every other file is the built-in one', async () => {
  const files = async (root: string) => [MAIN, ...(await readdir(path.join(root, 'partials'))).map((f) => `partials/${f}`)].sort();
  const MAIN = 'haproxy.cfg.hbs';
  assert.deepEqual(await files('examples/templates'), await files('templates'));
  const differ: string[] = [];
  for (const f of await files('templates')) {
    if (await readFile(path.join('examples/templates', f), 'utf8') !== await readFile(path.join('templates', f), 'utf8')) differ.push(f);
  }
  assert.deepEqual(differ, ['partials/backends.hbs']);
  const custom = await readFile('examples/templates/partials/backends.hbs', 'utf8');
  assert.match(custom, /slowstart 10s/);
  assert.match(custom, /http-response set-header X-Hapilot-Backend \{\{name\}\}/);
});
