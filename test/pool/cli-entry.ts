// A tiny entry point with the pool commands, until src/cli/program.ts mounts addPoolCommands: it
// behaves as src/cli/main.ts does, and also honours a PoolError's step exit status.
import { Command, CommanderError } from 'commander';
import { isHapilotError, messageOf } from '../../src/errors.js';
import { addPoolCommands } from '../../src/cli/pool.js';

const program = new Command('hapilot').exitOverride();
addPoolCommands(program);
try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    process.exitCode = err.exitCode === 0 ? 0 : 2;
  } else if (isHapilotError(err)) {
    process.stderr.write(`hapilot: error: ${err.message}\n`);
    const step = (err as { exitCode?: unknown }).exitCode;
    process.exitCode = typeof step === 'number' ? step : err.code === 'HAPILOT_ERR_USAGE' ? 2 : 1;
  } else {
    process.stderr.write(`hapilot: internal error: ${messageOf(err)}\n`);
    process.exitCode = 1;
  }
}
