#!/usr/bin/env node
// hapilot's command line entry point. Nothing imports this file.
import { CommanderError } from 'commander';
import { ErrorCode, isHapilotError, messageOf } from '../errors.js';
import { buildProgram } from './program.js';

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // Commander has already printed its one-line message (or the help/version text).
      return err.exitCode === 0 ? 0 : 2;
    }
    if (isHapilotError(err)) {
      process.stderr.write(`hapilot: error: ${err.message}\n`);
      if (err.detail && process.env.HAPILOT_VERBOSE_ERRORS) process.stderr.write(`${err.detail}\n`);
      // A command that tells failed steps apart (`cycle`) gives its error the step's exit status.
      const step = (err as { exitCode?: unknown }).exitCode;
      if (typeof step === 'number') return step;
      return err.code === ErrorCode.USAGE ? 2 : 1;
    }
    process.stderr.write(`hapilot: internal error: ${messageOf(err)} (please report this)\n`);
    return 1;
  }
}

main(process.argv).then((code) => {
  process.exitCode = code;
}, () => {
  process.exitCode = 1;
});
