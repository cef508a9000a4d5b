// socketCommand decodes an answer as it arrives: a character cut between two chunks comes out whole.
// socketBytes gathers an answer's bytes in one buffer, whatever size it expected.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import path from 'node:path';
import { socketBytes, socketCommand } from '../../src/haproxy/socket.js';
import { tempDir } from '../helpers/haproxy.js';

test('socketCommand: an answer in many chunks, a UTF-8 character split between two, comes back whole', async () => {
  const { dir, cleanup } = await tempDir();
  const sock = path.join(dir, 's.sock');
  const answer = `${'x'.repeat(100_000)}é€${'y'.repeat(10)}\n`;
  const bytes = Buffer.from(answer);
  const cut = bytes.indexOf(0xe2) + 1; // inside the three bytes of €
  // HAProxy answers after the client has sent its command and half-closed: so does this server.
  const server = net.createServer({ allowHalfOpen: true }, (c) => c.once('data', () => {
    c.write(bytes.subarray(0, cut));
    setTimeout(() => c.end(bytes.subarray(cut)), 50);
  }));
  await new Promise<void>((r) => server.listen(sock, r));
  try {
    assert.equal(await socketCommand(sock, 'show stat'), answer);
  } finally {
    server.close();
    await cleanup();
  }
});

test('socketBytes: answers larger and smaller than expected, two at once, and an empty one come back byte for byte', async () => {
  const { dir, cleanup } = await tempDir();
  const sock = path.join(dir, 's.sock');
  const all = Buffer.alloc(3_000_000);
  for (let i = 0; i < all.length; i++) all[i] = (i * 7919) % 251;
  let size = 0;
  const server = net.createServer({ allowHalfOpen: true }, (c) => c.once('data', () => {
    const bytes = all.subarray(0, size);
    // In two writes apart, as a large answer comes.
    c.write(bytes.subarray(0, bytes.length >> 1));
    setTimeout(() => c.end(bytes.subarray(bytes.length >> 1)), 20);
  }));
  await new Promise<void>((r) => server.listen(sock, r));
  try {
    for (const n of [100_000, 3_000_000, 10, 2_000_000, 0]) {
      size = n;
      const [a, b] = await Promise.all([socketBytes(sock, 'show servers state'), socketBytes(sock, 'show servers state', { expectedBytes: 1_000_000 })]);
      assert.ok(a.equals(all.subarray(0, n)) && b.equals(all.subarray(0, n)), `an answer of ${n} bytes`);
    }
  } finally {
    server.close();
    await cleanup();
  }
});
