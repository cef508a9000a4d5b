// Real HAProxy in tests: validation, free loopback ports, and processes the test owns.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { validateConfigFile, type ValidateResult } from '../../src/haproxy/validate.js';
import type { RenderResult } from '../../src/config/render.js';

export const HAPROXY = process.env.HAPILOT_HAPROXY ?? 'haproxy';

export async function tempDir(prefix = 'hapilot-test-'): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** Writes a render result (config and referenced files) into place and runs `haproxy -c`. */
export async function haproxyCheck(result: RenderResult, configFile: string): Promise<ValidateResult> {
  for (const f of result.files) await writeFile(f.path, f.contents);
  await writeFile(configFile, result.config);
  return validateConfigFile({ haproxy: HAPROXY, file: configFile });
}

/** A TCP port that was free on 127.0.0.1 a moment ago. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

export async function freePorts(n: number): Promise<number[]> {
  const out = new Set<number>();
  while (out.size < n) out.add(await freePort());
  return [...out];
}
