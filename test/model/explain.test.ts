// How each tag was understood: table tests of explainService against the model built from the same entries.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildModel } from '../../src/model/model.js';
import { TAGS } from '../../src/model/tags.js';
import { explainService, optionPath, type ServiceExplanation, type TagExplanation } from '../../src/model/explain.js';
import type { HealthEntry } from '../../src/consul/schemas.js';
import { ENABLE, entry, settings } from '../helpers/entries.js';

function explain(service: string, entries: HealthEntry[], env: Record<string, string> = {}): ServiceExplanation {
  const model = buildModel({ entries, settings: settings(env) });
  const e = explainService({ service, entries, model });
  assert.ok(e, `service ${service} explained`);
  return e;
}

const tagOf = (e: ServiceExplanation, instance: string, tag: string): TagExplanation => {
  const t = e.instances.find((i) => i.id === instance)?.tags.find((x) => x.tag === tag);
  assert.ok(t, `tag ${tag} of ${instance}`);
  return t;
};

test('optionPath: every option key of the TAGS table finds the field its setter writes (no second table to drift)', () => {
  const cases: Array<[string, string[] | undefined]> = [
    ['HAPROXY.ENABLE', undefined],
    ['HAPROXY.PROTOCOL', ['protocol']],
    ['HAPROXY.BACKEND.BALANCE', ['balance']],
    ['HAPROXY.BALANCE', ['balance']],
    ['HAPROXY.BACKEND.MAXCONN', ['maxconn']],
    ['HAPROXY.FRONTEND.HOST', ['host']],
    ['HAPROXY.FRONTEND.PORT', ['port']],
    ['HAPROXY.BACKEND.STICKY', ['sticky']],
    ['HAPROXY.BACKEND.CHECK.INTER', ['check', 'inter']],
    ['HAPROXY.BACKEND.CHECK.FALL', ['check', 'fall']],
    ['HAPROXY.BACKEND.CHECK.RISE', ['check', 'rise']],
    ['HAPROXY.BACKEND.HTTPCHK', ['httpchk']],
    ['HAPROXY.NO.SUCH', undefined],
  ];
  for (const [key, want] of cases) assert.deepEqual(optionPath(key), want, key);
  for (const key of Object.keys(TAGS)) {
    if (key !== 'HAPROXY.ENABLE') assert.ok(optionPath(key), `${key} sets a field`);
  }
});

test('good tags are used with their parsed values; keys without a tag show their defaults', () => {
  const e = explain('web', [
    entry('web', 'w1', [ENABLE, 'HAPROXY.BACKEND.MAXCONN=50', 'HAPROXY.FRONTEND.HOST=API.Example.Test', 'HAPROXY.BACKEND.CHECK.INTER=1s', 'other-tool']),
  ]);
  assert.equal(e.status, 'balanced');
  assert.equal(e.optionsFrom, 'w1');
  assert.equal(e.host, 'api.example.test');
  const inst = e.instances[0];
  assert.equal(inst?.status, 'server');
  assert.equal(inst?.server, 'node1:w1');
  assert.deepEqual(inst?.tags.map((t) => [t.tag, t.status, t.value]), [
    ['HAPROXY.BACKEND.CHECK.INTER=1s', 'used', '1s'],
    ['HAPROXY.BACKEND.MAXCONN=50', 'used', 50],
    ['HAPROXY.ENABLE=true', 'used', 'true'],
    ['HAPROXY.FRONTEND.HOST=API.Example.Test', 'used', 'api.example.test'],
  ], 'other tools\' tags are not listed');
  const defaults = Object.fromEntries(inst?.defaults.map((d) => [d.key, d.value]) ?? []);
  assert.deepEqual(defaults, {
    'HAPROXY.PROTOCOL': 'http',
    'HAPROXY.BACKEND.BALANCE': 'roundrobin',
    'HAPROXY.FRONTEND.PORT': null,
    'HAPROXY.BACKEND.STICKY': null,
    'HAPROXY.BACKEND.CHECK.FALL': 3,
    'HAPROXY.BACKEND.CHECK.RISE': 2,
    'HAPROXY.BACKEND.DEPOOL_THRESHOLD': null,
    'HAPROXY.BACKEND.HTTPCHK': null,
  });
});

