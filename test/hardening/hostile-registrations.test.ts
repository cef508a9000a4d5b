// Hostile registrations through Consul, as anyone allowed to register a service could make them:
// the daemon keeps serving everything else, the bad instance is listed on /status with a one-line
// reason, and nothing of it reaches the config HAProxy runs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { eventually } from '../helpers/backends.js';
import { names, simNode, webFixture } from '../helpers/daemon.js';
import { templateLinePatterns } from '../fuzz/properties.js';

interface Status { quarantined: Array<{ service: string; instance: string; reason: string }>; services: Array<{ name: string }> }

test('hostile tags, names and addresses from Consul: quarantined or mapped, never in the config; web keeps serving', { timeout: 120_000 }, async () => {
  const { sim, d, teardown } = await webFixture({ backends: 2, registered: 2 });
  try {
    const port = 10_000;
    const hostile: Array<{ id: string; service: string; tags: string[]; address?: string }> = [
      { id: 'inj-1', service: 'web', tags: ['HAPROXY.ENABLE=true', 'HAPROXY.BACKEND.BALANCE=roundrobin\n    server evil 6.6.6.6:80'] },
      { id: 'inj-2', service: 'web', tags: ['HAPROXY.ENABLE=true', 'HAPROXY.BACKEND.HTTPCHK=/x" evil'] },
      { id: 'inj-3', service: 'web', tags: ['HAPROXY.ENABLE=true'], address: '0.0.0.0' },
      { id: 'inj-4', service: 'web', tags: ['HAPROXY.ENABLE=true', `HAPROXY.FRONTEND.HOST=${'a'.repeat(65_536)}`] },
      { id: 'evil\nbackend x', service: 'we b\n#evil', tags: ['HAPROXY.ENABLE=true', 'HAPROXY.FRONTEND.HOST=odd.example.test'] },
      { id: 'typo-1', service: 'typo', tags: ['HAPROXY.ENABLE=true', 'HAPROXY.BACKEND.BALANC=leastconn'] },
    ];
    for (const [i, h] of hostile.entries()) {
      sim.register({ node: { ...simNode(10 + i), ...(h.address ? { Address: h.address } : {}) }, service: { ID: h.id, Service: h.service, Tags: h.tags, Port: port + i } });
    }
    const status = async () => d.daemon.status() as Promise<Status>;
    await eventually(async () => (await status()).quarantined.length >= 4, 15_000, 'hostile instances quarantined');
    const q = (await status()).quarantined;
    assert.deepEqual(q.filter((x) => x.service === 'web').map((x) => x.instance).sort(), ['inj-1', 'inj-2', 'inj-3', 'inj-4']);
    for (const x of q) assert.doesNotMatch(x.reason, /\n/);
    await eventually(async () => (await status()).services.some((s) => s.name === 'typo'), 15_000, 'an unknown tag key only warns: typo is served');
    const config = await readFile(d.configPath, 'utf8');
    assert.doesNotMatch(config, /server evil|6\.6\.6\.6|0\.0\.0\.0:|aaaaaaaa|#evil|\/x"/);
    // Every line of the running config is a line of the templates (see test/fuzz/properties.ts).
    const patterns = await templateLinePatterns();
    for (const line of config.split('\n')) assert.ok(patterns.some((re) => re.test(line)), `line not from the templates: ${JSON.stringify(line)}`);
    assert.match(config, /^backend we_b__evil:[0-9a-f]{12}$/m, 'an unusable service name is mapped to a safe backend name');
    assert.deepEqual([...await names(d)].sort(), ['web-1', 'web-2'], 'web keeps serving its two good instances');
  } finally {
    await teardown();
  }
});
