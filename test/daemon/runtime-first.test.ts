// Runtime-first: the config spliced from the changed services' backends is byte for byte the config a
// full render gives, and only server-only changes the guard lets through are taken.
import { ByteRope } from '../../src/util/byte-rope.js';
import { cutRope } from '../helpers/rope.js';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { buildModel } from '../../src/model/model.js';
import { finishConfig } from '../../src/config/build.js';
import { pathsFor } from '../../src/config/render.js';
import { loadTemplates } from '../../src/config/templates.js';
import { sectionSpan, serverOnlyChange } from '../../src/daemon/runtime-first.js';
import { IncrementalRenderer } from '../../src/config/incremental-render.js';
import { JoinedLines } from '../../src/config/backend-pieces.js';
import type { Model } from '../../src/model/model.js';
import type { Applied } from '../../src/daemon/applied-state.js';
import type { HealthEntry } from '../../src/consul/schemas.js';
import { ENABLE, entry, settings } from '../helpers/entries.js';

const paths = pathsFor({ configPath: '/run/h/haproxy.cfg', runDir: '/run/h' });
const s = settings();

test('sectionSpan: a section from its header to its last line, whatever follows', () => {
  const cfg = 'global\n    a\n\nbackend x\n    b\n    c\n\n# note\nbackend y\n    d\n';
  const x = sectionSpan(cfg, 'backend', 'x')!;
  assert.equal(cfg.slice(x.start, x.end), 'backend x\n    b\n    c\n');
  const y = sectionSpan(cfg, 'backend', 'y')!;
  assert.equal(cfg.slice(y.start, y.end), 'backend y\n    d\n');
  assert.equal(sectionSpan(cfg, 'backend', 'z'), undefined);
  assert.equal(sectionSpan('backend xy\n    a\n', 'backend', 'x'), undefined, 'a name is matched whole');
  assert.equal(sectionSpan('# backend x\n    a\n', 'backend', 'x'), undefined, 'a header starts its line');
  const t = 'backend xy\n    a\nbackend x  \n    b\n    c';
  const tx = sectionSpan(t, 'backend', 'x')!;
  assert.equal(t.slice(tx.start, tx.end), 'backend x  \n    b\n    c', 'trailing blanks on the header; the last section without a final newline');
  const u = 'backend x from defaults1\n    b\n\nfrontend f\n';
  assert.equal(u.slice(sectionSpan(u, 'backend', 'x')!.start, sectionSpan(u, 'backend', 'x')!.end), 'backend x from defaults1\n    b\n');
});

test('sectionSpan with a hint: the same span whether the hint is right, a little early, wrong or out of range', () => {
  const cfg = 'global\n    a\n\nbackend xy\n    e\n\nbackend x\n    b\n    c\n\n# note\nbackend y\n    d\n';
  const want = sectionSpan(cfg, 'backend', 'x')!;
  const at = cfg.indexOf('backend x\n');
  for (const hint of [at, at - 1, 0, cfg.indexOf('backend xy'), cfg.indexOf('backend y\n'), cfg.length, -5, 1e9]) {
    assert.deepEqual(sectionSpan(cfg, 'backend', 'x', hint), want, `hint ${hint}`);
  }
  assert.equal(sectionSpan(cfg, 'backend', 'z', at), undefined);
});

/** Eight services of two instances each (every third with leastconn). */
const base = () => Array.from({ length: 8 }, (_, i) => [
  entry(`svc${i}`, `svc${i}-a`, [ENABLE, ...(i % 3 === 0 ? ['HAPROXY.BACKEND.BALANCE=leastconn'] : [])], { node: 'n1', port: 9000 + i }),
  entry(`svc${i}`, `svc${i}-b`, [ENABLE, ...(i % 3 === 0 ? ['HAPROXY.BACKEND.BALANCE=leastconn'] : [])], { node: 'n2', port: 9100 + i }),
]).flat();

/** Server-only changes of some services: a server added, re-weighted, failing, on another port. */
const CHANGES = fc.array(fc.record({ svc: fc.nat(7), kind: fc.constantFrom('add', 'weight', 'critical', 'port') }), { minLength: 1, maxLength: 4 });

