// Table tests of the pool rules: records → admin state / weight / config membership; Consul
// maintenance; unreadable records; docker-haproxy weights; the depool threshold.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyPoolStates, decisionKey, describeOut, thresholdRefusal, type ApplyPoolInput, type ServerDecision } from '../../src/pool/rules.js';
import { ingestPoolKv, type KvPair } from '../../src/pool/table.js';
import type { PoolInstance } from '../../src/pool/instances.js';
import { ingestDockerWeights } from '../../src/pool/docker-weights.js';
import { applyThreshold, minInRotation } from '../../src/pool/threshold.js';

const P = 'hapilot/pool';

function inst(id: string, o: Partial<PoolInstance> = {}): PoolInstance {
  const node = o.node ?? `n-${id}`;
  return { backend: 'web', server: `${node}:${id}`, service: 'web', node, serviceId: id, address: '10.0.0.1', port: 8000, weight: 1, health: 'passing', maintenance: undefined, ...o };
}

function kv(entries: Record<string, string | null>, index = 5): KvPair[] {
  return Object.entries(entries).map(([k, value]) => ({ key: `${P}/${k}`, value, modifyIndex: index }));
}

function run(instances: PoolInstance[], records: Record<string, string | null> = {}, extra: Partial<ApplyPoolInput> = {}) {
  const table = ingestPoolKv({ prefix: P, pairs: kv(records) });
  return applyPoolStates({ instances, table, defaultThreshold: 0, ...extra });
}

function byId(servers: ServerDecision[], id: string): ServerDecision {
  const s = servers.find((x) => x.serviceId === id);
  assert.ok(s, `no decision for ${id}`);
  return s;
}

test('each pool state maps to its HAProxy admin state and config membership', () => {
  const cases: Array<{ value: string | null; admin: string; inConfig: boolean; inRotation: boolean; out: string | undefined }> = [
    { value: '{"state":"yes"}', admin: 'ready', inConfig: true, inRotation: true, out: undefined },
    { value: '{"state":"no"}', admin: 'maint', inConfig: true, inRotation: false, out: 'depooled' },
    { value: '{"state":"drain"}', admin: 'drain', inConfig: true, inRotation: false, out: 'draining' },
    { value: '{"state":"inactive"}', admin: 'maint', inConfig: false, inRotation: false, out: 'inactive' },
  ];
  for (const c of cases) {
    const d = byId(run([inst('a'), inst('b')], { 'web/a': c.value }).servers, 'a');
    assert.equal(d.admin, c.admin, `${c.value}: admin`);
    assert.equal(d.inConfig, c.inConfig, `${c.value}: inConfig`);
    assert.equal(d.inRotation, c.inRotation, `${c.value}: inRotation`);
    assert.equal(d.out, c.out, `${c.value}: out`);
    assert.equal(d.poolSource, 'record');
  }
  const none = byId(run([inst('a')]).servers, 'a');
  assert.deepEqual([none.admin, none.pool, none.poolSource, none.inRotation], ['ready', 'yes', 'default', true]);
});

test('weight: record over docker-haproxy key over Consul weight; docker default 100 behind the flag', () => {
  const instances = [inst('a', { weight: 7 }), inst('b', { weight: 7, address: '10.0.0.2' }), inst('c', { weight: 7, address: '10.0.0.3' })];
  const records = { 'web/a': '{"state":"yes","weight":42}' };
  const off = run(instances, records);
  assert.deepEqual(off.servers.map((s) => s.weight), [42, 7, 7]);
  const dockerWeights = ingestDockerWeights({ pairs: [{ key: 'app/web/10.0.0.2/8000', value: '30', modifyIndex: 1 }, { key: 'app/web/10.0.0.1/8000', value: '50', modifyIndex: 1 }] });
  const on = run(instances, records, { dockerWeights });
  assert.deepEqual(on.servers.map((s) => s.weight), [42, 30, 100]);
});

test('a weight-0 yes server is out of rotation and says why', () => {
  const d = byId(run([inst('a'), inst('b')], { 'web/a': '{"state":"yes","weight":0}' }).servers, 'a');
  assert.equal(d.admin, 'ready');
  assert.equal(d.inRotation, false);
  assert.equal(d.out, 'weight-0');
});

