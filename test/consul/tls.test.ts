// Consul over TLS, configured as the Consul CLI is: CONSUL_CACERT, CONSUL_CLIENT_CERT/KEY,
// CONSUL_HTTP_SSL_VERIFY. Test-only certificates in test/fixtures/tls/.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { KeptAnswer } from '../../src/catalog/kept-answer.js';
import { checkRowsParser } from '../../src/catalog/checks-body.js';
import { createConsulClient } from '../../src/consul/client.js';
import { loadConsulConfig } from '../../src/consul/config.js';
import { ErrorCode, isHapilotError } from '../../src/errors.js';
import { ConsulSim } from '../sim/consul-sim.js';

const TLS = 'test/fixtures/tls';

async function tlsSim(requireClientCert: boolean): Promise<ConsulSim> {
  const sim = new ConsulSim();
  sim.jitter = false;
  sim.tls = { key: readFileSync(`${TLS}/server.key`), cert: readFileSync(`${TLS}/server.pem`), ...(requireClientCert ? { ca: readFileSync(`${TLS}/ca.pem`) } : {}) };
  sim.register({ node: { Node: 'n1', Address: '10.0.0.1' }, service: { ID: 'web-1', Service: 'web', Tags: ['HAPROXY.ENABLE=true'], Port: 80 } });
  await sim.start();
  return sim;
}

test('TLS: the CA verifies the server; without it the connection is refused; SSL_VERIFY=false skips verification', async () => {
  const sim = await tlsSim(false);
  const addr = `127.0.0.1:${sim.port}`;
  try {
    const ok = createConsulClient(loadConsulConfig({ env: { CONSUL_HTTP_ADDR: addr, CONSUL_HTTP_SSL: 'true', CONSUL_CACERT: `${TLS}/ca.pem` } }));
    assert.ok((await ok.catalogServices()).data.web);
    // The checks list received into the kept answer, as the daemon reads it: the same bytes over TLS.
    const whole = await ok.healthStateBytes('any');
    const kept = new KeptAnswer();
    const patch = kept.open();
    await ok.healthStateBytes('any', { into: patch });
    patch.decode(checkRowsParser(), 0).commit();
    assert.ok(whole.data.length > 2);
    assert.deepEqual(kept.body?.bytes, whole.data);
    ok.close();
    const untrusted = createConsulClient(loadConsulConfig({ env: { CONSUL_HTTP_ADDR: `https://${addr}` } }));
    await assert.rejects(untrusted.catalogServices(), (e) => isHapilotError(e, ErrorCode.CONSUL_UNREACHABLE) && /SELF_SIGNED|UNABLE_TO_VERIFY|certificate/i.test(e.message));
    untrusted.close();
    const noVerify = createConsulClient(loadConsulConfig({ env: { CONSUL_HTTP_ADDR: `https://${addr}`, CONSUL_HTTP_SSL_VERIFY: 'false' } }));
    assert.ok((await noVerify.healthService('web')).data.length === 1);
    noVerify.close();
  } finally {
    await sim.stop();
  }
});

test('TLS: a client certificate is presented when Consul requires one', async () => {
  const sim = await tlsSim(true);
  const env = { CONSUL_HTTP_ADDR: `https://127.0.0.1:${sim.port}`, CONSUL_CACERT: `${TLS}/ca.pem` };
  try {
    const without = createConsulClient(loadConsulConfig({ env }));
    await assert.rejects(without.catalogServices(), (e) => isHapilotError(e, ErrorCode.CONSUL_UNREACHABLE));
    without.close();
    const withCert = createConsulClient(loadConsulConfig({ env: { ...env, CONSUL_CLIENT_CERT: `${TLS}/client.pem`, CONSUL_CLIENT_KEY: `${TLS}/client.key` } }));
    assert.ok((await withCert.catalogServices()).data.web);
    withCert.close();
  } finally {
    await sim.stop();
  }
});