function changedCatalog(before: readonly HealthEntry[], changes: ReadonlyArray<{ svc: number; kind: string }>, tag = ''): { after: HealthEntry[]; changed: string[] } {
  let after = [...before];
  for (const c of changes) {
    const id = `svc${c.svc}-a`;
    after = after.filter((e) => !(e.Service.ID === id));
    const o = { node: 'n1', port: 9000 + c.svc } as Parameters<typeof entry>[3] & object;
    if (c.kind === 'weight') o.weights = { Passing: 5, Warning: 1 };
    if (c.kind === 'critical') o.status = 'critical';
    if (c.kind === 'port') o.port = 9500 + c.svc;
    after.push(entry(`svc${c.svc}`, id, [ENABLE, ...(c.svc % 3 === 0 ? ['HAPROXY.BACKEND.BALANCE=leastconn'] : [])], o));
    if (c.kind === 'add') after.push(entry(`svc${c.svc}`, `svc${c.svc}-new${tag}`, [ENABLE, ...(c.svc % 3 === 0 ? ['HAPROXY.BACKEND.BALANCE=leastconn'] : [])], { node: 'n3', port: 9300 + c.svc }));
  }
  after.sort((a, b) => (a.Service.Service < b.Service.Service ? -1 : a.Service.Service > b.Service.Service ? 1 : 0));
  return { after, changed: [...new Set(changes.map((c) => `svc${c.svc}`))] };
}

test('property: the spliced config equals a full render of the same catalog', async () => {
  const templates = await loadTemplates();
  await fc.assert(fc.asyncProperty(
    CHANGES,
    fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 6 }),
    async (changes, cuts) => {
      const before = base();
      const built = finishConfig({ model: buildModel({ entries: before, settings: s }), templates, paths, fdLimit: undefined });
      // The running bytes as a rope cut anywhere (a splice of a splice).
      const applied: Applied = { config: built.config, model: built.model, serverLines: built.serverLines, index: 1, atMs: 0, bytes: cutRope(Buffer.from(built.config), cuts) };
      const { after, changed } = changedCatalog(before, changes);
      const change = serverOnlyChange({ applied, snapshot: { entries: after, index: 2, cause: 'test', changed }, settings: s, templates, paths, maxRemovalRatio: 0.5 });
      const full = finishConfig({ model: buildModel({ entries: after, settings: s }), templates, paths, fdLimit: undefined });
      assert.ok(change, 'a server-only change');
      assert.equal(change.config, full.config);
      // The bytes spliced from the running ones are the new text's UTF-8.
      assert.ok(change.bytes?.equals(Buffer.from(full.config)), 'the spliced bytes are the config\'s');
      // Without the running bytes, or with a running config that is not ASCII (offsets in characters
      // are then not offsets in bytes), the text alone.
      assert.equal(serverOnlyChange({ applied: { ...applied, bytes: undefined }, snapshot: { entries: after, index: 2, cause: 'test', changed }, settings: s, templates, paths, maxRemovalRatio: 0.5 })?.bytes, undefined);
      const accented = `# café\n${built.config}`;
      const other = serverOnlyChange({ applied: { ...applied, config: accented, bytes: ByteRope.of(Buffer.from(accented)) }, snapshot: { entries: after, index: 2, cause: 'test', changed }, settings: s, templates, paths, maxRemovalRatio: 0.5 });
      assert.equal(other?.config, `# café\n${full.config}`);
      assert.equal(other?.bytes, undefined);
      assert.deepEqual(new Map([...change.serverLines].sort()), new Map([...full.serverLines].sort()));
      assert.deepEqual(change.model.backends, full.model.backends);
    },
  ), { numRuns: 40 });
});

