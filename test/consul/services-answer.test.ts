// /v1/catalog/services answers again on every registration (its index moves) with the same bytes
// when only instances changed: the client hands back the very object it decoded last time, and
// decodes (and checks) anything else.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createConsulClient } from '../../src/consul/client.js';
import { loadConsulConfig } from '../../src/consul/config.js';
import { ErrorCode, isHapilotError } from '../../src/errors.js';

test('an identical services answer is the same object; a different, a filtered or a malformed one is decoded on its own', async () => {
  let body = '{"consul":[],"web":["HAPROXY.ENABLE=true"]}';
  let index = 7;
  const server = http.createServer((req, res) => {
    res.setHeader('content-type', 'application/json');
    res.setHeader('x-consul-index', String(index++));
    res.end(req.url?.includes('filter=') ? '{}' : body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const consul = createConsulClient(loadConsulConfig({ flagUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, env: {} }));
  try {
    const first = await consul.catalogServices();
    assert.deepEqual(first.data, { consul: [], web: ['HAPROXY.ENABLE=true'] });
    const again = await consul.catalogServices();
    assert.equal(again.data, first.data, 'same bytes: the same object');
    assert.ok(again.index > first.index, 'with the new index');

    const filtered = await consul.catalogServices({ filter: 'ServiceName == "x"' });
    assert.deepEqual(filtered.data, {});
    assert.equal((await consul.catalogServices()).data, first.data, 'a filtered answer does not replace the remembered one');

    body = '{"consul":[],"web":["HAPROXY.ENABLE=true","HAPROXY.PORT=81"]}';
    const changed = await consul.catalogServices();
    assert.notEqual(changed.data, first.data);
    assert.deepEqual(changed.data, { consul: [], web: ['HAPROXY.ENABLE=true', 'HAPROXY.PORT=81'] });

    body = '{"web": [1]}';
    await assert.rejects(consul.catalogServices(), (err: unknown) => isHapilotError(err, ErrorCode.CONSUL_SHAPE) && /\/v1\/catalog\/services answered an unexpected shape/.test(err.message));
    body = '{"web": ["HAPROXY.ENABLE=tr';
    await assert.rejects(consul.catalogServices(), (err: unknown) => isHapilotError(err, ErrorCode.CONSUL_SHAPE) && /answered malformed JSON/.test(err.message));
  } finally {
    consul.close();
    server.closeAllConnections();
    server.close();
  }
});
