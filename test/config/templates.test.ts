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

test('a partial that does not exist is an error when the templates are loaded, naming the file, line and expected path', async () => {
  const t = await templateDir('global\n{{#if settings}}\n  {{> globl}}\n{{/if}}\n', { global: 'x\n' });
  try {
    await assert.rejects(loadTemplates(t.dir), (err) => isHapilotError(err, ErrorCode.TEMPLATE)
      && err.message === `template ${path.join(t.dir, 'haproxy.cfg.hbs')}:3: partial "globl" does not exist: expected ${path.join(t.dir, 'partials', 'globl.hbs')} (partials: global)`);
  } finally { await t.cleanup(); }
});

test('a field that does not exist is an error even as a helper argument ({{#if}}, {{#each}}, {{#unless}}, eq), naming file and line', async () => {
  const bodies = [
    'a\nb\n{{#each backends}}{{#if httpchek}}option httpchk{{/if}}{{/each}}\n',
    'a\nb\n{{#each backendz}}x{{/each}}\n',
    'a\nb\n{{#unless settings.domian}}x{{/unless}}\n',
    'a\nb\n{{#each backends}}{{#if (eq mod "http")}}x{{/if}}{{/each}}\n',
  ];
  for (const body of bodies) {
    const field = /(httpchek|backendz|domian|mod)/.exec(body)?.[1] ?? '';
    const t = await templateDir(body);
    try {
      const templates = await loadTemplates(t.dir);
      await assert.rejects(renderEntries([entry('a', 'a', [ENABLE])], { templates }), (err) => {
        assert.ok(isHapilotError(err, ErrorCode.TEMPLATE), String(err));
        assert.match(err.message, new RegExp(`^template ${path.join(t.dir, 'haproxy.cfg.hbs').replaceAll('.', '\\.')}:3: field "${field}" does not exist`));
        assert.doesNotMatch(err.message, /\n/);
        return true;
      }, body);
    } finally { await t.cleanup(); }
  }
});

test('fields that exist but are unset (maxconn, httpchk) still render as absent, not as errors', async () => {
  const out = await renderEntries([entry('a', 'a', [ENABLE])]);
  assert.doesNotMatch(out.config, /httpchk|maxconn \n/);
});
