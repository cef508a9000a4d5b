// someServerRow (src/haproxy/socket.ts): what /ready asks HAProxy. It reads `show stat` as it arrives
// and hangs up at the first server it looks for; a whole answer is 26 MB at 10,000 services. Against
// a UNIX socket that answers like HAProxy's stats socket, so the answer's pace and size are ours.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import path from 'node:path';
import { once } from 'node:events';
import { serving, someServerRow } from '../../src/haproxy/socket.js';
import { tempDir } from '../helpers/haproxy.js';

const HEADER = '# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight,act\n';
const row = (px: string, sv: string, status: string) => `${px},${sv},0,0,0,0,,0,0,0,,0,,0,0,0,0,${status},1,1\n`;

/** A socket that answers each connection with `answer` (strings written one after another, waiting for drain); reports what it wrote and whether the client hung up first. */
async function statSocket(answer: () => Iterable<string>): Promise<{ path: string; served: Promise<{ written: number; total: number; hungUp: boolean }>; close: () => Promise<void>; cleanup: () => Promise<void> }> {
  const { dir, cleanup } = await tempDir();
  const socketPath = path.join(dir, 'stats.sock');
  let report!: (r: { written: number; total: number; hungUp: boolean }) => void;
  const served = new Promise<{ written: number; total: number; hungUp: boolean }>((r) => { report = r; });
  // Half-open allowed: the client ends its side after the command, as hapilot does, and HAProxy answers on.
  const server = net.createServer({ allowHalfOpen: true }, (sock) => {
    sock.on('error', () => { /* the client hung up */ });
    void (async () => {
      await once(sock, 'data');
      const pieces = [...answer()];
      const total = pieces.reduce((n, p) => n + Buffer.byteLength(p), 0);
      let written = 0;
      for (const p of pieces) {
        if (sock.destroyed) break;
        written += Buffer.byteLength(p);
        if (sock.write(p)) continue;
        await new Promise<void>((resolve) => {
          const done = () => { sock.off('drain', done); sock.off('close', done); resolve(); };
          sock.on('drain', done);
          sock.on('close', done);
          if (sock.destroyed) done();
        });
      }
      const hungUp = sock.destroyed || sock.closed;
      sock.end();
      report({ written, total, hungUp });
    })();
  });
  server.listen(socketPath);
  await once(server, 'listening');
  return { path: socketPath, served, close: () => new Promise((r) => server.close(() => r())), cleanup };
}

test('serving: up in any phase, or not checked at all; not down, draining, in maintenance or going up', () => {
  for (const s of ['UP', 'UP 1/3', 'no check']) assert.equal(serving(s), true, s);
  for (const s of ['DOWN', 'DOWN 1/2', 'NOLB', 'DRAIN', 'MAINT', 'MAINT (via web/s1)', 'MAINT (resolution)', '']) assert.equal(serving(s), false, s);
});

test('someServerRow hangs up at the first server it looks for: 20 MB offered, a fraction read', { timeout: 20_000 }, async () => {
  const s = await statSocket(function* () {
    yield HEADER + row('hapilot_stats', 'FRONTEND', 'OPEN') + row('hapilot_x', 'own', 'UP') + row('web', 'BACKEND', 'UP') + row('web', 'n1:web-1', 'MAINT') + row('web', 'n1:web-2', 'no check');
    const block = row('api', 'n2:api-1', 'UP').repeat(10_000);
    for (let i = 0; i < 20e6 / block.length; i++) yield block;
  });
  try {
    assert.equal(await someServerRow(s.path, (r) => serving(r.status)), true);
    const served = await s.served;
    assert.ok(served.hungUp, 'the client hung up before the answer was written');
    assert.ok(served.written < served.total / 4, `${served.written} of ${served.total} bytes written`);
  } finally {
    await s.close();
    await s.cleanup();
  }
});

test('someServerRow reads the whole answer when no row is wanted, lines cut anywhere; hapilot_* proxies and summary rows never count', { timeout: 20_000 }, async () => {
  const text = HEADER + row('hapilot_http', 'FRONTEND', 'OPEN') + row('hapilot_own', 'x', 'UP') + row('web', 'BACKEND', 'UP') + row('web', 'n1:web-1', 'DOWN 1/2') + row('web', 'n1:web-2', 'MAINT');
  for (const [pieces, wanted, expected] of [
    [[...text], (r: { status: string }) => serving(r.status), false], // a byte at a time
    [[text.slice(0, 150), text.slice(150)], (r: { status: string }) => serving(r.status), false],
    [[...text], (r: { status: string; server: string }) => r.server === 'n1:web-2' && r.status === 'MAINT', true],
    [[text.slice(0, -1)], (r: { status: string; server: string }) => r.server === 'n1:web-2', true], // no final newline
  ] as const) {
    const s = await statSocket(() => pieces);
    try {
      assert.equal(await someServerRow(s.path, wanted), expected);
      assert.equal((await s.served).hungUp, false);
    } finally {
      await s.close();
      await s.cleanup();
    }
  }
});

test('someServerRow rejects an empty answer, an answer without its columns, silence and no socket', { timeout: 20_000 }, async () => {
  for (const [answer, message] of [
    [[], /"show stat" answered nothing/],
    [['Unknown command.\n'], /show stat answered without the expected columns/],
  ] as const) {
    const s = await statSocket(() => answer);
    try {
      await assert.rejects(someServerRow(s.path, () => true), message);
    } finally {
      await s.close();
      await s.cleanup();
    }
  }
  const { dir, cleanup } = await tempDir();
  const held: net.Socket[] = [];
  const silent = net.createServer((sock) => { held.push(sock); /* never answers */ });
  silent.listen(path.join(dir, 'silent.sock'));
  await once(silent, 'listening');
  try {
    await assert.rejects(someServerRow(path.join(dir, 'silent.sock'), () => true, 200), /no answer to "show stat" within 200 ms/);
    await assert.rejects(someServerRow(path.join(dir, 'none.sock'), () => true), /none\.sock: .*ENOENT/);
  } finally {
    for (const sock of held) sock.destroy();
    await new Promise<void>((r) => silent.close(() => r()));
    await cleanup();
  }
});
