// A Consul (or proxy in front of it) that answers truncated JSON is reported as a malformed answer,
// not as an unreachable Consul.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createConsulClient } from '../../src/consul/client.js';
import { loadConsulConfig } from '../../src/consul/config.js';
import { ErrorCode, isHapilotError } from '../../src/errors.js';

test('truncated JSON from Consul is a shape error naming the endpoint, not "unreachable"', async () => {
  const server = http.createServer((_req, res) => {
    res.setHeader('content-type', 'application/json');
    res.setHeader('x-consul-index', '7');
    res.end('{"web": ["HAPROXY.ENABLE=tr');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const consul = createConsulClient(loadConsulConfig({ flagUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, env: {} }));
  try {
    await assert.rejects(consul.catalogServices(), (err: unknown) => {
      assert.ok(isHapilotError(err), String(err));
      assert.equal(err.code, ErrorCode.CONSUL_SHAPE, err.message);
      assert.match(err.message, /\/v1\/catalog\/services answered malformed JSON/);
      assert.doesNotMatch(err.message, /unreachable|check --consul/);
      return true;
    });
  } finally {
    consul.close();
    server.closeAllConnections();
    server.close();
  }
});
