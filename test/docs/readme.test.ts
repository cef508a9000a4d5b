// The README's references are written from the code's tables; this keeps them in step.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { SETTINGS } from '../../src/settings.js';
import { TAGS } from '../../src/model/tags.js';

test('the README documents every environment variable with its default, and every tag', async () => {
  const readme = await readFile('README.md', 'utf8');
  for (const s of SETTINGS) {
    const row = readme.split('\n').find((l) => l.startsWith(`| \`${s.env}\` |`));
    assert.ok(row, `README lacks ${s.env}`);
    assert.ok(row.includes(s.def === undefined ? '| — |' : `| \`${s.def}\` |`), `README default of ${s.env}`);
  }
  for (const key of Object.keys(TAGS)) assert.ok(readme.includes(`\`${key}`), `README lacks tag ${key}`);
});

test('the README documents every flag of every command, and each environment twin', async () => {
  const { buildProgram } = await import('../../src/cli/program.js');
  const readme = await readFile('README.md', 'utf8');
  for (const cmd of buildProgram().commands) {
    assert.ok(readme.includes(`hapilot ${cmd.name()}`), `README lacks the ${cmd.name()} command`);
    for (const opt of cmd.options) {
      assert.ok(readme.includes(`\`${opt.long}`), `README lacks ${cmd.name()} ${opt.long}`);
      if (opt.envVar) assert.ok(readme.includes(opt.envVar), `README lacks ${opt.envVar}`);
    }
  }
});

test('the README lists every metric of /metrics', async () => {
  const { Metrics } = await import('../../src/daemon/metrics.js');
  const readme = await readFile('README.md', 'utf8');
  const names = new Metrics().registry.getMetricsAsArray().map((m) => m.name);
  assert.ok(names.length > 30 && names.includes('process_resident_memory_bytes'));
  for (const name of names) assert.ok(readme.includes(`\`${name}`), `README lacks the metric ${name}`);
});
