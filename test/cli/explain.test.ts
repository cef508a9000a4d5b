// `hapilot explain SERVICE` as a user runs it: text and --json on a catalog with good, defaulted
// and rejected tags; config sections read from the rendered text.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { hapilot } from '../helpers/cli.js';
import { tempDir } from '../helpers/haproxy.js';
import { startSim } from '../helpers/sim.js';
import { ENABLE, entry } from '../helpers/entries.js';
import { TAGS } from '../../src/model/tags.js';
import { configSection, TAG_LINES } from '../../src/cli/explain.js';

const CATALOG = [
  entry('shop', 'shop-1', [ENABLE, 'HAPROXY.BACKEND.BALANCE=leastconn', 'HAPROXY.BACKEND.MAXCONN=40', 'HAPROXY.FRONTEND.PORT=9292', 'other-tool=x'], { node: 'n1', address: '127.0.0.1', port: 19001, modifyIndex: 20 }),
  entry('shop', 'shop-2', [ENABLE, 'HAPROXY.BACKEND.BALANCE=leastconn', 'HAPROXY.BACKEND.MAXCONN=forty', 'HAPROXY.FRONTEND.PORT=9292'], { node: 'n2', address: '127.0.0.2', port: 19002, modifyIndex: 30 }),
  entry('other', 'o-1', [ENABLE], { node: 'n1' }),
];

async function withCatalog(fn: (file: string) => Promise<void>): Promise<void> {
  const { dir, cleanup } = await tempDir();
  try {
    const file = path.join(dir, 'catalog.json');
    await writeFile(file, JSON.stringify(CATALOG));
    await fn(file);
  } finally {
    await cleanup();
  }
}

