// The maintenance hapilot sets only to delete a server (del server refused while it held
// connections) never reaches the next worker through the state file; an operator's does. The dump
// is written as it arrives; no answer means no file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import path from 'node:path';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { markRemoving, rewriteServerState, saveServerState } from '../../src/haproxy/server-state.js';
import { buildModel } from '../../src/model/model.js';
import { ENABLE, entry, settings } from '../helpers/entries.js';
import { tempDir } from '../helpers/haproxy.js';

const HEADER = '# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr srv_agent_addr srv_agent_port';
const row = (server: string, admin: number) => `3 web 1 ${server} 127.0.0.1 0 ${admin} 1 1 5 6 3 4 6 0 0 0 - 80 - 0 0 - - 0`;
const model = buildModel({ settings: settings(), entries: ['a', 'b', 'c'].map((id, i) => entry('web', id, [ENABLE], { node: `n${i}`, address: '127.0.0.1', port: 80 })) });
const admin = (out: string, server: string) => out.split('\n').find((l) => l.split(' ')[3] === server)?.split(' ')[6];

test('rewriteServerState clears only hapilot\'s own maintenance bit', () => {
  const dump = ['1', HEADER, row('n0:a', 1), row('n1:b', 1), row('n2:c', 0x11), ''].join('\n');
  const out = rewriteServerState(dump, model, new Set(['web/n0:a', 'web/n2:c']));
  assert.equal(admin(out, 'n0:a'), '0', 'hapilot\'s maintenance dropped');
  assert.equal(admin(out, 'n1:b'), '1', 'an operator\'s maintenance kept');
  assert.equal(admin(out, 'n2:c'), String(0x10), 'the drain bit kept');
});

test('saveServerState: a server hapilot left lingering in maintenance comes back without it, once', async () => {
  const { dir, cleanup } = await tempDir();
  const sock = path.join(dir, 'stats.sock');
  const server = net.createServer((c) => c.once('data', () => c.end(['1', HEADER, row('n0:a', 1), row('n1:b', 1), ''].join('\n'))));
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

test('saveServerState: the dump is written as it arrives, whole; a socket that does not answer leaves no file, stale or temporary', async () => {
  const { dir, cleanup } = await tempDir();
  const sock = path.join(dir, 'stats.sock');
  const dump = ['1', HEADER, ...Array.from({ length: 2000 }, (_, i) => row(['n0:a', 'n1:b', 'n2:c'][i % 3] as string, i % 2)), ''].join('\n');
  // In uneven pieces, each cutting a row.
  const server = net.createServer({ allowHalfOpen: true }, (c) => c.once('data', async () => {
    for (let at = 0; at < dump.length; at += 7_777) {
      c.write(dump.slice(at, at + 7_777));
      await new Promise((r) => setImmediate(r));
    }
    c.end();
  }));
  await new Promise<void>((r) => server.listen(sock, r));
  const file = path.join(dir, 'server-state');
  try {
    await saveServerState({ statsSocket: sock, file, model });
    assert.equal(await readFile(file, 'utf8'), rewriteServerState(dump, model));
    await writeFile(file, 'stale');
    await saveServerState({ statsSocket: path.join(dir, 'nothing.sock'), file, model });
    assert.deepEqual((await readdir(dir)).sort(), ['stats.sock'], 'no state file, no temp file');
  } finally {
    server.close();
    await cleanup();
  }
});
