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

/** Strips HAProxy's `[ALERT]    (1234) : ` prefixes and keeps the alerts. */
export function summarizeHaproxyOutput(output: string): string {
  const alerts = output.split('\n')
    .filter((l) => l.includes('[ALERT]'))
    .map((l) => l.replace(/^\s*\[ALERT\]\s*\(\d+\)\s*:\s*/, '').trim())
    .filter((l) => l && !/^Fatal errors found in configuration\.?$/.test(l));
  return alerts.join(' | ');
}

export async function validateConfigFile({ haproxy, file }: { haproxy: string; file: string }): Promise<ValidateResult> {
  const started = performance.now();
  const result = await execa(haproxy, ['-c', '-f', file], { reject: false, all: true, timeout: 120_000, stdin: 'ignore' });
  const durationMs = performance.now() - started;
  const output = result.all ?? '';
  if ((result as { code?: string }).code === 'ENOENT' || /ENOENT/.test(result.message ?? '') && result.exitCode === undefined) {
    throw new HapilotError(ErrorCode.HAPROXY_EXEC, `--haproxy ${haproxy}: not found: install HAProxy (apt-get install haproxy) or pass the path of the haproxy binary`);
  }
  if (result.exitCode === 0) return { ok: true, message: '', output, durationMs };
  if (result.timedOut) return { ok: false, message: 'haproxy -c timed out after 120 s', output, durationMs };
  return { ok: false, message: summarizeHaproxyOutput(output) || output.trim().split('\n').pop() || `haproxy -c exited with ${result.exitCode}`, output, durationMs };
}
