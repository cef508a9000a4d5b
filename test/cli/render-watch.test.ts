// `hapilot render --watch` as a user runs it: a diff after a catalog edit (rename-replace, as editors
// save) and after a template edit, a template syntax error shown with file:line:column while the
// watch goes on, recovery, HAProxy's verdict with --check, colour only when asked, clean exit on signals.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { CLI } from '../helpers/cli.js';
import { tempDir } from '../helpers/haproxy.js';
import { ENABLE, entry } from '../helpers/entries.js';
import { colorizePatch, renderDiff, useColor } from '../../src/cli/render-watch.js';
import { fieldColumn, parseErrorColumn } from '../../src/cli/template-location.js';

const WAIT_MS = 20_000;

interface Watch {
  child: ChildProcess;
  out: () => string;
  err: () => string;
  /** Waits until stdout (or stderr) after `from` matches. */
  until: (re: RegExp, opts?: { from?: number; stream?: 'out' | 'err' }) => Promise<string>;
  exit: Promise<number | null>;
}

function startWatch(args: string[], env: Record<string, string> = {}): Watch {
  const base: NodeJS.ProcessEnv = { ...process.env, HAPROXY_DOM: 'example.test', HAPILOT_LOG_LEVEL: 'warn' };
  delete base.FORCE_COLOR;
  delete base.NO_COLOR;
  const child = spawn(process.execPath, [CLI, 'render', '--watch', ...args], {
    env: { ...base, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout?.on('data', (d: Buffer) => { out += d.toString(); });
  child.stderr?.on('data', (d: Buffer) => { err += d.toString(); });
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const until = async (re: RegExp, { from = 0, stream = 'out' }: { from?: number; stream?: 'out' | 'err' } = {}) => {
    const deadline = Date.now() + WAIT_MS;
    for (;;) {
      const text = (stream === 'out' ? out : err).slice(from);
      const m = re.exec(text);
      if (m) return text;
      if (Date.now() > deadline || child.exitCode !== null) {
        throw new Error(`timed out waiting for ${re} on std${stream}\n--- stdout:\n${out}\n--- stderr:\n${err}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  return { child, out: () => out, err: () => err, until, exit };
}

async function stop(w: Watch, signal: NodeJS.Signals): Promise<number | null> {
  w.child.kill(signal);
  const timeout = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), WAIT_MS).unref());
  const code = await Promise.race([w.exit, timeout]);
  if (code === 'timeout') {
    w.child.kill('SIGKILL');
    assert.fail(`render --watch did not end on ${signal}`);
  }
  return code;
}

const catalog = (port: number) => JSON.stringify([entry('web', 'w1', [ENABLE], { node: 'n1', address: '127.0.0.1', port })]);

/** A catalog with one instance on port 8000 and a copy of the built-in templates, in `dir`. */
async function workspace(dir: string): Promise<{ cat: string; tpl: string; backends: string }> {
  const cat = path.join(dir, 'catalog.json');
  const tpl = path.join(dir, 'tpl');
  await cp('templates', tpl, { recursive: true });
  await writeFile(cat, catalog(8000));
  return { cat, tpl, backends: path.join(tpl, 'partials', 'backends.hbs') };
}

/** Saves as many editors do: write a temp file, rename it over the original. */
async function renameReplace(file: string, contents: string): Promise<void> {
  const tmp = `${file}.swp~`;
  await writeFile(tmp, contents);
  await rename(tmp, file);
}

test('render --watch: diffs after a catalog edit and a template edit; catalog and template errors are shown (file:line:column) and the watch goes on; SIGINT ends it with 0', async () => {
  const { dir, cleanup } = await tempDir();
  let w: Watch | undefined;
  try {
    const { cat, tpl, backends } = await workspace(dir);
    w = startWatch(['--catalog', cat, '--templates', tpl]);
    await w.until(/# \S+ render 1 \(start\): 1 backends, 0 quarantined\n[\s\S]*^backend web$/m);
    assert.match(w.out(), /^ {4}server n1:w1 127\.0\.0\.1:8000 weight 1$/m, 'the first render is printed whole');

    // A catalog saved half-way (malformed JSON): said once, nothing rendered, the watch goes on.
    let from = w.out().length;
    await writeFile(cat, '[{"Node": ');
    await w.until(/^hapilot: error: --catalog .*catalog\.json: .* \(still watching\)$/m, { stream: 'err' });
    assert.equal(w.out().slice(from), '');

    await renameReplace(cat, catalog(8001));
    let text = await w.until(/render 2 \(catalog\)[\s\S]*^\+ {4}server/m, { from });
    assert.match(text, /^--- a\/haproxy\.cfg\tprevious render$/m);
    assert.match(text, /^\+\+\+ b\/haproxy\.cfg\tthis render$/m);
    assert.match(text, /^@@ -\d+,\d+ \+\d+,\d+ @@$/m);
    assert.match(text, /^- {4}server n1:w1 127\.0\.0\.1:8000 weight 1\n\+ {4}server n1:w1 127\.0\.0\.1:8001 weight 1$/m);
    assert.doesNotMatch(text, /\x1b\[/, 'no colour when stdout is not a terminal and FORCE_COLOR is unset');

    from = w.out().length;
    const original = await readFile(backends, 'utf8');
    await writeFile(backends, original.replace('    balance {{balance}}\n', '    balance {{balance}}\n    retries 7\n'));
    text = await w.until(/render \d+ \(templates\)[\s\S]*^\+ {4}retries 7$/m, { from });
    assert.doesNotMatch(text, /^-(?!--)/m, 'only the added line differs');

    // A syntax error: located (file:line:column), nothing rendered, the watch goes on.
    const errFrom = w.err().length;
    from = w.out().length;
    await writeFile(backends, original.replace('    balance {{balance}}\n', '    balance {{balance}\n'));
    const err = await w.until(/template error/, { from: errFrom, stream: 'err' });
    assert.match(err, new RegExp(`^hapilot: template error: ${backends.replaceAll('.', '\\.')}:8:22: Parse error: .* \\(still watching\\)$`, 'm'));
    assert.equal(w.out().slice(from), '', 'nothing is printed for a render that failed');

    // An error raised while rendering (strict mode: an unknown field) is located too.
    await writeFile(backends, original.replace('    balance {{balance}}\n', '    balance {{balanc}}\n'));
    const err2 = await w.until(/does not exist/, { from: errFrom + err.length, stream: 'err' });
    assert.match(err2, new RegExp(`^hapilot: template error: ${backends.replaceAll('.', '\\.')}:8:15: field "backends\\.0\\.balanc" does not exist: expected one of name, service, mode, balance, .* \\(still watching\\)$`, 'm'));

    // Fixed (with another change): the diff is against the last good render.
    await writeFile(backends, original.replace('    balance {{balance}}\n', '    balance {{balance}}\n    retries 9\n'));
    text = await w.until(/^\+ {4}retries 9$/m, { from });
    assert.match(text, /^- {4}retries 7$/m);

    const scratch = /map\((\/\S+)\/hapilot-hosts-/.exec(w.out())?.[1];
    assert.ok(scratch && existsSync(scratch), 'the config refers to its map in the watch\'s scratch directory');
    assert.equal(await stop(w, 'SIGINT'), 0);
    assert.equal(existsSync(scratch), false, 'the scratch directory is removed on exit');
    w = undefined;
  } finally {
    w?.child.kill('SIGKILL');
    await cleanup();
  }
});

test('render --watch --check: HAProxy\'s verdict on each render, its rejection shown, colour with FORCE_COLOR; SIGTERM ends it with 0', async () => {
  const { dir, cleanup } = await tempDir();
  let w: Watch | undefined;
  try {
    const { cat, tpl, backends } = await workspace(dir);
    w = startWatch(['--catalog', cat, '--templates', tpl, '--check'], { FORCE_COLOR: '1' });
    await w.until(/# haproxy -c: valid \(\d+ ms\)/);
    const from = w.out().length;
    const original = await readFile(backends, 'utf8');
    await writeFile(backends, original.replace('    balance {{balance}}\n', '    balance {{balance}}\n    no-such-keyword 1\n'));
    const text = await w.until(/# haproxy -c: REJECTED: .*unknown keyword 'no-such-keyword' in 'backend' section/, { from });
    assert.match(text, /^\x1b\[32m\+ {4}no-such-keyword 1\x1b\[0m$/m, 'an added line is green');
    assert.match(text, /^\x1b\[1m--- a\/haproxy\.cfg/m);
    assert.equal(await stop(w, 'SIGTERM'), 0);
    w = undefined;
  } finally {
    w?.child.kill('SIGKILL');
    await cleanup();
  }
});

test('render: --watch needs --catalog; --check needs --watch', async () => {
  const { hapilot } = await import('../helpers/cli.js');
  const noCatalog = await hapilot(['render', '--watch']);
  assert.equal(noCatalog.code, 2);
  assert.match(noCatalog.stderr, /^hapilot: error: --watch: expected --catalog FILE/);
  const noWatch = await hapilot(['render', '--check', '--catalog', 'examples/catalog.json']);
  assert.equal(noWatch.code, 2);
  assert.match(noWatch.stderr, /^hapilot: error: --check: expected together with --watch/);
});

test('useColor: FORCE_COLOR forces, NO_COLOR forbids, else only on a terminal', () => {
  const cases: Array<[boolean, NodeJS.ProcessEnv, boolean]> = [
    [false, {}, false],
    [true, {}, true],
    [false, { FORCE_COLOR: '1' }, true],
    [false, { FORCE_COLOR: '' }, true],
    [true, { FORCE_COLOR: '0' }, false],
    [true, { FORCE_COLOR: 'false' }, false],
    [true, { NO_COLOR: '1' }, false],
    [false, { NO_COLOR: '1', FORCE_COLOR: '1' }, false],
  ];
  for (const [isTTY, env, want] of cases) assert.equal(useColor({ write: () => undefined, isTTY }, env), want, JSON.stringify({ isTTY, env }));
});

test('renderDiff and colorizePatch: config then map, nothing when equal; plain text stays plain', () => {
  const a = { config: 'x\ny\n', map: 'm1\n' };
  assert.equal(renderDiff(a, { ...a }), '');
  const d = renderDiff(a, { config: 'x\nz\n', map: 'm2\n' });
  assert.match(d, /^--- a\/haproxy\.cfg[\s\S]*^-y\n\+z\n[\s\S]*^--- a\/hosts\.map[\s\S]*^-m1\n\+m2$/m);
  assert.equal(colorizePatch(d, false), d);
  assert.match(colorizePatch(d, true), /^\x1b\[31m-y\x1b\[0m\n\x1b\[32m\+z\x1b\[0m$/m);
});

test('parseErrorColumn: the column Handlebars\' caret points at, even when its context is cut or spans lines', () => {
  const cases: Array<[string, string, number | undefined]> = [
    ['Parse error on line 2:\n...   balance {{balance}\n-----------------------^\nExpecting', '    balance {{balance}', 22],
    ['Parse error on line 1:\nx {{> }}\n------^\nExpecting', 'x {{> }}', 7],
    ['Parse error on line 2:\n}}a{{#\n-----^\nExpecting', 'a{{#', 4],
    ['Parse error on line 1:\nno caret here', 'x', undefined],
  ];
  for (const [message, line, want] of cases) assert.equal(parseErrorColumn(message, line), want, message);
});

test('fieldColumn: where a field the view lacks is read, as a whole path segment', () => {
  const cases: Array<[string, string | undefined, number | undefined]> = [
    ['httpchek', '    balance {{balance}}{{#if httpchek}}x{{/if}}', 30],
    ['balanc', '    balance {{balance}} {{balanc}}', 27],
    ['inter', '    default-server check inter {{check.inter}}', 40],
    ['nope', '    balance {{balance}}', undefined],
    ['x', undefined, undefined],
  ];
  for (const [field, line, want] of cases) assert.equal(fieldColumn(field, line), want, `${field} in ${line}`);
});
