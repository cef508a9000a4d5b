// SYN-drop rules never outlive a reload: after an invalid config, after HAProxy fails to start,
// after hapilot is SIGKILLed mid-reload (the restart sweeps it). Real iptables, private netns.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runInNetns } from '../../bench/lib/netns.js';

test('the SYN-drop rule (and its ip6tables twin) is removed on every path, and swept after a crash', async () => {
  const r = await runInNetns('test/netns/firewall-scenarios.ts', [], 120_000);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as {
    startedServing: boolean;
    invalid: { reloadOk: boolean; rulesLeft: number; stillServing: boolean };
    startFailure: { reloadOk: boolean; message: string; rulesLeft: number; stillServing: boolean };
    sigkill: { ruleDuringReload: number; rulesAfterKill: number; rulesAfterRestart: number; servingAfterRestart: boolean; ready: boolean; sweptLogged: boolean };
    haproxyStoppedAtEnd: boolean;
    ipv6: { ip6tablesRules: number; allRules: number; after: number };
  };
  assert.equal(out.startedServing, true);
  assert.deepEqual(out.invalid, { reloadOk: false, rulesLeft: 0, stillServing: true });
  assert.equal(out.startFailure.reloadOk, false);
  assert.match(out.startFailure.message, /did not start/);
  assert.equal(out.startFailure.rulesLeft, 0);
  assert.equal(out.startFailure.stillServing, true);
  assert.ok(out.sigkill.ruleDuringReload > 0, 'the rule was in place during the reload');
  assert.ok(out.sigkill.rulesAfterKill > 0, 'SIGKILL left the rule behind (what the sweep is for)');
  assert.equal(out.sigkill.sweptLogged, true, 'the restarted hapilot swept the crashed run\'s rule (and said so)');
  assert.equal(out.sigkill.ready, true);
  assert.equal(out.sigkill.rulesAfterRestart, 0, 'no rule left once the restarted hapilot is running');
  assert.equal(out.sigkill.servingAfterRestart, true);
  assert.equal(out.haproxyStoppedAtEnd, true);
  assert.deepEqual(out.ipv6, { ip6tablesRules: 1, allRules: 2, after: 0 }, 'IPv6 binds get an ip6tables twin, removed with the IPv4 rule');
});
