// SYN-drop rules for the classic zero-downtime reload: while the new HAProxy takes over, new SYNs to
// the frontend ports are dropped (clients retransmit after ~1 s) instead of refused. Every rule
// carries a comment tag so hapilot can always find its own: they are removed on every path, and at
// startup any rule left by a crash is swept. All calls go through execa.
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
}

export class SynDropFirewall {
  readonly #iptables: string;
  readonly #ip6tables: string;
  readonly tag: string;

  constructor(o: FirewallOptions = {}) {
    this.#iptables = o.iptables ?? 'iptables';
    this.#ip6tables = o.ip6tables ?? 'ip6tables';
    this.tag = o.tag ?? DEFAULT_TAG;
  }

  static ruleSpec(ports: readonly number[], tag: string): string[] {
    return ['INPUT', '-p', 'tcp', '-m', 'multiport', '--dports', ports.join(','), '--syn', '-m', 'comment', '--comment', tag, '-j', 'DROP'];
  }

  /** Rules inserted by `insert` and not yet removed. */
  #inserted: Array<{ tool: string; spec: string[] }> = [];

  /** Inserts the drop rules (IPv6 too when a frontend binds IPv6); on failure removes what was inserted and throws. */
  async insert({ ports, ipv6 }: { ports: readonly number[]; ipv6: boolean }): Promise<void> {
    const unique = [...new Set(ports)].sort((a, b) => a - b);
    try {
      for (const tool of ipv6 ? [this.#iptables, this.#ip6tables] : [this.#iptables]) {
        for (let i = 0; i < unique.length; i += PORTS_PER_RULE) {
          const chunk = unique.slice(i, i + PORTS_PER_RULE);
          const spec = SynDropFirewall.ruleSpec(chunk, this.tag);
          const r = await execa(tool, ['-w', '-I', ...spec], { reject: false, stdin: 'ignore' });
          if (r.exitCode !== 0) throw new HapilotError(ErrorCode.HAPROXY_RELOAD, `${tool} -I ${spec.join(' ')} failed: ${String(r.stderr).trim() || r.exitCode}`);
          this.#inserted.push({ tool, spec });
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
    for (const { tool, spec } of rules) {
      const r = await execa(tool, ['-w', '-D', ...spec], { reject: false, stdin: 'ignore' }).catch(() => undefined);
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
