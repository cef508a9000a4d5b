// The Consul simulator in a process of its own, as Consul would be: benchmarks measure hapilot, not
// the simulator sharing its event loop. Commands arrive as JSON lines on stdin ({ id, op, args }:
// register, deregister, setStatus, stop) and are acknowledged ({ id }) on stdout once applied; the
// first line out is { url }.
import readline from 'node:readline';
import { ConsulSim } from '../../test/sim/consul-sim.js';

const sim = new ConsulSim();
sim.jitter = false;
await sim.start();
process.stdout.write(`${JSON.stringify({ url: sim.url })}\n`);
for await (const line of readline.createInterface({ input: process.stdin })) {
  const { id, op, args } = JSON.parse(line) as { id: number; op: string; args: unknown[] };
  if (op === 'register') sim.register(args[0] as Parameters<ConsulSim['register']>[0]);
  else if (op === 'deregister') sim.deregister(args[0] as string, args[1] as string);
  else if (op === 'setStatus') sim.setStatus(args[0] as string, args[1] as string, args[2] as 'passing' | 'critical');
  else if (op === 'stop') break;
  process.stdout.write(`${JSON.stringify({ id })}\n`);
}
await sim.stop();
process.exit(0);