test('property: through the daemon\'s renderer, change after change: its render of the new catalog, the running bytes with the changed texts replaced', async () => {
  const templates = await loadTemplates();
  let taken = 0;
  await fc.assert(fc.asyncProperty(
    fc.array(CHANGES, { minLength: 1, maxLength: 5 }),
    fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 6 }),
    async (steps, cuts) => {
      const renderer = new IncrementalRenderer();
      // A descriptor limit that lowers maxconn: the model carries the budget's warning.
      const renderWith = (model: Model) => finishConfig({ model, templates, paths, fdLimit: 4000, renderer });
      let catalog = base();
      const built = renderWith(buildModel({ entries: catalog, settings: s }));
      let applied: Applied = { config: built.config, model: built.model, serverLines: built.serverLines, index: 1, atMs: 0, bytes: cutRope(Buffer.from(built.config), cuts) };
      for (const [k, changes] of steps.entries()) {
        const { after, changed } = changedCatalog(catalog, changes, `-${k}`);
        const change = serverOnlyChange({ applied, snapshot: { entries: after, index: 2 + k, cause: 'test', changed }, settings: s, templates, paths, maxRemovalRatio: 0.5, renderer: renderWith });
        const full = finishConfig({ model: buildModel({ entries: after, settings: s }), templates, paths, fdLimit: 4000 });
        if (!change) {
          // Only a change with no server moving (or one the guard holds) is not taken.
          assert.equal(full.config === applied.config || changes.some((c) => c.kind === 'critical'), true, 'a server-only change is taken');
          continue;
        }
        assert.ok(change.serverLines instanceof JoinedLines, 'made by the renderer, not spliced');
        taken++;
        assert.equal(change.config, full.config);
        assert.ok(change.bytes?.equals(Buffer.from(full.config)), 'the bytes are the config\'s');
        assert.deepEqual(new Map([...change.serverLines].sort()), new Map([...full.serverLines].sort()));
        assert.ok(full.model.warnings.some((w) => /maxconn/i.test(w)), full.model.warnings.join('; '));
        // The descriptor budget's warning once, change after change (the running model's warnings,
        // as the splice gives them; the candidate build makes its own).
        assert.equal(change.model.warnings.filter((w) => /file descriptors/.test(w)).length, 1, change.model.warnings.join('; '));
        // A render of the same model gives the same objects back (the daemon's check that it runs it).
        assert.equal(renderWith(change.model).serverLines, change.serverLines);
        applied = { config: change.config, model: change.model, serverLines: change.serverLines, index: 2 + k, atMs: 0, bytes: change.bytes };
        catalog = after;
      }
    },
  ), { numRuns: 40 });
  assert.ok(taken >= 40, `${taken} changes taken`);
});

test('structural changes, and removals the guard holds, are left to the full sync', async () => {
  const templates = await loadTemplates();
  const before = [entry('web', 'a', [ENABLE], { node: 'n1' }), entry('web', 'b', [ENABLE], { node: 'n2' }), entry('api', 'c', [ENABLE], { node: 'n1' })];
  const built = finishConfig({ model: buildModel({ entries: before, settings: s }), templates, paths, fdLimit: undefined });
  const applied: Applied = { config: built.config, model: built.model, serverLines: built.serverLines, index: 1, atMs: 0 };
  const change = (entries: HealthEntry[], changed: string[]) => serverOnlyChange({ applied, snapshot: { entries, index: 2, cause: 't', changed }, settings: s, templates, paths, maxRemovalRatio: 0.5 });
  assert.equal(change([before[0]!, before[1]!, entry('api', 'c', [ENABLE, 'HAPROXY.BACKEND.BALANCE=leastconn'], { node: 'n1' })], ['api']), undefined, 'a new balance is structural');
  assert.equal(change([before[0]!, before[1]!], ['api']), undefined, 'a service that goes is structural (and guarded)');
  assert.equal(change([before[0]!, before[1]!, before[2]!, entry('new', 'n', [ENABLE])], ['new']), undefined, 'a new service is structural');
  assert.equal(change([before[0]!, before[1]!, entry('api', 'c', [ENABLE], { node: 'n1', status: 'critical' })], ['api']), undefined, 'emptying a backend trips the guard');
  assert.equal(change(before, undefined as unknown as string[]), undefined, 'no list of changed services: nothing to go on');
  // Routes are structure: a host or a port frontend of the changed service, with or without new servers.
  const hosted = [before[0]!, before[1]!, entry('api', 'c', [ENABLE, 'HAPROXY.FRONTEND.HOST=api.example.com'], { node: 'n1' })];
  assert.equal(change(hosted, ['api']), undefined, 'a new host is structural');
  assert.equal(change([...before.slice(0, 2), entry('api', 'c', [ENABLE, 'HAPROXY.FRONTEND.PORT=9443'], { node: 'n1' }), entry('api', 'd', [ENABLE, 'HAPROXY.FRONTEND.PORT=9443'], { node: 'n2' })], ['api']), undefined, 'a new port frontend is structural');
  const one = change([before[0]!, entry('web', 'b', [ENABLE], { node: 'n2', weights: { Passing: 9, Warning: 1 } }), before[2]!], ['web']);
  assert.deepEqual(one?.services, ['web']);
  assert.match(one?.config ?? '', /server n2:b 10\.0\.0\.1:8000 weight 9/);
});
