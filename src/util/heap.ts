// The daemon's garbage collector, told to collect before its heap has grown far. At 10,000 services
// each change leaves about 20 MB of large strings behind (the config, ~9 MB, built by the
// server-only splice and again by the full render). V8 lets the old generation grow to several times
// what was live after the last full collection before collecting again (measured: live 190 MB,
// collected at 690 MB), so the daemon's RSS saw-toothed between 600 MB and 1.1 GB under a change a
// second. Growing by half of what is live at most keeps it down, for more collections:
// bench:scale, 2026-12-06, two runs each, V8's default → 100 % → 50 %:
// - 10,000 services, server-only changes: peak RSS 1,069 → 668–723 MB (50 %), CPU per change p50 150–170 ms both ways;
// - 5,000 services, structural changes: peak RSS 754–768 → 578–590 → 467–497 MB, CPU per change p50
//   990–1,030 → 1,120–1,160 → 1,330–1,350 ms (the collector's threads), latency p50 ~2.6 s all three.
// Lower does not pay (10,000 services, server-only changes, 50 % → 25 %, two runs each, 22:57):
// peak RSS 529/522 → 509/466 MB, RSS at first config the same (348–386 MB), CPU per change p50
// 200 → 360–390 ms and latency p50 322–335 → 411–514 ms.
// A `--heap-growing-percent` given to node itself is left as it is. The flag only sets a factor V8
// reads each time it computes the next limit.
import v8 from 'node:v8';

export const HEAP_GROWING_PERCENT = 50;

export function boundHeapGrowth(execArgv: readonly string[] = process.execArgv): void {
  if (execArgv.some((a) => /^--heap[-_]growing[-_]percent\b/.test(a))) return;
  v8.setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
}