test('Consul maintenance is honoured as no and says where to lift it', () => {
  const svc = byId(run([inst('a', { maintenance: { scope: 'service', reason: 'disk swap' }, health: 'passing' }), inst('b')]).servers, 'a');
  assert.equal(svc.admin, 'maint');
  assert.equal(svc.out, 'consul-maintenance');
  assert.match(svc.outReason ?? '', /^maintenance in Consul \(service a: disk swap\); lift it with `consul maint -disable -service a` on node n-a$/);
  // Even with a record saying yes: Consul maintenance wins.
  const node = byId(run([inst('a', { maintenance: { scope: 'node', reason: '' } }), inst('b')], { 'web/a': '{"state":"yes"}' }).servers, 'a');
  assert.equal(node.admin, 'maint');
  assert.match(node.outReason ?? '', /maintenance in Consul \(node n-a\); lift it with `consul maint -disable` on node n-a/);
});

test('failing Consul checks: in the config, in maintenance; warning only with includeWarning', () => {
  const r = run([inst('a', { health: 'critical' }), inst('b', { health: 'warning' }), inst('c')]);
  assert.deepEqual(r.servers.map((s) => [s.serviceId, s.admin, s.inConfig, s.out]), [['a', 'maint', true, 'unhealthy'], ['b', 'maint', true, 'unhealthy'], ['c', 'ready', true, undefined]]);
  const w = run([inst('b', { health: 'warning' }), inst('c')], {}, { includeWarning: true });
  assert.equal(byId(w.servers, 'b').admin, 'ready');
});

test('a node-qualified key wins over the plain one, for its node only', () => {
  const instances = [inst('web', { node: 'n1', server: 'n1:web' }), inst('web', { node: 'n2', server: 'n2:web' })];
  const r = run(instances, { 'web/web': '{"state":"drain"}', 'web/web@n2': '{"state":"no"}' });
  assert.deepEqual(r.servers.map((s) => [s.server, s.admin]), [['n1:web', 'drain'], ['n2:web', 'maint']]);
});

test('invalid KV values leave that instance as it was, are reported with key and reason, and never stop the rest', () => {
  const instances = [inst('a'), inst('b'), inst('c'), inst('d')];
  const first = ingestPoolKv({ prefix: P, pairs: kv({ 'web/a': '{"state":"no"}', 'web/b': '{"state":"drain","weight":5}' }) });
  const before = applyPoolStates({ instances, table: first, defaultThreshold: 0 });
  // c has no history (as at startup): only HAProxy's current state tells how it was.
  const previous = new Map(before.servers.filter((s) => s.serviceId !== 'c').map((s) => [decisionKey(s.backend, s.server), s]));
  const bad = { 'web/a': 'not json', 'web/b': '{"state":"yes","weight":300}', 'web/c': '{"state":"maybe"}', 'web/d': '{"state":"no"}', oops: '{"state":"no"}' };
  const table = ingestPoolKv({ prefix: P, pairs: kv(bad), previous: first });
  // The engine seeds `current` from HAProxy at startup: c is in drain there.
  const r = applyPoolStates({ instances, table, defaultThreshold: 0, previous, current: new Map([['web/n-c:c', 'drain']]) });
  assert.equal(byId(r.servers, 'a').admin, 'maint', 'a keeps its last valid record (no)');
  assert.equal(byId(r.servers, 'a').poolSource, 'record');
  assert.deepEqual([byId(r.servers, 'b').admin, byId(r.servers, 'b').weight], ['drain', 5], 'b keeps drain and weight 5, not 300');
  assert.equal(byId(r.servers, 'c').admin, 'drain', 'c had no valid record: stays as HAProxy has it');
  assert.equal(byId(r.servers, 'c').poolSource, 'unreadable');
  assert.equal(byId(r.servers, 'd').admin, 'maint', 'a valid record next to invalid ones is applied');
  const reasons = new Map(r.invalid.map((i) => [i.key, i.reason]));
  assert.match(reasons.get(`${P}/web/a`) ?? '', /^not JSON \("not json"\).*\(the last valid record still applies\)$/);
  assert.match(reasons.get(`${P}/web/b`) ?? '', /at weight: Too big: expected number to be <=256/);
  assert.match(reasons.get(`${P}/web/c`) ?? '', /at state: Invalid option/);
  assert.match(reasons.get(`${P}/oops`) ?? '', /key is not a pool key/);
  assert.equal(r.invalid.length, 4);
});

test('an unreadable record with no history and no HAProxy state defaults to yes', () => {
  const d = byId(run([inst('a')], { 'web/a': '{' }).servers, 'a');
  assert.deepEqual([d.admin, d.poolSource], ['ready', 'unreadable']);
});

test('minInRotation is ceil(threshold × counted) without float noise', () => {
  const cases: Array<[number, number, number]> = [[4, 0.5, 2], [3, 0.5, 2], [1, 0.5, 1], [10, 0.7, 7], [10, 0.3, 3], [5, 0, 0], [5, 1, 5], [0, 0.5, 0]];
  for (const [n, t, want] of cases) assert.equal(minInRotation(n, t), want, `${n} × ${t}`);
});

