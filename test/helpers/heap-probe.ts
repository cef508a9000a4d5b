// A process that keeps ~100 MB live and leaves large strings behind, as the daemon does per change,
// and prints the largest heap it saw. `bound` calls boundHeapGrowth first (test/daemon/heap-growth.test.ts).
import v8 from 'node:v8';
import { boundHeapGrowth } from '../../src/util/heap.js';

if (process.argv[2] === 'bound') boundHeapGrowth();
const live: Array<{ a: number; b: string; c: number[] }> = [];
for (let i = 0; i < 600_000; i++) live.push({ a: i, b: `s${i}`, c: [i] });
let max = 0;
let last = '';
const line = 'server x 10.0.0.1:80 check\n';
for (let i = 0; i < 50; i++) {
  last = Array.from({ length: 8 }, (_, k) => line.repeat(350_000) + String(i) + String(k)).join('');
  max = Math.max(max, v8.getHeapStatistics().used_heap_size);
}
process.stdout.write(JSON.stringify({ maxMb: Math.round(max / 1e6), live: live.length, last: last.length }));
