// A hapilot SIGKILLed mid-reload and not restarted: the SYN-drop rule is gone within a bound
// (pause + crash bound), so it does not blackhole new connections until someone restarts hapilot.
// Real iptables, private netns.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runInNetns } from '../../bench/lib/netns.js';

test('a SYN-drop rule left by a SIGKILL mid-reload is removed by its watchdog within the bound, without a restart', async () => {
  const r = await runInNetns('test/netns/syn-drop-crash-scenario.ts', [], 60_000);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as {
    watchdogDuringRule: number; normal: { rules: number; watchdogs: number };
    ruleSeen: boolean; rulesAfterKill: number; blockedAfterKill: boolean; goneAfterMs: number; boundMs: number; servingAfter: boolean;
  };
  assert.equal(out.watchdogDuringRule, 1, 'a watchdog guards the rule');
  assert.deepEqual(out.normal, { rules: 0, watchdogs: 0 }, 'the normal path removes the rule and ends its watchdog');
  assert.equal(out.ruleSeen, true);
  assert.ok(out.rulesAfterKill > 0, 'SIGKILL left the rule behind');
  assert.equal(out.blockedAfterKill, true, 'new connections were dropped while it stood');
  assert.ok(out.goneAfterMs > 0 && out.goneAfterMs <= out.boundMs + 2000, `rule gone after ${out.goneAfterMs} ms (bound ${out.boundMs} ms)`);
  assert.equal(out.servingAfter, true, 'new connections reach HAProxy again');
});
