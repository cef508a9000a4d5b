// The reconciler decides per backend and keeps what did not move (a server-only change at 10,000
// services must not decide 100,000 servers again): over random catalogs, pool tables and depool
// thresholds changed one step at a time, its decisions, its adjusted model and its decommissioned
// servers equal what the pure rules give for the whole catalog (`applyPoolStates` with the previous
// decisions, `withPoolDecisions`), step after step; the per-backend forms of `changedBackends`
// and `poolRuntimeCommands` equal the flat ones; and a reconcile asks HAProxy (a recording stats
// socket) about exactly the backends whose decisions moved since the last one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import path from 'node:path';
import fc from 'fast-check';
import { IncrementalModel } from '../../src/model/incremental.js';
import type { HealthEntry } from '../../src/consul/schemas.js';
import type { Model } from '../../src/model/model.js';
import { PoolReconciler } from '../../src/pool/reconciler.js';
import { poolInstancesFor, withPoolDecisions } from '../../src/pool/model-adapter.js';
import { applyPoolStates, decisionKey, type PoolDecisions, type ServerDecision } from '../../src/pool/rules.js';
import { byBackend, changedBackends, changedBackendsBy, poolRuntimeCommands, poolRuntimeCommandsFor } from '../../src/pool/runtime.js';
import { EMPTY_POOL_TABLE, ingestPoolKv, type KvPair, type PoolTable } from '../../src/pool/table.js';
import type { ObservedServer } from '../../src/pool/observe.js';
import { ENABLE, entry, settings } from '../helpers/entries.js';
import { testLog } from '../helpers/log.js';
import { noKv } from '../helpers/no-kv.js';
import { tempDir } from '../helpers/haproxy.js';

const SERVICES = ['web', 'api', 'db', 'cache'];
const PREFIX = 'hapilot/pool';
const INSTANCE = fc.record({
  node: fc.constantFrom('n1', 'n2'),
  id: fc.constantFrom('a', 'b', 'c', 'd', 'e'),
  status: fc.constantFrom('passing', 'passing', 'warning', 'critical'),
  maintenance: fc.constantFrom(undefined, undefined, undefined, 'node', 'service'),
  weight: fc.constantFrom(1, 1, 5, 0),
});
const SERVICE = fc.record({ threshold: fc.constantFrom(undefined, '0.5', '0.8', '1'), instances: fc.array(INSTANCE, { minLength: 0, maxLength: 5 }) });
const RECORD = fc.record({
  service: fc.constantFrom(...SERVICES),
  id: fc.constantFrom('a', 'b', 'c', 'd', 'e'),
  node: fc.constantFrom(undefined, 'n1', 'n2'),
  value: fc.constantFrom('{"state":"yes"}', '{"state":"no"}', '{"state":"drain"}', '{"state":"inactive"}', '{"state":"yes","weight":7}', '{"state":"no","weight":0}', 'not json', '{"state":"maybe"}'),
});
const STEP = fc.oneof(
  fc.record({ kind: fc.constant('service' as const), service: fc.constantFrom(...SERVICES), spec: fc.option(SERVICE, { nil: undefined, freq: 5 }) }),
  fc.record({ kind: fc.constant('pool' as const), records: fc.array(RECORD, { maxLength: 6 }) }),
  fc.record({ kind: fc.constant('same' as const) }),
);

/** Instances in one order, whichever order they were listed in. */
const byServer = (xs: ReadonlyArray<{ backend: string; server: string }>) => [...xs].sort((a, b) => decisionKey(a.backend, a.server).localeCompare(decisionKey(b.backend, b.server)));

type Spec = { threshold: string | undefined; instances: Array<{ node: string; id: string; status: string; maintenance: string | undefined; weight: number }> };

/** `n` passing instances on one node, no threshold. */
const spec = (n: number): Spec => ({ threshold: undefined, instances: Array.from({ length: n }, (_, i) => ({ node: 'n1', id: `i${i}`, status: 'passing', maintenance: undefined, weight: 1 })) });

function entriesOf(service: string, spec: Spec): HealthEntry[] {
  const tags = [ENABLE, ...(spec.threshold ? [`HAPROXY.BACKEND.DEPOOL_THRESHOLD=${spec.threshold}`] : [])];
  return spec.instances.map((i, n) => {
    const e = entry(service, i.id, tags, { node: i.node, address: `10.0.0.${n + 1}`, port: 8000 + n, status: i.status as 'passing', weights: { Passing: i.weight, Warning: i.weight } });
    if (i.maintenance === 'node') e.Checks?.push({ Node: i.node, CheckID: '_node_maintenance', Name: 'm', Status: 'critical', ServiceID: '', ServiceName: '', Notes: 'kernel' });
    if (i.maintenance === 'service') e.Checks?.push({ Node: i.node, CheckID: `_service_maintenance:${i.id}`, Name: 'm', Status: 'critical', ServiceID: i.id, ServiceName: service, Notes: '' });
    return e;
  });
}

