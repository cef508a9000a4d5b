// entriesFromDump / NodeDumpDecoder: the node dump (/v1/internal/ui/nodes) gives, for every wanted service, the same
// held entries as that service's own /v1/health/service answer (node checks and the instance's own
// checks, nothing of other instances on the node), whatever the strings hold; a malformed or
// misshapen dump is a CONSUL_SHAPE error that names where. Successive dumps decoded each against the one
// before give the same entries as decoding each alone, name every service whose entries changed, and
// parse only the nodes that changed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { entriesFromDump, NodeDumpDecoder } from '../../src/catalog/node-dump.js';
import { heldEntries } from '../../src/catalog/held-entry.js';
import { ErrorCode, isHapilotError } from '../../src/errors.js';
import type { HealthCheck, HealthEntry } from '../../src/consul/schemas.js';
import { collector } from '../helpers/gc.js';

interface Inst { node: string; id: string; service: string; tags: string[]; port: number; weight: number; status: HealthCheck['Status'] | undefined; maint: string | undefined }
interface Node { name: string; address: string; serf: HealthCheck['Status']; nodeMaint: string | undefined }

const check = (node: string, id: string, status: HealthCheck['Status'], serviceId = '', service = '', notes = ''): HealthCheck =>
  ({ Node: node, CheckID: id, Name: `check "${id}" ]},{`, Status: status, Notes: notes, Output: 'out ]}{["\\', ServiceID: serviceId, ServiceName: service, ServiceTags: [], Type: '', Definition: {}, CreateIndex: 3, ModifyIndex: 4 });

const service = (i: Inst) => ({ ID: i.id, Service: i.service, Tags: i.tags, Address: '', Meta: { k: '},{' }, Port: i.port, Weights: { Passing: i.weight, Warning: 1 }, EnableTagOverride: false, Proxy: { Mode: '', MeshGateway: {}, Expose: {} }, Connect: {}, PeerName: '', CreateIndex: 5, ModifyIndex: 6 });

const nodeChecks = (n: Node): HealthCheck[] => [
  ...(n.nodeMaint !== undefined ? [check(n.name, '_node_maintenance', 'critical', '', '', n.nodeMaint)] : []),
  check(n.name, 'serfHealth', n.serf),
];
const ownChecks = (i: Inst): HealthCheck[] => [
  ...(i.maint !== undefined ? [check(i.node, `_service_maintenance:${i.id}`, 'critical', i.id, i.service, i.maint)] : []),
  ...(i.status ? [check(i.node, `service:${i.id}`, i.status, i.id, i.service)] : []),
];
const byId = (a: { CheckID: string }, b: { CheckID: string }) => (a.CheckID < b.CheckID ? -1 : a.CheckID > b.CheckID ? 1 : 0);

/** The dump as Consul writes it: every node (with or without services), its services and all its checks. */
function dump(nodes: Node[], insts: Inst[]) {
  return nodes.map((n) => {
    const mine = insts.filter((i) => i.node === n.name);
    return {
      ID: `id-${n.name}`, Node: n.name, Address: n.address, TaggedAddresses: { lan: n.address }, Meta: { 'consul-network-segment': '' },
      Services: mine.map(service),
      Checks: [...nodeChecks(n), ...mine.flatMap(ownChecks)].sort(byId),
    };
  });
}

/** /v1/health/service/:name as Consul writes it. */
function healthService(nodes: Node[], insts: Inst[], name: string): HealthEntry[] {
  return insts.filter((i) => i.service === name).map((i) => {
    const n = nodes.find((x) => x.name === i.node)!;
    return { Node: { ID: `id-${n.name}`, Node: n.name, Address: n.address, Datacenter: 'dc1' }, Service: service(i), Checks: [...nodeChecks(n), ...ownChecks(i)].sort(byId) } as HealthEntry;
  });
}