test('the default host is <service>.<HAPROXY_DOM>', () => {
  const e = explain('Shop', [entry('Shop', 's1', [ENABLE])]);
  assert.equal(e.instances[0]?.defaults.find((d) => d.key === 'HAPROXY.FRONTEND.HOST')?.value, 'shop.example.test');
  assert.equal(e.host, 'shop.example.test');
});

test('a rejected tag: its reason, the instance quarantined (naming the tag), its other tags unused; the healthy instance still serves', () => {
  const e = explain('api', [
    entry('api', 'a1', [ENABLE, 'HAPROXY.BACKEND.MAXCONN=lots', 'HAPROXY.BACKEND.BALANCE=leastconn'], { node: 'n1' }),
    entry('api', 'a2', [ENABLE], { node: 'n2' }),
  ]);
  assert.equal(e.status, 'balanced');
  const a1 = e.instances.find((i) => i.id === 'a1');
  assert.equal(a1?.status, 'quarantined');
  assert.equal(a1?.quarantineTag, 'HAPROXY.BACKEND.MAXCONN=lots');
  assert.match(a1?.reason ?? '', /expected digits only/);
  const bad = tagOf(e, 'a1', 'HAPROXY.BACKEND.MAXCONN=lots');
  assert.equal(bad.status, 'rejected');
  assert.equal(bad.value, null);
  assert.match(bad.reason ?? '', /expected digits only/);
  const unused = tagOf(e, 'a1', 'HAPROXY.BACKEND.BALANCE=leastconn');
  assert.equal(unused.status, 'unused');
  assert.equal(unused.reason, 'the instance is quarantined');
  assert.equal(e.instances.find((i) => i.id === 'a2')?.status, 'server');
});

test('every problem of an instance is shown, not only the first one the model quarantines for', () => {
  const e = explain('api', [entry('api', 'a1', [ENABLE, 'HAPROXY.BACKEND.MAXCONN=0', 'HAPROXY.BACKEND.CHECK.FALL=x'])]);
  assert.equal(e.status, 'quarantined');
  assert.equal(e.reason, 'every enabled instance is quarantined');
  assert.deepEqual(e.instances[0]?.tags.filter((t) => t.status === 'rejected').map((t) => t.tag), ['HAPROXY.BACKEND.CHECK.FALL=x', 'HAPROXY.BACKEND.MAXCONN=0']);
});

test('tags of two instances disagree: the most recently modified instance wins, the other\'s tag is overridden', () => {
  const e = explain('web', [
    entry('web', 'old', [ENABLE, 'HAPROXY.BACKEND.BALANCE=roundrobin'], { node: 'n1', modifyIndex: 5 }),
    entry('web', 'new', [ENABLE, 'HAPROXY.BACKEND.BALANCE=leastconn'], { node: 'n2', modifyIndex: 9 }),
  ]);
  assert.equal(e.optionsFrom, 'new');
  assert.equal(tagOf(e, 'new', 'HAPROXY.BACKEND.BALANCE=leastconn').status, 'used');
  const old = tagOf(e, 'old', 'HAPROXY.BACKEND.BALANCE=roundrobin');
  assert.equal(old.status, 'overridden');
  assert.equal(old.effective, 'leastconn');
  assert.match(old.reason ?? '', /instance new \(most recently modified\)/);
});

test('a default overridden by another instance\'s tag says what the service uses', () => {
  const e = explain('web', [
    entry('web', 'a', [ENABLE], { node: 'n1', modifyIndex: 5 }),
    entry('web', 'b', [ENABLE, 'HAPROXY.BACKEND.CHECK.RISE=5'], { node: 'n2', modifyIndex: 9 }),
  ]);
  const d = e.instances.find((i) => i.id === 'a')?.defaults.find((x) => x.key === 'HAPROXY.BACKEND.CHECK.RISE');
  assert.deepEqual(d, { key: 'HAPROXY.BACKEND.CHECK.RISE', value: 2, effective: 5 });
});