function plain(d: PoolDecisions | undefined): unknown {
  return d && JSON.parse(JSON.stringify(d));
}

/**
 * A stats socket that shows no server and records what it is asked about: a backend's name for
 * `show stat <backend> 4 -1`, `*` for a full `show stat`.
 */
async function recordingStatsSocket(file: string) {
  const asked = new Set<string>();
  const server = net.createServer({ allowHalfOpen: true }, (c) => {
    c.on('data', (d) => {
      const command = d.toString().trim();
      const one = /^show stat (\S+) 4 -1$/.exec(command);
      if (one) asked.add(one[1] as string);
      else if (command === 'show stat') asked.add('*');
      c.end('# pxname,svname,status,scur,weight\n');
    });
  });
  await new Promise<void>((resolve) => server.listen(file, resolve));
  return { asked, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

test('property: the per-backend reconciler decides exactly as the rules over the whole catalog, step after step; it asks HAProxy about exactly the backends whose decisions moved since the last reconcile', async () => {
  const { dir, cleanup } = await tempDir();
  const socket = await recordingStatsSocket(path.join(dir, 'stats.sock'));
  try {
    await fc.assert(fc.asyncProperty(
      fc.array(fc.tuple(fc.constantFrom(...SERVICES), SERVICE), { minLength: 1, maxLength: 4 }),
      fc.array(STEP, { minLength: 1, maxLength: 12 }),
      fc.constantFrom(0, 0.5, 0.7),
      fc.boolean(),
      fc.array(fc.boolean(), { minLength: 12, maxLength: 12 }),
      async (initial, steps, defaultThreshold, includeWarning, reconcileAfter) => {
        const s = settings();
        const rec = new PoolReconciler({ kv: noKv, prefix: PREFIX, statsSocket: path.join(dir, 'stats.sock'), defaultThreshold, includeWarning, log: testLog });
        const model = new IncrementalModel();
        socket.asked.clear();
        // The decisions as of the last reconcile: what HAProxy was given.
        let reconciled: ReturnType<typeof byBackend> | undefined;
        const reconcile = async () => {
          await rec.reconcile();
          // The decisions by backend, a backend whose decisions are the same objects as at the last
          // reconcile keeping that list: what HAProxy was given is compared as the engine compares it.
          const now = new Map([...byBackend(rec.decisions() as PoolDecisions)].map(([name, ds]) => {
            const was = reconciled?.get(name);
            return [name, was && was.length === ds.length && was.every((d, i) => d === ds[i]) ? was : ds] as const;
          }));
          const expected = reconciled ? changedBackendsBy(reconciled, now) : new Set(['*']);
          assert.deepEqual([...socket.asked].sort(), [...expected].sort());
          socket.asked.clear();
          reconciled = now;
        };
        const catalog = new Map<string, HealthEntry[]>();
        for (const [service, spec] of initial) catalog.set(service, entriesOf(service, spec));
        let table: PoolTable = EMPTY_POOL_TABLE;
        let pairs: KvPair[] = [];
        let refPrevious = new Map<string, ServerDecision>();
        let refDecisions: PoolDecisions | undefined;
        let lastModel: Model | undefined;
        let lastInstances: ReturnType<typeof poolInstancesFor> = [];

        const reference = (m: Model) => {
          const instances = poolInstancesFor([...catalog.keys()].sort().flatMap((k) => catalog.get(k) ?? []), m);
          const d = applyPoolStates({
            instances, table, defaultThreshold, includeWarning, previous: refPrevious,
            thresholds: new Map(m.backends.flatMap((b) => (b.depoolThreshold === undefined ? [] : [[b.name, b.depoolThreshold] as const]))),
          });
          if (refDecisions) {
            // The per-backend forms of the runtime helpers agree with the flat ones on the same decisions.
            assert.deepEqual([...changedBackendsBy(byBackend(refDecisions), byBackend(d))].sort(), [...changedBackends(new Map(refDecisions.servers.map((x) => [decisionKey(x.backend, x.server), x])), d)].sort());
            const observed: ObservedServer[] = d.servers.filter((_, i) => i % 2 === 0).map((x, i) => ({ backend: x.backend, server: x.server, status: ['UP', 'MAINT', 'DRAIN', 'DOWN'][i % 4] as string, sessions: 0, weight: i % 3, keptByThreshold: undefined }));
            assert.deepEqual(poolRuntimeCommandsFor(byBackend(d), observed), poolRuntimeCommands(d, observed));
          }
          refPrevious = new Map(d.servers.map((x) => [decisionKey(x.backend, x.server), x]));
          refDecisions = d;
          lastInstances = instances;
          return d;
        };
        const check = (got: Model, m: Model, d: PoolDecisions) => {
          assert.deepEqual(plain(rec.decisions()), plain(d));
          assert.deepEqual(got, withPoolDecisions(m, d, lastInstances));
          assert.deepEqual([...rec.decommissioned()].sort(), [...new Set(d.servers.filter((x) => !x.inConfig).map((x) => decisionKey(x.backend, x.server)))].sort());
          // The instances the status shows: all of them, or those of the backends asked for.
          assert.deepEqual(byServer(rec.instances()), byServer(lastInstances));
          const only = new Set([m.backends[m.backends.length - 1]?.name ?? 'none', 'no-such-backend']);
          assert.deepEqual(byServer(rec.instances(only)), byServer(lastInstances.filter((i) => only.has(i.backend))));
        };
        const build = () => {
          const entries = [...catalog.keys()].sort().flatMap((k) => catalog.get(k) ?? []);
          const m = model.build({ entries, settings: s });
          lastModel = m;
          const got = rec.adjust(entries, m, (service) => model.entriesOf(service));
          check(got, m, reference(m));
        };
        rec.takePool({ table, dockerWeights: undefined, index: 1 });
        build();
        await reconcile();
        for (const [k, step] of steps.entries()) {
          if (step.kind === 'service') {
            if (step.spec) catalog.set(step.service, entriesOf(step.service, step.spec));
            else catalog.delete(step.service);
            build();
          } else if (step.kind === 'pool') {
            pairs = step.records.map((r, i) => ({ key: `${PREFIX}/${r.service}/${r.node ? `${r.id}@${r.node}` : r.id}`, value: r.value, modifyIndex: i + 2 }));
            table = ingestPoolKv({ prefix: PREFIX, pairs, previous: table });
            rec.takePool({ table, dockerWeights: undefined, index: 2 });
            // A KV change decides again for the catalog the engine last handed over.
            const d = reference(lastModel as Model);
            assert.deepEqual(plain(rec.decisions()), plain(d));
            build();
          } else build();
          // Catalog steps without a reconcile in between: a backend may move twice (or move and
          // come back) before HAProxy is asked. (A KV change reconciles by itself: always checked.)
          if (reconcileAfter[k] || step.kind === 'pool') await reconcile();
        }
        await reconcile();
        await rec.stop();
      },
    ), { numRuns: 300 });
  } finally {
    await socket.close();
    await cleanup();
  }
});

test('the reconciler keeps unchanged backends as the same objects, and decides again only what moved', () => {
  const s = settings();
  const rec = new PoolReconciler({ kv: noKv, prefix: PREFIX, statsSocket: '/nonexistent/hapilot-test.sock', defaultThreshold: 0.5, log: testLog });
  const model = new IncrementalModel();
  const catalog = new Map(SERVICES.map((sv) => [sv, entriesOf(sv, spec(3))]));
  rec.takePool({ table: EMPTY_POOL_TABLE, dockerWeights: undefined, index: 1 });
  const run = () => {
    const entries = [...catalog.keys()].sort().flatMap((k) => catalog.get(k) ?? []);
    const m = model.build({ entries, settings: s });
    return rec.adjust(entries, m, (service) => model.entriesOf(service));
  };
  const first = run();
  const before = rec.decisions();
  catalog.set('web', entriesOf('web', spec(4)));
  const second = run();
  const after = rec.decisions();
  for (const [i, b] of second.backends.entries()) {
    if (b.name === 'web') assert.equal(b.servers.length, 4);
    else assert.equal(b, first.backends[i], `${b.name} is the same object`);
  }
  // The decisions of the other backends are the same objects; web's are new.
  for (const d of after?.servers ?? []) {
    const was = before?.servers.find((x) => x.backend === d.backend && x.server === d.server);
    if (d.backend === 'web') continue;
    assert.equal(d, was);
  }
});

test('a reconcile that cannot reach HAProxy leaves what moved for the next one', async () => {
  const { dir, cleanup } = await tempDir();
  const file = path.join(dir, 'stats.sock');
  const s = settings();
  const rec = new PoolReconciler({ kv: noKv, prefix: PREFIX, statsSocket: file, defaultThreshold: 0.5, log: testLog });
  const model = new IncrementalModel();
  const catalog = new Map(SERVICES.map((sv) => [sv, entriesOf(sv, spec(3))]));
  const build = () => {
    const entries = [...catalog.keys()].sort().flatMap((k) => catalog.get(k) ?? []);
    rec.adjust(entries, model.build({ entries, settings: s }), (service) => model.entriesOf(service));
  };
  let socket = await recordingStatsSocket(file);
  try {
    rec.takePool({ table: EMPTY_POOL_TABLE, dockerWeights: undefined, index: 1 });
    build();
    await rec.reconcile();
    assert.deepEqual([...socket.asked], ['*'], 'the first reconcile looks at everything');
    await socket.close();
    catalog.set('web', entriesOf('web', spec(4)));
    build();
    assert.deepEqual(await rec.reconcile(), [], 'HAProxy out of reach: logged, nothing sent');
    socket = await recordingStatsSocket(file);
    catalog.set('api', entriesOf('api', spec(2)));
    build();
    await rec.reconcile();
    assert.deepEqual([...socket.asked].sort(), ['api', 'web'], 'web, which moved before the failed reconcile, is looked at too');
  } finally {
    await rec.stop();
    await socket.close();
    await cleanup();
  }
});