test('property: each wanted service gets exactly what its own /v1/health/service answer holds', () => {
  const status = fc.constantFrom<HealthCheck['Status']>('passing', 'warning', 'critical');
  const nodeArb = fc.record({ address: fc.constantFrom('10.0.0.1', '10.0.0.2'), serf: status, nodeMaint: fc.option(fc.constantFrom('kernel', 'a "quoted" ]} reason'), { nil: undefined }) });
  const instArb = fc.record({
    node: fc.nat(4), service: fc.constantFrom('web', 'api', 'db', 'other'), tags: fc.subarray(['HAPROXY.ENABLE=true', 'v"1', '],{']),
    port: fc.integer({ min: 1, max: 65535 }), weight: fc.integer({ min: 0, max: 300 }),
    status: fc.option(status, { nil: undefined }), maint: fc.option(fc.constantFrom('deploy', '}{'), { nil: undefined }),
  });
  fc.assert(fc.property(fc.array(nodeArb, { minLength: 1, maxLength: 5 }), fc.array(instArb, { maxLength: 20 }), fc.boolean(), fc.subarray(['web', 'api', 'db']), (ns, is, pretty, wantedList) => {
    const nodes: Node[] = ns.map((n, k) => ({ ...n, name: `node-${k}` }));
    const insts: Inst[] = is.map((i, k) => ({ ...i, node: nodes[i.node % nodes.length]!.name, id: `${i.service}-${k}` }));
    const body = Buffer.from(JSON.stringify(dump(nodes, insts), null, pretty ? 2 : undefined));
    const wanted = new Set(wantedList);
    const got = entriesFromDump(body, wanted);
    for (const name of ['web', 'api', 'db', 'other']) {
      const expected = heldEntries(healthService(nodes, insts, name));
      if (!wanted.has(name)) assert.equal(got.has(name), false, `${name} is not wanted`);
      else assert.deepEqual(got.get(name) ?? [], expected, name);
    }
  }), { numRuns: 300 });
});

test('property: successive dumps decoded against each other equal each decoded alone; every changed service is named', () => {
  const status = fc.constantFrom<HealthCheck['Status']>('passing', 'critical');
  const instArb = fc.record({ node: fc.nat(5), service: fc.constantFrom('web', 'api', 'db'), port: fc.integer({ min: 1, max: 3 }), weight: fc.integer({ min: 1, max: 3 }), status: fc.option(status, { nil: undefined }) });
  const catalogArb = fc.record({ serf: fc.array(status, { minLength: 6, maxLength: 6 }), insts: fc.uniqueArray(instArb, { selector: (i) => `${i.node}/${i.service}`, maxLength: 12 }) });
  fc.assert(fc.property(fc.array(catalogArb, { minLength: 2, maxLength: 6 }), fc.boolean(), fc.array(fc.subarray(['web', 'api', 'db'], { minLength: 1 }), { minLength: 6, maxLength: 6 }), (catalogs, pretty, wantedSets) => {
    const decoder = new NodeDumpDecoder();
    let before = new Map<string, HealthEntry[]>();
    catalogs.forEach((c, k) => {
      const nodes: Node[] = c.serf.map((serf, n) => ({ name: `node-${n}`, address: '10.0.0.1', serf, nodeMaint: undefined }));
      const insts: Inst[] = c.insts.map((i) => ({ ...i, node: `node-${i.node}`, id: `${i.service}@${i.node}`, tags: [], maint: undefined }));
      const body = Buffer.from(JSON.stringify(dump(nodes, insts), null, pretty ? 2 : undefined));
      const wanted = new Set(wantedSets[k % wantedSets.length]);
      const r = decoder.read(body, wanted);
      const alone = entriesFromDump(body, wanted);
      assert.deepEqual(new Map(r.entries), alone);
      if (r.touched) {
        for (const name of wanted) {
          const changed = JSON.stringify(before.get(name) ?? []) !== JSON.stringify(alone.get(name) ?? []);
          if (changed) assert.ok(r.touched.has(name), `${name} changed and was not named`);
        }
      }
      before = alone;
    });
  }), { numRuns: 300 });
});

