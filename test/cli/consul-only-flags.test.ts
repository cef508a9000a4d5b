// Options that only mean something with a Consul source, given with a catalog file: on the command
// line a usage error naming the flag (exit 2); from the environment (often shared by deployments) a
// one-line warning, and the command runs. `--consul-wait` is validated whatever the source.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hapilot } from '../helpers/cli.js';

const CATALOG = ['--catalog', 'examples/catalog.json'];
const oneLine = (s: string) => s.trimEnd().split('\n').filter((l) => l.startsWith('hapilot:'));

test('a Consul-only flag with --catalog is a usage error naming the flag, the value and the source', async () => {
  const cases: Array<[string[], RegExp]> = [
    [['run', ...CATALOG, '--consul-wait', '30s'], /^hapilot: error: --consul-wait "30s" applies only to a Consul source, not to --catalog "examples\/catalog\.json": expected no --consul-wait with a catalog file \(or --consul instead of --catalog\)$/],
    [['run', ...CATALOG, '--consul-wait', '10y'], /^hapilot: error: --consul-wait "10y" applies only to a Consul source/],
    [['run', ...CATALOG, '--pool-prefix', 'x/y'], /^hapilot: error: --pool-prefix "x\/y" applies only to a Consul source/],
    [['run', ...CATALOG, '--depool-threshold', '0.3'], /^hapilot: error: --depool-threshold "0\.3" applies only to a Consul source/],
    [['run', ...CATALOG, '--docker-weights'], /^hapilot: error: --docker-weights applies only to a Consul source/],
    [['render', ...CATALOG, '--consistency', 'stale'], /^hapilot: error: --consistency "stale" applies only to a Consul source/],
    [['check', ...CATALOG, '--consistency', 'consistent'], /^hapilot: error: --consistency "consistent" applies only to a Consul source/],
    [['explain', 'web', ...CATALOG, '--consistency', 'stale'], /^hapilot: error: --consistency "stale" applies only to a Consul source/],
  ];
  for (const [args, expected] of cases) {
    const r = await hapilot(args, { timeout: 20_000 });
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.equal(r.stderr.trimEnd().split('\n').length, 1, r.stderr);
    assert.match(r.stderr.trimEnd(), expected);
    assert.equal(r.stdout, '');
  }
});

test('the same option from the environment is a one-line warning, and the command runs', async () => {
  const r = await hapilot(['render', ...CATALOG], { env: { HAPILOT_CONSUL_WAIT: '30s', HAPILOT_CONSISTENCY: 'stale' } });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^frontend hapilot_http/m);
  // render takes no --consul-wait; run does.
  assert.deepEqual(oneLine(r.stderr), ['hapilot: warning: HAPILOT_CONSISTENCY="stale" applies only to a Consul source: ignored with --catalog "examples/catalog.json"']);
  const viaEnv = await hapilot(['render'], { env: { HAPILOT_CATALOG: 'examples/catalog.json', HAPILOT_CONSISTENCY: 'stale' } });
  assert.equal(viaEnv.code, 0, viaEnv.stderr);
  assert.deepEqual(oneLine(viaEnv.stderr), ['hapilot: warning: HAPILOT_CONSISTENCY="stale" applies only to a Consul source: ignored with HAPILOT_CATALOG="examples/catalog.json"']);
});

test('--consul-wait is checked with a Consul source: a duration from 1s to 10m', async () => {
  for (const [value, expected] of [
    ['10y', /^hapilot: error: --consul-wait "10y" is invalid: expected a duration such as 500ms, 5s or 2m$/],
    ['20m', /^hapilot: error: --consul-wait "20m" is invalid: expected a duration from 1s to 10m \(Consul caps a blocking query's wait at 10m\)$/],
    ['10ms', /^hapilot: error: --consul-wait "10ms" is invalid: expected a duration from 1s to 10m/],
  ] as const) {
    const r = await hapilot(['run', '--consul', 'http://127.0.0.1:1', '--consul-wait', value, '--status-listen', '127.0.0.1:0'], { timeout: 20_000 });
    assert.equal(r.code, 2, `${value}: ${r.stderr}`);
    assert.match(r.stderr.trimEnd(), expected);
    assert.equal(r.stderr.trimEnd().split('\n').length, 1, r.stderr);
  }
});
