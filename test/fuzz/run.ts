// `npm run fuzz`: the fuzz properties of test/fuzz/properties.ts, long (over 100,000 cases in all).
// FUZZ_SCALE multiplies the runs (FUZZ_SCALE=0.1 for a quick pass); FC_SEED picks the seed (default:
// random, printed, so that a failure can be replayed with FC_SEED=<seed>).
import path from 'node:path';
import * as P from './properties.js';
import { haproxyCheck, tempDir } from '../helpers/haproxy.js';
import { tempPaths } from '../helpers/render.js';

const scale = Number(process.env.FUZZ_SCALE ?? 1);
const seed = Number(process.env.FC_SEED ?? Math.floor(Math.random() * 2 ** 31));
const o = await P.oracle();
const runs = (n: number) => Math.max(1, Math.round(n * scale));

const plan: Array<[string, number, (numRuns: number) => void | Promise<void>]> = [
  ['catalogs render only template lines', runs(40_000), (numRuns) => P.catalogsRenderOnlyTemplateLines(o, { numRuns, seed })],
  ['catalog file text: entries or one coded line', runs(30_000), (numRuns) => P.catalogTextNeverCrashes(o, { numRuns, seed })],
  ['tag lists never crash the parser', runs(20_000), (numRuns) => P.tagsNeverCrash({ numRuns, seed })],
  ['environment values: one line or template lines', runs(10_000), (numRuns) => P.settingsNeverInject(o, { numRuns, seed })],
  ['entry order never changes the config', runs(5_000), (numRuns) => P.orderDoesNotMatter(o, { numRuns, seed })],
  ['hostile IP catalogs pass the real haproxy -c', runs(300), async (numRuns) => {
    const { dir, cleanup } = await tempDir();
    try {
      await P.catalogsPassHaproxy(o, { numRuns, seed, paths: tempPaths(dir), check: (r) => haproxyCheck(r, path.join(dir, 'haproxy.cfg')) });
    } finally {
      await cleanup();
    }
  }],
];

console.log(`fuzz: seed ${seed} (replay with FC_SEED=${seed})`);
let total = 0;
let failed = false;
for (const [name, numRuns, run] of plan) {
  const t0 = performance.now();
  try {
    await run(numRuns);
    console.log(`ok    ${name}: ${numRuns} cases in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  } catch (err) {
    failed = true;
    console.log(`FAIL  ${name}: ${String(err instanceof Error ? err.message : err).slice(0, 4000)}`);
  }
  total += numRuns;
}
console.log(`fuzz: ${total} cases, ${failed ? 'FAILED' : 'all properties hold'}`);
process.exitCode = failed ? 1 : 0;
