// deploy/marathon/hapilot.json checked against a zod schema of the Marathon app definition fields it
// uses (strict: a misspelt field is an error, as Marathon rejects it): a Docker container on the host
// network running the daemon, a MESOS_HTTP health check on /ready at the status port (run by the
// agent, so loopback is enough), a kill grace period long enough for a clean stop, only variables
// hapilot reads.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { knownEnv, unknownNames } from './known-env.js';

const HealthCheck = z.object({
  protocol: z.enum(['HTTP', 'HTTPS', 'TCP', 'COMMAND', 'MESOS_HTTP', 'MESOS_HTTPS', 'MESOS_TCP']),
  path: z.string().startsWith('/').optional(),
  portIndex: z.number().int().min(0).optional(),
  gracePeriodSeconds: z.number().int().min(0),
  intervalSeconds: z.number().int().min(1),
  timeoutSeconds: z.number().int().min(1),
  maxConsecutiveFailures: z.number().int().min(0),
  delaySeconds: z.number().int().min(0).optional(),
}).strict();
const App = z.object({
  id: z.string().regex(/^(\/[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$/, 'a Marathon path id'),
  instances: z.number().int().min(1),
  cpus: z.number().positive(),
  mem: z.number().positive(),
  container: z.object({
    type: z.literal('DOCKER'),
    docker: z.object({
      image: z.string().min(1),
      forcePullImage: z.boolean().optional(),
      parameters: z.array(z.object({ key: z.string(), value: z.string() }).strict()).optional(),
    }).strict(),
  }).strict(),
  networks: z.array(z.object({ mode: z.enum(['host', 'container', 'container/bridge']) }).strict()),
  args: z.array(z.string()),
  env: z.record(z.string(), z.string()),
  portDefinitions: z.array(z.object({ port: z.number().int().min(0).max(65535), protocol: z.enum(['tcp', 'udp', 'udp,tcp']), name: z.string() }).strict()),
  requirePorts: z.boolean(),
  constraints: z.array(z.array(z.string()).min(2).max(3)),
  healthChecks: z.array(HealthCheck).min(1),
  taskKillGracePeriodSeconds: z.number().int().min(1),
  upgradeStrategy: z.object({ minimumHealthCapacity: z.number().min(0).max(1), maximumOverCapacity: z.number().min(0).max(1) }).strict(),
  labels: z.record(z.string(), z.string()).optional(),
}).strict();

test('deploy/marathon/hapilot.json: Docker on the host network, the daemon, a health check on /ready at the status port, a clean stop', async () => {
  const app = App.parse(JSON.parse(await readFile('deploy/marathon/hapilot.json', 'utf8')));
  assert.deepEqual(app.networks, [{ mode: 'host' }]);
  assert.deepEqual(app.args, ['run']);
  assert.deepEqual(unknownNames(Object.keys(app.env), await knownEnv()), [], 'every variable is one hapilot reads');

  const check = app.healthChecks.find((h) => h.path === '/ready');
  assert.ok(check, 'a health check on /ready');
  assert.equal(check.protocol, 'MESOS_HTTP', 'run by the Mesos agent on the task\'s host (loopback reaches the status server)');
  const statusPort = Number(/:(\d+)$/.exec(app.env.HAPILOT_STATUS_LISTEN ?? '127.0.0.1:9105')?.[1]);
  assert.equal(app.portDefinitions[check.portIndex ?? 0]?.port, statusPort, 'the check asks the status server\'s port');
  assert.equal(app.portDefinitions.find((p) => p.name === 'http')?.port, Number(app.env.HAPROXY_HTTP_PORT ?? 8080));
  assert.ok(app.requirePorts, 'host ports are the ones declared');

  // One per agent: two on one host would fight over the ports.
  assert.ok(app.constraints.some((c) => c[0] === 'hostname' && c[1] === 'UNIQUE'));
  // SIGTERM, then time for hapilot to stop HAProxy (it waits up to 10 s) before SIGKILL.
  assert.ok(app.taskKillGracePeriodSeconds >= 15);
  // A rolling upgrade never takes every instance down at once.
  assert.ok(app.upgradeStrategy.minimumHealthCapacity > 0 && app.instances >= 2);
});
