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
// reads each time it computes the next limit, and it replaces V8's factor in every mode, also where
// V8 would grow by less. So it is set only where V8's own ceiling is far above it: with a heap limit
// of about 2 GiB or more (machines or containers of 8 GB and up) V8 grows the old generation up to 4x.
// Below that its ceiling is 1.3-2x and its own choice is often under 50 %. The project's CI saw it:
// the probe of test/daemon/heap-growth.test.ts peaked at 316 MB with V8's default and 391 MB bound.
import v8 from 'node:v8';

export const HEAP_GROWING_PERCENT = 50;

/** The heap limit from which V8 lets the old generation grow 4x before a full collection. */
export const BOUND_FROM_HEAP_LIMIT = 2 * 1024 ** 3;

/** The V8 flag that bounds the heap's growth, or undefined when node was given one or V8's own is tighter. */
export function heapGrowthFlag(execArgv: readonly string[], heapSizeLimit: number): string | undefined {
  if (execArgv.some((a) => /^--heap[-_]growing[-_]percent\b/.test(a))) return undefined;
  if (heapSizeLimit < BOUND_FROM_HEAP_LIMIT) return undefined;
  return `--heap-growing-percent=${HEAP_GROWING_PERCENT}`;
}

export function boundHeapGrowth(
  execArgv: readonly string[] = process.execArgv,
  heapSizeLimit: number = v8.getHeapStatistics().heap_size_limit,
): void {
  const flag = heapGrowthFlag(execArgv, heapSizeLimit);
  if (flag !== undefined) v8.setFlagsFromString(flag);
}
