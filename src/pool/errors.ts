// Errors of pool operations, with the exit status the CLI gives each failed step. They are
// HapilotErrors with codes from the one catalogue (src/errors.ts), so `hapilot: error: <message>`
// is printed as for every other error, and src/cli/main.ts exits with the step's status.
import { ErrorCode, HapilotError } from '../errors.js';

/** The pool codes of the catalogue, by their short names. */
export const PoolErrorCode = {
  NOT_FOUND: ErrorCode.POOL_NOT_FOUND,
  THRESHOLD: ErrorCode.POOL_THRESHOLD,
  CONFLICT: ErrorCode.POOL_CONFLICT,
  UNVERIFIED: ErrorCode.POOL_UNVERIFIED,
  COMMAND: ErrorCode.POOL_COMMAND,
} as const;
export type PoolErrorCode = (typeof PoolErrorCode)[keyof typeof PoolErrorCode];

/** Exit statuses: 1 refused or failed write, 3 not confirmed by HAProxy; `cycle` has one per step. */
export const EXIT = {
  WRITE: 1,
  USAGE: 2,
  UNVERIFIED: 3,
  CYCLE_DEPOOL: 3,
  CYCLE_DEPOOL_UNVERIFIED: 4,
  CYCLE_COMMAND: 5,
  CYCLE_REPOOL: 6,
  CYCLE_REPOOL_UNVERIFIED: 7,
} as const;

export class PoolError extends HapilotError {
  readonly exitCode: number;
  constructor(code: ErrorCode, message: string, { exitCode = EXIT.WRITE, cause }: { exitCode?: number; cause?: unknown } = {}) {
    super(code, message, cause === undefined ? {} : { cause });
    this.name = 'PoolError';
    this.exitCode = exitCode;
  }
}
