// Golden files for representative catalogs; every golden config passes the real `haproxy -c`.
// Regenerate with UPDATE_GOLDEN=1 after an intended change, and read the diff.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { readCatalogFile } from '../../src/catalog/catalog-file.js';
import { haproxyCheck, tempDir } from '../helpers/haproxy.js';
import { renderEntries, tempPaths, toGoldenPaths } from '../helpers/render.js';

const CATALOGS: Record<string, string> = {
  example: 'examples/catalog.json',
  'openstack-ports': 'examples/catalogs/openstack-ports.json',
  'ipv6-and-weights': 'examples/catalogs/ipv6-and-weights.json',
  empty: 'examples/catalogs/empty.json',
};

for (const [name, file] of Object.entries(CATALOGS)) {
  test(`golden: ${name} renders the committed bytes, and HAProxy accepts them`, async () => {
    const entries = await readCatalogFile(file);
    const result = await renderEntries(entries);
    const goldenCfg = path.join('test/fixtures/golden', `${name}.cfg`);
    const goldenMap = path.join('test/fixtures/golden', `${name}.map`);
    const map = result.files[0];
    assert.ok(map);
    if (process.env.UPDATE_GOLDEN) {
      await writeFile(goldenCfg, result.config);
      await writeFile(goldenMap, map.contents);
    }
    assert.equal(result.config, await readFile(goldenCfg, 'utf8'));
    assert.equal(map.contents, await readFile(goldenMap, 'utf8'));

    const { dir, cleanup } = await tempDir();
    try {
      const real = await renderEntries(entries, { paths: tempPaths(dir) });
      // Same bytes apart from the paths.
      assert.equal(toGoldenPaths(real.config, dir), result.config);
      const verdict = await haproxyCheck(real, path.join(dir, 'haproxy.cfg'));
      assert.equal(verdict.ok, true, verdict.output);
    } finally {
      await cleanup();
    }
  });
}
