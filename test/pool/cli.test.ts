// The pool commands end to end: a real Consul agent (the simulator only where a race must be lost
// at a chosen moment), a real HAProxy, the pool rules applied
// through the Runtime API (test/pool/lab.ts), and the CLI as a user runs it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { eventually } from '../helpers/backends.js';
import { load, startLab, type Lab } from './lab.js';

const KEY = (id: string) => `hapilot/pool/web/${id}`;
const stateOf = async (lab: Lab, server: string) => (await lab.stat()).find((r) => r.server === server);

async function withLab(fn: (lab: Lab) => Promise<void>, o: { instances?: number; threshold?: number; consul?: 'real' | 'sim' } = {}) {
  const lab = await startLab(o);
  try {
    await fn(lab);
  } finally {
    await lab.teardown();
  }
}

test('depool --wait: written to KV, verified MAINT with 0 sessions on the stats socket; pool --wait brings it back UP', { timeout: 60_000 }, async () => {
  await withLab(async (lab) => {
    const r = await lab.cli(['depool', 'web', 'web-1', '--reason', 'kernel upgrade', '--wait', '--timeout', '15s', '--haproxy-status', lab.socket]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /hapilot\/pool\/web\/web-1: yes → no/);
    assert.match(r.stdout, /verified on 1 HAProxy: web\/n1:web-1 depooled/);
    assert.match((await stateOf(lab, 'n1:web-1'))?.status ?? '', /^MAINT/);
    const rec = JSON.parse(await lab.consul.kvValue(KEY('web-1')) ?? '{}') as { state: string; reason: string; by: string; at: string };
    assert.equal(rec.state, 'no');
    assert.equal(rec.reason, 'kernel upgrade');
    assert.match(rec.by, /@/);
    assert.ok(Date.parse(rec.at) > 0);
    const p = await lab.cli(['pool', 'web', 'web-1', '--wait', '--timeout', '15s', '--haproxy-status', lab.socket]);
    assert.equal(p.code, 0, p.stderr);
    assert.match((await stateOf(lab, 'n1:web-1'))?.status ?? '', /^UP/);
  });
});

test('refused: an instance that does not exist, and no instance named at all', { timeout: 60_000 }, async () => {
  await withLab(async (lab) => {
    const r = await lab.cli(['depool', 'web', 'web-9']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^hapilot: error: instance "web-9" of service web does not exist in Consul: expected one of web-1, web-2, web-3, web-4\n$/, "one line");
    const n = await lab.cli(['drain', 'web', '--node', 'n7']);
    assert.equal(n.code, 1);
    assert.match(n.stderr, /service web has no instance on node "n7": its nodes are n1, n2, n3, n4/);
    const u = await lab.cli(['depool', 'web']);
    assert.equal(u.code, 2);
    assert.match(u.stderr, /name the instances \(Consul service IDs\), or use --node NODE or --all/);
    const s = await lab.cli(['depool', 'nosuch', 'x']);
    assert.equal(s.code, 1);
    assert.match(s.stderr, /service "nosuch" has no instances in Consul/);
    assert.deepEqual(await lab.consul.kvKeys('hapilot/pool/'), [], 'nothing was written');
  });
});

test('threshold: a depool that would cross it is refused, saying how many servers are out and why', { timeout: 60_000 }, async () => {
  await withLab(async (lab) => {
    await lab.consul.setStatus('n4', 'web-4', 'critical');
    const first = await lab.cli(['depool', 'web', 'web-3']);
    assert.equal(first.code, 0, first.stderr);
    const r = await lab.cli(['depool', 'web', 'web-2']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /refused to set web-2 to no: backend web would have 1 of 4 servers in rotation \(3 out: 2 depooled, 1 failing Consul checks\), below its depool threshold 0\.5 \(at least 2\)/);
    assert.equal(await lab.consul.kvValue(KEY('web-2')), undefined);
    // A per-backend tag overrides the default.
    await lab.consul.register('n1', 'web-1', ['HAPROXY.ENABLE=true', 'HAPROXY.BACKEND.DEPOOL_THRESHOLD=0.25'], lab.backends[0]!.port);
    const ok = await lab.cli(['depool', 'web', 'web-2']);
    assert.equal(ok.code, 0, ok.stderr);
  });
});

