// The hand-written shape checks of the large Consul answers (health entries, the checks list) give
// the verdicts of the zod schemas that define those shapes, with a one-line message naming where.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HealthChecks, HealthEntries, checkHealthChecks, checkHealthEntries } from '../../src/consul/schemas.js';

const check = { Node: 'n1', CheckID: 'service:a', Name: 'x', Status: 'passing', ServiceID: 'a', ServiceName: 'a', Notes: '', Output: '', ServiceTags: [], Definition: {}, CreateIndex: 1, ModifyIndex: 2 };
const entry = {
  Node: { ID: '', Node: 'n1', Address: '10.0.0.1', Datacenter: 'dc1', TaggedAddresses: null, Meta: null },
  Service: { ID: 'a', Service: 'a', Tags: ['HAPROXY.ENABLE=true'], Address: '', Port: 80, Weights: { Passing: 1, Warning: 1 }, Meta: null, CreateIndex: 1, ModifyIndex: 2 },
  Checks: [check],
};
const set = (o: unknown, path: string[], v: unknown): unknown => {
  const copy = structuredClone(o) as Record<string, unknown>;
  let cur = copy;
  for (const k of path.slice(0, -1)) cur = cur[k] as Record<string, unknown>;
  const last = path[path.length - 1] as string;
  if (v === undefined) delete cur[last]; else cur[last] = v;
  return copy;
};

test('health entries: the hand check and zod agree, and the message names where', () => {
  const cases: Array<[string, unknown]> = [
    ['good', [entry]],
    ['empty', []],
    ['not an array', { a: 1 }],
    ['no Node', [set(entry, ['Node'], undefined)]],
    ['Node.Node number', [set(entry, ['Node', 'Node'], 3)]],
    ['no Node.Address', [set(entry, ['Node', 'Address'], undefined)]],
    ['Node.ID null', [set(entry, ['Node', 'ID'], null)]],
    ['Service.ID missing', [set(entry, ['Service', 'ID'], undefined)]],
    ['Tags null', [set(entry, ['Service', 'Tags'], null)]],
    ['Tags with a number', [set(entry, ['Service', 'Tags'], ['a', 5])]],
    ['Port string', [set(entry, ['Service', 'Port'], '80')]],
    ['Port 1.5', [set(entry, ['Service', 'Port'], 1.5)]],
    ['Weights null', [set(entry, ['Service', 'Weights'], null)]],
    ['Weights negative', [set(entry, ['Service', 'Weights'], { Passing: -1, Warning: 1 })]],
    ['Weights missing Warning', [set(entry, ['Service', 'Weights'], { Passing: 1 })]],
    ['ModifyIndex string', [set(entry, ['Service', 'ModifyIndex'], '2')]],
    ['Checks null', [set(entry, ['Checks'], null)]],
    ['Check status unknown', [set(entry, ['Checks'], [{ ...check, Status: 'dead' }])]],
    ['Check without CheckID', [set(entry, ['Checks'], [{ ...check, CheckID: undefined }])]],
    ['Check Notes number', [set(entry, ['Checks'], [{ ...check, Notes: 5 }])]],
  ];
  for (const [name, body] of cases) {
    const zod = HealthEntries.safeParse(body);
    const mine = checkHealthEntries(body);
    assert.equal(mine.ok, zod.success, `${name}: ${mine.ok ? 'accepted' : mine.message}`);
    if (!mine.ok && !zod.success) {
      assert.match(mine.message, /^at [^:]+: \S/, name);
      assert.equal(mine.message.split(':')[0], `at ${zod.error.issues[0]?.path.join('.') || '(top level)'}`, name);
    }
  }
});

test('checks list: the hand check and zod agree', () => {
  const cases: Array<[string, unknown]> = [
    ['good', [check, { CheckID: 'serfHealth', Status: 'critical' }]],
    ['null', null],
    ['status', [{ ...check, Status: 'PASSING' }]],
    ['ServiceName number', [{ ...check, ServiceName: 1 }]],
    ['element not an object', [check, 'x']],
  ];
  for (const [name, body] of cases) {
    const zod = HealthChecks.safeParse(body);
    const mine = checkHealthChecks(body);
    assert.equal(mine.ok, zod.success, `${name}: ${mine.ok ? 'accepted' : mine.message}`);
    if (!mine.ok && !zod.success) assert.equal(mine.message.split(':')[0], `at ${zod.error.issues[0]?.path.join('.') || '(top level)'}`, name);
  }
});