test('threshold: servers kept past it, by the documented preference order', () => {
  const m = (server: string, o: Partial<{ wantIn: boolean; wasIn: boolean; healthy: boolean; outRank: number; keepable: boolean }> = {}) =>
    ({ server, wantIn: false, keepable: true, wasIn: false, healthy: true, outRank: 1, ...o });
  const cases: Array<{ name: string; members: ReturnType<typeof m>[]; t: number; kept: string[] }> = [
    { name: 'enough in rotation: nothing kept', members: [m('a', { wantIn: true }), m('b', { wantIn: true }), m('c'), m('d')], t: 0.5, kept: [] },
    { name: 'previously in rotation first', members: [m('a', { wantIn: true }), m('b'), m('c', { wasIn: true }), m('d')], t: 0.5, kept: ['c'] },
    { name: 'healthy before unhealthy', members: [m('a', { wantIn: true }), m('b', { healthy: false, outRank: 3 }), m('c', { outRank: 1 })], t: 0.6, kept: ['c'] },
    { name: 'drain before no before maintenance', members: [m('a', { outRank: 2 }), m('b', { outRank: 1 }), m('c', { outRank: 0 })], t: 0.5, kept: ['c', 'b'] },
    { name: 'weight 0 cannot be kept', members: [m('a', { keepable: false }), m('b', { wantIn: true })], t: 1, kept: [] },
    { name: 'by name last', members: [m('b'), m('a'), m('c', { wantIn: true })], t: 0.6, kept: ['a'] },
  ];
  for (const c of cases) assert.deepEqual(applyThreshold(c.members, c.t).kept, c.kept, c.name);
});

test('threshold holds when all but one instance fail their Consul checks, and reports who is kept', () => {
  const instances = [inst('a', { health: 'critical' }), inst('b', { health: 'critical' }), inst('c', { health: 'critical' }), inst('d')];
  const r = run(instances, {}, { defaultThreshold: 0.5 });
  const b = r.backends[0];
  assert.ok(b);
  assert.deepEqual([b.counted, b.wantIn, b.minInRotation, b.inRotation], [4, 1, 2, 2]);
  assert.deepEqual(b.kept, ['n-a:a']);
  const a = byId(r.servers, 'a');
  assert.deepEqual([a.admin, a.keptByThreshold, a.inRotation, a.out], ['ready', true, true, 'unhealthy']);
  assert.equal(byId(r.servers, 'b').admin, 'maint');
});

test('threshold: per-backend value, inactive servers not counted, stickiness through previous decisions', () => {
  const instances = [inst('a'), inst('b'), inst('c'), inst('d')];
  const thresholds = new Map([['web', 0.75]]);
  const r1 = run(instances, { 'web/a': '{"state":"no"}', 'web/d': '{"state":"inactive"}' }, { thresholds });
  // 3 counted (d inactive), min ceil(2.25)=3: a is kept despite no.
  assert.deepEqual(r1.backends[0]?.kept, ['n-a:a']);
  const previous = new Map(r1.servers.map((s) => [decisionKey(s.backend, s.server), s]));
  // Now b is depooled too: a was in rotation (kept), b was in rotation: both wasIn; one more needed each
  const r2 = run(instances, { 'web/a': '{"state":"no"}', 'web/b': '{"state":"no"}', 'web/d': '{"state":"inactive"}' }, { thresholds, previous });
  assert.deepEqual(r2.backends[0]?.kept, ['n-a:a', 'n-b:b']);
});

test('threshold refusal names the backend, how many are out and why', () => {
  const instances = [inst('a', { health: 'critical' }), inst('b'), inst('c'), inst('d')];
  const before = run(instances, { 'web/b': '{"state":"no"}' }, { defaultThreshold: 0.5 });
  const after = run(instances, { 'web/b': '{"state":"no"}', 'web/c': '{"state":"no"}' }, { defaultThreshold: 0.5 });
  const msg = thresholdRefusal(before.backends[0]!, after.backends[0]!, describeOut(after.servers));
  assert.equal(msg, 'backend web would have 1 of 4 servers in rotation (3 out: 2 depooled, 1 failing Consul checks), below its depool threshold 0.5 (at least 2)');
  // Pooling is never refused, and neither is a depool that stays above the threshold.
  assert.equal(thresholdRefusal(after.backends[0]!, before.backends[0]!, ''), undefined);
  const ok = run(instances, {}, { defaultThreshold: 0.5 });
  assert.equal(thresholdRefusal(ok.backends[0]!, before.backends[0]!, ''), undefined);
});