test('explain (text): used values with the lines they produced, defaults, the rejected tag and the quarantined instance', async () => {
  await withCatalog(async (file) => {
    const r = await hapilot(['explain', 'shop', '--catalog', file, '--log-level', 'error']);
    assert.equal(r.code, 0, r.stderr);
    const out = r.stdout;
    assert.match(out, /^service shop: balanced \(host shop\.example\.test, port 9292\); options from instance shop-1$/m);
    assert.match(out, /^instance shop-1 on n1 127\.0\.0\.1:19001 \(passing\): server n1:shop-1$/m);
    assert.match(out, /^ {2}HAPROXY\.BACKEND\.BALANCE=leastconn +used: leastconn\n +→ balance leastconn$/m);
    assert.match(out, /^ {2}HAPROXY\.BACKEND\.MAXCONN=40 +used: 40\n +→ default-server check inter 2s fall 3 rise 2 maxconn 40$/m);
    assert.match(out, /^ {2}HAPROXY\.FRONTEND\.PORT=9292 +used: 9292\n +→ frontend port_9292\n +→ bind 127\.0\.0\.1:9292$/m);
    assert.match(out, /defaults: HAPROXY\.PROTOCOL=http, .*HAPROXY\.FRONTEND\.HOST=shop\.example\.test, .*HAPROXY\.BACKEND\.CHECK\.INTER=2s/);
    assert.doesNotMatch(out, /other-tool/);
    assert.match(out, /^instance shop-2 on n2 127\.0\.0\.2:19002 \(passing\): QUARANTINED by tag "HAPROXY\.BACKEND\.MAXCONN=forty": expected digits only$/m);
    assert.match(out, /^ {2}HAPROXY\.BACKEND\.MAXCONN=forty +REJECTED: expected digits only$/m);
    assert.match(out, /^ {2}HAPROXY\.BACKEND\.BALANCE=leastconn +valid \(leastconn\) but unused: the instance is quarantined$/m);
    // The config part: the backend block with only the serving instance, the map line, the port frontend.
    assert.match(out, /^config:\n {2}backend shop\n/m);
    assert.match(out, /^ {6}server n1:shop-1 127\.0\.0\.1:19001 weight 1$/m);
    assert.doesNotMatch(out, /server n2:shop-2/);
    assert.match(out, /# host map hapilot-hosts-[0-9a-f]{12}\.map\n {2}shop\.example\.test shop$/m);
    assert.match(out, /^ {2}frontend port_9292\n {6}bind 127\.0\.0\.1:9292\n/m);
    assert.doesNotMatch(out, /backend other/, 'only the service asked about');
  });
});

test('explain --json: the documented shape, with nulls rather than missing fields', async () => {
  await withCatalog(async (file) => {
    const r = await hapilot(['explain', 'shop', '--catalog', file, '--json', '--log-level', 'error']);
    assert.equal(r.code, 0, r.stderr);
    const doc = JSON.parse(r.stdout) as Record<string, unknown> & { instances: Array<Record<string, unknown> & { tags: Array<Record<string, unknown>>; defaults: Array<Record<string, unknown>> }>; config: { backend: string[]; map: { file: string; lines: string[] }; frontends: string[][] } };
    assert.deepEqual(Object.keys(doc), ['version', 'service', 'status', 'reason', 'optionsFrom', 'host', 'port', 'instances', 'config']);
    assert.equal(doc.version, 1);
    assert.equal(doc.status, 'balanced');
    assert.equal(doc.reason, null);
    assert.equal(doc.optionsFrom, 'shop-1');
    assert.equal(doc.port, 9292);
    const [one, two] = doc.instances;
    assert.deepEqual(Object.keys(one ?? {}), ['id', 'node', 'address', 'port', 'health', 'status', 'server', 'reason', 'quarantineTag', 'tags', 'defaults']);
    assert.equal(one?.status, 'server');
    const maxconn = one?.tags.find((t) => t.key === 'HAPROXY.BACKEND.MAXCONN');
    assert.deepEqual(maxconn, { tag: 'HAPROXY.BACKEND.MAXCONN=40', key: 'HAPROXY.BACKEND.MAXCONN', status: 'used', value: 40, effective: null, reason: null, deprecatedFor: null, lines: ['    default-server check inter 2s fall 3 rise 2 maxconn 40'] });
    assert.deepEqual(one?.defaults.find((d) => d.key === 'HAPROXY.BACKEND.CHECK.FALL'), { key: 'HAPROXY.BACKEND.CHECK.FALL', value: 3, effective: null });
    assert.equal(two?.status, 'quarantined');
    assert.equal(two?.quarantineTag, 'HAPROXY.BACKEND.MAXCONN=forty');
    assert.deepEqual(two?.tags.find((t) => t.status === 'rejected'), { tag: 'HAPROXY.BACKEND.MAXCONN=forty', key: 'HAPROXY.BACKEND.MAXCONN', status: 'rejected', value: null, effective: null, reason: 'expected digits only', deprecatedFor: null, lines: [] });
    assert.equal(doc.config.backend[0], 'backend shop');
    assert.deepEqual(doc.config.map.lines, ['shop.example.test shop']);
    assert.equal(doc.config.frontends[0]?.[0], 'frontend port_9292');
  });
});

test('explain --consul reads the live catalog and says the same as on its snapshot', async () => {
  const sim = await startSim(CATALOG);
  try {
    await withCatalog(async (file) => {
      const fromConsul = await hapilot(['explain', 'shop', '--consul', sim.url, '--json', '--log-level', 'error']);
      const fromFile = await hapilot(['explain', 'shop', '--catalog', file, '--json', '--log-level', 'error']);
      assert.equal(fromConsul.code, 0, fromConsul.stderr);
      assert.equal(fromConsul.stdout, fromFile.stdout);
      assert.match(fromConsul.stdout, /"status": "quarantined"/);
    });
  } finally {
    await sim.stop();
  }
});

test('explain: an unknown service is one line naming it, exit non-zero', async () => {
  await withCatalog(async (file) => {
    const r = await hapilot(['explain', 'nope', '--catalog', file]);
    assert.notEqual(r.code, 0);
    assert.equal(r.stdout, '');
    assert.equal(r.stderr, 'hapilot: error: service "nope" is not in the catalog (' + file + '): expected one of other, shop\n');
  });
});

test('configSection: a section runs to the next one, without trailing blank or comment lines', () => {
  const config = [
    'global', '    maxconn 10', '',
    'frontend web', '    bind :80', '    # comment inside stays', '    default_backend a', '', '# next section\'s comment',
    'backend a', '    server s 1.2.3.4:80', '',
    'backend ab', '    server t 1.2.3.5:80',
  ].join('\n');
  assert.deepEqual(configSection(config, 'frontend', 'web'), ['frontend web', '    bind :80', '    # comment inside stays', '    default_backend a']);
  assert.deepEqual(configSection(config, 'backend', 'a'), ['backend a', '    server s 1.2.3.4:80']);
  assert.deepEqual(configSection(config, 'backend', 'ab'), ['backend ab', '    server t 1.2.3.5:80']);
  assert.deepEqual(configSection(config, 'backend', 'missing'), []);
});

test('TAG_LINES names the config lines of every canonical tag key', () => {
  const keys = Object.keys(TAGS).filter((k) => !TAGS[k]?.aliasOf);
  assert.deepEqual(keys.filter((k) => !TAG_LINES[k]), []);
});
