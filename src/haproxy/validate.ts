// HAProxy itself is the judge of every config: `haproxy -c -f FILE`.
import { execa } from 'execa';
import { ErrorCode, HapilotError } from '../errors.js';

export interface ValidateResult {
  ok: boolean;
  /** HAProxy's alerts on one line (empty when valid). */
  message: string;
  /** Everything HAProxy printed. */
  output: string;
  durationMs: number;
}

/** Strips HAProxy's `[ALERT]    (1234) : ` prefixes and keeps the (last `last`) alerts, on one line. */
export function summarizeHaproxyOutput(output: string, last = Infinity): string {
  const alerts = output.split('\n')
    .filter((l) => l.includes('[ALERT]'))
    .map((l) => l.replace(/^\s*\[ALERT\]\s*\(\d+\)\s*:\s*/, '').trim())
    // HAProxy's closing boilerplate says nothing the alerts above it do not.
    .filter((l) => l && !/^(config : )?(Fatal errors found in configuration\.?|Error\(s\) found in configuration file : .*)$/.test(l));
  return alerts.slice(-Math.min(last, alerts.length)).join(' | ');
}

const EXPECTED_BINARY = 'expected the path of an HAProxy binary (install HAProxy: apt-get install haproxy)';

/**
 * The one-line error for an HAProxy binary that could not be started (not found, not executable), or
 * undefined when it started. Names the flag and its environment twin, the value and what was expected.
 */
export function haproxySpawnError(haproxy: string, result: { exitCode?: number | undefined; code?: string }): HapilotError | undefined {
  // execa sets `code` only when the process could not be spawned (a crash has a signal instead).
  const code = result.code;
  if (result.exitCode !== undefined || code === undefined) return undefined;
  const why = code === 'ENOENT' ? 'not found' : code === 'EACCES' ? 'not executable (EACCES)' : `cannot be started (${code})`;
  return new HapilotError(ErrorCode.HAPROXY_EXEC, `--haproxy (HAPILOT_HAPROXY) ${JSON.stringify(haproxy)}: ${why}: ${EXPECTED_BINARY}`);
}

/**
 * Runs `haproxy -v` and returns the version (`2.6.12`); a binary that cannot run, or that does not
 * say it is HAProxy, is a one-line HAPROXY_EXEC error. `hapilot run` calls this at startup.
 */
export async function haproxyVersion(haproxy: string): Promise<{ version: string; major: number; minor: number }> {
  const r = await execa(haproxy, ['-v'], { reject: false, all: true, timeout: 10_000, stdin: 'ignore' });
  const spawnError = haproxySpawnError(haproxy, r as typeof r & { code?: string });
  if (spawnError) throw spawnError;
  const m = /HA-?Proxy version (\d+)\.(\d+)(\S*)/.exec(String(r.all ?? ''));
  if (!m || r.exitCode !== 0) {
    const said = String(r.all ?? '').trim().split('\n')[0]?.slice(0, 80) ?? '';
    throw new HapilotError(ErrorCode.HAPROXY_EXEC, `--haproxy (HAPILOT_HAPROXY) ${JSON.stringify(haproxy)}: "-v" ${r.timedOut ? 'timed out' : `exited ${r.exitCode ?? r.signal}`} without an HAProxy version${said ? ` (said ${JSON.stringify(said)})` : ''}: ${EXPECTED_BINARY}`);
  }
  return { version: `${m[1]}.${m[2]}${m[3]}`, major: Number(m[1]), minor: Number(m[2]) };
}

export async function validateConfigFile({ haproxy, file }: { haproxy: string; file: string }): Promise<ValidateResult> {
  const started = performance.now();
  const result = await execa(haproxy, ['-c', '-f', file], { reject: false, all: true, timeout: 120_000, stdin: 'ignore' });
  const durationMs = performance.now() - started;
  const output = result.all ?? '';
  const spawnError = haproxySpawnError(haproxy, result as typeof result & { code?: string });
  if (spawnError) throw spawnError;
  if (result.exitCode === 0) return { ok: true, message: '', output, durationMs };
  if (result.timedOut) return { ok: false, message: 'haproxy -c timed out after 120 s', output, durationMs };
  return { ok: false, message: summarizeHaproxyOutput(output) || output.trim().split('\n').pop() || `haproxy -c exited with ${result.exitCode}`, output, durationMs };
}
