// ServiceReads against the simulator: the node dump of the startup read is read as it arrives and
// kept for nothing (nothing says another full read is near); the dumps of later full reads are kept
// to decode the next one against, and give the same entries as a dump read whole.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createConsulClient } from '../../src/consul/client.js';
import { loadConsulConfig } from '../../src/consul/config.js';
import { ServiceReads } from '../../src/catalog/service-reads.js';
import { ConsulSim } from '../sim/consul-sim.js';
import { testLog } from '../helpers/log.js';

test('the startup dump is not kept; a later full read keeps its dump for the next, whose entries are those of a dump read whole', async () => {
  const sim = new ConsulSim();
  sim.jitter = false;
  const register = (weight: number) => {
    for (let s = 0; s < 5; s++) for (let i = 0; i < 3; i++) {
      sim.register({ node: { Node: `node${i}`, Address: `10.0.0.${i + 1}` }, service: { ID: `svc${s}-${i}`, Service: `svc${s}`, Tags: ['HAPROXY.ENABLE=true'], Port: 8000 + s, Weights: { Passing: s === 2 && i === 1 ? weight : 1, Warning: 1 } } });
    }
  };
  register(1);
  await sim.start();
  const client = createConsulClient(loadConsulConfig({ flagUrl: sim.url, env: {} }));
  // Which dumps were read as they arrived, and how many bytes each request gave back.
  const asked: Array<{ streamed: boolean; bytes: number }> = [];
  const consul: typeof client = {
    ...client,
    nodeDumpBytes: async (o) => {
      const r = await client.nodeDumpBytes!(o);
      asked.push({ streamed: o?.into !== undefined, bytes: r.data.length });
      return r;
    },
  };
  const names = ['svc0', 'svc1', 'svc2', 'svc3', 'svc4'];
  const wanted = new Set(names);
  const reads = new ServiceReads({ consul, concurrency: 4, log: testLog });
  const signal = new AbortController().signal;
  try {
    const first = await reads.all(names, wanted, () => undefined, signal);
    assert.equal(first.length, 5);
    assert.equal(reads.keptDumpBytes, 0, 'the startup dump is let go');
    assert.deepEqual(asked, [{ streamed: true, bytes: 0 }], 'the startup dump is read as it arrives: its bytes never exist whole');
    register(7);
    const second = await reads.all(names, wanted, (n) => first.find(([m]) => m === n)?.[1], signal);
    assert.ok(reads.keptDumpBytes > 0, 'a later dump is kept for the next full read');
    assert.equal(asked[1]?.streamed, false);
    const weight = second.find(([n]) => n === 'svc2')?.[1].find((e) => e.Service.ID === 'svc2-1')?.Service.Weights?.Passing;
    assert.equal(weight, 7);
    register(9);
    const third = await reads.all(names, wanted, (n) => second.find(([m]) => m === n)?.[1], signal);
    const alone = await new ServiceReads({ consul, concurrency: 4, log: testLog }).all(names, wanted, () => undefined, signal);
    // `alone`'s dump was streamed: it gives what the dumps decoded against each other give.
    assert.deepEqual(third.map(([n, e]) => [n, e]), alone.map(([n, e]) => [n, e]));
    assert.equal(alone.find(([n]) => n === 'svc2')?.[1].find((e) => e.Service.ID === 'svc2-1')?.Service.Weights?.Passing, 9);
    reads.stop();
  } finally {
    client.close();
    await sim.stop();
  }
});
