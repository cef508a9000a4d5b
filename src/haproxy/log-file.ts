// HAProxy's own output (its alerts, warnings and `log stderr` lines) in `<run dir>/haproxy.log`.
// HAProxy writes the file itself: the file is opened for appending and handed to the child as its
// stdout and stderr. Through a pipe, every line would cross hapilot's event loop (at 10,000
// services the old worker of each reload says "Proxy … stopped" twice per proxy: 20,000 lines,
// 1.4 MB), and HAProxy's output would go nowhere once the hapilot that started it is gone.
import { closeSync, openSync } from 'node:fs';
import { open, stat, truncate } from 'node:fs/promises';
import { writeFileAtomic } from '../util/atomic-write.js';
import { ErrorCode, HapilotError, messageOf } from '../errors.js';
import { summarizeHaproxyOutput } from './validate.js';

/** How much of the log's end is read for the alerts of a failed start or reload. */
export const LOG_TAIL_BYTES = 256 * 1024;

/**
 * execa's `stdout` and `stderr` for one descriptor. Outside a stdio array execa hands any number to
 * `child_process.spawn` as it is (its "native" stdio type); its types list only 3 to 9, the
 * descriptors of its own stdio arrays, hence the literal type.
 */
export interface LogOutput {
  stdout: 3;
  stderr: 3;
}

/**
 * Runs `spawn` with `file` opened for appending (created if missing), to be given to the child as
 * its stdout and stderr; this process's descriptor is closed once the child has its own.
 */
export function withLogFile<T>(file: string, spawn: (output: LogOutput) => T): T {
  let fd: number;
  try {
    fd = openSync(file, 'a');
  } catch (err) {
    throw new HapilotError(ErrorCode.WRITE, `cannot write HAProxy's log ${file}: ${messageOf(err)}`, { cause: err });
  }
  try {
    return spawn({ stdout: fd as 3, stderr: fd as 3 });
  } finally {
    closeSync(fd);
  }
}

/** The log's cap: past it, its last `keepBytes` go to `<file>.1` and the file starts again empty. */
export const LOG_CAP = { maxBytes: 64 * 1024 * 1024, keepBytes: 1024 * 1024 };

/**
 * Keeps the log from growing without end (at 10,000 services every reload adds 1.4 MB): past
 * `maxBytes`, its last `keepBytes` (from a line start) replace `<file>.1` and the file is truncated in
 * place. HAProxy holds it open for appending, so its next line lands at the new start. Lines written
 * between the copy and the truncation are lost. Returns whether it trimmed; a file it cannot read or
 * truncate is left as it is.
 */
export async function trimLog(file: string, cap: { maxBytes: number; keepBytes: number } = LOG_CAP): Promise<boolean> {
  try {
    if ((await stat(file)).size <= cap.maxBytes) return false;
    await writeFileAtomic(`${file}.1`, await readTail(file, cap.keepBytes));
    await truncate(file, 0);
    return true;
  } catch {
    return false;
  }
}

/** The last `bytes` of `file` as text ('' when it cannot be read); a line cut at the start is dropped. */
export async function readTail(file: string, bytes = LOG_TAIL_BYTES): Promise<string> {
  let handle;
  try {
    handle = await open(file, 'r');
  } catch {
    return '';
  }
  try {
    const { size } = await handle.stat();
    const start = Math.max(0, size - bytes);
    const buffer = Buffer.alloc(size - start);
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, start);
    const text = buffer.subarray(0, bytesRead).toString('utf8');
    return start === 0 ? text : text.slice(text.indexOf('\n') + 1);
  } catch {
    return '';
  } finally {
    await handle.close();
  }
}

/**
 * Why an HAProxy we started said it failed: its last alerts in the end of its log file (never the
 * whole file, which grows with every reload), else its last lines.
 */
export async function haproxyLogAlerts(logFile: string): Promise<string> {
  const text = await readTail(logFile);
  return summarizeHaproxyOutput(text, 3) || text.trim().split('\n').slice(-2).join(' | ') || 'no HAProxy output';
}
