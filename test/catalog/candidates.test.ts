// candidateServices: which services of /v1/catalog/services are worth reading (any HAPROXY.* tag or an enable alias).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { candidateServices } from '../../src/catalog/fetch-catalog.js';

test('candidateServices: HAPROXY.* tags and the deprecated enable aliases select a service; others and null tags do not', () => {
  const cases: Array<{ tags: string[] | null; want: boolean }> = [
    { tags: ['HAPROXY.ENABLE=true'], want: true },
    { tags: ['HAPROXY.ENABLE=false'], want: true }, // read, then the model decides
    { tags: ['HAPROXY.PROTOCOL=tcp'], want: true },
    { tags: ['haproxy_enable'], want: true },
    { tags: ['haproxy.enable=true'], want: true },
    { tags: ['haproxy.enable=false'], want: false },
    { tags: ['HAPROXY'], want: false },
    { tags: ['traefik.enable=true', 'v1'], want: false },
    { tags: [], want: false },
    { tags: null, want: false },
  ];
  for (const c of cases) assert.deepEqual(candidateServices({ svc: c.tags }), c.want ? ['svc'] : [], JSON.stringify(c.tags));
  assert.deepEqual(candidateServices({ zeta: ['HAPROXY.ENABLE=true'], consul: [], alpha: ['haproxy_enable'] }), ['alpha', 'zeta'], 'sorted');
});
