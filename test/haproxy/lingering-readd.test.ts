// A server removed while it still holds a connection lingers in maintenance (`del server` refused).
// When its instance comes back, it serves again: through the Runtime API (the lingering server gets
// the new address, weight and ready state instead of a failing `add server`), and after a reload in
// between (the state file does not carry the maintenance hapilot set only to delete the server). Once
// its connections end it is deleted, with no reload and no catalog change (daemon/lingering.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import path from 'node:path';
import { eventually, get } from '../helpers/backends.js';
import { webFixture } from '../helpers/daemon.js';
import { socketCommand, parseShowStat } from '../../src/haproxy/socket.js';

const ENABLE = ['HAPROXY.ENABLE=true'];
const node2 = { Node: 'node2', Address: '127.0.0.1' };

/** web-2 removed from Consul while a request to it is in flight: it lingers in maintenance. */
async function lingering() {
  const fixture = await webFixture({ backends: 2, registered: 1 });
  const { sim, d, dir } = fixture;
  const sock = path.join(dir, 'haproxy.sock');
  const stat = async () => parseShowStat(await socketCommand(sock, 'show stat'), { addr: true });
  // web-2 first points at a server that accepts and never answers: a request to it stays in flight.
  const held: net.Socket[] = [];
  const hang = net.createServer((s) => { held.push(s); });
  await new Promise<void>((r) => hang.listen(0, '127.0.0.1', r));
  const clients: net.Socket[] = [];
  const teardown = async () => {
    for (const c of clients) c.destroy();
    for (const s of held) s.destroy();
    hang.close();
    await fixture.teardown();
  };
  try {
    sim.register({ node: node2, service: { ID: 'web-2', Service: 'web', Tags: ENABLE, Port: (hang.address() as net.AddressInfo).port } });
    await eventually(async () => (await stat()).some((r) => r.server === 'node2:web-2' && /UP|no check/.test(r.status)), 10_000, 'web-2 added');
    for (let i = 0; i < 4 && held.length === 0; i++) {
      const c = net.connect(d.httpPort, '127.0.0.1');
      c.on('error', () => undefined);
      c.write('GET / HTTP/1.1\r\nHost: web.example.test\r\n\r\n');
      clients.push(c);
      await new Promise((r) => setTimeout(r, 200));
    }
    await eventually(() => held.length > 0, 5000, 'a request in flight on web-2');
    sim.deregister('node2', 'web-2');
    await eventually(async () => /MAINT/.test((await stat()).find((r) => r.server === 'node2:web-2')?.status ?? ''), 10_000, 'web-2 lingers in maintenance');
  } catch (err) {
    await teardown();
    throw err;
  }
  return { ...fixture, stat, held, clients, teardown };
}

async function lingeringThenBack(reload: boolean): Promise<void> {
  const { backends, sim, d, stat, teardown } = await lingering();
  try {
    if (reload) {
      // A reload while it lingers: the new worker loads the server-state file dumped from this one.
      await d.daemon.requestSync({ trigger: 'test reload', structural: true, force: true });
      await d.daemon.idle();
    }
    // The instance comes back, on a real backend (a new port).
    sim.register({ node: node2, service: { ID: 'web-2', Service: 'web', Tags: ENABLE, Port: backends[1]!.port } });
    await eventually(async () => {
      for (let i = 0; i < 6; i++) {
        const r = await get(d.httpPort, 'web.example.test');
        if (typeof r.body === 'object' && r.body.name === 'web-2') return true;
      }
      return false;
    }, 15_000, 'web-2 serves again').catch(async (err) => {
      console.error(JSON.stringify({ row: (await stat()).find((r) => r.server === 'node2:web-2'), reloads: ((await d.daemon.status()) as { reloads: unknown[] }).reloads.slice(0, 4) }));
      throw err;
    });
    const row = (await stat()).find((r) => r.server === 'node2:web-2');
    assert.doesNotMatch(row?.status ?? '', /MAINT/);
    assert.equal(row?.addr, `127.0.0.1:${backends[1]!.port}`);
    // The re-registration's apply (newest first; the history is recorded off the critical path).
    const latest = async () => ((await d.daemon.status()) as unknown as { reloads: Array<{ action: string; ok: boolean; changes?: { serversAdded: string[] } }> }).reloads[0];
    await eventually(async () => (await latest())?.changes?.serversAdded.includes('web/node2:web-2') === true, 5000, 'the re-add recorded');
    const r = await latest();
    assert.equal(r?.ok, true, JSON.stringify(r));
    assert.equal(r?.action, 'runtime', JSON.stringify(r));
  } finally {
    await teardown();
  }
}

test('a lingering server whose instance comes back serves again (Runtime API)', () => lingeringThenBack(false));
test('a lingering server whose instance comes back serves again (with a reload in between)', () => lingeringThenBack(true));

test('a lingering server is deleted once its last connection ends, without a reload and with no catalog change', async () => {
  const { d, stat, held, teardown } = await lingering();
  try {
    const reloads = async () => ((await d.daemon.status()) as unknown as { reloads: Array<{ action: string }> }).reloads.filter((r) => r.action !== 'runtime').length;
    const before = await reloads();
    await new Promise((r) => setTimeout(r, 1500));
    assert.match((await stat()).find((r) => r.server === 'node2:web-2')?.status ?? '', /MAINT/, 'kept while the request is in flight');
    for (const s of held) s.destroy(); // the backend ends it: HAProxy lets go of web-2
    await eventually(async () => !(await stat()).some((r) => r.server === 'node2:web-2'), 10_000, 'web-2 deleted');
    assert.equal(await reloads(), before, 'no reload');
    assert.ok((await stat()).some((r) => r.server === 'node1:web-1'), 'web-1 still there');
  } finally {
    await teardown();
  }
});
