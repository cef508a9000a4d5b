// heldEntries: what is kept of one service's /v1/health/service answer. Instances with the same tags
// share one array whatever their order (the model reads tags, never changes them), and nothing
// Consul adds beyond the fields hapilot reads is kept.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { heldEntries } from '../../src/catalog/held-entry.js';
import type { HealthEntry } from '../../src/consul/schemas.js';

const entry = (node: string, id: string, tags: string[]): HealthEntry => ({
  Node: { ID: 'x', Node: node, Address: '10.0.0.1', Datacenter: 'dc1', TaggedAddresses: { lan: '10.0.0.1' } },
  Service: { ID: id, Service: 'web.service.example', Tags: tags, Address: '', Port: 80, Meta: { a: 'b' }, Weights: { Passing: 2, Warning: 1 } },
  Checks: [{ Node: node, CheckID: `service:${id}`, Status: 'passing', ServiceID: id, ServiceName: 'web.service.example', Output: 'long output', Notes: '' }],
});

test('instances with equal tags share one array, in any order; other tags get theirs; extra fields are dropped', () => {
  const a = ['HAPROXY.ENABLE=true', 'HAPROXY.BACKEND.BALANCE=leastconn'];
  // Parsed from JSON, as Consul's answers are: every array and string its own copy.
  const answer = JSON.parse(JSON.stringify([entry('n1', 'w1', a), entry('n2', 'w2', [...a, 'v2']), entry('n3', 'w3', a), entry('n4', 'w4', [...a, 'v2'])])) as HealthEntry[];
  const held = heldEntries(answer);
  assert.deepEqual(held.map((e) => e.Service.ID), ['w1', 'w2', 'w3', 'w4']);
  assert.equal(held[0]!.Service.Tags, held[2]!.Service.Tags);
  assert.equal(held[1]!.Service.Tags, held[3]!.Service.Tags);
  assert.notEqual(held[0]!.Service.Tags, held[1]!.Service.Tags);
  assert.deepEqual(held[1]!.Service.Tags, [...a, 'v2']);
  assert.deepEqual(held[0], {
    Node: { Node: 'n1', Address: '10.0.0.1' },
    Service: { ID: 'w1', Service: 'web.service.example', Tags: a, Address: '', Port: 80, Weights: { Passing: 2, Warning: 1 } },
    Checks: [{ Node: 'n1', CheckID: 'service:w1', Status: 'passing', ServiceID: 'w1' }],
  });
});
