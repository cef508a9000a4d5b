// File-descriptor budget. HAProxy sizes its descriptor table from the global maxconn (two per
// proxied connection) plus listeners, checks and per-thread pipes, and refuses to start when the hard
// limit is lower ("Cannot raise FD limit to 100040") although `haproxy -c` accepts the config. We
// check before HAProxy does. Measured on 2.6.12: maxconn 50000 with a handful of sections asked for
// 100018; our estimate adds a generous reserve on top.
//
// Whose limit counts depends on who asks. `render` and `check` write a config that is usually meant
// for another machine: this process's own limit says nothing about it, so they only warn. The daemon
// starts HAProxy here, under this very limit: it adapts maxconn (or fails, by policy). A limit given
// explicitly (HAPILOT_FD_LIMIT) describes the machine HAProxy runs on, whoever asks.
import { readFile } from 'node:fs/promises';
import { ErrorCode, HapilotError } from '../errors.js';

/** Descriptors beyond 2 × maxconn: pollers, wake-up pipes, log and stats sockets, with headroom. */
const RESERVE = 128;
/**
 * An adapted maxconn leaves room for servers in steps of this many: one server more or less must not
 * change maxconn (a settings change makes every instance change a reload instead of a Runtime API
 * call); it moves only when the count crosses a step.
 */
const SERVER_STEP = 1024;
/** An adapted maxconn is a multiple of this. */
const MAXCONN_STEP = 100;

export interface FdNeedInput {
  maxconnGlobal: number;
  listeners: number;
  servers: number;
}

export function fdNeeded({ maxconnGlobal, listeners, servers }: FdNeedInput): number {
  // Each server with `check` holds a socket while checking.
  return maxconnGlobal * 2 + fdFixed({ listeners, servers });
}

/** Descriptors needed whatever maxconn is: one per listener and per checked server, plus the reserve. */
function fdFixed({ listeners, servers }: { listeners: number; servers: number }): number {
  return listeners + servers + RESERVE;
}

/**
 * Who asks for the budget: `daemon` starts HAProxy on this machine; `render` (the render and check
 * commands) writes a config that may run anywhere.
 */
export type FdAudience = 'daemon' | 'render';

export interface FitInput {
  maxconnGlobal: number;
  maxconn: number;
  listeners: number;
  servers: number;
  /** The open-files hard limit; undefined = unknown, no check. */
  limit: number | undefined;
  /** `configured`: HAPILOT_FD_LIMIT (the limit of the machine HAProxy runs on); `own` (default): this process's limit. */
  limitSource?: 'configured' | 'own';
  /** Default `daemon`: the limit binds. */
  audience?: FdAudience;
  policy: 'adapt' | 'fail';
}

export interface FitResult {
  maxconnGlobal: number;
  maxconn: number;
  warnings: string[];
}

const fmt = (n: number) => n.toLocaleString('en-US');

/**
 * Returns maxconn values that fit the limit, or throws (policy `fail`, or a limit too small for
 * anything, when the limit binds the config: see the header).
 */
export function fitToFdLimit(input: FitInput): FitResult {
  const { limit, listeners, servers } = input;
  let { maxconnGlobal, maxconn } = input;
  const warnings: string[] = [];
  if (limit === undefined) return { maxconnGlobal, maxconn, warnings };
  const need = fdNeeded({ maxconnGlobal, listeners, servers });
  if (need > limit) {
    const binding = input.limitSource === 'configured' || (input.audience ?? 'daemon') === 'daemon';
    const which = input.limitSource === 'configured' ? `HAPILOT_FD_LIMIT=${limit}` : `the open-files hard limit here (${limit})`;
    const fixed = fdFixed({ listeners, servers });
    const room = fdFixed({ listeners, servers: Math.ceil((servers + 1) / SERVER_STEP) * SERVER_STEP });
    const fitting = limit - room >= 2 * MAXCONN_STEP ? Math.floor((limit - room) / 2 / MAXCONN_STEP) * MAXCONN_STEP : Math.floor((limit - fixed) / 2);
    if (!binding) {
      // render/check: the config is for whatever machine it is deployed on; say what it needs.
      warnings.push(`this config needs about ${need} file descriptors (2 per connection for HAPROXY_MAXCONN_GLOBAL=${maxconnGlobal}, ${servers} checked servers, ${listeners} listeners); HAProxy refuses to start under a lower open-files hard limit, as ${which} is: the config is unchanged (set HAPILOT_FD_LIMIT to the limit of the machine it is for, and hapilot fits maxconn to it)`);
    } else if (fitting < 1) {
      // Not a matter of connections: the servers' checks alone do not fit.
      throw new HapilotError(ErrorCode.FD_LIMIT,
        `${fmt(servers)} servers with health checks need one file descriptor each for their checks, plus ${listeners} listeners and ${RESERVE} for HAProxy itself: ${fmt(fixed)} before the first connection, more than ${which} allows: no maxconn can fit; raise the hard limit (ulimit -Hn, systemd LimitNOFILE=) to at least ${fmt(need)} for HAPROXY_MAXCONN_GLOBAL=${maxconnGlobal}, or spread the servers over several HAProxy instances`);
    } else {
      const advice = `set HAPROXY_MAXCONN_GLOBAL to at most ${fitting} or raise the open-files hard limit (ulimit -Hn, or HAPILOT_FD_LIMIT for a HAProxy running elsewhere)`;
      if (input.policy === 'fail') {
        throw new HapilotError(ErrorCode.FD_LIMIT,
          `HAPROXY_MAXCONN_GLOBAL=${maxconnGlobal} needs about ${need} file descriptors but the hard limit is ${limit}: ${advice}`);
      }
      warnings.push(`HAPROXY_MAXCONN_GLOBAL=${maxconnGlobal} needs about ${need} file descriptors but the hard limit is ${limit}; using maxconn ${fitting} instead (${advice})`);
      maxconnGlobal = fitting;
    }
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
