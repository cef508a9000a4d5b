// The src/ tree has no import cycles (type-only imports included): Consul → model → config → HAProxy
// reads one way. A cycle is reported as the chain of files that closes it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = path.join(dir, name);
    return statSync(p).isDirectory() ? walk(p) : p.endsWith('.ts') ? [p] : [];
  });
}

/** Relative imports and re-exports of a file, as the .ts files they name (src/ has no dynamic imports). */
function importsOf(file: string, text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(/^\s*(?:import|export)\b[^'";]*?\bfrom\s+['"](\.[^'"]+)['"]|^\s*import\s+['"](\.[^'"]+)['"]/gm)) {
    const spec = (m[1] ?? m[2])!;
    out.push(path.join(path.dirname(file), spec.replace(/\.js$/, '.ts')));
  }
  return out;
}

/**
 * The cycles a depth-first walk meets, one per edge back to a file still on its path: none exactly
 * when the graph has no cycle (not every cycle of a tangle is listed, each closes at least one).
 */
function findCycles(graph: ReadonlyMap<string, readonly string[]>): string[][] {
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const cycles: string[][] = [];
  const visit = (n: string) => {
    state.set(n, 'open');
    stack.push(n);
    for (const m of graph.get(n) ?? []) {
      if (!graph.has(m)) continue;
      if (state.get(m) === 'open') cycles.push([...stack.slice(stack.indexOf(m)), m]);
      else if (!state.has(m)) visit(m);
    }
    stack.pop();
    state.set(n, 'done');
  };
  for (const n of [...graph.keys()].sort()) if (!state.has(n)) visit(n);
  return cycles;
}

test('findCycles finds a cycle and its chain, and none in a tree', () => {
  assert.deepEqual(findCycles(new Map([['a', ['b']], ['b', ['c']], ['c', ['a']], ['d', ['a']]])), [['a', 'b', 'c', 'a']]);
  assert.deepEqual(findCycles(new Map([['a', ['b', 'c']], ['b', ['c']], ['c', []]])), []);
  assert.deepEqual(importsOf('src/x/a.ts', "import type { T } from '../y/b.js';\nexport { f } from './c.js';\nimport './d.js';\nimport x from 'node:fs';"),
    ['src/y/b.ts', 'src/x/c.ts', 'src/x/d.ts']);
});

test('src/ has no import cycles', () => {
  const files = walk('src');
  assert.ok(files.length > 50, `found ${files.length} files under src/`);
  const graph = new Map(files.map((f) => [f, importsOf(f, readFileSync(f, 'utf8'))]));
  const missing = [...graph].flatMap(([f, deps]) => deps.filter((d) => !graph.has(d)).map((d) => `${f} → ${d}`));
  assert.deepEqual(missing, [], 'every relative import names a file under src/');
  assert.deepEqual(findCycles(graph).map((c) => c.join(' → ')), []);
});
