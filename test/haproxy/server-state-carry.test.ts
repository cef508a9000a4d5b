// What the server-state file carries into the next worker, with a real HAProxy: an operator's drain
// and weight and a checked server's state are carried; a server that holds nothing of the kind has
// no row (it starts as its config says); and a kept row never undoes the new config's `ssl`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { saveServerState, sslFromConfig } from '../../src/haproxy/server-state.js';
import { socketCommand } from '../../src/haproxy/socket.js';
import { serverLines } from '../../src/config/render.js';
import { buildModel } from '../../src/model/model.js';
import { eventually } from '../helpers/backends.js';
import { freePort, HAPROXY, tempDir } from '../helpers/haproxy.js';
import { ENABLE, entry, settings } from '../helpers/entries.js';

/** `show servers state` rows by server name: the fields after the name. */
async function rows(sock: string): Promise<Map<string, { op: string; admin: string; uweight: string; ssl: string }>> {
  const text = await socketCommand(sock, 'show servers state');
  return new Map(text.split('\n').filter((l) => /^\d+ /.test(l)).map((l) => {
    const f = l.split(' ');
    return [f[3] as string, { op: f[5] as string, admin: f[6] as string, uweight: f[7] as string, ssl: f[20] as string }];
  }));
}

test('the state file carries a drain, a runtime weight and a checked server; a server with nothing to carry has no row; a kept row takes the new config\'s ssl', { timeout: 60_000 }, async () => {
  const { dir, cleanup } = await tempDir();
  const port = await freePort(); // nothing listens: no traffic is sent, and the one check is an hour apart
  const sock = path.join(dir, 'stats.sock');
  const stateFile = path.join(dir, 'server-state');
  const names = ['plain', 'drained', 'weighted', 'checked'];
  const model = buildModel({ settings: settings(), entries: names.map((id) => entry('web', id, [ENABLE], { node: 'n', address: '127.0.0.1', port })) });
  const sslOn = new Set(['n:plain', 'n:drained']);
  const configOf = (ssl: boolean) => `global\n    stats socket ${sock} mode 600 level admin\n    server-state-file ${stateFile}\n`
    + 'defaults\n    mode http\n    load-server-state-from-file global\n    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\n'
    + `backend web\n${names.map((id) => `    server n:${id} 127.0.0.1:${port} weight 10${id === 'checked' ? ' check inter 1h' : ''}${ssl && sslOn.has(`n:${id}`) ? ' ssl verify none' : ''}\n`).join('')}`;
  const cfg = path.join(dir, 'haproxy.cfg');
  const launch = () => execa(HAPROXY, ['-db', '-f', cfg], { reject: false });
  // (A subprocess is a promise of its end: it is handed back in an object, not awaited.)
  const start = async (config: string) => {
    await writeFile(cfg, config);
    const proc = launch();
    await eventually(async () => (await rows(sock).catch(() => new Map())).size === names.length, 10_000, 'HAProxy up');
    return { proc };
  };
  const stop = async (proc: ReturnType<typeof launch>) => {
    proc.kill('SIGTERM');
    await proc;
  };
  let { proc } = await start(configOf(false));
  try {
    await socketCommand(sock, 'set server web/n:drained state drain');
    await socketCommand(sock, 'set server web/n:weighted weight 7');
    // The next config gives two servers `ssl` (a template change); the state is saved for it.
    const next = configOf(true);
    await saveServerState({ statsSocket: sock, file: stateFile, model, sslOf: sslFromConfig(next, serverLines(next)) });
    const saved = (await readFile(stateFile, 'utf8')).split('\n').filter((l) => /^\d+ /.test(l)).map((l) => l.split(' ')[3]);
    assert.deepEqual(saved.sort(), ['n:checked', 'n:drained', 'n:weighted'], 'no row for the server with nothing to carry');
    // HAProxy's own dump, as it was written before: its srv_use_ssl 0 turns the new config's ssl off.
    const raw = await socketCommand(sock, 'show servers state');
    await stop(proc);

    ({ proc } = await start(next));
    let after = await rows(sock);
    assert.equal(after.get('n:drained')?.admin, '8', 'the drain is carried');
    assert.equal(after.get('n:weighted')?.uweight, '7', 'the runtime weight is carried');
    assert.equal(after.get('n:drained')?.ssl, '1', 'the new config\'s ssl, though the row was kept');
    assert.equal(after.get('n:plain')?.ssl, '1');
    assert.deepEqual([after.get('n:plain')?.op, after.get('n:plain')?.admin, after.get('n:plain')?.uweight], ['2', '0', '10'], 'the server without a row starts as its config says');
    await stop(proc);

    await writeFile(stateFile, raw);
    ({ proc } = await start(next));
    after = await rows(sock);
    assert.equal(after.get('n:drained')?.ssl, '0', 'HAProxy applies the file\'s srv_use_ssl over the config\'s');
  } finally {
    await stop(proc);
    await cleanup();
  }
});
