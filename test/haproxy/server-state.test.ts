// rewriteServerState: the state file a new worker loads never restores a stale address (haproxy#3265).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { configMentionsServerSsl, parseServersState, sslFromConfig } from '../../src/haproxy/server-state.js';
import { serverLines } from '../../src/config/render.js';
import { buildModel, type Model } from '../../src/model/model.js';
import { ENABLE, entry, settings } from '../helpers/entries.js';
import { STATE_HEADER, rewrittenText, stateRow } from '../helpers/server-state.js';

const row = (backend: string, server: string, addr: string, port: number, admin = 1) => stateRow({ backend, server, addr, port, admin });

test('rewriteServerState: rows get the new config\'s address and port; gone, host-name and short rows are dropped', () => {
  const model = buildModel({
    settings: settings(),
    entries: [
      entry('web', 'a', [ENABLE], { node: 'n1', address: '10.0.0.7', port: 8080 }),
      entry('web', 'v6', [ENABLE], { node: 'n2', address: '2001:db8::1', port: 81 }),
      entry('web', 'h', [ENABLE], { node: 'n3', address: 'app.internal', port: 82 }),
    ],
  });
  const dump = ['1', STATE_HEADER,
    row('web', 'n1:a', '10.9.9.9', 9999, 1), // drained by an operator, stale runtime address
    row('web', 'n2:v6', '::1', 1),
    row('web', 'n3:h', '10.1.1.1', 82),
    row('web', 'gone:x', '10.0.0.8', 80),
    '3 web 1 n1:a 10.0.0.7 2', // truncated
    ''].join('\n');
  const out = rewrittenText(dump, model).split('\n');
  assert.equal(out[0], '1');
  assert.equal(out[1], STATE_HEADER);
  assert.equal(out[2], row('web', 'n1:a', '10.0.0.7', 8080, 1), 'admin state kept, address and port from the new config');
  assert.equal(out[3], row('web', 'n2:v6', '2001:db8::1', 81), 'IPv6 without brackets');
  assert.equal(out.length, 5, `only those two rows remain: ${JSON.stringify(out)}`);
  assert.equal(out[4], '');
  assert.equal(rewrittenText('', model), '', 'nothing in, nothing out');
});

test('rewriteServerState with the running model keeps only servers both configs have, in any row order', () => {
  const web = (ids: string[]) => ids.map((id, i) => entry('web', id, [ENABLE], { node: `n${i}`, address: '10.0.0.7', port: 8080 + i }));
  const next = buildModel({ settings: settings(), entries: web(['a', 'b', 'c']) });
  const running = buildModel({ settings: settings(), entries: web(['a', 'b']).concat(entry('web', 'c', [ENABLE], { node: 'other', address: '10.0.0.9', port: 1 })) });
  // Out of the config's order, and one server (n2:c) that only the new config has.
  const dump = ['1', STATE_HEADER, row('web', 'n1:b', '10.9.9.9', 1, 1), row('web', 'n2:c', '10.9.9.9', 1, 1), row('web', 'n0:a', '10.9.9.9', 1, 1), ''].join('\n');
  const out = rewrittenText(dump, next, new Set(), running).split('\n');
  assert.deepEqual(out, ['1', STATE_HEADER, row('web', 'n1:b', '10.0.0.7', 8081, 1), row('web', 'n0:a', '10.0.0.7', 8080, 1), ''], 'n2:c is new to the config: it starts as the config says');
});

/** The rules as first written: split every row, look every server up by `backend/server`. */
function reference(dump: string, model: Model, maint: ReadonlySet<string>, running: Model | undefined, sslOf?: (backend: string, server: string) => boolean): string {
  const key = (b: string, s: string) => `${b}/${s}`;
  const servers = new Map(model.backends.flatMap((b) => b.servers.map((s) => [key(b.name, s.name), s] as const)));
  const had = running && new Set(running.backends.flatMap((b) => b.servers.map((s) => key(b.name, s.name))));
  const out: string[] = [];
  for (const line of dump.split('\n')) {
    if (!line) continue;
    if (line.startsWith('#') || /^\d+$/.test(line)) { out.push(line); continue; }
    const f = line.split(' ');
    if (f.length < 19) continue;
    const k = key(f[1] as string, f[3] as string);
    const s = servers.get(k);
    if (!s || s.hostname || (had && !had.has(k))) continue;
    f[4] = s.address.replace(/^\[|\]$/g, '');
    f[18] = String(s.port);
    if (maint.has(k) && Number(f[6]) & 1) f[6] = String(Number(f[6]) & ~1);
    // Nothing to carry: running, ready, the config's weight, no health or agent check.
    if (f[5] === '2' && f[6] === '0' && f[7] === f[8] && !(Number(f[13]) & 2) && !(Number(f[14]) & 2)) continue;
    if (sslOf && f.length > 20) f[20] = sslOf(f[1] as string, f[3] as string) ? '1' : '0';
    out.push(f.join(' '));
  }
  return out.length ? `${out.join('\n')}\n` : '';
}