test('one instance re-registered with another weight among 1,000 nodes: that node is parsed, that service named', () => {
  const nodes: Node[] = Array.from({ length: 1000 }, (_, n) => ({ name: `node-${String(n).padStart(4, '0')}`, address: '10.0.0.1', serf: 'passing', nodeMaint: undefined }));
  const insts: Inst[] = nodes.map((n, k) => ({ node: n.name, id: `svc${k % 100}-${k}`, service: `svc${k % 100}`, tags: ['HAPROXY.ENABLE=true'], port: 80, weight: 1, status: 'passing', maint: undefined }));
  const wanted = new Set(insts.map((i) => i.service));
  const decoder = new NodeDumpDecoder();
  assert.equal(decoder.read(Buffer.from(JSON.stringify(dump(nodes, insts))), wanted).touched, undefined, 'the first read names no one: everything is new');
  insts[437] = { ...insts[437]!, weight: 9 };
  const body = Buffer.from(JSON.stringify(dump(nodes, insts)));
  const r = decoder.read(body, wanted);
  assert.deepEqual([...(r.touched ?? [])], ['svc37']);
  assert.ok(r.parsedBytes < (2 * body.length) / 1000, `parsed ${r.parsedBytes} of ${body.length} bytes: more than the node that changed`);
  assert.equal(r.entries.get('svc37')!.find((e) => e.Service.ID === 'svc37-437')!.Service.Weights?.Passing, 9);
  const same = decoder.read(Buffer.from(JSON.stringify(dump(nodes, insts))), wanted);
  assert.deepEqual([...(same.touched ?? ['?'])], [], 'an identical dump names no service');
  decoder.release();
  const again = decoder.read(body, wanted);
  assert.equal(again.touched, undefined, 'released: the next dump is decoded whole');
  assert.equal(again.parsedBytes, body.length);
  assert.deepEqual(new Map(again.entries), entriesFromDump(body, wanted));
});

test('an empty catalog and nodes without services give no entries', () => {
  assert.equal(entriesFromDump(Buffer.from('[]'), new Set(['web'])).size, 0);
  const nodes: Node[] = [{ name: 'n1', address: '10.0.0.1', serf: 'passing', nodeMaint: undefined }];
  assert.equal(entriesFromDump(Buffer.from(JSON.stringify(dump(nodes, []))), new Set(['web'])).size, 0);
});

test('a malformed or misshapen dump is a CONSUL_SHAPE error naming where', () => {
  const nodes: Node[] = [{ name: 'n1', address: '10.0.0.1', serf: 'passing', nodeMaint: undefined }, { name: 'n2', address: '10.0.0.2', serf: 'passing', nodeMaint: undefined }];
  const good = dump(nodes, [{ node: 'n2', id: 'web-1', service: 'web', tags: [], port: 80, weight: 1, status: 'passing', maint: undefined }]);
  const cases: Array<[string, string, RegExp]> = [
    ['not an array', '{"a":1}', /answered something other than an array/],
    ['truncated', JSON.stringify(good).slice(0, -40), /malformed JSON|something other than an array/],
    ['a node that is not JSON', `[${JSON.stringify(good[0])},{"Node":"n2",}]`, /malformed JSON in node 1/],
    ['Port a string', JSON.stringify([good[0], { ...good[1], Services: [{ ...good[1]!.Services[0], Port: '80' }] }]), /at 1\.Services\.0\.Port: expected number, received string/],
    ['a check without status', JSON.stringify([{ ...good[0], Checks: [{ CheckID: 'x' }] }]), /at 0\.Checks\.0\.Status/],
    ['Address missing', JSON.stringify([{ Node: 'n1', Services: [] }]), /at 0\.Address: expected string/],
  ];
  for (const [what, text, message] of cases) {
    assert.throws(() => entriesFromDump(Buffer.from(text), new Set(['web'])), (err: unknown) => {
      assert.ok(isHapilotError(err) && err.code === ErrorCode.CONSUL_SHAPE, `${what}: ${String(err)}`);
      assert.match(err.message, message, what);
      assert.match(err.message, /\/v1\/internal\/ui\/nodes/, what);
      return true;
    }, what);
  }
});

