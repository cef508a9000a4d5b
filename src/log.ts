// Structured logs (pino). Every line carries a `component`; tokens and key material are redacted
// wherever they appear.
import { pino, type Logger, type LevelWithSilent } from 'pino';

export type { Logger };

export const REDACT_PATHS = [
  'token', '*.token', '*.*.token', 'consul.token', 'config.token',
  'headers["x-consul-token"]', '*.headers["x-consul-token"]', 'key', '*.key',
];

export function createLogger({ level = 'info', destination = 1, pretty }: {
  level?: LevelWithSilent;
  /** File descriptor: 1 for the daemon, 2 for commands whose stdout is their output. */
  destination?: 1 | 2;
  /** Human-readable lines; default: when that descriptor is a terminal. */
  pretty?: boolean;
} = {}): Logger {
  const tty = destination === 1 ? process.stdout.isTTY : process.stderr.isTTY;
  const usePretty = pretty ?? Boolean(tty);
  const options = { level, redact: { paths: REDACT_PATHS, censor: '[REDACTED]' }, base: { name: 'hapilot' } };
  if (usePretty) {
    return pino(options, pino.transport({ target: 'pino-pretty', options: { destination, colorize: true, ignore: 'pid,hostname,name', translateTime: 'SYS:HH:MM:ss.l' } }));
  }
  return pino(options, pino.destination({ fd: destination, sync: true }));
}
