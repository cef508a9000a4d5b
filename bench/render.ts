// `npm run bench:render`: the model and the render of a synthetic catalog (10,000 services × 10
// instances by default, the catalog bench/scale.ts uses), in-process, for this tree and optionally a
// baseline tree side by side (`--base REF`: that git revision's src/ and templates/, extracted to a
// temporary directory). Each run is a fresh process (`--expose-gc`), trees alternate A/B/A/B, and the
// table shows medians over `--runs` runs:
// - buildModel of the whole catalog;
// - render (`render()`, strict field checks included): the first call (compiles the templates) and
//   the median of the next three;
// - the incremental path's first build (IncrementalModel + IncrementalRenderer, as the daemon's first
//   config) and one instance change (CPU, median of 20 after one warm-up);
// - heap retained by what the incremental path keeps, after a full GC: the model parts (with the
//   merged model), and the renderer (backend texts, the server lines asked for, its last result);
//   and the process RSS at the end (the catalog, a full model and render included).
// Times are wall and CPU (all threads, GC included): on a loaded machine CPU is the steadier figure.
//
// Usage: npm run bench:render [-- --services 10000 --instances 10 --runs 5 --base HEAD~3]
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { arg } from './lib/args.js';

const ROOT = path.resolve(import.meta.dirname, '..');
const SERVICES = Number(arg('services', '10000'));
const INSTANCES = Number(arg('instances', '10'));
const RUNS = Number(arg('runs', '5'));
const BASE = arg('base', '');
const CHILD = arg('child', '');

interface Sample {
  modelMs: number;
  modelCpuMs: number;
  renderFirstMs: number;
  renderWarmMs: number;
  renderWarmCpuMs: number;
  incFirstMs: number;
  incFirstCpuMs: number;
  incChangeCpuMs: number;
  modelPartsMb: number;
  rendererMb: number;
  rssMb: number;
  configMb: number;
}

/** Wall and CPU (all threads, GC included) time of `fn`. */
function timed<T>(fn: () => T): { value: T; ms: number; cpuMs: number } {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const value = fn();
  const ms = performance.now() - t0;
  const c = process.cpuUsage(c0);
  return { value, ms, cpuMs: (c.user + c.system) / 1000 };
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};

/** One measurement of the tree at `root`, in this process. */
async function measure(root: string): Promise<Sample> {
  const gc = (globalThis as { gc?: () => void }).gc ?? (() => undefined);
  const load = async <T>(p: string): Promise<T> => import(pathToFileURL(path.join(root, p)).href) as Promise<T>;
  type HealthEntry = import('../src/consul/schemas.js').HealthEntry;
  const { buildModel } = await load<typeof import('../src/model/model.js')>('src/model/model.ts');
  const { IncrementalModel } = await load<typeof import('../src/model/incremental.js')>('src/model/incremental.ts');
  const { IncrementalRenderer } = await load<typeof import('../src/config/incremental-render.js')>('src/config/incremental-render.ts');
  const { render } = await load<typeof import('../src/config/render.js')>('src/config/render.ts');
  const { loadTemplates } = await load<typeof import('../src/config/templates.js')>('src/config/templates.ts');
  const { loadSettings } = await load<typeof import('../src/settings.js')>('src/settings.ts');

  const settings = loadSettings({ HAPROXY_DOM: 'bench.test', HAPILOT_FD_LIMIT: '1000000' });
  const paths = { filesDir: '/tmp/hapilot-bench', statsSocket: '/tmp/hapilot-bench/haproxy.sock', serverState: '/tmp/hapilot-bench/server-state' };
  const services = new Map<string, HealthEntry[]>();
  const entries: HealthEntry[] = [];
  for (let s = 0; s < SERVICES; s++) {
    const name = `svc${String(s).padStart(5, '0')}`;
    const list: HealthEntry[] = [];
    for (let i = 0; i < INSTANCES; i++) {
      const node = `node${i % 10}`;
      const id = `${name}-${i}`;
      list.push({
        Node: { ID: '', Node: node, Address: `10.0.0.${1 + (i % 10)}`, Datacenter: 'dc1' },
        Service: { ID: id, Service: name, Tags: ['HAPROXY.ENABLE=true'], Address: `127.${1 + i}.${(s >> 8) & 255}.${s & 255}`, Port: 8000, Weights: { Passing: 1, Warning: 1 }, ModifyIndex: 10, CreateIndex: 10 },
        Checks: [
          { Node: node, CheckID: 'serfHealth', Name: 'Serf Health Status', Status: 'passing', ServiceID: '', ServiceName: '' },
          { Node: node, CheckID: `service:${id}`, Name: 'check', Status: 'passing', ServiceID: id, ServiceName: name },
        ],
      } as HealthEntry);
    }
    services.set(name, list);
    entries.push(...list);
  }
  // Templates loaded from this tree (the baseline tree's own when measuring it).
  const templates = await loadTemplates(path.join(root, 'templates'));

  const heap = (): number => {
    gc();
    gc();
    return process.memoryUsage().heapUsed / 1e6;
  };
  let h0 = heap();
  const builtModel = timed(() => buildModel({ entries, settings }));
  const full = builtModel.value;
  const firstRender = timed(() => render({ model: full, templates, paths }));
  const configMb = firstRender.value.config.length / 1e6;
  const warm: Array<{ ms: number; cpuMs: number }> = [];
  for (let k = 0; k < 3; k++) warm.push(timed(() => render({ model: full, templates, paths })));

  // What the incremental path keeps: its model parts, then its renderer (backend texts, server lines).
  h0 = heap();
  const model = new IncrementalModel();
  type M0 = ReturnType<typeof model.buildByService>;
  let renderer: InstanceType<typeof IncrementalRenderer> | undefined = new IncrementalRenderer();
  const renderWith = (mm: M0) => {
    if (!renderer) throw new Error('bench: renderer dropped');
    return renderer.render({ model: mm, templates, paths });
  };
  const incFirst = timed(() => {
    const mm = model.buildByService({ services, settings });
    return { mm, built: renderWith(mm) };
  });
  let m = incFirst.value.mm;
  let built: ReturnType<typeof renderWith> | undefined = incFirst.value.built;
  // One instance moved: the model and render of one change, as the daemon does it.
  const name = `svc${String(Math.floor(SERVICES / 2)).padStart(5, '0')}`;
  const cpu: number[] = [];
  for (let k = 0; k < 21; k++) {
    const list = services.get(name) ?? [];
    const head = list[0] as HealthEntry;
    services.set(name, [{ ...head, Service: { ...head.Service, Port: 30000 + k } }, ...list.slice(1)]);
    const c0 = process.cpuUsage();
    m = model.buildByService({ services, settings, changed: [name] });
    built = renderWith(m);
    const c = process.cpuUsage(c0);
    cpu.push((c.user + c.system) / 1000);
  }
  // The last result's server lines, as the daemon asks for them (a Runtime API plan reads the changed backend's).
  void built?.serverLines.get(`${name}/node0:${name}-0`);
  const total = heap() - h0;
  // Without the renderer (nor the result it made), what is left is the model parts.
  built = undefined;
  renderer = undefined;
  incFirst.value.built = undefined as unknown as typeof incFirst.value.built;
  const parts = heap() - h0;
  if (m.backends.length !== SERVICES) throw new Error('bench: unexpected model');
  return {
    modelMs: builtModel.ms, modelCpuMs: builtModel.cpuMs, renderFirstMs: firstRender.ms,
    renderWarmMs: median(warm.map((w) => w.ms)), renderWarmCpuMs: median(warm.map((w) => w.cpuMs)),
    incFirstMs: incFirst.ms, incFirstCpuMs: incFirst.cpuMs, incChangeCpuMs: median(cpu.slice(1)),
    modelPartsMb: parts, rendererMb: total - parts, rssMb: process.memoryUsage().rss / 1e6, configMb,
  };
}