test('the instances of one service, each on another node, share one tags array and one name; another tag list gets its own array', () => {
  const nodes: Node[] = Array.from({ length: 4 }, (_, n) => ({ name: `node-${n}`, address: `10.0.0.${n}`, serf: 'passing', nodeMaint: undefined }));
  const tags = ['HAPROXY.ENABLE=true', 'HAPROXY.BACKEND.CHECK.INTER=30s'];
  const insts: Inst[] = nodes.flatMap((n, k) => ['web.service.example', 'api.service.example'].map((service) => ({ node: n.name, id: `${service}-${k}`, service, tags: service === 'api.service.example' && k === 3 ? [...tags, 'v2'] : tags, port: 80, weight: 1, status: 'passing' as const, maint: undefined })));
  const decoder = new NodeDumpDecoder();
  const first = decoder.read(Buffer.from(JSON.stringify(dump(nodes, insts))), new Set(['web.service.example', 'api.service.example']));
  const web = first.entries.get('web.service.example')!;
  const api = first.entries.get('api.service.example')!;
  assert.equal(web.length, 4);
  for (const e of [...web, ...api.slice(0, 3)]) assert.equal(e.Service.Tags, web[0]!.Service.Tags, `${e.Service.ID}: its own tags array`);
  for (const e of web) assert.ok(Object.is(e.Service.Service, web[0]!.Service.Service));
  assert.notEqual(api[3]!.Service.Tags, web[0]!.Service.Tags);
  assert.deepEqual(api[3]!.Service.Tags, [...tags, 'v2']);
  // A dump decoded against this one: the rebuilt service's entries share the arrays of the others.
  insts[2] = { ...insts[2]!, weight: 5 };
  const next = decoder.read(Buffer.from(JSON.stringify(dump(nodes, insts))), new Set(['web.service.example', 'api.service.example']));
  assert.deepEqual([...(next.touched ?? [])].sort(), ['api.service.example', 'web.service.example']);
  for (const e of next.entries.get('web.service.example')!) assert.equal(e.Service.Tags, web[0]!.Service.Tags);
});

test('a dump read whole: each node is trimmed to its entries before the next is parsed (the parsed nodes never exist all at once)', () => {
  const gc = collector();
  // Six nodes, each with 1,500 instances of services not wanted (parsed, then dropped) and one of `web`.
  const nodes: Node[] = Array.from({ length: 6 }, (_, n) => ({ name: `node-${n}`, address: `10.0.0.${n}`, serf: 'passing', nodeMaint: undefined }));
  const insts: Inst[] = nodes.flatMap((n, k) => Array.from({ length: 1501 }, (_, i) => ({ node: n.name, id: `${i ? 'other' : 'web'}-${k}-${i}`, service: i ? `other-${i}` : 'web', tags: ['HAPROXY.ENABLE=true'], port: 80, weight: 1, status: 'passing' as const, maint: undefined })));
  const body = Buffer.from(JSON.stringify(dump(nodes, insts)));
  // The heap at each node's parse, after a collection.
  const heap: number[] = [];
  const parse = JSON.parse;
  JSON.parse = (text: string, reviver?: Parameters<typeof JSON.parse>[1]) => {
    gc();
    heap.push(process.memoryUsage().heapUsed);
    return parse(text, reviver) as unknown;
  };
  try {
    assert.equal(new NodeDumpDecoder().read(body, new Set(['web'])).entries.get('web')?.length, 6);
  } finally {
    JSON.parse = parse;
  }
  assert.equal(heap.length, 6, 'one parse per node');
  // Kept until the end, the parsed nodes would add one node's objects (more than its bytes) per parse.
  const grown = heap[5]! - heap[1]!;
  assert.ok(grown < body.length / 6, `the heap grew by ${grown} bytes over four nodes of ${Math.round(body.length / 6)} bytes each`);
});

/**
 * A dump read as it arrives, cut into chunks at `cuts` (offsets), as NodeDumpStream receives it from
 * consul/raw-get.ts: each chunk in one scratch buffer, scribbled over once the stream has taken it.
 */
function streamed(body: Buffer, wanted: ReadonlySet<string>, cuts: number[]): Map<string, HealthEntry[]> {
  const decoder = new NodeDumpDecoder();
  const stream = decoder.stream(wanted);
  const scratch = Buffer.alloc(body.length + 1);
  let at = 0;
  for (const c of [...new Set(cuts.map((x) => x % (body.length + 1)))].sort((a, b) => a - b).concat(body.length)) {
    body.copy(scratch, 0, at, c);
    stream.accept(scratch.subarray(0, c - at));
    scratch.fill(0x7b, 0, c - at); // '{': what the stream kept of the chunk without copying would no longer parse
    at = c;
  }
  return new Map(decoder.readStream(stream).entries);
}

