// Not a test: a measurement of the Consul source alone (src/catalog/consul-source.ts) against the
// indexed simulator bench:scale uses (bench/lib/scale-sim.ts, its own process), with no model, render
// or HAProxy. Compares implementations side by side in one run: each `--impl DIR` is a tree holding
// src/ (e.g. `git archive <commit> src package.json | tar -x -C DIR`, node_modules linked); `.` is
// this tree. For each: time to the first complete snapshot, Consul requests and bytes, heap and
// array buffers held after a GC, the highest RSS until then (VmHWM), then one change at a time
// (register / flip / deregister / address), each timed from the write to the snapshot naming it,
// with the worker's CPU time until it has been idle 300 ms.
//   npx tsx test/catalog/measure-source.ts --size 10000 --changes 10 --impl /tmp/hapilot-base --impl .
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import readline from 'node:readline';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    size: { type: 'string', default: '1000' },
    changes: { type: 'string', default: '10' },
    impl: { type: 'string', multiple: true, default: ['.'] },
    worker: { type: 'string' },
    url: { type: 'string' },
    kinds: { type: 'string', default: 'register,flip,deregister,address' },
  },
});
const INSTANCES = 10;
const svcName = (s: number) => `svc${String(s).padStart(5, '0')}`;
const tags = ['HAPROXY.ENABLE=true', 'HAPROXY.BACKEND.CHECK.INTER=30s'];
const inst = (s: number, i: number, id = `${svcName(s)}-${i}`, addr = `127.${1 + i}.${(s >> 8) & 255}.${s & 255}`) =>
  ({ node: { Node: `node${i % 10}`, Address: `10.0.0.${1 + (i % 10)}` }, service: { ID: id, Service: svcName(s), Tags: tags, Address: addr, Port: 8080 } });

async function post(url: string, p: string, body: unknown): Promise<unknown> {
  const r = await fetch(`${url}${p}`, { method: 'POST', body: JSON.stringify(body) });
  return r.json();
}

const median = (xs: number[]) => { const s = [...xs].sort((a, b) => a - b); return s.length ? (s[Math.floor((s.length - 1) / 2)] as number) : NaN; };

