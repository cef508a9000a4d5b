// Drives the Consul simulator running in its own process (sim-process.ts).
import readline from 'node:readline';
import { execa, type ResultPromise } from 'execa';
import type { ConsulSim } from '../../test/sim/consul-sim.js';

export class RemoteSim {
  readonly url: string;
  readonly #child: ResultPromise;
  readonly #waiting = new Map<number, () => void>();
  #id = 0;

  private constructor(child: ResultPromise, url: string, lines: readline.Interface) {
    this.#child = child;
    this.url = url;
    lines.on('line', (line) => {
      const { id } = JSON.parse(line) as { id: number };
      this.#waiting.get(id)?.();
      this.#waiting.delete(id);
    });
  }

  static async start(): Promise<RemoteSim> {
    const child = execa(process.execPath, ['--import', 'tsx', new URL('./sim-process.ts', import.meta.url).pathname], { stdin: 'pipe', stdout: 'pipe', stderr: 'inherit', reject: false });
    const lines = readline.createInterface({ input: child.stdout! });
    const first = await new Promise<string>((resolve) => lines.once('line', resolve));
    return new RemoteSim(child, (JSON.parse(first) as { url: string }).url, lines);
  }

  #send(op: string, args: unknown[]): Promise<void> {
    const id = ++this.#id;
    return new Promise((resolve) => {
      this.#waiting.set(id, resolve);
      this.#child.stdin!.write(`${JSON.stringify({ id, op, args })}\n`);
    });
  }

  register(r: Parameters<ConsulSim['register']>[0]): Promise<void> { return this.#send('register', [r]); }
  deregister(node: string, id: string): Promise<void> { return this.#send('deregister', [node, id]); }
  setStatus(node: string, id: string, status: 'passing' | 'critical'): Promise<void> { return this.#send('setStatus', [node, id, status]); }

  async stop(): Promise<void> {
    // The simulator process exits on `stop` without answering: wait for the exit, not for a reply.
    void this.#send('stop', []);
    await this.#child;
  }
}
