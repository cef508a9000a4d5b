// Process facts for the soak bench, read from /proc and HAProxy's sockets: a process's RSS and open
// descriptors, the HAProxy processes started for one run dir, the firewall rules hapilot could leave.
import { readdir, readFile } from 'node:fs/promises';
import { execa } from 'execa';

export interface ProcSample {
  pid: number;
  rssKiB: number;
  fds: number;
}

/** VmRSS (KiB) and the number of entries in /proc/<pid>/fd; undefined when the process is gone. */
export async function sampleProc(pid: number): Promise<ProcSample | undefined> {
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const rssKiB = Number(/^VmRSS:\s+(\d+)\s+kB/m.exec(status)?.[1] ?? NaN);
    const fds = (await readdir(`/proc/${pid}/fd`)).length;
    return { pid, rssKiB, fds };
  } catch {
    return undefined;
  }
}

/** Every live haproxy process whose command line mentions `marker` (the run's private run dir). */
export async function haproxyProcesses(marker: string): Promise<Array<{ pid: number; ppid: number; cmdline: string }>> {
  const out: Array<{ pid: number; ppid: number; cmdline: string }> = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const cmdline = (await readFile(`/proc/${name}/cmdline`, 'utf8')).split('\0').join(' ').trim();
      if (!cmdline.includes(marker) || !/(^|\/)haproxy\s/.test(cmdline)) continue;
      const stat = await readFile(`/proc/${name}/stat`, 'utf8');
      // State is the field after the ")" of the command; ppid follows it. Zombies are not alive.
      const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (rest[0] === 'Z') continue;
      out.push({ pid: Number(name), ppid: Number(rest[1]), cmdline });
    } catch { /* exited meanwhile */ }
  }
  return out;
}

/** Rules carrying hapilot's tag in iptables, ip6tables and nft (this network namespace). */
export async function firewallRulesLeft(): Promise<number> {
  let n = 0;
  for (const [cmd, args] of [['iptables', ['-w', '-S']], ['ip6tables', ['-w', '-S']], ['nft', ['list', 'ruleset']]] as const) {
    const r = await execa(cmd, [...args], { reject: false, stdin: 'ignore' }).catch(() => undefined);
    n += String(r?.stdout ?? '').split('\n').filter((l) => /hapilot/i.test(l)).length;
  }
  return n;
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export async function waitGone(pid: number, ms: number): Promise<boolean> {
  const until = Date.now() + ms;
  while (alive(pid) && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
  return !alive(pid);
}