test('unknown keys are ignored with advice; deprecated aliases say what to write', () => {
  const e = explain('legacy', [entry('legacy', 'l1', ['haproxy_enable', 'HAPROXY.BALANCE=source', 'HAPROXY.BACKEND.BALANCES=source'])]);
  const unknown = tagOf(e, 'l1', 'HAPROXY.BACKEND.BALANCES=source');
  assert.equal(unknown.status, 'ignored');
  assert.match(unknown.reason ?? '', /HAPROXY\.BACKEND\.BALANCE/);
  const alias = tagOf(e, 'l1', 'HAPROXY.BALANCE=source');
  assert.equal(alias.status, 'used');
  assert.equal(alias.key, 'HAPROXY.BACKEND.BALANCE');
  assert.equal(alias.deprecatedFor, 'HAPROXY.BACKEND.BALANCE=source');
  assert.equal(tagOf(e, 'l1', 'haproxy_enable').deprecatedFor, 'HAPROXY.ENABLE=true');
  assert.equal(e.instances[0]?.defaults.some((d) => d.key === 'HAPROXY.BACKEND.BALANCE'), false, 'an alias counts as setting its key');
});

test('a TCP service without a port: the consistency error lands on the protocol tag', () => {
  const e = explain('db', [entry('db', 'd1', [ENABLE, 'HAPROXY.PROTOCOL=tcp'])]);
  const t = tagOf(e, 'd1', 'HAPROXY.PROTOCOL=tcp');
  assert.equal(t.status, 'rejected');
  assert.match(t.reason ?? '', /needs its own port/);
  assert.equal(e.instances[0]?.status, 'quarantined');
});

test('a host given in upper case on a TCP service: the error (which names the lower-cased host) lands on the tag', () => {
  const e = explain('db', [entry('db', 'd1', [ENABLE, 'HAPROXY.PROTOCOL=tcp', 'HAPROXY.FRONTEND.PORT=9000', 'HAPROXY.FRONTEND.HOST=DB.Example.Test'])]);
  const t = tagOf(e, 'd1', 'HAPROXY.FRONTEND.HOST=DB.Example.Test');
  assert.equal(t.status, 'rejected');
  assert.match(t.reason ?? '', /host routing needs HAPROXY.PROTOCOL=http/);
});

test('instance states: unhealthy, not enabled; the service left out when another service owns its host', () => {
  const e = explain('web', [
    entry('web', 'up', [ENABLE], { node: 'n1' }),
    entry('web', 'down', [ENABLE], { node: 'n2', status: 'critical' }),
    entry('web', 'warn', [ENABLE], { node: 'n3', status: 'warning' }),
    entry('web', 'off', ['HAPROXY.ENABLE=false'], { node: 'n4' }),
  ]);
  const state = Object.fromEntries(e.instances.map((i) => [i.id, i.status]));
  assert.deepEqual(state, { down: 'unhealthy', off: 'not-enabled', up: 'server', warn: 'unhealthy' });
  assert.match(e.instances.find((i) => i.id === 'warn')?.reason ?? '', /HAPILOT_INCLUDE_WARNING/);
  assert.equal(tagOf(e, 'down', ENABLE).status, 'used');

  const claimed = explain('zeta', [
    entry('alpha', 'a1', [ENABLE, 'HAPROXY.FRONTEND.HOST=shared.example.test']),
    entry('zeta', 'z1', [ENABLE, 'HAPROXY.FRONTEND.HOST=shared.example.test']),
  ]);
  assert.equal(claimed.status, 'quarantined');
  assert.match(claimed.reason ?? '', /already routed to service alpha/);
  assert.equal(claimed.instances[0]?.status, 'left-out');
  assert.equal(tagOf(claimed, 'z1', 'HAPROXY.FRONTEND.HOST=shared.example.test').status, 'unused');
});

test('a service nobody enabled, and one not in the catalog', () => {
  const entries = [entry('web', 'w1', ['HAPROXY.BACKEND.BALANCE=leastconn'])];
  const e = explain('web', entries);
  assert.equal(e.status, 'not-enabled');
  assert.equal(e.instances[0]?.defaults.length, 0);
  assert.equal(explainService({ service: 'nope', entries, model: buildModel({ entries, settings: settings() }) }), undefined);
});
