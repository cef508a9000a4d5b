// Verification: the judgement of one server (table), show stat CSV and hapilot /status parsing, the
// three kinds of --haproxy-status source, the poll's timeout; and the Runtime API commands.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { judgeServer, verifyStates, type Expectation } from '../../src/pool/verify.js';
import { observeServers, parseStatCsv, parseStatusJson, type ObservedServer } from '../../src/pool/observe.js';
import { changedBackends, poolRuntimeCommands } from '../../src/pool/runtime.js';
import { applyPoolStates } from '../../src/pool/rules.js';
import { ingestPoolKv } from '../../src/pool/table.js';
import { isHapilotError } from '../../src/errors.js';

const seen = (status: string, sessions = 0, o: Partial<ObservedServer> = {}): ObservedServer => ({ backend: 'web', server: 'n1:a', status, sessions, weight: 1, keptByThreshold: undefined, ...o });

test('judgeServer: each expectation against what HAProxy shows', () => {
  const cases: Array<[Expectation, ObservedServer | undefined, RegExp | undefined]> = [
    ['pooled', seen('UP'), undefined],
    ['pooled', seen('UP 1/3'), undefined],
    ['pooled', seen('no check'), undefined],
    ['pooled', seen('MAINT'), /web\/n1:a is MAINT, expected UP/],
    ['pooled', seen('DOWN'), /is DOWN, expected UP/],
    ['pooled', undefined, /is not in HAProxy, expected UP/],
    ['depooled', seen('MAINT'), undefined],
    ['depooled', seen('MAINT (resolution)'), undefined],
    ['depooled', undefined, undefined],
    ['depooled', seen('MAINT', 2), /still has 2 current sessions, expected 0/],
    ['depooled', seen('UP', 0, { keptByThreshold: true }), /is UP \(kept in rotation by the depool threshold of its backend\), expected MAINT/],
    ['drained', seen('DRAIN'), undefined],
    ['drained', seen('DRAIN', 1), /still has 1 current sessions/],
    ['drained', seen('UP'), /expected DRAIN/],
    ['absent', undefined, undefined],
    ['absent', seen('MAINT', 1), /still in HAProxy \(MAINT, 1 sessions\), expected it gone/],
  ];
  for (const [expect, obs, want] of cases) {
    const why = judgeServer({ backend: 'web', server: 'n1:a', expect }, obs);
    if (want) assert.match(why ?? '', want, `${expect} / ${obs?.status}`);
    else assert.equal(why, undefined, `${expect} / ${obs?.status}`);
  }
});

const CSV = '# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight\nf,FRONTEND,,,3,5,,,,,,,,,,,,OPEN,\nweb,n1:a,0,0,2,4,,,,,,,,,,,,DRAIN,7\nweb,BACKEND,0,0,2,4,,,,,,,,,,,,UP,7\n';

test('parseStatCsv keeps server rows with status, sessions and weight; a foreign answer is an error', () => {
  assert.deepEqual(parseStatCsv(CSV), [{ backend: 'web', server: 'n1:a', status: 'DRAIN', sessions: 2, weight: 7, keptByThreshold: undefined }]);
  assert.throws(() => parseStatCsv('Unknown command\n'), (err) => isHapilotError(err) && /without the expected columns/.test(err.message));
});

test('parseStatusJson reads the backends of a hapilot /status; anything else is a usage error naming the source', () => {
  const json = { backends: [{ name: 'web', servers: [{ name: 'n1:a', keptByThreshold: true, haproxy: { status: 'UP', sessions: 1, weight: 2 } }, { name: 'n2:b', haproxy: null }] }] };
  assert.deepEqual(parseStatusJson(json, 'u'), [{ backend: 'web', server: 'n1:a', status: 'UP', sessions: 1, weight: 2, keptByThreshold: true }]);
  assert.throws(() => parseStatusJson({ services: [] }, 'http://x/status'), (err) => isHapilotError(err) && /--haproxy-status http:\/\/x\/status: the answer is not a hapilot \/status with backends at backends/.test(err.message));
});

