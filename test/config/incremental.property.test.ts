// Incremental work per change gives exactly what a full build gives: over random catalogs changed
// one step at a time (services added, removed, re-read with other instances, tags, hosts, ports,
// health), the incremental model equals `buildModel` of the whole catalog, and the incremental
// render equals `render` (config, files, server lines), for the built-in templates and for template
// sets that defeat parts of the shortcut (backends reading the root, frontends looping over
// backends, `@index`).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cp, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import fc from 'fast-check';
import { buildModel } from '../../src/model/model.js';
import { IncrementalModel } from '../../src/model/incremental.js';
import { IncrementalRenderer } from '../../src/config/incremental-render.js';
import { JoinedLines } from '../../src/config/backend-pieces.js';
import { sectionSpan } from '../../src/daemon/runtime-first.js';
import { render } from '../../src/config/render.js';
import { finishConfig } from '../../src/config/build.js';
import { BUILTIN_TEMPLATES_DIR, loadTemplates, type TemplateSet } from '../../src/config/templates.js';
import type { HealthEntry } from '../../src/consul/schemas.js';
import { ENABLE, entry, settings } from '../helpers/entries.js';
import { builtinTemplates, GOLDEN_PATHS } from '../helpers/render.js';
import { tempDir } from '../helpers/haproxy.js';

// Small pools, so that names, hosts and ports collide and every claim rule is exercised.
const SERVICES = ['web', 'Web', 'api', 'db', 'hapilot_x', 'a b', 'zeta', 'cache'];
const TAG = fc.constantFrom(
  'HAPROXY.FRONTEND.HOST=shop.example.test', 'HAPROXY.FRONTEND.HOST=api.example.test', 'HAPROXY.FRONTEND.HOST=web.example.test', 'HAPROXY.FRONTEND.PORT=9000',
  'HAPROXY.FRONTEND.PORT=9001', 'HAPROXY.FRONTEND.PORT=8080', 'HAPROXY.PROTOCOL=tcp', 'HAPROXY.BACKEND.BALANCE=leastconn',
  'HAPROXY.BACKEND.MAXCONN=50', 'HAPROXY.BACKEND.MAXCONN=abc', 'HAPROXY.BACKEND.HTTPCHK=/health', 'HAPROXY.BACKEND.STICKY=src', 'HAPROXY.NOPE=1', 'other-tool',
);
const INSTANCE = fc.record({
  node: fc.constantFrom('n1', 'n2', 'n3'),
  addr: fc.constantFrom('10.0.0.1', '10.0.0.2', '::1', '0.0.0.0', 'host.example'),
  port: fc.constantFrom(8000, 8001, 0),
  status: fc.constantFrom('passing', 'passing', 'warning', 'critical'),
  enable: fc.boolean(),
  tags: fc.array(TAG, { maxLength: 2 }),
  modifyIndex: fc.integer({ min: 1, max: 5 }),
});
const SERVICE = fc.array(INSTANCE, { minLength: 1, maxLength: 3 });
const STEP = fc.record({ service: fc.constantFrom(...SERVICES), instances: fc.option(SERVICE, { nil: undefined, freq: 4 }) });

type Instance = { node: string; addr: string; port: number; status: string; enable: boolean; tags: string[]; modifyIndex: number };

function entriesOf(service: string, instances: readonly Instance[]): HealthEntry[] {
  return instances.map((i, n) => entry(service, `${service}-${n}`, [...(i.enable ? [ENABLE] : []), ...i.tags], {
    node: i.node, address: i.addr, port: i.port, status: i.status as 'passing', modifyIndex: i.modifyIndex,
  }));
}

async function customTemplates(dir: string, edit: (files: { main: string; backends: string; frontends: string }) => { main?: string; backends?: string; frontends?: string }): Promise<TemplateSet> {
  await cp(BUILTIN_TEMPLATES_DIR, dir, { recursive: true });
  const files = {
    main: await readFile(path.join(dir, 'haproxy.cfg.hbs'), 'utf8'),
    backends: await readFile(path.join(dir, 'partials/backends.hbs'), 'utf8'),
    frontends: await readFile(path.join(dir, 'partials/frontends.hbs'), 'utf8'),
  };
  const out = edit(files);
  if (out.main !== undefined) await writeFile(path.join(dir, 'haproxy.cfg.hbs'), out.main);
  if (out.backends !== undefined) await writeFile(path.join(dir, 'partials/backends.hbs'), out.backends);
  if (out.frontends !== undefined) await writeFile(path.join(dir, 'partials/frontends.hbs'), out.frontends);
  return loadTemplates(dir);
}

