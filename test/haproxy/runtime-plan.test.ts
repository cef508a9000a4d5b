// The Runtime API plan: which catalog changes go through `add server`/`set server` and which need a
// reload, and the `add server` command read from the rendered server line (one definition of a server).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { addServerCommand, loadedHostMap, planRuntime } from '../../src/haproxy/runtime-api.js';
import { serverLines } from '../../src/config/render.js';
import { buildModel } from '../../src/model/model.js';
import type { HealthEntry } from '../../src/consul/schemas.js';
import { ENABLE, entry, settings } from '../helpers/entries.js';
import { renderEntries } from '../helpers/render.js';

test('addServerCommand: the rendered line becomes the command; a keyword add server refuses is a reason', () => {
  const cases: Array<{ line: string; want: string | RegExp; check?: boolean; disabled?: boolean }> = [
    { line: 'server n1:a 10.0.0.1:80 weight 1 check inter 2s fall 3 rise 2', want: 'add server web/n1:a 10.0.0.1:80 weight 1 check inter 2s fall 3 rise 2', check: true },
    { line: 'server n1:a [::1]:80 weight 5 slowstart 10s send-proxy', want: 'add server web/n1:a [::1]:80 weight 5 slowstart 10s send-proxy', check: false },
    { line: 'server n1:a 10.0.0.1:80 disabled', want: 'add server web/n1:a 10.0.0.1:80 disabled', disabled: true },
    { line: 'server n1:a 10.0.0.1:80 disabled enabled', want: 'add server web/n1:a 10.0.0.1:80 disabled enabled', disabled: false },
    { line: 'server n1:a 10.0.0.1:80 cookie s1', want: /keyword "cookie" is not accepted by add server/ },
    { line: 'server n1:a app.internal:80 init-addr libc,none', want: /keyword "init-addr"/ },
    { line: 'server n1:a 10.0.0.1:80 weight', want: /keyword weight lacks its argument/ },
    { line: 'backend web', want: /not a server line/ },
  ];
  for (const c of cases) {
    const got = addServerCommand('web', c.line);
    if (typeof c.want === 'string') {
      assert.ok('command' in got, `${c.line}: ${JSON.stringify(got)}`);
      assert.equal(got.command, c.want);
      if (c.check !== undefined) assert.equal(got.check, c.check, c.line);
      if (c.disabled !== undefined) assert.equal(got.disabled, c.disabled, c.line);
    } else {
      assert.ok('reason' in got, c.line);
      assert.match(got.reason, c.want);
    }
  }
});

test('serverLines: a server line carries the default-server keywords of its defaults section and its backend', () => {
  const config = [
    'global', '    maxconn 100',
    'defaults', '    mode http', '    default-server inter 5s',
    'frontend f', '    bind :80', '    server not-a-backend 1.2.3.4:1',
    'backend web', '    default-server check fall 3 # comment', '    server n1:a 10.0.0.1:80 weight 2 slowstart 10s',
    'defaults', '    mode tcp',
    'listen db', '    server n2:b 10.0.0.2:5432',
    '',
  ].join('\n');
  assert.deepEqual([...serverLines(config)], [
    ['web/n1:a', 'server n1:a 10.0.0.1:80 inter 5s check fall 3 weight 2 slowstart 10s'],
    ['db/n2:b', 'server n2:b 10.0.0.2:5432'],
  ]);
});

test('planRuntime: server-only changes are operations built from the rendered lines; structure, static-rr and host names need a reload', async () => {
  const s = settings();
  const m = (entries: HealthEntry[]) => buildModel({ entries, settings: s });
  const lines = async (entries: HealthEntry[]) => (await renderEntries(entries)).serverLines;
  const before = [entry('web', 'a', [ENABLE], { node: 'n1' })];
  const after = [entry('web', 'a', [ENABLE], { node: 'n1', port: 9000, weights: { Passing: 3, Warning: 1 } }), entry('web', 'b', [ENABLE], { node: 'n2' })];
  const plan = planRuntime({ previous: m(before), next: m(after), serverLines: await lines(after) });
  assert.ok('ops' in plan);
  assert.deepEqual(plan.ops.map((o) => o.kind).sort(), ['add', 'addr', 'weight']);
  const add = plan.ops.find((o) => o.kind === 'add');
  assert.ok(add?.kind === 'add');
  // The built-in template's default-server keywords are spelled out: HAProxy inherits nothing for add server.
  assert.equal(add.add.command, 'add server web/n2:b 10.0.0.1:8000 check inter 2s fall 3 rise 2 weight 1');
  assert.equal(add.add.check, true);
  // A server missing from the rendered lines is never added with guessed settings.
  assert.match((planRuntime({ previous: m(before), next: m(after), serverLines: new Map() }) as { reason: string }).reason, /not in the rendered config/);
  const leastconn = [entry('web', 'a', [ENABLE, 'HAPROXY.BACKEND.BALANCE=leastconn'], { node: 'n1' })];
  assert.match((planRuntime({ previous: m(before), next: m(leastconn), serverLines: await lines(leastconn) }) as { reason: string }).reason, /structural/);
  const rr = (ids: string[]) => ids.map((id, i) => entry('web', id, [ENABLE, 'HAPROXY.BACKEND.BALANCE=static-rr'], { node: `n${i + 1}` }));
  assert.match((planRuntime({ previous: m(rr(['a'])), next: m(rr(['a', 'b'])), serverLines: await lines(rr(['a', 'b'])) }) as { reason: string }).reason, /static-rr/);
  const named = [...before, entry('web', 'h', [ENABLE], { node: 'n3', address: 'app.internal' })];
  assert.match((planRuntime({ previous: m(before), next: m(named), serverLines: await lines(named) }) as { reason: string }).reason, /host name/);
});

