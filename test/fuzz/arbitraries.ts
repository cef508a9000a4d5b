// Generators of hostile catalog input for the fuzz properties: tags (known keys with good and bad
// values, unknown keys, look-alikes), names (service, node, instance), addresses, ports, and whole
// catalogs in which services share names, hosts and ports so that the conflict rules are exercised.
import fc from 'fast-check';
import { TAGS } from '../../src/model/tags.js';
import type { HealthEntry } from '../../src/consul/schemas.js';

/** Characters that would break a config line or a parser, and Unicode that looks like ASCII. */
export const INJECT = ['\n', '\r\n', '\r', ' ', '\t', '#', '"', "'", '\\', '\0', '\u2028', '\u0085', '\u00a0', '\ufeff', '\u200b',
  '\u0430' /* Cyrillic a */, '\u041d' /* Cyrillic EN */, '\uff21' /* full-width A */, '\u212a' /* Kelvin sign */, '{{', '}}', '%[src]', '${X}', '/', ':', ';', '\u{1F600}'];
const TAIL = ['', 'server evil 6.6.6.6:80', '\nbackend evil', ' bind :80', 'x', '\n    acl a always_true'];

const hostileText = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 24 }),
  fc.string({ unit: 'grapheme', maxLength: 12 }),
  fc.constantFrom(...INJECT),
  fc.tuple(fc.string({ maxLength: 6 }), fc.constantFrom(...INJECT), fc.constantFrom(...TAIL)).map((p) => p.join('')),
);

/** Values that each key accepts, so that valid tags are common enough to reach the renderer. */
const GOOD: Record<string, string[]> = {
  'HAPROXY.ENABLE': ['true', 'false'],
  'HAPROXY.PROTOCOL': ['http', 'tcp'],
  'HAPROXY.BACKEND.BALANCE': ['roundrobin', 'leastconn', 'source', 'first', 'static-rr', 'random', 'uri', 'hdr(X-Tenant)'],
  'HAPROXY.BACKEND.MAXCONN': ['1', '250', '1000000'],
  'HAPROXY.FRONTEND.HOST': ['api.example.com', 'A.Example.test', 'x_y.test'],
  'HAPROXY.FRONTEND.PORT': ['9000', '9001', '8080', '8404', '1', '65535'],
  'HAPROXY.BACKEND.STICKY': ['src'],
  'HAPROXY.BACKEND.CHECK.INTER': ['100ms', '1s', '1h'],
  'HAPROXY.BACKEND.CHECK.FALL': ['1', '100'],
  'HAPROXY.BACKEND.CHECK.RISE': ['1', '100'],
  'HAPROXY.BACKEND.HTTPCHK': ['/health', '/h?a=1&b=2'],
  'HAPROXY.BALANCE': ['leastconn'],
  'HAPROXY.MAXCONN': ['10'],
};

const KEYS = Object.keys(TAGS);
const goodValue = (key: string) => fc.constantFrom(...(GOOD[key] ?? ['x']));

/** A value for `key`: mostly valid ones, else hostile text alone or appended to a valid one. */
const valueFor = (key: string) => fc.oneof(
  { weight: 3, arbitrary: goodValue(key) },
  { weight: 1, arbitrary: hostileText },
  { weight: 3, arbitrary: fc.tuple(goodValue(key), fc.constantFrom(...INJECT), fc.constantFrom(...TAIL)).map((p) => p.join('')) },
  { weight: 1, arbitrary: fc.tuple(goodValue(key), hostileText).map(([a, b]) => a + b) },
  { weight: 1, arbitrary: fc.string({ maxLength: 4 }).map((x) => x.repeat(4096)) },
);

export const tag: fc.Arbitrary<string> = fc.oneof(
  { weight: 12, arbitrary: fc.constantFrom(...KEYS).chain((key) => valueFor(key).map((v) => `${key}=${v}`)) },
  { weight: 1, arbitrary: fc.constantFrom(...KEYS) }, // no `=`
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom(...KEYS), fc.constantFrom('X', 'S', '', '.X'), hostileText).map(([k, x, v]) => `${k}${x}=${v}`) }, // unknown, near
  { weight: 1, arbitrary: fc.tuple(hostileText, hostileText).map(([k, v]) => `HAPROXY.${k}=${v}`) }, // unknown, anything
  { weight: 1, arbitrary: fc.constantFrom('haproxy.protocol=tcp', '\u041dAPROXY.ENABLE=true', 'HAPROXY.\u0415NABLE=true', '\uff28APROXY.ENABLE=true', 'haproxy_enable', 'haproxy.enable=true', 'HAPROXY.BALANCE=first') },
  { weight: 1, arbitrary: hostileText }, // another tool's tag, or garbage
);

const ENABLE = 'HAPROXY.ENABLE=true';
/** An instance's tags: usually enabled, then a few more. */
export const tags: fc.Arbitrary<string[]> = fc.tuple(fc.oneof({ weight: 5, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }), fc.array(tag, { maxLength: 4 }))
  .map(([enable, rest]) => (enable ? [ENABLE, ...rest] : rest));

