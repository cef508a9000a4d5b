// The CLI as a process on hostile catalogs: it never crashes ("internal error" or a stack trace), a
// file it cannot use is one `hapilot: error:` line with exit 1, and a usable one prints only template
// lines, with every warning a single JSON log line whatever the names and tags contained.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import fc from 'fast-check';
import { hapilot } from '../helpers/cli.js';
import { tempDir } from '../helpers/haproxy.js';
import { catalog, catalogText } from '../fuzz/arbitraries.js';
import { templateLinePatterns } from '../fuzz/properties.js';

async function renderFile(dir: string, name: string, text: string) {
  const file = path.join(dir, name);
  await writeFile(file, text);
  return hapilot(['render', '--catalog', file], { env: { HAPILOT_LOG_LEVEL: 'warn' } });
}

test('CLI render on generated hostile catalogs: exit 0 with template lines and one-line JSON warnings, or exit 1 with one error line', { timeout: 120_000 }, async () => {
  const patterns = await templateLinePatterns();
  const { dir, cleanup } = await tempDir();
  try {
    const texts = [
      ...fc.sample(catalog({ maxEntries: 12 }), { numRuns: 4, seed: 7 }).map((c) => JSON.stringify(c)),
      ...fc.sample(catalogText, { numRuns: 4, seed: 8 }),
    ];
    let rendered = 0;
    for (const [i, text] of texts.entries()) {
      const r = await renderFile(dir, `c${i}.json`, text);
      assert.doesNotMatch(r.stderr, /internal error|\n\s+at /, `crash on ${text.slice(0, 200)}`);
      if (r.code === 0) {
        rendered++;
        for (const line of r.stdout.replace(/\n$/, '').split('\n')) assert.ok(patterns.some((p) => p.test(line)), `line not from the templates: ${JSON.stringify(line)}`);
        for (const line of r.stderr.split('\n').filter(Boolean)) {
          const log = JSON.parse(line) as { level: number; msg: string };
          assert.equal(log.level, 40, line);
          assert.doesNotMatch(log.msg, /[\n\r\0]/);
        }
      } else {
        assert.equal(r.code, 1, r.stderr);
        const lines = r.stderr.trimEnd().split('\n');
        assert.equal(lines.length, 1, r.stderr);
        assert.match(lines[0] ?? '', /^hapilot: error: --catalog \S+: (malformed JSON|wrong shape)/);
      }
    }
    assert.ok(rendered >= 4, `rendered ${rendered} of ${texts.length}`);
  } finally {
    await cleanup();
  }
});