test('property: a dump read as it arrives, in chunks cut anywhere, gives the entries of the dump read whole', () => {
  const status = fc.constantFrom<HealthCheck['Status']>('passing', 'critical');
  const nodeArb = fc.record({ address: fc.constantFrom('10.0.0.1', '10.0.0.2'), serf: status, nodeMaint: fc.option(fc.constantFrom('kernel', 'a "quoted" ]} reason \\'), { nil: undefined }) });
  const instArb = fc.record({
    node: fc.nat(4), service: fc.constantFrom('web', 'api', 'db'), tags: fc.subarray(['HAPROXY.ENABLE=true', 'v"1', '],{', 'é\\']),
    port: fc.integer({ min: 1, max: 65535 }), weight: fc.integer({ min: 0, max: 300 }),
    status: fc.option(status, { nil: undefined }), maint: fc.option(fc.constantFrom('deploy', '}{'), { nil: undefined }),
  });
  fc.assert(fc.property(fc.array(nodeArb, { maxLength: 5 }), fc.array(instArb, { maxLength: 15 }), fc.boolean(), fc.array(fc.nat(), { maxLength: 12 }), (ns, is, pretty, cuts) => {
    const nodes: Node[] = ns.map((n, k) => ({ ...n, name: `node-${k}` }));
    const insts: Inst[] = nodes.length ? is.map((i, k) => ({ ...i, node: nodes[i.node % nodes.length]!.name, id: `${i.service}-${k}` })) : [];
    const body = Buffer.from(JSON.stringify(dump(nodes, insts), null, pretty ? 2 : undefined));
    const wanted = new Set(['web', 'api']);
    assert.deepEqual(streamed(body, wanted, cuts), entriesFromDump(body, wanted));
  }), { numRuns: 300 });
});

test('a malformed or misshapen dump read as it arrives is a CONSUL_SHAPE error naming where, as one read whole', () => {
  const nodes: Node[] = [{ name: 'n1', address: '10.0.0.1', serf: 'passing', nodeMaint: undefined }, { name: 'n2', address: '10.0.0.2', serf: 'passing', nodeMaint: undefined }];
  const good = dump(nodes, [{ node: 'n2', id: 'web-1', service: 'web', tags: [], port: 80, weight: 1, status: 'passing', maint: undefined }]);
  const cases: Array<[string, string, RegExp]> = [
    ['not an array', '{"a":1}', /answered something other than an array/],
    ['empty', '', /answered something other than an array/],
    ['truncated', JSON.stringify(good).slice(0, -40), /malformed JSON|something other than an array/],
    ['two nodes without a comma', `[${JSON.stringify(good[0])} ${JSON.stringify(good[1])}]`, /malformed JSON between nodes 0 and 1/],
    ['a node that is not JSON', `[${JSON.stringify(good[0])},{"Node":"n2",}]`, /malformed JSON in node 1/],
    ['a number among nodes', `[${JSON.stringify(good[0])},3]`, /malformed JSON between nodes 0 and 1/],
    ['Port a string', JSON.stringify([good[0], { ...good[1], Services: [{ ...good[1]!.Services[0], Port: '80' }] }]), /at 1\.Services\.0\.Port: expected number, received string/],
    ['text after the array', `${JSON.stringify(good)} x`, /something other than an array/],
  ];
  for (const [what, text, message] of cases) {
    for (const chunk of [1, 7, 1 << 20]) {
      const cuts = Array.from({ length: Math.ceil(text.length / chunk) }, (_, k) => k * chunk);
      assert.throws(() => streamed(Buffer.from(text), new Set(['web']), cuts), (err: unknown) => {
        assert.ok(isHapilotError(err) && err.code === ErrorCode.CONSUL_SHAPE, `${what}: ${String(err)}`);
        assert.match(err.message, message, what);
        return true;
      }, what);
    }
  }
});
