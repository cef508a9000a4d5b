// selfCheck after a reload: every frontend port accepts connections and every backend HAProxy runs
// has the servers the model gives it, read from one `show servers state` (grouped by backend once),
// whose rows the pool's reconciliation then reads as it read `show stat`'s.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { selfCheck } from '../../src/haproxy/self-check.js';
import { parseShowStat, socketCommand } from '../../src/haproxy/socket.js';
import { observedAdmin } from '../../src/pool/runtime.js';
import type { Model } from '../../src/model/model.js';
import { eventually } from '../helpers/backends.js';
import { freePorts, HAPROXY, tempDir } from '../helpers/haproxy.js';

const server = (name: string) => ({ name, address: '127.0.0.1', port: 9, weight: 1, hostname: false, node: 'n', serviceId: name });
const modelOf = (backends: Record<string, string[]>) => ({ backends: Object.entries(backends).map(([name, servers]) => ({ name, servers: servers.map(server) })) }) as unknown as Model;

test('selfCheck: a backend missing a server of the model is reported by name; a frontend port that refuses is too', { timeout: 30_000 }, async () => {
  const { dir, cleanup } = await tempDir();
  const [port, closed] = await freePorts(2) as [number, number];
  const sock = path.join(dir, 'stats.sock');
  const config = `global\n    stats socket ${sock} mode 600 level admin\ndefaults\n    mode http\n    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\n`
    + `frontend f\n    bind 127.0.0.1:${port}\n    default_backend a\n`
    + 'backend a\n    server s1 127.0.0.1:9\n    server s2 127.0.0.1:9\nbackend b\n    server s1 127.0.0.1:9\nbackend empty\n';
  const cfg = path.join(dir, 'haproxy.cfg');
  await writeFile(cfg, config);
  const proc = execa(HAPROXY, ['-db', '-f', cfg], { reject: false });
  try {
    await eventually(async () => (await selfCheck({ config, model: undefined, statsSocket: sock })).ok, 10_000, 'HAProxy up');
    const passed = await selfCheck({ config, model: modelOf({ a: ['s1', 's2'], b: ['s1'], empty: [] }), statsSocket: sock });
    assert.deepEqual({ ok: passed.ok, problems: passed.problems }, { ok: true, problems: [] });
    // The rows it read are handed on (the pool's reconciliation after a reload looks at them).
    assert.deepEqual(passed.rows?.map((r) => `${r.backend}/${r.server}`).sort(), ['a/s1', 'a/s2', 'b/s1']);
    const missing = await selfCheck({ config, model: modelOf({ a: ['s1', 's2', 's3'], b: ['s1', 's4'], c: ['s5'] }), statsSocket: sock });
    assert.deepEqual(missing.problems, ['backend a lacks s3', 'backend b lacks s4', 'backend c lacks s5']);
    const refused = await selfCheck({ config: `${config}frontend g\n    bind 127.0.0.1:${closed}\n`, model: undefined, statsSocket: sock, timeoutMs: 500 });
    assert.deepEqual(refused.problems, [`frontend port 127.0.0.1:${closed} refuses connections`]);
  } finally {
    proc.kill('SIGTERM');
    await proc;
    await cleanup();
  }
});

test('the self-check\'s `show servers state` rows give the pool what `show stat` gave it: admin state and weight, server by server', { timeout: 30_000 }, async () => {
  const { dir, cleanup } = await tempDir();
  const [closed] = await freePorts(1) as [number];
  const sock = path.join(dir, 'stats.sock');
  const down = `check inter 100ms fall 1 rise 1`; // nothing listens on ${closed}: these go down
  const servers: Record<string, string> = { ready: '', drained: '', maint: '', disabled: 'disabled', weighted: '', down, drainedDown: down, maintDrained: '', zero: '' };
  const config = `global\n    stats socket ${sock} mode 600 level admin\ndefaults\n    mode http\n    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\n`
    + `backend a\n${Object.entries(servers).map(([name, extra]) => `    server ${name} 127.0.0.1:${closed} weight 10 ${extra}\n`).join('')}`;
  const cfg = path.join(dir, 'haproxy.cfg');
  await writeFile(cfg, config);
  const proc = execa(HAPROXY, ['-db', '-f', cfg], { reject: false });
  try {
    await eventually(async () => (await selfCheck({ config, model: undefined, statsSocket: sock })).ok && (await socketCommand(sock, 'show info').catch(() => '')).includes('Name: HAProxy'), 10_000, 'HAProxy up');
    for (const c of ['a/drained state drain', 'a/maint state maint', 'a/weighted weight 7', 'a/drainedDown state drain', 'a/maintDrained state drain', 'a/maintDrained state maint', 'a/zero weight 0']) await socketCommand(sock, `set server ${c}`);
    const stat = async () => new Map(parseShowStat(await socketCommand(sock, 'show stat')).map((r) => [r.server, r]));
    await eventually(async () => (await stat()).get('down')?.status.startsWith('DOWN') === true && (await stat()).get('drainedDown')?.status.startsWith('DOWN') === true, 10_000, 'checks down');
    const model = modelOf({ a: Object.keys(servers) });
    const check = await selfCheck({ config, model, statsSocket: sock });
    assert.equal(check.ok, true, check.problems.join('; '));
    const byStat = await stat();
    const byState = new Map(check.rows?.map((r) => [r.server, r]));
    assert.deepEqual([...byState.keys()].sort(), Object.keys(servers).sort());
    for (const name of Object.keys(servers)) {
      const s = byStat.get(name);
      const t = byState.get(name);
      assert.equal(t?.weight, s?.weight, `${name}: weight`);
      // A drained server whose checks fail shows only DOWN in `show stat`; its admin state is drain.
      const admin = name === 'drainedDown' ? 'drain' : observedAdmin(s?.status ?? '');
      assert.equal(observedAdmin(t?.status ?? ''), admin, `${name}: admin state (show stat says ${s?.status}, the state row ${t?.status})`);
    }
    assert.deepEqual(['ready', 'drained', 'maint', 'disabled', 'weighted', 'down', 'maintDrained', 'zero'].map((n) => byState.get(n)?.status), ['UP', 'DRAIN', 'MAINT', 'MAINT', 'UP', 'DOWN', 'MAINT', 'UP']);
    assert.deepEqual([byState.get('weighted')?.weight, byState.get('zero')?.weight], [7, 0]);
    assert.equal(byStat.get('drainedDown')?.status, 'DOWN', 'what show stat shows of a drained server that is down');
  } finally {
    proc.kill('SIGTERM');
    await proc;
    await cleanup();
  }
});
