import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, writeFile, cp } from 'node:fs/promises';
import path from 'node:path';
import { loadTemplates, BUILTIN_TEMPLATES_DIR } from '../../src/config/templates.js';
import { isHapilotError, ErrorCode } from '../../src/errors.js';
import { ENABLE, entry } from '../helpers/entries.js';
import { renderEntries } from '../helpers/render.js';
import { tempDir } from '../helpers/haproxy.js';

async function templateDir(main: string, partials: Record<string, string> = {}) {
  const t = await tempDir();
  await mkdir(path.join(t.dir, 'partials'));
  await writeFile(path.join(t.dir, 'haproxy.cfg.hbs'), main);
  for (const [name, body] of Object.entries(partials)) await writeFile(path.join(t.dir, 'partials', `${name}.hbs`), body);
  return t;
}

test('a syntax error names the file and line', async () => {
  const t = await templateDir('global\n  maxconn 1\n{{#each backends}}\n');
  try {
    await assert.rejects(loadTemplates(t.dir), (err) => isHapilotError(err, ErrorCode.TEMPLATE) && err.message.includes(`${path.join(t.dir, 'haproxy.cfg.hbs')}:`) && !err.message.includes('\n'));
  } finally { await t.cleanup(); }
});

test('an unknown field is an error naming the partial file and line (strict mode)', async () => {
  const t = await templateDir('{{> x}}\n', { x: 'line one\n{{settings.nope.deeper}}\n' });
  try {
    const templates = await loadTemplates(t.dir);
    await assert.rejects(renderEntries([entry('a', 'a', [ENABLE])], { templates }),
      (err) => isHapilotError(err, ErrorCode.TEMPLATE) && err.message.includes(`${path.join(t.dir, 'partials', 'x.hbs')}:2`));
  } finally { await t.cleanup(); }
});

test('a missing template directory is a clear error', async () => {
  await assert.rejects(loadTemplates('/nonexistent/tpl'), (err) => isHapilotError(err, ErrorCode.TEMPLATE_READ) && /--templates \/nonexistent\/tpl/.test(err.message));
});

test('user templates are used, and values are not HTML-escaped', async () => {
  const t = await tempDir();
  try {
    await cp(BUILTIN_TEMPLATES_DIR, t.dir, { recursive: true });
    await writeFile(path.join(t.dir, 'partials', 'defaults.hbs'), 'defaults\n    mode http\n    # custom & <kept>\n    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\n');
    const templates = await loadTemplates(t.dir);
    const out = await renderEntries([entry('a', 'a', [ENABLE, 'HAPROXY.BACKEND.HTTPCHK=/h?a=1&b=2'])], { templates });
    assert.match(out.config, /# custom & <kept>/);
    assert.match(out.config, /option httpchk GET \/h\?a=1&b=2/);
  } finally { await t.cleanup(); }
});
