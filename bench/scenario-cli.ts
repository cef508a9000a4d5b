// Runs one scenario (JSON options as the only argument) and prints its result as JSON on stdout.
// Run it inside a private network namespace: see bench/lib/netns.ts.
import { runScenario, type ScenarioOptions } from './lib/scenario.js';

const opts = JSON.parse(process.argv[2] ?? '{}') as ScenarioOptions;
runScenario(opts).then((r) => {
  process.stdout.write(`${JSON.stringify(r)}\n`);
  process.exit(0);
}, (err: unknown) => {
  process.stderr.write(`scenario failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
