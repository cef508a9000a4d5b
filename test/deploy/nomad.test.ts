// deploy/nomad/hapilot.nomad.hcl parsed with an HCL parser (@cdktf/hcl2json; Nomad itself cannot be
// installed here) and checked: docker driver on the host network, a Consul service for hapilot with an
// HTTP check on /ready at the status port, a clean stop (shutdown_delay, SIGTERM, a kill_timeout longer
// than hapilot needs to stop HAProxy), settings from a template stanza, only variables hapilot reads.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { parse } from '@cdktf/hcl2json';
import { z } from 'zod';
import { parseDurationMs } from '../../src/util/duration.js';
import { knownEnv, unknownNames } from './known-env.js';

// hcl2json turns every block into an array (labelled blocks into an object of arrays).
const Check = z.object({ type: z.string(), path: z.string().optional(), interval: z.string(), timeout: z.string() }).passthrough();
const Service = z.object({ name: z.string(), provider: z.literal('consul'), port: z.string(), tags: z.array(z.string()).optional(), check: z.array(Check) }).passthrough();
const Template = z.object({ destination: z.string(), data: z.string(), env: z.boolean().optional(), change_mode: z.string().optional() }).passthrough();
const Task = z.object({
  driver: z.literal('docker'),
  config: z.array(z.object({ image: z.string().min(1), network_mode: z.string(), args: z.array(z.string()) }).passthrough()),
  template: z.array(Template),
  kill_signal: z.string(),
  kill_timeout: z.string(),
  shutdown_delay: z.string(),
  resources: z.array(z.object({ cpu: z.number(), memory: z.number() })),
}).passthrough();
const Group = z.object({
  network: z.array(z.object({ mode: z.string(), port: z.record(z.string(), z.array(z.object({ static: z.number() }).passthrough())) })),
  service: z.array(Service),
  task: z.record(z.string(), z.array(Task)),
}).passthrough();
const Job = z.object({ job: z.record(z.string(), z.array(z.object({ datacenters: z.array(z.string()), type: z.string(), group: z.record(z.string(), z.array(Group)) }).passthrough())) });

test('deploy/nomad/hapilot.nomad.hcl: docker task, Consul service checked on /ready, clean stop, settings from a template stanza', async () => {
  const file = 'deploy/nomad/hapilot.nomad.hcl';
  const job = Job.parse(await parse(file, await readFile(file, 'utf8')));
  const group = job.job.hapilot?.[0]?.group.hapilot?.[0];
  assert.ok(group, 'job "hapilot" with group "hapilot"');
  const task = group.task.hapilot?.[0];
  assert.ok(task, 'task "hapilot"');
  const [config] = task.config;
  assert.equal(config!.network_mode, 'host');
  assert.deepEqual(config!.args, ['run'], 'the daemon');

  // hapilot registers itself, checked on /ready at the status port; its tags never enable routing to itself.
  const network = group.network[0]!;
  assert.equal(network.mode, 'host');
  const self = group.service.find((s) => s.check.some((c) => c.path === '/ready'));
  assert.ok(self, 'a service with a check on /ready');
  assert.ok(network.port[self.port], `the service's port ${self.port} is a group port`);
  const ready = self.check.find((c) => c.path === '/ready')!;
  assert.equal(ready.type, 'http');
  assert.ok(!(self.tags ?? []).some((t) => t.startsWith('HAPROXY.')), 'no HAPROXY.* tag on hapilot itself');

  // The settings come from a template stanza turned into the environment; the status server listens
  // where the check (from the Consul agent, at the node's address) reaches it.
  const settings = task.template.find((t) => t.env === true && /HAPROXY_DOM=/.test(t.data));
  assert.ok(settings, 'a template stanza with env = true carries the settings');
  const names = [...task.template.flatMap((t) => [...t.data.matchAll(/^\s*(?:\{\{[^}]*\}\})?([A-Z][A-Z0-9_]*)=/gm)].map((m) => m[1]!))];
  assert.deepEqual(unknownNames(names, await knownEnv()), [], 'every variable is one hapilot reads');
  assert.match(settings.data, new RegExp(`^\\s*HAPILOT_STATUS_LISTEN=\\{\\{ env "NOMAD_ADDR_${self.port}" \\}\\}$`, 'm'));
  assert.match(settings.data, /^\s*HAPROXY_HTTP_PORT=\{\{ env "NOMAD_PORT_http" \}\}$/m);
  assert.ok(network.port.http, 'the HTTP frontend port is a group port');

  // A stop: deregistered first, then SIGTERM, with time for hapilot to stop HAProxy (it waits up to 10 s).
  assert.equal(task.kill_signal, 'SIGTERM');
  assert.ok((parseDurationMs(task.shutdown_delay) ?? 0) > 0, 'shutdown_delay deregisters before the signal');
  assert.ok((parseDurationMs(task.kill_timeout) ?? 0) >= 15_000, `kill_timeout ${task.kill_timeout} ≥ 15s`);
});
