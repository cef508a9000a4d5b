// The maintenance hapilot sets only to delete a server (del server refused while it held
// connections) never reaches the next worker through the state file; an operator's does.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import path from 'node:path';
import { readFile } from 'node:fs/promises';
import { markRemoving, saveServerState } from '../../src/haproxy/server-state.js';
import { buildModel } from '../../src/model/model.js';
import { ENABLE, entry, settings } from '../helpers/entries.js';
import { STATE_HEADER, rewrittenText, stateRow } from '../helpers/server-state.js';
import { tempDir } from '../helpers/haproxy.js';

const row = (server: string, admin: number) => stateRow({ server, addr: '127.0.0.1', port: 80, op: 0, admin });
const model = buildModel({ settings: settings(), entries: ['a', 'b', 'c'].map((id, i) => entry('web', id, [ENABLE], { node: `n${i}`, address: '127.0.0.1', port: 80 })) });
const admin = (out: string, server: string) => out.split('\n').find((l) => l.split(' ')[3] === server)?.split(' ')[6];

test('rewriteServerState clears only hapilot\'s own maintenance bit', () => {
  const dump = ['1', STATE_HEADER, row('n0:a', 1), row('n1:b', 1), row('n2:c', 0x11), ''].join('\n');
  const out = rewrittenText(dump, model, new Set(['web/n0:a', 'web/n2:c']));
  assert.equal(admin(out, 'n0:a'), '0', 'hapilot\'s maintenance dropped');
  assert.equal(admin(out, 'n1:b'), '1', 'an operator\'s maintenance kept');
  assert.equal(admin(out, 'n2:c'), String(0x10), 'the drain bit kept');
});

test('saveServerState: a server hapilot left lingering in maintenance comes back without it, once', async () => {
  const { dir, cleanup } = await tempDir();
  const sock = path.join(dir, 'stats.sock');
  const server = net.createServer((c) => c.once('data', () => c.end(['1', STATE_HEADER, row('n0:a', 1), row('n1:b', 1), ''].join('\n'))));
  await new Promise<void>((r) => server.listen(sock, r));
  try {
    const file = path.join(dir, 'server-state');
    markRemoving(sock, 'web/n0:a', true);
    await saveServerState({ statsSocket: sock, file, model });
    let out = await readFile(file, 'utf8');
    assert.equal(admin(out, 'n0:a'), '0');
    assert.equal(admin(out, 'n1:b'), '1');
    // Back in the config: a later maintenance of it is an operator's, and survives.
    await saveServerState({ statsSocket: sock, file, model });
    out = await readFile(file, 'utf8');
    assert.equal(admin(out, 'n0:a'), '1');
  } finally {
    server.close();
    await cleanup();
  }
});
