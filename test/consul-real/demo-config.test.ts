// The demo's Consul configuration (examples/consul/, loaded by `consul agent -config-dir` in
// scripts/demo.sh) is accepted by a real agent and describes the same services as the file catalog
// examples/catalog.json: rendering from either gives the same frontends, backends and quarantine.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { eventually } from '../helpers/backends.js';
import { hapilot } from '../helpers/cli.js';
import { tempDir } from '../helpers/haproxy.js';
import { RealConsul } from '../helpers/real-consul.js';

const structure = (cfg: string) => cfg.split('\n').filter((l) => /^(frontend|backend) /.test(l) || /^\s+bind /.test(l) || /^\s+balance /.test(l)).join('\n');

test('examples/consul loads in a real agent and renders the same structure as examples/catalog.json', async () => {
  const consul = await RealConsul.start({ configDirs: [path.resolve('examples/consul')] });
  const { dir, cleanup } = await tempDir();
  try {
    await eventually(async () => {
      const r = await consul.api('GET', '/v1/catalog/services');
      return ['web', 'api', 'glance', 'legacy', 'broken', 'redis'].every((s) => s in (r.json() as object));
    }, 15_000, 'the demo services registered by the agent');
    const fromConsul = await hapilot(['render', '--consul', consul.url, '--run-dir', dir]);
    const fromFile = await hapilot(['render', '--catalog', 'examples/catalog.json', '--run-dir', dir]);
    assert.equal(fromConsul.code, 0, fromConsul.stderr);
    assert.equal(fromFile.code, 0, fromFile.stderr);
    assert.equal(structure(fromConsul.stdout), structure(fromFile.stdout));
    assert.match(fromConsul.stdout, /^backend web$/m);
    assert.match(fromConsul.stderr, /quarantined service broken/);
  } finally {
    await consul.destroy();
    await cleanup();
  }
});