test('threshold holds when all but one instance fail their Consul checks: the kept server stays in rotation and is reported', { timeout: 60_000 }, async () => {
  await withLab(async (lab) => {
    for (const i of [2, 3, 4]) await lab.consul.setStatus(`n${i}`, `web-${i}`, 'critical');
    await eventually(async () => (await lab.stat()).filter((r) => /^MAINT/.test(r.status)).length === 2, 10_000, 'two servers in maintenance');
    const inRotation = (await lab.stat()).filter((r) => !/^MAINT/.test(r.status)).map((r) => r.server);
    assert.equal(inRotation.length, 2, `two in rotation: ${inRotation.join(', ')}`);
    assert.equal(inRotation[0], 'n1:web-1', 'the healthy one');
    // Which failing one is kept: the one in rotation before (the last to fail, as the checks arrive one by one).
    const b = lab.decisions()?.backends[0];
    assert.deepEqual([b?.counted, b?.wantIn, b?.minInRotation, b?.kept], [4, 1, 2, [inRotation[1]]]);
    assert.equal(lab.decisions()?.servers.find((d) => d.server === inRotation[1])?.outReason, 'failing Consul checks');
  });
});

test('concurrent writes: a lost check-and-set is reported and nothing is overwritten', { timeout: 60_000 }, async () => {
  await withLab(async (lab) => {
    // The simulator, to lose the race at a chosen moment: between the CLI's read and its write.
    const kv = lab.consul.kvSim;
    assert.ok(kv);
    let slipped = false;
    kv.beforeCas = (key) => {
      if (slipped) return;
      slipped = true;
      kv.put(key, '{"state":"drain","by":"other@op"}'); // the other operator wins the race
    };
    const r = await lab.cli(['depool', 'web', 'web-1']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /hapilot\/pool\/web\/web-1 changed since it was read \(check-and-set index 0 lost: another operator or tool wrote it\); nothing was overwritten there: read the state again and retry/);
    assert.equal(await lab.consul.kvValue(KEY('web-1')), '{"state":"drain","by":"other@op"}');
  }, { consul: 'sim' });
});

test('depool under load loses no request, and the server\'s sessions go to 0', { timeout: 90_000 }, async () => {
  await withLab(async (lab) => {
    const l = load(lab.httpPort);
    await new Promise((r) => setTimeout(r, 1000));
    const r = await lab.cli(['depool', 'web', 'web-1', '--wait', '--timeout', '20s', '--haproxy-status', lab.socket]);
    await new Promise((r2) => setTimeout(r2, 500));
    const { ok, failures } = await l.stop();
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(failures, [], `${failures.length} failed of ${ok + failures.length}`);
    assert.ok(ok > 200, `enough traffic to mean something (${ok} requests)`);
    const s = await stateOf(lab, 'n1:web-1');
    assert.match(s?.status ?? '', /^MAINT/);
    assert.equal(s?.sessions, 0);
  });
});

test('drain lets open connections finish: --wait returns only once the slow request is done', { timeout: 60_000 }, async () => {
  await withLab(async (lab) => {
    // One slow request per server (round robin), each holding a session for 3 s.
    const started = Date.now();
    const slow = Array.from({ length: 4 }, () => new Promise<{ status: number; body: string }>((resolve, reject) => {
      http.get({ host: '127.0.0.1', port: lab.httpPort, path: '/slow?ms=3000', agent: false }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => { body += c.toString(); });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      }).on('error', reject);
    }));
    await eventually(async () => ((await stateOf(lab, 'n1:web-1'))?.sessions ?? 0) > 0, 5000, 'a session on web-1');
    const r = await lab.cli(['drain', 'web', 'web-1', '--wait', '--timeout', '20s', '--haproxy-status', lab.socket]);
    const waited = Date.now() - started;
    assert.equal(r.code, 0, r.stderr);
    assert.ok(waited >= 2900, `--wait returned after the open request finished (${waited} ms)`);
    const answers = await Promise.all(slow);
    assert.deepEqual(answers.map((a) => a.status), [200, 200, 200, 200]);
    assert.ok(answers.some((a) => a.body === 'web-1'), 'the drained server finished its request');
    assert.match((await stateOf(lab, 'n1:web-1'))?.status ?? '', /^DRAIN/);
  });
});