async function templateSets(dir: string): Promise<Array<{ name: string; templates: TemplateSet; expect: 'incremental' | 'plain' }>> {
  return [
    { name: 'built-in', templates: await builtinTemplates(), expect: 'incremental' },
    {
      name: 'backends reading the root', expect: 'incremental',
      templates: await customTemplates(path.join(dir, 'root'), (f) => ({ backends: f.backends.replace('    balance {{balance}}', '    balance {{balance}}\n    # routes: {{@root.httpRoutes.length}} retries {{../settings.retries}}') })),
    },
    {
      // Rendering one backend alone changes the frontends: never cut, always rendered whole.
      name: 'frontends looping over backends', expect: 'plain',
      templates: await customTemplates(path.join(dir, 'loop'), (f) => ({ frontends: `${f.frontends}\n# backends:{{#each backends}} {{name}}{{/each}}\n` })),
    },
    {
      name: '@index in backends', expect: 'plain',
      templates: await customTemplates(path.join(dir, 'index'), (f) => ({ backends: f.backends.replace('    balance {{balance}}', '    balance {{balance}}\n    # number {{@index}}') })),
    },
  ];
}

test('property: the incremental model and render equal a full build after every change', { timeout: 240_000 }, async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const s = settings({ HAPILOT_FD_LIMIT: '1000000' });
    // Patching the model's last merge does not depend on the templates: counted over all the sets
    // (a few patches per set, so a set alone may draw none, about once in a hundred runs).
    let patched = 0;
    for (const set of await templateSets(dir)) {
      const modes = new Set<string>();
      let hinted = 0;
      fc.assert(fc.property(fc.array(STEP, { minLength: 1, maxLength: 12 }), fc.boolean(), (steps, told) => {
        const catalog = new Map<string, HealthEntry[]>();
        const model = new IncrementalModel();
        const renderer = new IncrementalRenderer();
        for (const step of steps) {
          // A source replaces the entries of the services it re-read, and only those.
          if (step.instances === undefined) catalog.delete(step.service);
          else catalog.set(step.service, entriesOf(step.service, step.instances));
          const entries = [...catalog.keys()].sort().flatMap((k) => catalog.get(k) ?? []);
          const full = buildModel({ entries, settings: s });
          // Grouped by the caller and told which service changed, or left to find out.
          const inc = told ? model.buildByService({ services: catalog, settings: s, changed: [step.service] }) : model.build({ entries, settings: s });
          if (model.lastStats.patched && model.lastStats.rebuilt > 0) patched++;
          assert.deepEqual(inc, full);
          const expected = render({ model: full, templates: set.templates, paths: GOLDEN_PATHS });
          const got = renderer.render({ model: inc, templates: set.templates, paths: GOLDEN_PATHS });
          modes.add(renderer.lastStats.mode);
          assert.equal(got.config, expected.config, `${set.name}: ${JSON.stringify(renderer.lastStats)}`);
          assert.deepEqual(got.files, expected.files);
          assert.deepEqual(new Map(got.serverLines), new Map(expected.serverLines));
          assert.equal(got.serverLines.size, expected.serverLines.size);
          for (const [k, v] of expected.serverLines) assert.equal(got.serverLines.get(k), v);
          // Where each backend's text starts (runtime-first's hint): its section's header is there, before the next one's text.
          if (got.serverLines instanceof JoinedLines) {
            const lines = got.serverLines;
            inc.backends.forEach((b, i) => {
              const start = lines.textStart(i, b.name);
              assert.ok(start !== undefined, `${set.name}: textStart of ${b.name}`);
              const header = sectionSpan(got.config, 'backend', b.name)?.start ?? -1;
              const next = inc.backends[i + 1];
              const end = next ? lines.textStart(i + 1, next.name) ?? -1 : got.config.length;
              assert.ok(start <= header && header < end, `${set.name}: ${b.name} starts at ${header}, its text at ${start}, the next at ${end}`);
            });
            assert.equal(lines.textStart(0, 'no such backend'), undefined);
            hinted++;
          }
        }
      }), { numRuns: 60 });
      if (set.expect === 'incremental') assert.ok(hinted > 0, `${set.name}: no render gave its texts' starts`);
      // The shortcut was really taken where it can be, and refused where it cannot.
      if (set.expect === 'incremental') assert.ok(modes.has('incremental'), `${set.name}: modes ${[...modes].join(', ')}`);
      else assert.ok(modes.has('plain') && !modes.has('incremental'), `${set.name}: modes ${[...modes].join(', ')}`);
    }
    assert.ok(patched > 0, 'some changes patched the last merge');
  } finally {
    await cleanup();
  }
});

