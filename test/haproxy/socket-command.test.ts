// socketCommand decodes an answer as it arrives: a character cut between two chunks comes out whole.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import path from 'node:path';
import { socketCommand } from '../../src/haproxy/socket.js';
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
