// SYN-drop rules for the classic zero-downtime reload: while the new HAProxy takes over, new SYNs to
// the frontend ports are dropped (clients retransmit after ~1 s) instead of refused. Every rule
// carries a comment tag so hapilot can always find its own: they are removed on every path, and at
// startup any rule left by a crash is swept. A crash that is not followed by a restart is bounded
// too: before each rule goes in, a detached watchdog (`sh -c 'sleep …; iptables -w -D <rule>'`) is
// started that removes exactly that rule after the bound; the normal path ends the watchdog once it
// removed the rule itself. All calls go through execa.
// iptables -w -I INPUT -p tcp -m multiport --dports P1,P2 --syn -m comment --comment TAG -j DROP
import { execa } from 'execa';
import { ErrorCode, HapilotError } from '../errors.js';

export const DEFAULT_TAG = 'hapilot-syn-drop';
/** `multiport` takes at most 15 ports per rule. */
const PORTS_PER_RULE = 15;

export interface FirewallOptions {
  iptables?: string;
  ip6tables?: string;
  tag?: string;
  /** How long a rule may outlive a hapilot killed mid-reload (default 5 s; `insert` may ask for longer). */
  crashBoundMs?: number;
}

/** A detached `sh` that deletes one rule after `ms`, unless ended first (it leads its own process group). */
function startRuleWatchdog(tool: string, spec: readonly string[], ms: number): number | undefined {
  const child = execa('sh', ['-c', 'sleep "$1"; shift; exec "$@"', 'hapilot-syn-drop-watchdog', (ms / 1000).toFixed(3), tool, '-w', '-D', ...spec], {
    detached: true, cleanup: false, stdio: 'ignore', reject: false,
  });
  child.unref();
  child.catch(() => undefined);
  return child.pid;
}

function endWatchdog(pid: number | undefined): void {
  if (pid === undefined) return;
  try { process.kill(-pid, 'SIGKILL'); } catch { /* gone: it fired, or never started */ }
}

export class SynDropFirewall {
  readonly #iptables: string;
  readonly #ip6tables: string;
  readonly tag: string;
  readonly crashBoundMs: number;

  constructor(o: FirewallOptions = {}) {
    this.#iptables = o.iptables ?? 'iptables';
    this.#ip6tables = o.ip6tables ?? 'ip6tables';
    this.tag = o.tag ?? DEFAULT_TAG;
    this.crashBoundMs = o.crashBoundMs ?? 5000;
  }

  static ruleSpec(ports: readonly number[], tag: string): string[] {
    return ['INPUT', '-p', 'tcp', '-m', 'multiport', '--dports', ports.join(','), '--syn', '-m', 'comment', '--comment', tag, '-j', 'DROP'];
  }

  /** Rules inserted by `insert` and not yet removed. */
  #inserted: Array<{ tool: string; spec: string[]; watchdog: number | undefined }> = [];

  /**
   * Inserts the drop rules (IPv6 too when a frontend binds IPv6); on failure removes what was
   * inserted and throws. Each rule is removed after `boundMs` (at least the crash bound) even if
   * hapilot dies before `remove`.
   */
  async insert({ ports, ipv6, boundMs }: { ports: readonly number[]; ipv6: boolean; boundMs?: number }): Promise<void> {
    const unique = [...new Set(ports)].sort((a, b) => a - b);
    const bound = Math.max(this.crashBoundMs, boundMs ?? 0);
    try {
      for (const tool of ipv6 ? [this.#iptables, this.#ip6tables] : [this.#iptables]) {
        for (let i = 0; i < unique.length; i += PORTS_PER_RULE) {
          const chunk = unique.slice(i, i + PORTS_PER_RULE);
          const spec = SynDropFirewall.ruleSpec(chunk, this.tag);
          // The watchdog first: no moment with a rule that nothing would remove.
          const watchdog = startRuleWatchdog(tool, spec, bound);
          const r = await execa(tool, ['-w', '-I', ...spec], { reject: false, stdin: 'ignore' });
          if (r.exitCode !== 0) {
            endWatchdog(watchdog);
            throw new HapilotError(ErrorCode.HAPROXY_RELOAD, `${tool} -I ${spec.join(' ')} failed: ${String(r.stderr).trim() || r.exitCode}`);
          }
          this.#inserted.push({ tool, spec, watchdog });
        }
      }
    } catch (err) {
      await this.remove();
      throw err;
    }
  }

  /**
   * Removes the rules `insert` added, by their exact spec (quick: the rule is up as briefly as
   * possible); falls back to a sweep of every rule carrying the tag if any deletion fails.
   */
  async remove(): Promise<void> {
    const rules = this.#inserted;
    this.#inserted = [];
    let clean = true;
    for (const { tool, spec, watchdog } of rules) {
      const r = await execa(tool, ['-w', '-D', ...spec], { reject: false, stdin: 'ignore' }).catch(() => undefined);
      // Ended after the deletion, so that it never deletes the same rule of a later reload.
      endWatchdog(watchdog);
      if (!r || r.exitCode !== 0) clean = false;
    }
    if (!clean) await this.sweep();
  }

  /** Removes every rule carrying the tag (ours, from this run or a crashed one). Returns how many. */
  async sweep(): Promise<number> {
    let removed = 0;
    for (const tool of [this.#iptables, this.#ip6tables]) {
      const listed = await execa(tool, ['-w', '-S', 'INPUT'], { reject: false, stdin: 'ignore' }).catch(() => undefined);
      if (!listed || listed.exitCode !== 0) continue;
      for (const line of String(listed.stdout).split('\n')) {
        if (!line.startsWith('-A INPUT ') || !line.includes(`--comment ${this.tag}`)) continue;
        const spec = line.slice('-A '.length).split(' ');
        // Delete until it fails: the same rule may have been inserted more than once.
        for (let i = 0; i < 100; i++) {
          const r = await execa(tool, ['-w', '-D', ...spec], { reject: false, stdin: 'ignore' });
          if (r.exitCode !== 0) break;
          removed += 1;
        }
      }
    }
    return removed;
  }

  /** Rules carrying the tag right now (for tests and /status). */
  async count(): Promise<number> {
    let n = 0;
    for (const tool of [this.#iptables, this.#ip6tables]) {
 const listed = await execa(tool, ['-w', '-S', 'INPUT'], { reject: false, stdin: 'ignore' }).catch(() => undefined);
      if (!listed) continue;
      n += String(listed.stdout).split('\n').filter((l) => l.includes(`--comment ${this.tag}`)).length;
    }
    return n;
  }
}
