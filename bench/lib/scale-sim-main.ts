// Runs bench/lib/scale-sim.ts in a process of its own (its CPU is not hapilot's, nor the
// harness's); prints its URL on the first line of stdout and serves until SIGTERM.
import { ScaleSim } from './scale-sim.js';

const sim = new ScaleSim();
await sim.start();
process.stdout.write(`${JSON.stringify({ url: sim.url })}\n`);
process.on('SIGTERM', () => void sim.stop().then(() => process.exit(0)));
