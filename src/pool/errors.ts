// Errors of pool operations, with the exit status the CLI gives each failed step. They are
// HapilotErrors, so `hapilot: error: <message>` is printed as for every other error.
// The codes belong in src/errors.ts's catalogue; until they are added there they are declared here.
import { HapilotError, type ErrorCode } from '../errors.js';

export const PoolErrorCode = {
  /** The instance does not exist, or the selection names nothing. */
  NOT_FOUND: 'HAPILOT_ERR_POOL_NOT_FOUND',
  /** The change would take a backend below its depool threshold. */
  THRESHOLD: 'HAPILOT_ERR_POOL_THRESHOLD',
  /** Check-and-set lost: someone else wrote the key since it was read. */
  CONFLICT: 'HAPILOT_ERR_POOL_CONFLICT',
  /** HAProxy did not show the new state within the timeout. */
  UNVERIFIED: 'HAPILOT_ERR_POOL_UNVERIFIED',
  /** `cycle`: the command failed. */
  COMMAND: 'HAPILOT_ERR_POOL_COMMAND',
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
  constructor(code: PoolErrorCode | ErrorCode, message: string, { exitCode = EXIT.WRITE, cause }: { exitCode?: number; cause?: unknown } = {}) {
    // The pool codes are not in the ErrorCode union until src/errors.ts lists them (see the header).
    super(code as ErrorCode, message, cause === undefined ? {} : { cause });
    this.name = 'PoolError';
    this.exitCode = exitCode;
  }
}
