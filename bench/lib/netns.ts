// Runs a node script (through tsx) inside a new private network namespace with only loopback up:
// traffic stays on its loopback and firewall rules never touch the host's.
import { execa } from 'execa';

export async function runInNetns(script: string, args: string[], timeoutMs: number): Promise<{ code: number; stdout: string; stderr: string }> {
  const r = await execa('unshare', ['-n', '--', 'sh', '-c', 'ip link set lo up && exec "$0" --import tsx "$@"', process.execPath, script, ...args], {
    reject: false, timeout: timeoutMs, stdin: 'ignore', env: { ...process.env },
  });
  return { code: r.exitCode ?? -1, stdout: String(r.stdout ?? ''), stderr: String(r.stderr ?? '') };
}

export async function runScenarioInNetns<T>(options: object, timeoutMs: number): Promise<T> {
  const r = await runInNetns('bench/scenario-cli.ts', [JSON.stringify(options)], timeoutMs);
  const line = r.stdout.trim().split('\n').pop() ?? '';
  if (r.code !== 0 || !line.startsWith('{')) throw new Error(`scenario ${JSON.stringify(options)} failed (exit ${r.code}): ${r.stderr.slice(-2000)}`);
  return JSON.parse(line) as T;
}
