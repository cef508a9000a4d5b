// One catalogue of error codes. Code branches on `code`, never on message text; the message is
// what a user reads: it names the input, the value and what was expected, on one line.

export const ErrorCode = {
  USAGE: 'HAPILOT_ERR_USAGE',
  ENV_INVALID: 'HAPILOT_ERR_ENV_INVALID',
  CATALOG_READ: 'HAPILOT_ERR_CATALOG_READ',
  CATALOG_JSON: 'HAPILOT_ERR_CATALOG_JSON',
  CATALOG_SHAPE: 'HAPILOT_ERR_CATALOG_SHAPE',
  CONSUL_UNREACHABLE: 'HAPILOT_ERR_CONSUL_UNREACHABLE',
  CONSUL_HTTP: 'HAPILOT_ERR_CONSUL_HTTP',
  CONSUL_SHAPE: 'HAPILOT_ERR_CONSUL_SHAPE',
  CONSUL_CONFIG: 'HAPILOT_ERR_CONSUL_CONFIG',
  TEMPLATE: 'HAPILOT_ERR_TEMPLATE',
  TEMPLATE_READ: 'HAPILOT_ERR_TEMPLATE_READ',
  HAPROXY_INVALID: 'HAPILOT_ERR_HAPROXY_INVALID',
  HAPROXY_EXEC: 'HAPILOT_ERR_HAPROXY_EXEC',
  HAPROXY_START: 'HAPILOT_ERR_HAPROXY_START',
  HAPROXY_RELOAD: 'HAPILOT_ERR_HAPROXY_RELOAD',
  FD_LIMIT: 'HAPILOT_ERR_FD_LIMIT',
  WRITE: 'HAPILOT_ERR_WRITE',
  ABORTED: 'HAPILOT_ERR_ABORTED',
  /** Pool operations: the instance does not exist, or the selection names nothing. */
  POOL_NOT_FOUND: 'HAPILOT_ERR_POOL_NOT_FOUND',
  /** The change would take a backend below its depool threshold. */
  POOL_THRESHOLD: 'HAPILOT_ERR_POOL_THRESHOLD',
  /** Check-and-set lost: someone else wrote the key since it was read. */
  POOL_CONFLICT: 'HAPILOT_ERR_POOL_CONFLICT',
  /** HAProxy did not show the new state within the timeout. */
  POOL_UNVERIFIED: 'HAPILOT_ERR_POOL_UNVERIFIED',
  /** `cycle`: the command failed. */
  POOL_COMMAND: 'HAPILOT_ERR_POOL_COMMAND',
} as const;

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export class HapilotError extends Error {
  readonly code: ErrorCode;
  /** Extra, already-safe detail (e.g. HAProxy's own output); printed after the one-line message. */
  readonly detail: string | undefined;

  constructor(code: ErrorCode, message: string, options: { cause?: unknown; detail?: string } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'HapilotError';
    this.code = code;
    this.detail = options.detail;
  }
}

export function isHapilotError(err: unknown, code?: ErrorCode): err is HapilotError {
  return err instanceof HapilotError && (code === undefined || err.code === code);
}

/** The message of any thrown value, for logs; never a stack. */
export function messageOf(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
