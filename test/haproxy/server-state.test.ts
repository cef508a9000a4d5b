// rewriteServerState: the state file a new worker loads never restores a stale address (haproxy#3265).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { rewriteServerState } from '../../src/haproxy/server-state.js';
import { buildModel, type Model } from '../../src/model/model.js';
import { ENABLE, entry, settings } from '../helpers/entries.js';
import { STATE_HEADER, stateRow } from '../helpers/server-state.js';

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
  const out = rewriteServerState(dump, model).split('\n');
  assert.equal(out[0], '1');
  assert.equal(out[1], STATE_HEADER);
  assert.equal(out[2], row('web', 'n1:a', '10.0.0.7', 8080, 1), 'admin state kept, address and port from the new config');
  assert.equal(out[3], row('web', 'n2:v6', '2001:db8::1', 81), 'IPv6 without brackets');
  assert.equal(out.length, 5, `only those two rows remain: ${JSON.stringify(out)}`);
  assert.equal(out[4], '');
  assert.equal(rewriteServerState('', model), '', 'nothing in, nothing out');
});

test('rewriteServerState with the running model keeps only servers both configs have, in any row order', () => {
  const web = (ids: string[]) => ids.map((id, i) => entry('web', id, [ENABLE], { node: `n${i}`, address: '10.0.0.7', port: 8080 + i }));
  const next = buildModel({ settings: settings(), entries: web(['a', 'b', 'c']) });
  const running = buildModel({ settings: settings(), entries: web(['a', 'b']).concat(entry('web', 'c', [ENABLE], { node: 'other', address: '10.0.0.9', port: 1 })) });
  // Out of the config's order, and one server (n2:c) that only the new config has.
  const dump = ['1', STATE_HEADER, row('web', 'n1:b', '10.9.9.9', 1, 1), row('web', 'n2:c', '10.9.9.9', 1, 1), row('web', 'n0:a', '10.9.9.9', 1, 1), ''].join('\n');
  const out = rewriteServerState(dump, next, new Set(), running).split('\n');
  assert.deepEqual(out, ['1', STATE_HEADER, row('web', 'n1:b', '10.0.0.7', 8081, 1), row('web', 'n0:a', '10.0.0.7', 8080, 1), ''], 'n2:c is new to the config: it starts as the config says');
});

/** The rules as first written: split every row, look every server up by `backend/server`. */
function reference(dump: string, model: Model, maint: ReadonlySet<string>, running: Model | undefined): string {
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
  const dumpRow = fc.record({ backend: fc.constantFrom('web', 'api', 'db', 'gone'), server: fc.constantFrom('n0:a', 'n1:b', 'n2:c', 'n0:d', 'n1:a', 'x:y'), admin: fc.integer({ min: 0, max: 0x3f }), short: fc.boolean() });
  fc.assert(fc.property(catalog, fc.option(catalog), fc.array(dumpRow, { maxLength: 30 }), fc.array(fc.constantFrom('web/n0:a', 'web/n1:b', 'api/n2:c', 'db/n0:d'), { maxLength: 3 }), (next, was, rows, maintIds) => {
    const model = build(next);
    const running = was === null ? undefined : build(was);
    const dump = ['1', STATE_HEADER, ...rows.map((r) => (r.short ? `3 ${r.backend} 1 ${r.server} 10.1.1.1 2` : row(r.backend, r.server, '10.1.1.1', 80, r.admin))), ''].join('\n');
    const maint = new Set(maintIds);
    assert.equal(rewriteServerState(dump, model, maint, running), reference(dump, model, maint, running));
  }), { numRuns: 500 });
});
