// Issue 11, "Environment and flags": invalid numbers and durations, unknown flags and commands, values
// from the environment, HAPROXY_DOM missing when services need it, a malformed or wrongly shaped
// catalog file. Each is exactly one stderr line `hapilot: error: …` naming the input (the flag, or the
// environment variable when the value came from there), the value and what was expected; exit 2 for
// usage errors, 1 otherwise; nothing on stdout, and `run` starts nothing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { hapilot } from '../helpers/cli.js';
import { freePort, tempDir } from '../helpers/haproxy.js';

type Case = [args: string[], env: Record<string, string>, code: number, expected: RegExp];

async function expectOneLine(cases: Case[]): Promise<void> {
  for (const [args, env, code, expected] of cases) {
    const r = await hapilot(args, { env: { HAPILOT_LOG_LEVEL: 'error', ...env }, timeout: 20_000 });
    const what = `${Object.entries(env).map(([k, v]) => `${k}=${v} `).join('')}${args.join(' ')}`;
    assert.equal(r.code, code, `${what}: exit ${r.code}: ${r.stderr}`);
    assert.equal(r.stderr.trimEnd().split('\n').length, 1, `${what}: one line: ${r.stderr}`);
    assert.match(r.stderr.trimEnd(), expected, what);
    assert.equal(r.stdout, '', `${what}: nothing on stdout`);
  }
}

test('run: every invalid flag value, from the command line or the environment, before anything starts', { timeout: 120_000 }, async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const runDir = path.join(dir, 'run');
    const run = (...flags: string[]) => ['run', '--catalog', 'examples/catalog.json', '--run-dir', runDir, '--status-listen', '127.0.0.1:0', ...flags];
    await expectOneLine([
      [run('--wait', 'abc'), {}, 2, /^hapilot: error: --wait "abc" is invalid: expected MIN:MAX durations such as 1s:5s$/],
      [run('--wait', '5s:1s'), {}, 2, /^hapilot: error: --wait "5s:1s" is invalid/],
      [['run', '--catalog', 'examples/catalog.json', '--run-dir', runDir], { HAPILOT_WAIT: '1 s' }, 2, /^hapilot: error: HAPILOT_WAIT="1 s" is invalid: expected MIN:MAX/],
      [run('--min-reload-interval', '1.5x'), {}, 2, /^hapilot: error: --min-reload-interval "1\.5x" is invalid: expected a duration such as 500ms, 5s or 2m$/],
      [run('--min-reload-interval', '2h'), {}, 2, /^hapilot: error: --min-reload-interval "2h" is invalid: expected a duration from 0 to 1h/],
      [run('--removal-hold', '-1s'), {}, 2, /^hapilot: error: --removal-hold "-1s" is invalid: expected a duration/],
      [run('--removal-hold', '48h'), {}, 2, /^hapilot: error: --removal-hold "48h" is invalid: expected a duration from 0 to 24h/],
      [run('--residual-grace', '1e3'), {}, 2, /^hapilot: error: --residual-grace "1e3" is invalid/],
      [run('--syn-drop-pause', '99h'), {}, 2, /^hapilot: error: --syn-drop-pause "99h" is invalid: expected a duration from 0 to 5s \(new connections are dropped/],
      [run('--max-removal-ratio', '1.5'), {}, 2, /^hapilot: error: --max-removal-ratio "1\.5" is invalid: expected a number from 0 to 1$/],
      [run('--max-removal-ratio', '-0.1'), {}, 2, /^hapilot: error: --max-removal-ratio "-0\.1" is invalid/],
      [run('--history', '0'), {}, 2, /^hapilot: error: --history "0" is invalid: expected a whole number from 1 to 9999$/],
      [run('--history', '99999'), {}, 2, /^hapilot: error: --history "99999" is invalid/],
      [run('--max-old-workers', 'x'), {}, 2, /^hapilot: error: --max-old-workers "x" is invalid: expected a whole number from 1 to 9999$/],
      [['run', '--catalog', 'examples/catalog.json', '--run-dir', runDir], { HAPILOT_STATUS_LISTEN: 'localhost' }, 2, /^hapilot: error: HAPILOT_STATUS_LISTEN="localhost" is invalid: expected HOST:PORT/],
      [run('--status-listen', '127.0.0.1:99999'), {}, 2, /^hapilot: error: --status-listen "127\.0\.0\.1:99999" is invalid: expected HOST:PORT/],
      [run('--reload', 'fast'), {}, 2, /^hapilot: error: option '--reload <strategy>' argument 'fast' is invalid\. Allowed choices are auto, seamless, runtime, syn-drop\.$/],
      [run('--bogus'), {}, 2, /^hapilot: error: unknown option '--bogus'$/],
      [run('--wiat', '1s:2s'), {}, 2, /^hapilot: error: unknown option '--wiat' \(Did you mean --wait\?\)$/],
      [['run', '--consul', 'http://127.0.0.1:1', '--run-dir', runDir, '--depool-threshold', '2'], {}, 2, /^hapilot: error: --depool-threshold "2" is invalid: expected a share of servers from 0 to 1/],
      [['run', '--consul', 'http://127.0.0.1:1', '--run-dir', runDir, '--pool-prefix', 'a//b'], {}, 2, /^hapilot: error: --pool-prefix "a\/\/b" is invalid: expected a Consul KV path/],
      [run(), { HAPROXY_MAXCONN: '1e3' }, 1, /^hapilot: error: HAPROXY_MAXCONN="1e3" is invalid: expected an integer from 1 to 10000000$/],
      [run(), { HAPROXY_TIMEOUT_CLIENT: '3 s' }, 1, /^hapilot: error: HAPROXY_TIMEOUT_CLIENT="3 s" is invalid: expected an HAProxy time/],
      [run(), { HAPROXY_HTTP_PORT: '70000' }, 1, /^hapilot: error: HAPROXY_HTTP_PORT="70000" is invalid: expected an integer from 1 to 65535$/],
      [run(), { HAPILOT_FD_POLICY: 'maybe' }, 1, /^hapilot: error: HAPILOT_FD_POLICY="maybe" is invalid: expected adapt or fail$/],
    ]);
    // Nothing was started or written for any of them.
    assert.deepEqual(await readdir(runDir).catch((): string[] => []), []);
  } finally {
    await cleanup();
  }
});

