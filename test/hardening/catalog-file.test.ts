// A catalog file is input like any other: truncated at any byte, malformed, wrongly shaped, empty or
// absurdly nested, it is one line naming the file, where, what was found and what was expected, and
// the CLI exits non-zero without a stack trace.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseCatalogText } from '../../src/catalog/catalog-file.js';
import { ErrorCode, isHapilotError } from '../../src/errors.js';
import { tempDir } from '../helpers/haproxy.js';
import { hapilot } from '../helpers/cli.js';

function rejects(text: string, code: string, re: RegExp): void {
  assert.throws(() => parseCatalogText(text, 'c.json'), (err) => {
    assert.ok(isHapilotError(err), String(err));
    assert.equal(err.code, code, err.message);
    assert.match(err.message, re);
    assert.doesNotMatch(err.message, /[\n\r]/);
    return true;
  }, JSON.stringify(text).slice(0, 80));
}

test('a catalog file cut at any byte is reported as truncated or malformed, never read as a smaller catalog', async () => {
  const full = (await readFile('examples/catalog.json', 'utf8')).trimEnd();
  assert.ok(parseCatalogText(full, 'c.json').length > 0);
  for (let n = 0; n < full.length; n++) {
    const cut = full.slice(0, n);
    assert.throws(() => parseCatalogText(cut, 'c.json'), (err) => isHapilotError(err, ErrorCode.CATALOG_JSON) && !err.message.includes('\n'), `cut at ${n}`);
  }
  rejects(full.slice(0, 200), ErrorCode.CATALOG_JSON, /^--catalog c\.json: malformed JSON, truncated: the text ends \(after 200 characters\) before the JSON does: expected a JSON array/);
});

test('malformed JSON names the line and column, and never echoes the input', () => {
  rejects('[\n  {"Node": 1,\n  }\n]', ErrorCode.CATALOG_JSON, /^--catalog c\.json: malformed JSON, expected double-quoted property name at line 3 column 3: expected a JSON array/);
  rejects('', ErrorCode.CATALOG_JSON, /malformed JSON, the file is empty/);
  rejects('   \n', ErrorCode.CATALOG_JSON, /the file is empty/);
  rejects('[\n  secret-token-abc\n]', ErrorCode.CATALOG_JSON, /unexpected character "s" at line 2 column 3/);
  assert.throws(() => parseCatalogText('xx\nserver evil 1.2.3.4:80\nsecret', 'c.json'), (err) => isHapilotError(err) && !/evil|secret/.test(err.message));
  rejects('[{"a": "x\ny"}]', ErrorCode.CATALOG_JSON, /bad control character in string literal at line 1 column 10/);
});

test('a wrong shape names the path, what was found and what was expected', () => {
  rejects('{"web": []}', ErrorCode.CATALOG_SHAPE, /^--catalog c\.json: wrong shape at \(top level\): .*expected array.* \(found \{"web":\[\]\}\): expected an array of \{Node, Service, Checks\}/);
  rejects('[{"Node": {"Node": "n", "Address": "1.2.3.4"}, "Service": {"ID": "a", "Service": "a", "Port": "80"}}]', ErrorCode.CATALOG_SHAPE, /wrong shape at 0\.Service\.Port: .*expected number.* \(found "80"\)/);
  rejects('[{"Node": {"Node": "n", "Address": "1.2.3.4"}, "Service": {"ID": "a", "Service": "a", "Port": 80.5}}]', ErrorCode.CATALOG_SHAPE, /0\.Service\.Port: .*\(found 80\.5\)/);
  rejects('[{"Node": {"Node": "n"}}]', ErrorCode.CATALOG_SHAPE, /at 0\.Node\.Address: .* \(missing\)/);
  rejects('[{"Node": {"Node": "n", "Address": "a"}, "Service": {"ID": "a", "Service": "a", "Port": 1, "Tags": ["ok", 5]}}]', ErrorCode.CATALOG_SHAPE, /0\.Service\.Tags\.1: .*\(found 5\)/);
  rejects(`${'['.repeat(50)}${']'.repeat(50)}`, ErrorCode.CATALOG_SHAPE, /wrong shape at 0/);
  rejects('[] []', ErrorCode.CATALOG_JSON, /unexpected non-whitespace character after the json at line 1 column 4/);
  rejects(`[${'['.repeat(20_000)}${']'.repeat(20_000)}]`, ErrorCode.CATALOG_SHAPE, /wrong shape at 0: .*\(found a deeply nested array\)/);
  const long = JSON.stringify([{ Node: 'x'.repeat(100_000) }]);
  assert.throws(() => parseCatalogText(long, 'c.json'), (err) => isHapilotError(err) && err.message.length < 400);
});

test('a byte-order mark and an empty array are fine; unknown fields are kept', () => {
  assert.deepEqual(parseCatalogText('\ufeff[]', 'c.json'), []);
  const [e] = parseCatalogText('[{"Node": {"Node": "n", "Address": "10.0.0.1", "Extra": 1}, "Service": {"ID": "a", "Service": "a", "Port": 1, "Future": true}, "Checks": null}]', 'c.json');
  assert.equal((e?.Service as Record<string, unknown>).Future, true);
});

test('CLI: malformed, truncated and wrongly shaped catalogs exit 1 with one line and no stack trace', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const full = await readFile('examples/catalog.json', 'utf8');
    const files: Array<[string, string, RegExp]> = [
      ['truncated.json', full.slice(0, Math.floor(full.length / 2)), /^hapilot: error: --catalog \S+truncated\.json: malformed JSON, truncated: /],
      ['shape.json', '{"services": []}', /^hapilot: error: --catalog \S+shape\.json: wrong shape at \(top level\)/],
      ['deep.json', `[${'['.repeat(50_000)}${']'.repeat(50_000)}]`, /^hapilot: error: --catalog \S+deep\.json: wrong shape at 0/],
      ['nul.json', '[\u0000]', /^hapilot: error: --catalog \S+nul\.json: malformed JSON, unexpected character "\\u0000" at line 1 column 2/],
    ];
    for (const [name, text, re] of files) {
      await writeFile(path.join(dir, name), text);
      for (const cmd of name === 'truncated.json' ? ['render', 'check'] : ['render']) {
        const r = await hapilot([cmd, '--catalog', path.join(dir, name)], { env: { HAPILOT_LOG_LEVEL: 'error' } });
        assert.equal(r.code, 1, `${cmd} ${name}: ${r.stderr}`);
        const lines = r.stderr.trimEnd().split('\n');
        assert.equal(lines.length, 1, r.stderr);
        assert.match(lines[0] ?? '', re);
        assert.equal(r.stdout, '');
      }
    }
  } finally {
    await cleanup();
  }
});