test('observeServers: an HAProxy stats CSV URL and a hapilot /status URL; for some backends, a /status URL asks for those alone', async () => {
  const asked: string[] = [];
  const server = http.createServer((req, res) => {
    asked.push(req.url ?? '');
    if (req.url === '/stats;csv') { res.writeHead(200, { 'content-type': 'text/plain' }); res.end(CSV); return; }
    if (req.url?.startsWith('/status')) { res.writeHead(200, { 'content-type': 'application/json' }); res.end(JSON.stringify({ backends: [{ name: 'web', servers: [{ name: 'n1:a', haproxy: { status: 'MAINT', sessions: 0, weight: 1 } }] }] })); return; }
    res.writeHead(404); res.end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  try {
    assert.equal((await observeServers(`${base}/stats;csv`))[0]?.status, 'DRAIN');
    assert.equal((await observeServers(`${base}/status`))[0]?.status, 'MAINT');
    await assert.rejects(observeServers(`${base}/nope`), /answered HTTP 404/);
    asked.length = 0;
    assert.equal((await observeServers(`${base}/status`, 5000, new Set(['web', 'a&b'])))[0]?.status, 'MAINT');
    assert.equal((await observeServers(`${base}/stats;csv`, 5000, new Set(['web'])))[0]?.status, 'DRAIN');
    assert.deepEqual(asked, ['/status?backend=web&backend=a%26b', '/stats;csv'], 'the backends in the /status query, escaped; an HAProxy URL as given');
  } finally {
    server.close();
  }
  await assert.rejects(observeServers('/nonexistent/haproxy.sock'), (err) => isHapilotError(err));
});

test('verifyStates polls until every source agrees, or reports what is still wrong at the timeout', async () => {
  let round = 0;
  const observe = async (source: string) => {
    round += 1;
    if (source === 'broken') throw new Error('connection refused');
    return [seen(round >= 3 ? 'MAINT' : 'UP')];
  };
  const targets = [{ backend: 'web', server: 'n1:a', expect: 'depooled' as const }];
  const ok = await verifyStates({ sources: ['lb1'], targets, timeoutMs: 5000, intervalMs: 1, observe });
  assert.equal(ok.ok, true);
  assert.equal(round, 3);
  const bad = await verifyStates({ sources: ['lb1', 'broken'], targets, timeoutMs: 30, intervalMs: 5, observe });
  assert.equal(bad.ok, false);
  assert.deepEqual(bad.problems, ['broken: connection refused']);
});

test('poolRuntimeCommands: only what differs from HAProxy, weight before state, nothing for servers HAProxy lacks or inactive ones', () => {
  const inst = (id: string) => ({ backend: 'web', server: `n:${id}`, service: 'web', node: 'n', serviceId: id, address: '127.0.0.1', port: 1, weight: 1, health: 'passing' as const, maintenance: undefined });
  const table = ingestPoolKv({ prefix: 'p', pairs: [
    { key: 'p/web/a', value: '{"state":"no","weight":5}', modifyIndex: 1 },
    { key: 'p/web/b', value: '{"state":"drain"}', modifyIndex: 1 },
    { key: 'p/web/d', value: '{"state":"inactive"}', modifyIndex: 1 },
  ] });
  const decisions = applyPoolStates({ instances: ['a', 'b', 'c', 'd', 'e'].map(inst), table, defaultThreshold: 0 });
  const obs = (id: string, status: string, weight = 1) => ({ backend: 'web', server: `n:${id}`, status, sessions: 0, weight, keptByThreshold: undefined });
  assert.deepEqual(poolRuntimeCommands(decisions, [obs('a', 'UP'), obs('b', 'DRAIN'), obs('c', 'MAINT'), obs('d', 'UP')]), [
    'set server web/n:a weight 5',
    'set server web/n:a state maint',
    'set server web/n:c state ready',
  ]);
});

test('changedBackends: only backends whose decisions moved; all of them the first time; a vanished server counts', () => {
  const inst = (b: string, id: string) => ({ backend: b, server: `n:${id}`, service: b, node: 'n', serviceId: id, address: '127.0.0.1', port: 1, weight: 1, health: 'passing' as const, maintenance: undefined });
  const all = [inst('a', '1'), inst('b', '2'), inst('c', '3')];
  const first = applyPoolStates({ instances: all, table: ingestPoolKv({ prefix: 'p', pairs: [] }), defaultThreshold: 0 });
  assert.deepEqual([...changedBackends(undefined, first)].sort(), ['a', 'b', 'c']);
  const prev = new Map(first.servers.map((s) => [`${s.backend}/${s.server}`, s]));
  const next = applyPoolStates({ instances: all.slice(0, 2), table: ingestPoolKv({ prefix: 'p', pairs: [{ key: 'p/b/2', value: '{"state":"no"}', modifyIndex: 2 }] }), defaultThreshold: 0 });
  assert.deepEqual([...changedBackends(prev, next)].sort(), ['b', 'c']);
});