test('run: a status address already in use is one line naming it, before HAProxy is started', async () => {
  const { dir, cleanup } = await tempDir();
  const port = await freePort();
  const busy = net.createServer().listen(port, '127.0.0.1');
  await new Promise((r) => busy.once('listening', r));
  try {
    const runDir = path.join(dir, 'run');
    await expectOneLine([[['run', '--catalog', 'examples/catalog.json', '--run-dir', runDir, '--status-listen', `127.0.0.1:${port}`], {}, 2,
      new RegExp(`^hapilot: error: --status-listen "127\\.0\\.0\\.1:${port}" cannot be listened on \\(EADDRINUSE\\): expected an address of this machine and a port no other process uses$`)]]);
    // The daemon was created but not started: no HAProxy, no config.
    assert.ok(!(await readdir(runDir).catch((): string[] => [])).includes('haproxy.cfg'));
  } finally {
    busy.close();
    await cleanup();
  }
});

test('render and check: unknown command, unknown flag, bad choice, HAPROXY_DOM missing when needed, malformed and wrongly shaped catalogs', { timeout: 60_000 }, async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const file = (name: string, text: string) => writeFile(path.join(dir, name), text).then(() => path.join(dir, name));
    const truncated = await file('truncated.json', '[{"Node": {"Node": "n1", "Address": "10.0.0.1"}, "Service": {"ID": "w');
    const object = await file('object.json', '{"Node": {}}');
    const badPort = await file('port.json', JSON.stringify([{ Node: { Node: 'n', Address: '10.0.0.1' }, Service: { ID: 'w', Service: 'web', Port: '80', Tags: [] }, Checks: [] }]));
    const empty = await file('empty.json', '');
    await expectOneLine([
      [['rendr'], {}, 2, /^hapilot: error: unknown command 'rendr' \(Did you mean render\?\)$/],
      [['render', '--catalgo', 'x.json'], {}, 2, /^hapilot: error: unknown option '--catalgo' \(Did you mean --catalog\?\)$/],
      [['render', '--consistency', 'weird'], {}, 2, /^hapilot: error: option '--consistency <mode>' argument 'weird' is invalid\. Allowed choices are default, stale, consistent\.$/],
      [['render', '--catalog'], {}, 2, /^hapilot: error: option '--catalog <file>' argument missing$/],
      // HAPROXY_DOM unset while HTTP services rely on it for their host: the operator's missing setting.
      [['render', '--catalog', 'examples/catalog.json'], { HAPROXY_DOM: '' }, 1, /^hapilot: error: HAPROXY_DOM is not set: expected a domain such as example\.com, which HTTP services without HAPROXY\.FRONTEND\.HOST or \.PORT need for their host <service>\.<HAPROXY_DOM>: "legacy", "web"$/],
      [['check', '--catalog', 'examples/catalog.json'], { HAPROXY_DOM: '' }, 1, /^hapilot: error: HAPROXY_DOM is not set/],
      [['render', '--catalog', 'examples/catalog.json'], { HAPROXY_DOM: 'not a domain' }, 1, /^hapilot: error: HAPROXY_DOM="not a domain" is invalid: expected a DNS domain such as example\.com$/],
      [['render', '--catalog', truncated], {}, 1, /^hapilot: error: --catalog \S+truncated\.json: malformed JSON, truncated: the text ends \(after \d+ characters\) before the JSON does/],
      [['render', '--catalog', object], {}, 1, /^hapilot: error: --catalog \S+object\.json: wrong shape at \(top level\): .*expected array, received object.*: expected an array of \{Node, Service, Checks\}/],
      [['check', '--catalog', badPort], {}, 1, /^hapilot: error: --catalog \S+port\.json: wrong shape at 0\.Service\.Port: .*expected number, received string \(found "80"\)/],
      [['render', '--catalog', empty], {}, 1, /^hapilot: error: --catalog \S+empty\.json: /],
      [['render', '--catalog', path.join(dir, 'missing.json')], {}, 1, /^hapilot: error: --catalog \S+missing\.json: cannot read \(ENOENT\): expected a readable JSON file$/],
    ]);
  } finally {
    await cleanup();
  }
});

test('HAPROXY_DOM unset is no error when no service needs it (every HTTP service names its host or port)', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const catalog = path.join(dir, 'c.json');
    await writeFile(catalog, JSON.stringify([{ Node: { Node: 'n', Address: '10.0.0.1' }, Service: { ID: 'w', Service: 'web', Port: 80, Tags: ['HAPROXY.ENABLE=true', 'HAPROXY.FRONTEND.HOST=web.example.com'] }, Checks: [] }]));
    const r = await hapilot(['render', '--catalog', catalog], { env: { HAPROXY_DOM: '', HAPILOT_LOG_LEVEL: 'error' } });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^backend web$/m);
  } finally {
    await cleanup();
  }
});
