// Runs the built CLI as a user would.
import { execa, type Options } from 'execa';

export const CLI = 'dist/src/cli/main.js';

export async function hapilot(args: string[], opts: { env?: Record<string, string>; timeout?: number } = {}) {
  const options: Options = {
    reject: false,
    timeout: opts.timeout ?? 60_000,
    env: { HAPROXY_DOM: 'example.test', HAPILOT_LOG_LEVEL: 'warn', ...opts.env },
    extendEnv: true,
    stdin: 'ignore',
    stripFinalNewline: false,
  };
  const r = await execa(process.execPath, [CLI, ...args], options);
  return { code: r.exitCode ?? -1, stdout: String(r.stdout ?? ''), stderr: String(r.stderr ?? '') };
}