test('one instance change out of 300 services re-renders one backend and reuses the rest', async () => {
  const s = settings({ HAPILOT_FD_LIMIT: '1000000' });
  const templates = await builtinTemplates();
  const catalog = new Map<string, HealthEntry[]>();
  for (let i = 0; i < 300; i++) catalog.set(`svc${i}`, [0, 1, 2].map((n) => entry(`svc${i}`, `svc${i}-${n}`, [ENABLE], { node: `n${n}`, port: 9000 + i })));
  const flat = () => [...catalog.keys()].sort().flatMap((k) => catalog.get(k) ?? []);
  const model = new IncrementalModel();
  const renderer = new IncrementalRenderer();
  renderer.render({ model: model.build({ entries: flat(), settings: s }), templates, paths: GOLDEN_PATHS });
  assert.equal(renderer.lastStats.mode, 'full');
  catalog.set('svc7', [...(catalog.get('svc7') ?? []), entry('svc7', 'svc7-new', [ENABLE], { node: 'n9', address: '10.9.9.9', port: 9999 })]);
  const m = model.build({ entries: flat(), settings: s });
  assert.deepEqual(model.lastStats, { rebuilt: 1, reused: 299, patched: true });
  const r = renderer.render({ model: m, templates, paths: GOLDEN_PATHS });
  assert.deepEqual(renderer.lastStats, { mode: 'incremental', rendered: 1, reused: 299, reason: undefined });
  assert.equal(r.serverLines.get('svc7/n9:svc7-new'), 'server n9:svc7-new 10.9.9.9:9999 check inter 2s fall 3 rise 2 weight 1');
  assert.equal(r.config, render({ model: m, templates, paths: GOLDEN_PATHS }).config);
  // A host added to an existing service: the backends' text is kept (the built-in backends read only their own fields).
  catalog.set('svc8', (catalog.get('svc8') ?? []).map((e) => ({ ...e, Service: { ...e.Service, Tags: [ENABLE, 'HAPROXY.FRONTEND.HOST=new.example.test'] } })));
  const m2 = model.build({ entries: flat(), settings: s });
  const r2 = renderer.render({ model: m2, templates, paths: GOLDEN_PATHS });
  assert.equal(r2.config, render({ model: m2, templates, paths: GOLDEN_PATHS }).config);
  assert.deepEqual(r2.files, render({ model: m2, templates, paths: GOLDEN_PATHS }).files);
  assert.deepEqual(renderer.lastStats, { mode: 'incremental', rendered: 0, reused: 300, reason: undefined }, 'svc8\'s backend is as before: only the map and the frontends change');
});

test('finishConfig with the daemon\'s IncrementalRenderer gives the bytes finishConfig gives without it', async () => {
  const s = settings({ HAPILOT_FD_LIMIT: '20000' });
  const templates = await builtinTemplates();
  const renderer = new IncrementalRenderer();
  for (const n of [3, 4, 4, 5]) {
    const entries = Array.from({ length: n }, (_, i) => entry(`svc${i % 3}`, `svc${i % 3}-${i}`, [ENABLE], { node: `n${i}` }));
    const model = buildModel({ entries, settings: s });
    const plain = finishConfig({ model, templates, paths: GOLDEN_PATHS, fdLimit: undefined });
    const inc = finishConfig({ model, templates, paths: GOLDEN_PATHS, fdLimit: undefined, renderer });
    assert.equal(inc.config, plain.config);
    assert.deepEqual(inc.model, plain.model);
    assert.deepEqual(new Map(inc.serverLines), new Map(plain.serverLines));
  }
});
