// npm run bench:haproxy-start — how long a new HAProxy takes from spawn to answering on its stats
// socket (its listeners are bound by then): in a syn-drop reload this time, plus the pause, is what
// lets the old process's accept queue drain before `-sf` makes it close its listeners.
import { execa } from 'execa';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { socketCommand } from '../src/haproxy/socket.js';
import { percentile } from './lib/loadgen.js';

const runs = Number(process.argv[2] ?? 21);
const dir = await mkdtemp(path.join(os.tmpdir(), 'hapilot-start-'));
const cfg = path.join(dir, 'haproxy.cfg');
await writeFile(cfg, ['global', `    stats socket ${dir}/s.sock mode 600 level admin`, '    maxconn 8000', 'defaults', '    mode http', '    timeout client 5s', '    timeout connect 1s', '    timeout server 5s',
  'frontend f', '    bind 127.0.0.1:18123', '    default_backend b', 'backend b', ...[1, 2, 3, 4].map((i) => `    server s${i} 127.0.0.1:1900${i} check inter 1s`), ''].join('\n'));
const times: number[] = [];
for (let i = 0; i < runs; i++) {
  const t0 = performance.now();
  const p = execa('haproxy', ['-db', '-f', cfg], { reject: false });
  for (let tries = 0; ; tries++) {
    const info = await socketCommand(`${dir}/s.sock`, 'show info', 200).catch(() => '');
    if (info.includes(`Pid: ${p.pid}`)) break;
    if (p.exitCode !== null || tries > 5000) throw new Error(`HAProxy did not start: ${String((await p).stderr)}`);
    await new Promise((r) => setTimeout(r, 2));
  }
  times.push(performance.now() - t0);
  p.kill('SIGTERM');
  await p;
}
await rm(dir, { recursive: true, force: true });
times.sort((a, b) => a - b);
console.log(`HAProxy spawn → stats socket answers, ${runs} starts: median ${percentile(times, 50).toFixed(1)} ms, min ${times[0]!.toFixed(1)} ms, max ${times[times.length - 1]!.toFixed(1)} ms`);