test('planRuntime: a host added, moved or removed between existing backends is a map operation, not a reload', () => {
  const s = settings();
  const m = (entries: HealthEntry[]) => buildModel({ entries, settings: s });
  const web = (tags: string[]) => entry('web', 'w', [ENABLE, ...tags], { node: 'n1' });
  const api = (tags: string[]) => entry('api', 'a', [ENABLE, ...tags], { node: 'n2' });
  const before = m([web(['HAPROXY.FRONTEND.HOST=old.example.test']), api([])]);
  const moved = m([web(['HAPROXY.FRONTEND.HOST=new.example.test']), api([])]);
  const plan = planRuntime({ previous: before, next: moved, serverLines: new Map() });
  assert.ok('ops' in plan, JSON.stringify(plan));
  assert.deepEqual(plan.ops, [{ kind: 'map-add', host: 'new.example.test', backend: 'web' }, { kind: 'map-del', host: 'old.example.test' }]);
  // A host given to another existing backend: set map.
  const shared = m([web(['HAPROXY.FRONTEND.HOST=shared.example.test']), api([])]);
  const given = m([web(['HAPROXY.FRONTEND.HOST=w2.example.test']), api(['HAPROXY.FRONTEND.HOST=shared.example.test'])]);
  assert.deepEqual((planRuntime({ previous: shared, next: given, serverLines: new Map() }) as { ops: unknown[] }).ops, [
    { kind: 'map-set', host: 'shared.example.test', backend: 'api' },
    { kind: 'map-add', host: 'w2.example.test', backend: 'web' },
    { kind: 'map-del', host: 'api.example.test' },
  ]);
  // Nothing changed: no operation at all.
  assert.deepEqual(planRuntime({ previous: before, next: m([web(['HAPROXY.FRONTEND.HOST=old.example.test']), api([])]), serverLines: new Map() }), { ops: [] });
  // A host whose service is new needs the new backend: a reload.
  const added = m([web(['HAPROXY.FRONTEND.HOST=old.example.test']), api([]), entry('shop', 's', [ENABLE], { node: 'n3' })]);
  assert.match((planRuntime({ previous: before, next: added, serverLines: new Map() }) as { reason: string }).reason, /structural change .*backends added or removed/);
  // A port frontend is structural.
  const port = m([web(['HAPROXY.FRONTEND.HOST=old.example.test', 'HAPROXY.FRONTEND.PORT=9000']), api([])]);
  assert.match((planRuntime({ previous: before, next: port, serverLines: new Map() }) as { reason: string }).reason, /port frontends/);
});

test('loadedHostMap: the host map HAProxy loaded, from show map', () => {
  const listing = [
    '# id (file) description',
    '-1 (/run/hapilot/other.map) pattern loaded from file \'/run/hapilot/other.map\' used by map at file \'/x.cfg\' line 3. curr_ver=0 next_ver=0 entry_cnt=1',
    '-1 (/etc/hapilot/hapilot-hosts-0123456789ab.map) pattern loaded from file \'/etc/hapilot/hapilot-hosts-0123456789ab.map\' used by map at file \'/etc/hapilot/haproxy.cfg\' line 37. curr_ver=0 next_ver=0 entry_cnt=2',
    '',
  ].join('\n');
  assert.equal(loadedHostMap(listing), '/etc/hapilot/hapilot-hosts-0123456789ab.map');
  assert.equal(loadedHostMap('# id (file) description\n'), undefined);
});
