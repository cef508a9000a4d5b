import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, writeFile, cp, readFile } from 'node:fs/promises';
import path from 'node:path';
import { loadTemplates, BUILTIN_TEMPLATES_DIR } from '../../src/config/templates.js';
import { isHapilotError, ErrorCode } from '../../src/errors.js';
import { ENABLE, entry } from '../helpers/entries.js';
import { renderEntries } from '../helpers/render.js';
import { templateLocation } from '../../src/cli/template-location.js';
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
  const fields = ['backends.0.httpchek', 'backendz', 'settings.domian', 'backends.0.mod'];
  for (const [i, body] of bodies.entries()) {
    const field = fields[i] ?? '';
    const t = await templateDir(body);
    try {
      const templates = await loadTemplates(t.dir);
      await assert.rejects(renderEntries([entry('a', 'a', [ENABLE])], { templates }), (err) => {
        assert.ok(isHapilotError(err, ErrorCode.TEMPLATE), String(err));
        assert.match(err.message, new RegExp(`^template ${path.join(t.dir, 'haproxy.cfg.hbs').replaceAll('.', '\\.')}:3: field "${field.replaceAll('.', '\\.')}" does not exist: expected `));
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

test('a missing field reads the same whether printed or passed to a helper: file, line, the path in the view, and what exists there', async () => {
  const t = await tempDir();
  try {
    await cp(BUILTIN_TEMPLATES_DIR, t.dir, { recursive: true });
    const file = path.join(t.dir, 'partials', 'backends.hbs');
    const good = await readFile(file, 'utf8');
    const lineOf = (text: string, needle: string) => text.split('\n').findIndex((l) => l.includes(needle)) + 1;
    const serverFields = 'name, address, port, weight, hostname, node, serviceId';
    const cases = [
      { edit: good.replace('weight {{weight}}', 'weight {{weight}} slowstart {{slowstrat}}'), needle: 'slowstrat', field: 'backends.0.servers.0.slowstrat', expected: `one of ${serverFields}, or a helper` },
      { edit: good.replace('{{#if hostname}}', '{{#if slowstrat}}'), needle: 'slowstrat', field: 'backends.0.servers.0.slowstrat', expected: `one of ${serverFields}, or a helper` },
      { edit: good.replace('inter {{check.inter}}', 'inter {{check.intr}}'), needle: 'check.intr', field: 'backends.0.check.intr', expected: 'one of inter, fall, rise, or a helper' },
      { edit: good.replace('inter {{check.inter}}', 'inter {{chek.inter}}'), needle: 'chek.inter', field: 'backends.0.chek', expected: 'one of name, service, mode, balance, maxconn, sticky, check, httpchk, depoolThreshold, servers, or a helper' },
    ];
    for (const c of cases) {
      await writeFile(file, c.edit);
      const templates = await loadTemplates(t.dir);
      await assert.rejects(renderEntries([entry('web', 'w1', [ENABLE])], { templates }), (err) => {
        assert.ok(isHapilotError(err, ErrorCode.TEMPLATE), String(err));
        const line = lineOf(c.edit, c.needle);
        assert.equal(err.message, `template ${file}:${line}: field "${c.field}" does not exist: expected ${c.expected}`);
        // The CLI's locator (render --watch, check --all-catalogs) finds the file, line and column.
        const loc = templateLocation(err);
        assert.equal(loc?.file, file);
        assert.equal(loc?.line, line);
        assert.equal(loc?.column, (c.edit.split('\n')[line - 1] ?? '').indexOf(c.needle) + 1);
        return true;
      }, c.field);
    }
  } finally { await t.cleanup(); }
});

test('what a template may read: unset fields, @index, @root, block parameters, lengths; and @root.x of a missing x is an error', async () => {
  const t = await templateDir([
    '{{#each backends as |b|}}{{@index}} {{b.name}} {{name.length}} {{@root.settings.retries}} {{../settings.retries}} [{{maxconn}}] {{#if sticky}}s{{/if}}{{/each}}',
    '{{backends.length}} {{backends.[0].name}}',
  ].join('\n'));
  try {
    const templates = await loadTemplates(t.dir);
    const out = await renderEntries([entry('web', 'w1', [ENABLE])], { templates });
    assert.equal(out.config, '0 web 3 3 3 [] \n1 web\n');
  } finally { await t.cleanup(); }
  const bad = await templateDir('x\n{{#each backends}}{{@root.setings.retries}}{{/each}}\n');
  try {
    const templates = await loadTemplates(bad.dir);
    await assert.rejects(renderEntries([entry('web', 'w1', [ENABLE])], { templates }), (err) => isHapilotError(err, ErrorCode.TEMPLATE)
      && err.message.startsWith(`template ${path.join(bad.dir, 'haproxy.cfg.hbs')}:2: field "setings" does not exist: expected one of settings, bind, paths, backends, httpRoutes, portFrontends, or a helper`));
  } finally { await bad.cleanup(); }
});

test('the lookup helper is checked too: an existing key reads, a missing one is the same one-line error, in its partial', async () => {
  const t = await templateDir('{{> p}}\n', { p: 'x {{lookup settings "retries"}}\n{{#each backends}}{{lookup this "nam"}}{{/each}}\n' });
  try {
    const templates = await loadTemplates(t.dir);
    await assert.rejects(renderEntries([entry('web', 'w1', [ENABLE])], { templates }), (err) => isHapilotError(err, ErrorCode.TEMPLATE)
      && err.message.startsWith(`template ${path.join(t.dir, 'partials', 'p.hbs')}:2: field "backends.0.nam" does not exist: expected one of name, service,`));
    const ok = await templateDir('{{lookup settings "retries"}} {{lookup backends 0}}\n');
    try {
      assert.match((await renderEntries([entry('web', 'w1', [ENABLE])], { templates: await loadTemplates(ok.dir) })).config, /^3 \[object Object\]\n$/);
    } finally { await ok.cleanup(); }
  } finally { await t.cleanup(); }
});