function runChild(root: string): Promise<Sample> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', path.join(ROOT, 'bench/render.ts'), '--child', root, '--services', String(SERVICES), '--instances', String(INSTANCES)], { stdio: ['ignore', 'pipe', 'inherit'], cwd: ROOT });
    let out = '';
    p.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    p.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out) as Sample) : reject(new Error(`bench child for ${root} exited ${code}`))));
  });
}

async function main(): Promise<void> {
  if (CHILD) {
    process.stdout.write(JSON.stringify(await measure(CHILD)));
    return;
  }
  const trees: Array<{ label: string; root: string }> = [];
  let tmp: string | undefined;
  if (BASE) {
    tmp = mkdtempSync(path.join(os.tmpdir(), 'hapilot-render-base-'));
    execFileSync('sh', ['-c', `git -C "${ROOT}" archive "${BASE}" src templates | tar -x -C "${tmp}"`]);
    symlinkSync(path.join(ROOT, 'node_modules'), path.join(tmp, 'node_modules'));
    const rev = execFileSync('git', ['-C', ROOT, 'rev-parse', '--short', BASE]).toString().trim();
    trees.push({ label: `base ${BASE} (${rev})`, root: tmp });
  }
  const head = execFileSync('git', ['-C', ROOT, 'rev-parse', '--short', 'HEAD']).toString().trim();
  const dirty = execFileSync('git', ['-C', ROOT, 'status', '--porcelain', '--', 'src', 'templates']).toString().trim() ? '+changes' : '';
  trees.push({ label: `this tree (${head}${dirty})`, root: ROOT });
  const samples = new Map<string, Sample[]>(trees.map((t) => [t.label, []]));
  try {
    for (let r = 0; r < RUNS; r++) {
      for (const t of trees) {
        const s = await runChild(t.root);
        samples.get(t.label)?.push(s);
        console.error(`run ${r + 1}/${RUNS} ${t.label}: ${JSON.stringify(Object.fromEntries(Object.entries(s).map(([k, v]) => [k, Math.round(v * 10) / 10])))}`);
      }
    }
  } finally {
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  }
  const cols: Array<[keyof Sample, string]> = [
    ['modelMs', 'buildModel ms'], ['modelCpuMs', 'buildModel CPU ms'], ['renderFirstMs', 'render ms (first)'], ['renderWarmMs', 'render ms (warm)'],
    ['renderWarmCpuMs', 'render CPU ms (warm)'], ['incFirstMs', 'incremental first build+render ms'], ['incFirstCpuMs', 'same, CPU ms'],
    ['incChangeCpuMs', 'one change CPU ms'], ['modelPartsMb', 'incremental model MB'], ['rendererMb', 'incremental renderer MB'],
    ['rssMb', 'process RSS MB'], ['configMb', 'config MB'],
  ];
  console.log(`${SERVICES} services × ${INSTANCES} instances, medians of ${RUNS} runs (node ${process.version}, ${os.cpus().length} × ${os.cpus()[0]?.model ?? '?'})\n`);
  console.log(`| tree | ${cols.map((c) => c[1]).join(' | ')} |`);
  console.log(`|---|${cols.map(() => '---:').join('|')}|`);
  for (const t of trees) {
    const ss = samples.get(t.label) ?? [];
    console.log(`| ${t.label} | ${cols.map(([k]) => median(ss.map((s) => s[k])).toFixed(k.endsWith('Mb') || k === 'incChangeCpuMs' ? 1 : 0)).join(' | ')} |`);
  }
}

await main();