test('rewriteServerState agrees with the plain split-and-look-up rules on any dump', () => {
  const address = fc.constantFrom('10.0.0.7', '2001:db8::1', 'app.internal', '192.168.1.2');
  const instance = fc.record({ service: fc.constantFrom('web', 'api', 'db'), node: fc.constantFrom('n0', 'n1', 'n2'), id: fc.constantFrom('a', 'b', 'c', 'd'), address, port: fc.integer({ min: 1, max: 65535 }) });
  const catalog = fc.uniqueArray(instance, { selector: (i) => `${i.service}/${i.node}/${i.id}`, maxLength: 20 });
  const build = (xs: Array<{ service: string; node: string; id: string; address: string; port: number }>) =>
    buildModel({ settings: settings(), entries: xs.map((x) => entry(x.service, x.id, [ENABLE], { node: x.node, address: x.address, port: x.port })) });
  const dumpRow = fc.record({
    backend: fc.constantFrom('web', 'api', 'db', 'gone'), server: fc.constantFrom('n0:a', 'n1:b', 'n2:c', 'n0:d', 'n1:a', 'x:y'),
    op: fc.constantFrom(0, 2, 3), admin: fc.constantFrom(0, 0, 1, 8, 0x11, 0x3f), uweight: fc.constantFrom(1, 7), iweight: fc.constantFrom(1, 7),
    check: fc.constantFrom(0, 0, 6, 8, 2), agent: fc.constantFrom(0, 0, 22), ssl: fc.constantFrom(0, 1), length: fc.constantFrom('short', 'to-port', 'whole', 'whole'),
  });
  const dumpOf = (rows: Array<typeof dumpRow extends fc.Arbitrary<infer T> ? T : never>) => ['1', STATE_HEADER, ...rows.map((r) => {
    const whole = stateRow({ ...r, addr: '10.1.1.1', port: 80 });
    // A row cut after its fifth field, or after its port (an older HAProxy without srv_use_ssl).
    return r.length === 'short' ? `3 ${r.backend} 1 ${r.server} 10.1.1.1 2` : r.length === 'to-port' ? whole.split(' ').slice(0, 19).join(' ') : whole;
  }), ''].join('\n');
  const sslServers = fc.option(fc.subarray(['web/n0:a', 'web/n1:b', 'api/n2:c', 'db/n0:d', 'web/n1:a']));
  fc.assert(fc.property(catalog, fc.option(catalog), fc.array(dumpRow, { maxLength: 30 }), fc.array(fc.constantFrom('web/n0:a', 'web/n1:b', 'api/n2:c', 'db/n0:d'), { maxLength: 3 }), sslServers, (next, was, rows, maintIds, ssl) => {
    const model = build(next);
    const running = was === null ? undefined : build(was);
    const dump = dumpOf(rows);
    const maint = new Set(maintIds);
    const sslOf = ssl === null ? undefined : (b: string, s: string) => ssl.includes(`${b}/${s}`);
    assert.equal(rewrittenText(dump, model, maint, running, sslOf), reference(dump, model, maint, running, sslOf));
  }), { numRuns: 1000 });
});

test('sslFromConfig: a server has ssl by its own line or its default-server, not by a bind line or ssl_fc', () => {
  const tls = 'frontend f\n    bind :443 ssl crt /etc/x.pem\n    http-request set-header X-Forwarded-Proto https if { ssl_fc }\n';
  const plain = `${tls}backend b\n    server s1 10.0.0.1:80 weight 1\n`;
  assert.equal(configMentionsServerSsl(plain), false, 'TLS on a bind line and ssl_fc say nothing of the servers');
  assert.equal(sslFromConfig(plain, serverLines(plain))('b', 's1'), false);
  const viaDefault = `${tls}backend b\n    default-server ssl verify none\n    server s1 10.0.0.1:80 no-ssl\n    server s2 10.0.0.1:80\n`;
  const ssl = sslFromConfig(viaDefault, serverLines(viaDefault));
  assert.deepEqual([ssl('b', 's1'), ssl('b', 's2'), ssl('b', 'gone')], [false, true, false], 'no-ssl after the default-server ssl wins');
  const own = 'backend b\n\tserver s1 10.0.0.1:80 ssl\n';
  assert.equal(configMentionsServerSsl(own), true, 'ssl ending its line, after a tab');
  assert.equal(sslFromConfig(own, serverLines(own))('b', 's1'), true);
});

test('parseServersState: full rows only, with the status the pool reads and srv_uweight', () => {
  const dump = ['1', STATE_HEADER,
    stateRow({ server: 'n0:a', addr: '10.0.0.1', port: 80, op: 2, admin: 0, uweight: 7, iweight: 1 }),
    stateRow({ server: 'n1:b', addr: '10.0.0.1', port: 80, op: 0, admin: 0x09 }), // drain, then maintenance
    stateRow({ server: 'n2:c', addr: '10.0.0.1', port: 80, op: 0, admin: 0x08 }), // drained, and down
    stateRow({ server: 'n3:d', addr: '10.0.0.1', port: 80, op: 3, admin: 0 }),
    stateRow({ server: 'n4:e', addr: '10.0.0.1', port: 80, op: 0, admin: 0 }),
    '3 web 1 n5:f 10.0.0.1 2 0', '', ''].join('\n');
  assert.deepEqual(parseServersState(Buffer.from(dump)).map((r) => `${r.backend}/${r.server} ${r.status} ${r.weight}`),
    ['web/n0:a UP 7', 'web/n1:b MAINT 1', 'web/n2:c DRAIN 1', 'web/n3:d NOLB 1', 'web/n4:e DOWN 1']);
});
