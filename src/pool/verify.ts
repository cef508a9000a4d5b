// "Never assumed": after a pool state is written, ask every HAProxy whether the server really is in
// the new state, and for depool/drain whether its current sessions reached 0. The judgement is a
// pure function; the poll repeats it until every HAProxy agrees or the timeout passes.
import { messageOf } from '../errors.js';
import { serving } from '../haproxy/socket.js';
import type { ObservedServer } from './observe.js';
import type { PoolState } from './record.js';

/** What the server should look like in HAProxy once a pool state has been applied. */
export type Expectation = 'pooled' | 'depooled' | 'drained' | 'absent';

export function expectationFor(state: PoolState): Expectation {
  return state === 'yes' ? 'pooled' : state === 'no' ? 'depooled' : state === 'drain' ? 'drained' : 'absent';
}

export interface VerifyTarget {
  backend: string;
  server: string;
  expect: Expectation;
}

const MAINT = /^MAINT/;
const DRAIN = /^DRAIN|\bNOLB\b/;
const isMaint = (status: string) => MAINT.test(status);
const isDrain = (status: string) => DRAIN.test(status);

/** undefined when the server is as expected; otherwise what is still wrong, one line. */
export function judgeServer(target: VerifyTarget, seen: ObservedServer | undefined): string | undefined {
  const id = `${target.backend}/${target.server}`;
  const kept = seen?.keptByThreshold ? ' (kept in rotation by the depool threshold of its backend)' : '';
  switch (target.expect) {
    case 'pooled':
      if (!seen) return `${id} is not in HAProxy, expected UP`;
      if (!serving(seen.status)) return `${id} is ${seen.status}, expected UP`;
      return undefined;
    case 'depooled':
      if (!seen) return undefined; // not in HAProxy at all: no traffic either
      if (!isMaint(seen.status)) return `${id} is ${seen.status}${kept}, expected MAINT`;
      if (seen.sessions > 0) return `${id} is ${seen.status} but still has ${seen.sessions} current sessions, expected 0`;
      return undefined;
    case 'drained':
      if (!seen) return undefined;
      if (!isDrain(seen.status) && !isMaint(seen.status)) return `${id} is ${seen.status}${kept}, expected DRAIN`;
      if (seen.sessions > 0) return `${id} is ${seen.status} but still has ${seen.sessions} current sessions, expected 0`;
      return undefined;
    case 'absent':
      return seen ? `${id} is still in HAProxy (${seen.status}, ${seen.sessions} sessions), expected it gone from the config` : undefined;
  }
}

export interface VerifyOptions {
  sources: readonly string[];
  targets: readonly VerifyTarget[];
  timeoutMs: number;
  intervalMs?: number;
  observe: (source: string) => Promise<ObservedServer[]>;
  /** Called after each round that is not yet right, with what is still wrong. */
  onRound?: (problems: string[]) => void;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

export interface VerifyResult {
  ok: boolean;
  /** What was still wrong at the last look, each prefixed with its source. */
  problems: string[];
  elapsedMs: number;
}

/** One look at every source: what is not as expected. */
export async function checkOnce(o: Pick<VerifyOptions, 'sources' | 'targets' | 'observe'>): Promise<string[]> {
  const problems: string[] = [];
  await Promise.all(o.sources.map(async (source) => {
    let rows: ObservedServer[];
    try {
      rows = await o.observe(source);
    } catch (err) {
      problems.push(`${source}: ${messageOf(err)}`);
      return;
    }
    const byId = new Map(rows.map((r) => [`${r.backend}/${r.server}`, r]));
    for (const t of o.targets) {
      const why = judgeServer(t, byId.get(`${t.backend}/${t.server}`));
      if (why) problems.push(`${source}: ${why}`);
    }
  }));
  return problems.sort();
}

export async function verifyStates(o: VerifyOptions): Promise<VerifyResult> {
  const now = o.now ?? Date.now;
  const sleep = o.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const start = now();
  for (;;) {
    const problems = await checkOnce(o);
    const elapsedMs = now() - start;
    if (problems.length === 0) return { ok: true, problems, elapsedMs };
    if (elapsedMs >= o.timeoutMs) return { ok: false, problems, elapsedMs };
    o.onRound?.(problems);
    await sleep(Math.min(o.intervalMs ?? 250, Math.max(0, o.timeoutMs - elapsedMs)));
  }
}