/** Service, node and instance names: plain ones (so that services share names), odd ones, hostile ones. */
export const name: fc.Arbitrary<string> = fc.oneof(
  { weight: 5, arbitrary: fc.constantFrom('web', 'api', 'Web', 'db', 'a.b', 'x-1', 'svc_2') },
  { weight: 1, arbitrary: fc.constantFrom('hapilot_stats', 'hapilot_no_route', 'we b', '_x', 'a/b', 'ab:c', '__proto__', 'constructor', 'toString', '') },
  { weight: 2, arbitrary: hostileText },
  { weight: 1, arbitrary: fc.string({ maxLength: 3 }).map((x) => `s${x.repeat(100)}`) },
);

export const address: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.ipV4() },
  { weight: 2, arbitrary: fc.ipV6() },
  { weight: 1, arbitrary: fc.constantFrom('', '0.0.0.0', '::', '::ffff:10.0.0.1', 'fe80::1%lo', '999.1.1.1', '10.0.0.1:80', '224.0.0.1', 'app-1.internal', 'a b', '[::1]', 'localhost') },
  { weight: 1, arbitrary: hostileText },
);

/** Addresses HAProxy can load without name resolution (for configs checked by the real `haproxy -c`). */
export const ipAddress: fc.Arbitrary<string> = fc.oneof(fc.ipV4(), fc.ipV6(), fc.constantFrom('0.0.0.0', '::', 'fe80::1%lo', '10.0.0.1:80', '', '999.1.1.1'));

export const port: fc.Arbitrary<number> = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: 1, max: 65535 }) },
  { weight: 1, arbitrary: fc.constantFrom(0, -1, 65536, 70000, 2 ** 31) },
);

const status = fc.constantFrom('passing', 'passing', 'passing', 'warning', 'critical', 'maintenance');

export interface CatalogOptions {
  /** The address generator (default: any, host names included). */
  addresses?: fc.Arbitrary<string>;
  maxEntries?: number;
}

/** A whole catalog: entries drawn over a small pool of service names, so instances and claims collide. */
export function catalog(o: CatalogOptions = {}): fc.Arbitrary<HealthEntry[]> {
  const addr = o.addresses ?? address;
  return fc.uniqueArray(name, { minLength: 1, maxLength: 4 }).chain((services) => fc.array(
    fc.record({
      service: fc.constantFrom(...services),
      id: fc.oneof(fc.constantFrom('i1', 'i2', 'i3'), name),
      node: fc.oneof(fc.constantFrom('n1', 'n2'), name),
      nodeAddress: addr,
      address: fc.oneof(fc.constant(''), addr),
      port,
      tags,
      status,
      nodeStatus: status,
      weights: fc.option(fc.record({ Passing: fc.nat({ max: 100_000 }), Warning: fc.nat({ max: 1000 }) }), { nil: undefined }),
      modifyIndex: fc.nat({ max: 50 }),
    }).map((e): HealthEntry => ({
      Node: { ID: '', Node: e.node, Address: e.nodeAddress, Datacenter: 'dc1' },
      Service: { ID: e.id, Service: e.service, Tags: e.tags, Address: e.address, Port: e.port, Weights: e.weights ?? null, ModifyIndex: e.modifyIndex, CreateIndex: 1 },
      Checks: [
        { Node: e.node, CheckID: 'serfHealth', Name: 'Serf Health Status', Status: e.nodeStatus, ServiceID: '', ServiceName: '' },
        { Node: e.node, CheckID: `service:${e.id}`, Name: 'check', Status: e.status, ServiceID: e.id, ServiceName: e.service },
      ],
    })),
    { maxLength: o.maxEntries ?? 10 },
  ));
}

/** Text a catalog file might hold: a valid catalog, cut short or with a byte changed, or any JSON at all. */
export const catalogText: fc.Arbitrary<string> = fc.oneof(
  catalog().map((c) => JSON.stringify(c)),
  fc.tuple(catalog({ maxEntries: 3 }), fc.nat()).map(([c, n]) => {
    const t = JSON.stringify(c);
    return t.slice(0, n % (t.length + 1));
  }),
  fc.tuple(catalog({ maxEntries: 3 }), fc.nat(), fc.string({ unit: 'binary', minLength: 1, maxLength: 3 })).map(([c, n, s]) => {
    const t = JSON.stringify(c, null, 1);
    const at = n % (t.length + 1);
    return t.slice(0, at) + s + t.slice(at + 1);
  }),
  fc.json({ depthSize: 'small' }),
  fc.jsonValue().map((v) => JSON.stringify([v])),
  fc.array(fc.record({ Node: fc.jsonValue(), Service: fc.jsonValue(), Checks: fc.jsonValue() }), { maxLength: 3 }).map((v) => JSON.stringify(v)),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.constantFrom('', ' ', '\ufeff[]', '[', '[{', 'null', '{}', '[[[[[[[[[[', '[1,]', `${'['.repeat(5000)}${']'.repeat(5000)}`),
);

/** Environment values for the settings: valid, out of range, and hostile. */
export const envValue: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom('0', '1', '100', '65535', '65536', '10000000', '3s', '500ms', '24d', '25d', '1us', '0s', '*', '::', '::1', '127.0.0.1', 'adapt', 'fail', 'true', 'no', 'example.com', ' 5 ', '1e3', '-1'),
  fc.tuple(fc.constantFrom('3s', '100', 'example.com', '127.0.0.1'), fc.constantFrom(...INJECT), fc.constantFrom(...TAIL)).map((p) => p.join('')),
  hostileText,
);
