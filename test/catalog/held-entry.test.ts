// What the daemon keeps of a health entry (held-entry.ts): only the fields it reads, with the
// strings, tag lists, nodes and node checks of one read shared between entries, never changed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { heldEntry, Interner } from '../../src/catalog/held-entry.js';
import type { HealthEntry } from '../../src/consul/schemas.js';
import { collector } from '../helpers/gc.js';

const entry = (node: string, address: string, id: string, nodeStatus = 'passing', notes = ''): HealthEntry => ({
  Node: { ID: 'x', Node: node, Address: address, Datacenter: 'dc1', TaggedAddresses: { lan: address } },
  Service: { ID: id, Service: 'web', Tags: ['HAPROXY.ENABLE=true'], Address: '10.1.0.1', Port: 80, Meta: { a: 'b' }, Weights: { Passing: 2, Warning: 1 } },
  Checks: [
    { Node: node, CheckID: 'service:' + id, Name: 'svc', Status: 'passing', ServiceID: id, ServiceName: 'web', Output: 'long output', Notes: '' },
    { Node: node, CheckID: 'serfHealth', Name: 'Serf Health Status', Status: nodeStatus, ServiceID: '', ServiceName: '', Output: 'Agent alive', Notes: notes },
  ],
} as HealthEntry);

test('held entries of one read share their node and node checks, and say exactly what the answer said', () => {
  const strings = new Interner();
  const [a, b, c, d] = [entry('n1', '10.0.0.1', 'web-1'), entry('n1', '10.0.0.1', 'web-2'), entry('n2', '10.0.0.2', 'web-3'), entry('n1', '10.0.0.1', 'web-4', 'critical', 'down')].map((e) => heldEntry(e, strings)) as [HealthEntry, HealthEntry, HealthEntry, HealthEntry];
  const checks = (e: HealthEntry) => e.Checks ?? [];
  assert.deepEqual(a, {
    Node: { Node: 'n1', Address: '10.0.0.1' },
    Service: { ID: 'web-1', Service: 'web', Tags: ['HAPROXY.ENABLE=true'], Address: '10.1.0.1', Port: 80, Weights: { Passing: 2, Warning: 1 } },
    Checks: [{ Node: 'n1', CheckID: 'serfHealth', Status: 'passing', ServiceID: '' }, { Node: 'n1', CheckID: 'service:web-1', Status: 'passing', ServiceID: 'web-1' }],
  });
  assert.equal(a.Node, b.Node, 'one node object per node');
  assert.equal(checks(a)[0], checks(b)[0], 'one serfHealth object per node and status');
  assert.notEqual(checks(a)[1], checks(b)[1], 'each instance its own check');
  assert.notEqual(a.Node, c.Node);
  assert.notEqual(checks(a)[0], checks(c)[0]);
  // The same node with another node-check status (or notes): another object, with that status.
  assert.equal(d.Node, a.Node);
  assert.deepEqual(checks(d)[0], { Node: 'n1', CheckID: 'serfHealth', Status: 'critical', ServiceID: '', Notes: 'down' });
  assert.equal(checks(a)[0]?.Status, 'passing', 'sharing changed nothing of the others');
  // Weights: one object per pair of values, each entry's own values.
  assert.equal(a.Service.Weights, c.Service.Weights, 'one weights object per pair of values');
  const heavy = heldEntry({ ...entry('n2', '10.0.0.2', 'web-6'), Service: { ...entry('n2', '10.0.0.2', 'web-6').Service, Weights: { Passing: 7, Warning: 2 }, ModifyIndex: 42 } }, strings);
  assert.deepEqual(heavy.Service.Weights, { Passing: 7, Warning: 2 });
  assert.equal(heavy.Service.ModifyIndex, 42);
  assert.deepEqual(a.Service.Weights, { Passing: 2, Warning: 1 }, 'another pair changed nothing of the first');
  const plain = heldEntry({ ...entry('n2', '10.0.0.2', 'web-7'), Service: { ID: 'web-7', Service: 'web', Port: 80 } } as HealthEntry, strings);
  assert.deepEqual(plain.Service, { ID: 'web-7', Service: 'web', Tags: [], Address: '', Port: 80 }, 'no weights or index where the answer had none');
  // Another address for the node (re-registered): its own object.
  const moved = heldEntry(entry('n1', '10.0.0.9', 'web-5'), strings);
  assert.deepEqual(moved.Node, { Node: 'n1', Address: '10.0.0.9' });
  assert.notEqual(moved.Node, a.Node);
});

test('a held entry costs the heap under 280 bytes beyond the strings it shares (one check, weights, index: 256; 320 with its weights and index added after the literal, 367 with its checks array grown by push)', () => {
  // 100,000 of them at 10,000 services × 10: every 100 bytes here is 10 MB of the daemon's RSS.
  const gc = collector();
  const n = 20_000;
  const id = (k: number) => `svc${String(k >> 3).padStart(5, '0')}-${k & 7}`;
  // Parsed, as a Consul answer is: every longer string its own copy, as JSON.parse makes them.
  const answers = Array.from({ length: n }, (_, k) => JSON.parse(JSON.stringify({
    Node: { Node: `node${k % 10}`, Address: `10.0.0.${k % 10}` },
    Service: { ID: id(k), Service: id(k).slice(0, 8), Tags: ['HAPROXY.ENABLE=true'], Address: `127.9.${(k >> 8) & 255}.${k & 255}`, Port: 8000 + (k & 7), Weights: { Passing: 1, Warning: 1 }, ModifyIndex: 100 + k },
    Checks: [{ Node: `node${k % 10}`, CheckID: `service:${id(k)}`, Name: 'svc', Status: 'passing', ServiceID: id(k), ServiceName: id(k).slice(0, 8), Output: '', Notes: '' }],
  })) as HealthEntry);
  const strings = new Interner();
  gc();
  gc();
  const before = process.memoryUsage().heapUsed;
  const held = answers.map((e) => heldEntry(e, strings));
  gc();
  gc();
  const perEntry = (process.memoryUsage().heapUsed - before) / n;
  // Both still held: the answers' strings are what the entries share.
  assert.equal(held.length + answers.length, 2 * n);
  assert.ok(perEntry < 280, `${perEntry.toFixed(0)} bytes per held entry`);
});
