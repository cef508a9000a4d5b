// HAProxy itself is the judge of every config: `haproxy -c -f FILE`.
import { readFile } from 'node:fs/promises';
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

/** Why an HAProxy we started said it failed: its last alerts from its log file, else its last lines. */
export async function haproxyLogAlerts(logFile: string): Promise<string> {
  const text = await readFile(logFile, 'utf8').catch(() => '');
  return summarizeHaproxyOutput(text, 3) || text.trim().split('\n').slice(-2).join(' | ') || 'no HAProxy output';
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
