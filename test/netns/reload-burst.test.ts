// A short burst of reloads under load, for each strategy, with a real HAProxy and real iptables in a
// private network namespace: zero failed requests, no firewall rule and no old process left.
// (The long runs with numbers are `npm run bench:reload`, see docs/benchmarks.md.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runScenarioInNetns } from '../../bench/lib/netns.js';
import type { ScenarioResult } from '../../bench/lib/scenario.js';

const cases: Array<{ strategy: 'syn-drop' | 'seamless' | 'runtime' | 'auto'; mode: 'close' | 'keepalive' }> = [
  { strategy: 'syn-drop', mode: 'close' },
  { strategy: 'seamless', mode: 'close' },
  { strategy: 'seamless', mode: 'keepalive' },
  { strategy: 'runtime', mode: 'close' },
  { strategy: 'auto', mode: 'keepalive' },
];

for (const c of cases) {
  test(`${c.strategy} (${c.mode}): 15 reloads under load, 0 failed requests, nothing left behind`, async () => {
    // syn-drop at one reload per 1.5 s: each reload blocks new connections for ~0.2 s and every
    // dropped SYN costs its client a 1 s retransmit (docs/benchmarks.md).
    const rate = c.strategy === 'syn-drop' ? 0.667 : 5;
    const r = await runScenarioInNetns<ScenarioResult>({ ...c, reloads: 15, ratePerSec: rate, concurrency: 30 }, 120_000);
    assert.equal(r.failed, 0, JSON.stringify(r));
    assert.ok(r.requests > 1000, `load was applied: ${r.requests} requests`);
    assert.equal(r.reloadFailures, 0);
    // auto: a step that adds or removes the extra service and changes a weight is two applies, the
    // weight first through the Runtime API, then the reload.
    if (c.strategy === 'auto') assert.ok(r.reloadsDone >= 15, JSON.stringify(r));
    else assert.equal(r.reloadsDone, 15, JSON.stringify(r));
    assert.equal(r.firewallRulesLeft, 0);
    assert.equal(r.oldProcessesLeft, 0);
    if (c.strategy === 'syn-drop') assert.ok(r.synRetrans > 0, 'SYNs were dropped and retransmitted (the rule was really in place)');
  });
}
