// File-descriptor budget. HAProxy sizes its descriptor table from the global maxconn (two per
// proxied connection) plus listeners, checks and per-thread pipes, and refuses to start when the hard
// limit is lower ("Cannot raise FD limit to 100040") although `haproxy -c` accepts the config. We
// check before HAProxy does. Measured on 2.6.12: maxconn 50000 with a handful of sections asked for
// 100018; our estimate adds a generous reserve on top.
import { readFile } from 'node:fs/promises';
import { ErrorCode, HapilotError } from '../errors.js';

/** Descriptors beyond 2 × maxconn: pollers, wake-up pipes, log and stats sockets, with headroom. */
const RESERVE = 128;

export interface FdNeedInput {
  maxconnGlobal: number;
  listeners: number;
  servers: number;
}

export function fdNeeded({ maxconnGlobal, listeners, servers }: FdNeedInput): number {
  // Each server with `check` holds a socket while checking.
  return maxconnGlobal * 2 + listeners + servers + RESERVE;
}

export interface FitInput {
  maxconnGlobal: number;
  maxconn: number;
  listeners: number;
  servers: number;
  limit: number | undefined;
  policy: 'adapt' | 'fail';
}

export interface FitResult {
  maxconnGlobal: number;
  maxconn: number;
  warnings: string[];
}

/** Returns maxconn values that fit the limit, or throws (policy `fail`, or a limit too small for anything). */
export function fitToFdLimit(input: FitInput): FitResult {
  const { limit, listeners, servers } = input;
  let { maxconnGlobal, maxconn } = input;
  const warnings: string[] = [];
  if (limit === undefined) return { maxconnGlobal, maxconn, warnings };
  const need = fdNeeded({ maxconnGlobal, listeners, servers });
  if (need > limit) {
    const fitting = Math.floor((limit - listeners - servers - RESERVE) / 2);
    const advice = `set HAPROXY_MAXCONN_GLOBAL to at most ${Math.max(fitting, 0)} or raise the open-files hard limit (ulimit -Hn, or HAPILOT_FD_LIMIT for a HAProxy running elsewhere)`;
    if (input.policy === 'fail' || fitting < 1) {
      throw new HapilotError(ErrorCode.FD_LIMIT,
        `HAPROXY_MAXCONN_GLOBAL=${maxconnGlobal} needs about ${need} file descriptors but the hard limit is ${limit}: ${advice}`);
    }
    warnings.push(`HAPROXY_MAXCONN_GLOBAL=${maxconnGlobal} needs about ${need} file descriptors but the hard limit is ${limit}; using maxconn ${fitting} instead (${advice})`);
    maxconnGlobal = fitting;
  }
  if (maxconn > maxconnGlobal) {
    warnings.push(`HAPROXY_MAXCONN=${maxconn} is above the global maxconn ${maxconnGlobal}; using ${maxconnGlobal}`);
    maxconn = maxconnGlobal;
  }
  return { maxconnGlobal, maxconn, warnings };
}

/** The open-files hard limit of this process (Linux), which a child HAProxy inherits. */
export async function ownFdHardLimit(): Promise<number | undefined> {
  try {
    const text = await readFile('/proc/self/limits', 'utf8');
    const line = text.split('\n').find((l) => l.startsWith('Max open files'));
    const hard = line?.trim().split(/\s+/)[4];
    if (hard === undefined || hard === 'unlimited') return undefined;
    const n = Number(hard);
    return Number.isFinite(n) ? n : undefined;
  } catch {
    return undefined;
  }
}
