// docker/compose.yaml's essentials: a Consul dev agent, two demo backends registered with HAPROXY.*
// tags, and hapilot in two layouts (one container; HAProxy and hapilot as sidecars sharing a volume,
// a network namespace and the master socket), answering `curl -H 'Host: web.example.test'
// localhost:8080`. The sidecar commands themselves run for real in test/image/image.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { parse } from 'yaml';
import { z } from 'zod';
import { knownEnv, unknownNames } from './known-env.js';

const Service = z.object({
  image: z.string(),
  build: z.object({ context: z.string(), dockerfile: z.string() }).optional(),
  command: z.array(z.string()).optional(),
  entrypoint: z.array(z.string()).optional(),
  environment: z.record(z.string(), z.string()).optional(),
  ports: z.array(z.string()).optional(),
  volumes: z.array(z.string()).optional(),
  profiles: z.array(z.string()).optional(),
  network_mode: z.string().optional(),
  depends_on: z.array(z.string()).optional(),
  stop_grace_period: z.string().optional(),
}).strict();
const Compose = z.object({
  name: z.string(),
  services: z.record(z.string(), Service),
  volumes: z.record(z.string(), z.unknown()).optional(),
}).passthrough();
const ConsulConfig = z.object({
  services: z.array(z.object({ id: z.string(), name: z.string(), address: z.string(), port: z.number(), tags: z.array(z.string()), check: z.object({ http: z.string(), interval: z.string() }) })),
});

test('docker/compose.yaml: Consul dev agent, two tagged demo backends, hapilot in the single and sidecar layouts', async () => {
  const text = await readFile('docker/compose.yaml', 'utf8');
  const compose = Compose.parse(parse(text, { merge: true }));
  const svc = compose.services;
  const known = await knownEnv();

  // Consul in dev mode, reachable by the other services, with the two backends registered.
  const consul = svc.consul!;
  assert.match(consul.image, /^hashicorp\/consul:/);
  assert.deepEqual(consul.command?.slice(0, 2), ['agent', '-dev']);
  assert.ok(consul.command?.includes('-client') && consul.command.includes('0.0.0.0'), 'the HTTP API listens beyond the container\'s loopback');
  const registered = ConsulConfig.parse(JSON.parse(consul.environment?.CONSUL_LOCAL_CONFIG ?? '')).services;
  assert.equal(registered.length, 2);
  for (const r of registered) {
    assert.ok(r.tags.includes('HAPROXY.ENABLE=true'), `${r.id} is enabled for HAProxy`);
    assert.ok(r.tags.every((t) => t.startsWith('HAPROXY.')), `${r.id}: only HAPROXY.* tags`);
    const backend = svc[r.address];
    assert.ok(backend, `${r.id}'s address ${r.address} is a compose service`);
    assert.ok(backend.command?.some((a) => a === `-listen=:${r.port}`), `${r.address} listens on ${r.port}`);
    assert.equal(r.check.http, `http://${r.address}:${r.port}/`);
  }

  // The host in the header's curl is `<service>.<HAPROXY_DOM>`.
  assert.ok(text.includes("curl -H 'Host: web.example.test' localhost:8080"));
  const names = new Set(registered.map((r) => r.name));
  assert.deepEqual([...names], ['web']);

  const single = svc.hapilot!;
  const haproxy = svc.haproxy!;
  const sidecar = svc['hapilot-sidecar']!;
  for (const [name, s] of Object.entries({ hapilot: single, 'hapilot-sidecar': sidecar })) {
    assert.equal(s.environment?.CONSUL_HTTP_ADDR, 'consul:8500', `${name} follows the compose Consul`);
    assert.equal(`web.${s.environment?.HAPROXY_DOM}`, 'web.example.test', `${name}'s HAPROXY_DOM makes web.example.test`);
    assert.deepEqual(unknownNames(Object.keys(s.environment ?? {}), known), [], `${name}: every variable is one hapilot reads`);
    assert.ok(s.depends_on?.includes('consul'));
  }
  assert.deepEqual(single.build, { context: '..', dockerfile: 'docker/Dockerfile' });
  assert.ok(single.ports?.includes('8080:8080'));
  assert.deepEqual(single.profiles, ['single']);

  // Sidecar: HAProxy master-worker with its master socket and config on the shared volume; hapilot in
  // the same network namespace, on the same volume at the same path, reloading through that socket.
  assert.deepEqual(haproxy.profiles, ['sidecar']);
  assert.deepEqual(sidecar.profiles, ['sidecar']);
  assert.ok(haproxy.ports?.includes('8080:8080'), 'the sidecar layout publishes the same port');
  const script = haproxy.command?.join(' ') ?? '';
  const sock = sidecar.environment?.HAPILOT_HAPROXY_MASTER_SOCKET;
  assert.ok(sock, 'hapilot is told the master socket');
  assert.match(script, new RegExp(`exec haproxy -W -db -S ${sock}(,|\\s)`), 'HAProxy runs master-worker with that master socket');
  assert.match(script, / -f \/run\/hapilot\/haproxy\.cfg/, 'and the config hapilot writes (<run-dir>/haproxy.cfg)');
  assert.equal(sidecar.network_mode, 'service:haproxy');
  const [volume, mount] = (haproxy.volumes?.[0] ?? '').split(':');
  assert.deepEqual(sidecar.volumes, [`${volume}:${mount}`], 'one volume, at the same path in both');
  assert.equal(mount, '/run/hapilot');
  assert.ok(sock.startsWith(`${mount}/`));
  assert.ok(compose.volumes?.[volume!], `volume ${volume} is declared`);
  assert.match(sidecar.command?.join(' ') ?? '', /exec hapilot run$/);
  assert.ok(!single.profiles?.some((p) => haproxy.profiles?.includes(p)), 'the two layouts (both on port 8080) never start together');
});
