// npm run bench:reload — zero-downtime reloads measured. For each strategy and each client mode
// (a new connection per request; keep-alive), inside a private network namespace: a real HAProxy in
// front of a backend farm, a load generator timing connect() to last byte, and N reloads at R per
// second. Prints one table (and JSON with --json). Options: --reloads N (200), --rate R (4),
// --syn-drop-rate R (0.667), --concurrency C (50), --only a,b.
// syn-drop runs slower: each reload drops new SYNs for ~0.2 s and every dropped SYN costs its client
// a 1 s retransmit (then 3 s, 7 s): at 4 reloads/s the frontend would be blocked most of the time,
// and at exactly 1/s a retransmit lands in the next reload's window again.
import { runScenarioInNetns } from './lib/netns.js';
import type { ScenarioOptions, ScenarioResult } from './lib/scenario.js';
import { arg } from './lib/args.js';

const reloads = Number(arg('reloads', '200'));
const rate = Number(arg('rate', '4'));
const concurrency = Number(arg('concurrency', '50'));
const synDropRate = Number(arg('syn-drop-rate', '0.667'));
const only = arg('only', '').split(',').filter(Boolean);

const runs: Array<ScenarioOptions & { label: string }> = [];
for (const mode of ['close', 'keepalive'] as const) {
  runs.push({ label: 'no reloads (baseline)', strategy: 'none', mode, reloads: 0, ratePerSec: rate, concurrency, warmupMs: Math.round((reloads / rate) * 1000) });
  runs.push({ label: 'plain haproxy -sf (unprotected)', strategy: 'plain-sf', mode, reloads, ratePerSec: rate, concurrency });
  runs.push({ label: 'syn-drop, no pause', strategy: 'syn-drop', mode, reloads: Math.ceil(reloads / 2), ratePerSec: synDropRate, concurrency, synDropPauseMs: 0 });
  runs.push({ label: 'syn-drop (100 ms pause)', strategy: 'syn-drop', mode, reloads, ratePerSec: synDropRate, concurrency, synDropPauseMs: 100 });
  runs.push({ label: 'seamless (master-worker)', strategy: 'seamless', mode, reloads, ratePerSec: rate, concurrency });
  runs.push({ label: 'runtime (Runtime API)', strategy: 'runtime', mode, reloads, ratePerSec: rate, concurrency });
  runs.push({ label: 'auto (default)', strategy: 'auto', mode, reloads, ratePerSec: rate, concurrency });
}

const results: Array<ScenarioResult & { label: string; rate: number }> = [];
for (const r of runs) {
  if (only.length && !only.includes(r.strategy)) continue;
  const { label, ...opts } = r;
  process.stderr.write(`running ${label} / ${opts.mode} ...\n`);
  const res = await runScenarioInNetns<ScenarioResult>(opts, 30 * 60_000);
  results.push({ label, rate: opts.ratePerSec, ...res });
}

const header = ['strategy', 'clients', 'reloads/s', 'requests', 'req/s', 'failed', '(refused/reset/timeout/non-2xx)', 'p50 ms', 'p99 ms', 'max ms', 'reloads', 'reload failures', 'old procs left', 'fw rules left', 'SYN retrans'];
const rows = results.map((r) => [r.label, r.mode === 'close' ? 'new conn/request' : 'keep-alive', r.strategy === 'none' ? '-' : r.rate, r.requests, r.reqPerSec, r.failed, `${r.refused}/${r.reset}/${r.timeout}/${r.non2xx}`, r.p50, r.p99, r.max, r.reloadsDone, r.reloadFailures, r.oldProcessesLeft, r.firewallRulesLeft, r.synRetrans].map(String));
console.log(`| ${header.join(' | ')} |`);
console.log(`|${header.map(() => '---').join('|')}|`);
for (const row of rows) console.log(`| ${row.join(' | ')} |`);
if (process.argv.includes('--json')) console.log(JSON.stringify(results));