if (values.worker !== undefined) {
  // ---- one implementation, in its own process -------------------------------------------------
  const root = path.resolve(values.worker);
  const { createConsulClient } = await import(path.join(root, 'src/consul/client.ts')) as typeof import('../../src/consul/client.js');
  const { loadConsulConfig } = await import(path.join(root, 'src/consul/config.ts')) as typeof import('../../src/consul/config.js');
  const { ConsulSource } = await import(path.join(root, 'src/catalog/consul-source.ts')) as typeof import('../../src/catalog/consul-source.js');
  const { default: pino } = await import('pino');
  const url = values.url as string;
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  const heap0 = process.memoryUsage().heapUsed;
  const consul = createConsulClient(loadConsulConfig({ flagUrl: url, env: {} }));
  let latest: import('../../src/catalog/source.js').CatalogSnapshot | undefined;
  let waiter: ((s: import('../../src/catalog/source.js').CatalogSnapshot) => void) | undefined;
  let lastEvent = performance.now();
  const source = new ConsulSource({ consul, log: pino({ level: 'warn' }), wait: '5m' });
  await post(url, '/bench/reset', {});
  const t0 = performance.now();
  const first = new Promise<void>((resolve) => {
    source.start((s) => {
      latest = s;
      lastEvent = performance.now();
      if (waiter) waiter(s); else resolve();
    });
  });
  await first;
  const firstMs = performance.now() - t0;
  console.error(`${values.worker}: first snapshot after ${Math.round(firstMs)} ms`);
  const startup = await (await fetch(`${url}/bench/counters`)).json() as { requests: Record<string, number>; bytes: Record<string, number> };
  // The highest RSS so far (the first read's transient) and, after a collection, what stays.
  const hwmMB = Number(/VmHWM:\s+(\d+)/.exec(await readFile('/proc/self/status', 'utf8'))?.[1] ?? NaN) / 1024;
  gc?.();
  const heapMB = (process.memoryUsage().heapUsed - heap0) / 2 ** 20;
  const out: Record<string, unknown> = {
    impl: values.worker, firstMs: Math.round(firstMs), heapMB: Math.round(heapMB), buffersMB: Math.round(process.memoryUsage().arrayBuffers / 2 ** 20),
    rssMB: Math.round(process.memoryUsage().rss / 2 ** 20), firstHwmMB: Math.round(hwmMB),
    startupRequests: Object.values(startup.requests).reduce((a, b) => a + b, 0), startupMB: +(Object.values(startup.bytes).reduce((a, b) => a + b, 0) / 2 ** 20).toFixed(1),
  };
  const size = Number(values.size);
  const idle = async () => { while (performance.now() - lastEvent < 300) await new Promise((r) => setTimeout(r, 50)); };
  await new Promise((r) => setTimeout(r, 1000));
  await idle();
  const kinds = (values.kinds as string).split(',');
  for (const kind of kinds) {
    const lat: number[] = [];
    const cpu: number[] = [];
    const bytes: number[] = [];
    const reqs: number[] = [];
    const exact: boolean[] = [];
    const parsed: number[] = [];
    const parsedBytes = () => (source as unknown as { parsedChecksBytes?: number }).parsedChecksBytes ?? NaN;
    for (let k = 0; k < Number(values.changes); k++) {
      const s = Math.floor(size / 2) + k * 7;
      const name = svcName(s);
      let write: () => Promise<unknown>;
      let seen: (e: import('../../src/consul/schemas.js').HealthEntry[]) => boolean;
      if (kind === 'register') {
        const i = inst(s, k, `${name}-x${k}`);
        write = () => post(url, '/bench/register', { instances: [i] });
        seen = (es) => es.some((e) => e.Service.ID === `${name}-x${k}`);
      } else if (kind === 'flip') {
        const i = inst(s, 3);
        write = () => post(url, '/bench/register', { instances: [{ ...i, status: 'critical' }] });
        seen = (es) => es.some((e) => e.Service.ID === i.service.ID && (e.Checks ?? []).some((c) => c.Status === 'critical'));
      } else if (kind === 'deregister') {
        write = () => post(url, '/bench/deregister', { instances: [{ node: 'node4', service: name, id: `${name}-4` }] });
        seen = (es) => es.length > 0 && !es.some((e) => e.Service.ID === `${name}-4`);
      } else {
        const i = inst(s, 5, undefined, `127.200.${(s >> 8) & 255}.${s & 255}`);
        write = () => post(url, '/bench/register', { instances: [i] });
        seen = (es) => es.some((e) => e.Service.ID === i.service.ID && e.Service.Address === i.service.Address);
      }
      await post(url, '/bench/reset', {});
      const p0 = parsedBytes();
      const c0 = process.cpuUsage();
      const w0 = performance.now();
      const got = new Promise<import('../../src/catalog/source.js').CatalogSnapshot>((resolve) => {
        waiter = (snap) => { if (seen(snap.entries.filter((e) => e.Service.Service === name))) { waiter = undefined; resolve(snap); } };
      });
      await write();
      const snap = await got;
      console.error(`${values.worker}: ${kind} ${name} seen after ${Math.round(performance.now() - w0)} ms`);
      lat.push(performance.now() - w0);
      exact.push(JSON.stringify(snap.changed) === JSON.stringify([name]));
      await idle();
      const c = process.cpuUsage(c0);
      cpu.push((c.user + c.system) / 1000);
      parsed.push(parsedBytes() - p0);
      const ctr = await (await fetch(`${url}/bench/counters`)).json() as { requests: Record<string, number>; bytes: Record<string, number> };
      reqs.push(Object.values(ctr.requests).reduce((a, b) => a + b, 0));
      bytes.push(Object.values(ctr.bytes).reduce((a, b) => a + b, 0));
    }
    out[kind] = { latencyMs: Math.round(median(lat)), cpuMs: Math.round(median(cpu)), requests: median(reqs), KB: Math.round(median(bytes) / 1024), checksParsedKB: Math.round(median(parsed) / 1024), changedExactly: `${exact.filter(Boolean).length}/${exact.length}` };
  }
  void latest;
  gc?.();
  const mem = process.memoryUsage();
  Object.assign(out, { endHeapMB: Math.round((mem.heapUsed - heap0) / 2 ** 20), endBuffersMB: Math.round(mem.arrayBuffers / 2 ** 20), endRssMB: Math.round(mem.rss / 2 ** 20) });
  out.peakRssMB = Math.round(Number(/VmHWM:\s+(\d+)/.exec(await readFile('/proc/self/status', 'utf8'))?.[1] ?? NaN) / 1024);
  process.stdout.write(`${JSON.stringify(out)}\n`);
  await source.stop();
  consul.close();
  process.exit(0);
} else {
  // ---- driver ---------------------------------------------------------------------------------
  const sim = spawn(process.execPath, ['--import', 'tsx', 'bench/lib/scale-sim-main.ts'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const line = await new Promise<string>((resolve) => readline.createInterface({ input: sim.stdout }).once('line', resolve));
  const url = (JSON.parse(line) as { url: string }).url;
  try {
    const size = Number(values.size);
    for (let s = 0; s < size; s += 500) {
      const batch = [];
      for (let k = s; k < Math.min(size, s + 500); k++) for (let i = 0; i < INSTANCES; i++) batch.push(inst(k, i));
      await post(url, '/bench/register', { instances: batch });
    }
    console.error(`size ${size}: catalog of ${size * INSTANCES} instances registered`);
    for (const impl of values.impl as string[]) {
      const child = spawn(process.execPath, ['--expose-gc', ...(process.env.MEASURE_WORKER_FLAGS ?? '').split(' ').filter(Boolean), '--import', 'tsx', 'test/catalog/measure-source.ts', '--worker', impl, '--url', url, '--size', String(size), '--changes', values.changes as string, '--kinds', values.kinds as string], { stdio: ['ignore', 'pipe', 'inherit'] });
      let text = '';
      child.stdout.on('data', (d: Buffer) => { text += String(d); });
      await new Promise((r) => child.once('exit', r));
      process.stdout.write(text);
      // Undo this worker's changes so that the next one measures the same catalog.
      for (let k = 0; k < Number(values.changes); k++) {
        const s = Math.floor(size / 2) + k * 7;
        await post(url, '/bench/deregister', { instances: [{ node: `node${k % 10}`, service: svcName(s), id: `${svcName(s)}-x${k}` }] });
        await post(url, '/bench/register', { instances: [inst(s, 3), inst(s, 4), inst(s, 5)] });
      }
    }
  } finally {
    sim.kill('SIGTERM');
  }
}