test('--wait fails with what is still wrong when HAProxy does not follow within the timeout', { timeout: 60_000 }, async () => {
  await withLab(async (lab) => {
    // Three of four fail their checks; hapilot (threshold 0.5) keeps web-1, the healthy one, in
    // rotation whatever the record says. A CLI told a threshold of 0 writes the depool anyway.
    for (const i of [2, 3, 4]) await lab.consul.setStatus(`n${i}`, `web-${i}`, 'critical');
    await eventually(() => lab.decisions()?.backends[0]?.wantIn === 1, 10_000, 'three failing');
    const r = await lab.cli(['depool', 'web', 'web-1', '--depool-threshold', '0', '--wait', '--timeout', '2s', '--haproxy-status', lab.socket]);
    assert.equal(r.code, 3, r.stderr);
    assert.match(r.stderr, /depool web not confirmed by HAProxy within 2 s: .*haproxy\.sock: web\/n1:web-1 is UP, expected MAINT/);
  }, { threshold: 0.5 });
});

test('cycle: depool, verify, run, repool only what was pooled, verify; a failed command leaves it depooled', { timeout: 120_000 }, async () => {
  await withLab(async (lab) => {
    const seen = path.join(os.tmpdir(), `hapilot-cycle-${process.pid}.txt`);
    // The "restart": records what HAProxy shows for web-1 while it runs.
    const probe = `const s=require('net').connect(process.argv[1]);let d='';s.on('connect',()=>s.end('show stat\\n'));s.on('data',c=>d+=c);s.on('close',()=>require('fs').writeFileSync(process.argv[2],d.split('\\n').filter(l=>l.includes('n1:web-1')).join('\\n')))`;
    const r = await lab.cli(['cycle', 'web', 'web-1', '--timeout', '15s', '--haproxy-status', lab.socket, '--', process.execPath, '-e', probe, lab.socket, seen]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(await readFile(seen, 'utf8'), /,MAINT,/, 'the command ran while HAProxy had the server in maintenance');
    assert.equal(JSON.parse(await lab.consul.kvValue(KEY('web-1')) ?? '{}').state, 'yes', 'repooled');
    assert.match((await stateOf(lab, 'n1:web-1'))?.status ?? '', /^UP/);
    assert.match(r.stdout, /web-1: yes → no[\s\S]*verified[\s\S]*running:[\s\S]*web-1: no → yes[\s\S]*verified/);

    // Already depooled: stays depooled.
    await lab.consul.kvPut(KEY('web-2'), '{"state":"no","reason":"broken disk"}');
    await eventually(async () => /^MAINT/.test((await stateOf(lab, 'n2:web-2'))?.status ?? ''), 10_000, 'web-2 in maint');
    const r2 = await lab.cli(['cycle', 'web', 'web-2', '--timeout', '15s', '--haproxy-status', lab.socket, '--', 'true']);
    assert.equal(r2.code, 0, r2.stderr);
    assert.match(r2.stdout, /was not pooled before \(no\): left as it is/);
    assert.equal(JSON.parse(await lab.consul.kvValue(KEY('web-2')) ?? '{}').reason, 'broken disk', 'its record was not touched');

    // A failing command: exit 5, left depooled, and said so.
    const r3 = await lab.cli(['cycle', 'web', 'web-3', '--timeout', '15s', '--haproxy-status', lab.socket, '--', 'sh', '-c', 'exit 7']);
    assert.equal(r3.code, 5, r3.stderr);
    assert.match(r3.stderr, /command "sh -c exit 7" failed \(exit status 7\): web\/web-3 is left depooled; pool it again with `hapilot pool web web-3` once it is fixed/);
    assert.equal(JSON.parse(await lab.consul.kvValue(KEY('web-3')) ?? '{}').state, 'no');

    // Depool refused by the threshold (web-2 and web-3 are out): exit 3, command not run.
    const r4 = await lab.cli(['cycle', 'web', 'web-4', '--timeout', '15s', '--haproxy-status', lab.socket, '--', 'sh', '-c', `touch ${seen}.ran`]);
    assert.equal(r4.code, 3, r4.stderr);
    assert.match(r4.stderr, /below its depool threshold/);
    await assert.rejects(readFile(`${seen}.ran`), 'the command did not run');
    await rm(seen, { force: true });
  });
});
