// The environment variables hapilot reads, collected from its sources: a deployment file that sets
// another one (a typo such as HAPROXY_MAXCON) is caught by the deploy tests.
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';

async function sources(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  const nested = await Promise.all(entries.map((e) => (e.isDirectory() ? sources(path.join(dir, e.name)) : Promise.resolve(e.name.endsWith('.ts') ? [path.join(dir, e.name)] : []))));
  return nested.flat();
}

export async function knownEnv(): Promise<Set<string>> {
  const names = new Set<string>();
  for (const f of await sources('src')) {
    for (const m of (await readFile(f, 'utf8')).matchAll(/\b((?:HAPILOT|HAPROXY|CONSUL)_[A-Z][A-Z0-9_]*)\b/g)) names.add(m[1]!);
  }
  return names;
}

/** The names in `env` that hapilot does not read. */
export function unknownNames(env: Iterable<string>, known: Set<string>): string[] {
  return [...env].filter((k) => !known.has(k));
}
