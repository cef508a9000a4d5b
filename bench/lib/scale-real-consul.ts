// bench:scale's catalog served by a real HashiCorp Consul 1.16.6 agent (`--consul real`) instead of
// the simulator: the agent of test/helpers/real-consul.ts (scripts/consul.sh's binary, one server
// on free loopback ports), filled through its transaction API and changed through
// `/v1/catalog/register`, as bench:consul does at 100 and 1,000 services.
// What the simulator counts and a real agent does not say: requests are Consul's own count
// (telemetry `consul.api.http`, GETs only, so the harness's writes are left out); bytes,
// connections and held long-polls are not known (NaN: the report prints "–").
import { RealConsul } from '../../test/helpers/real-consul.js';
import type { Counters } from './scale-sim.js';

export interface Instance { node: { Node: string; Address: string }; service: { ID: string; Service: string; Tags: string[]; Address: string; Port: number } }

/** Operations per transaction (Consul's limit is 128) and transactions in flight while filling the catalog. */
const TXN_OPS = 64;
const TXN_IN_FLIGHT = 8;
/** The harness's own reads that Consul counts too: the count itself (its other reads come before a reset). */
const HARNESS_PATHS = new Set(['v1_agent_metrics']);

/** The check RealConsul.register gives an instance, as a transaction's operation carries it. */
const checkOf = (i: Instance) => ({ Node: i.node.Node, CheckID: `service:${i.service.ID}`, Name: `Service '${i.service.Service}' check`, Status: 'passing', ServiceID: i.service.ID });

export class RealConsulCatalog {
  readonly #nodes = new Set<string>();
  #base = new Map<string, number>();

  private constructor(readonly consul: RealConsul) {}

  static async start(): Promise<RealConsulCatalog> {
    return new RealConsulCatalog(await RealConsul.start());
  }

  get url(): string {
    return this.consul.url;
  }

  /** The agent's data dir: on its command line, a marker for the run's final sweep. */
  get dir(): string {
    return this.consul.dir;
  }

  /**
   * One instance: `/v1/catalog/register` with its check, one request as a registration through an
   * agent ends up. Many: transactions of 64 operations, 8 in flight (nodes first).
   */
  async register(instances: Instance[]): Promise<void> {
    if (instances.length === 1) {
      const { node, service } = instances[0] as Instance;
      await this.consul.register({ node: node.Node, address: node.Address, id: service.ID, service: service.Service, tags: service.Tags, port: service.Port, serviceAddress: service.Address });
      this.#nodes.add(node.Node);
      return;
    }
    const nodeOps: unknown[] = [];
    for (const i of instances) if (!this.#nodes.has(i.node.Node)) {
      this.#nodes.add(i.node.Node);
      nodeOps.push({ Node: { Verb: 'set', Node: i.node } });
    }
    const ops = instances.flatMap((i) => [{ Service: { Verb: 'set', Node: i.node.Node, Service: i.service } }, { Check: { Verb: 'set', Check: checkOf(i) } }]);
    await this.#transactions(nodeOps);
    await this.#transactions(ops);
  }

  async #transactions(ops: unknown[]): Promise<void> {
    let next = 0;
    await Promise.all(Array.from({ length: TXN_IN_FLIGHT }, async () => {
      while (next < ops.length) {
        const batch = ops.slice(next, next + TXN_OPS);
        next += TXN_OPS;
        await this.consul.ok('PUT', '/v1/txn', batch);
      }
    }));
  }

  async #gets(): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    for (const [key, count] of await this.consul.httpRequestCounts()) {
      const [method, p] = key.split(' ') as [string, string];
      if (method === 'GET' && !HARNESS_PATHS.has(p)) out.set(p, count);
    }
    return out;
  }

  /** Consul's count of the reads since `reset`, by its path label; what it cannot say is NaN. */
  async counters(): Promise<Counters> {
    const requests: Record<string, number> = {};
    for (const [p, count] of await this.#gets()) {
      const d = count - (this.#base.get(p) ?? 0);
      if (d > 0) requests[p] = d;
    }
    return { requests, blocking: {}, bytes: { 'not counted by a real agent': NaN }, connections: NaN, maxConnections: NaN, openBlocking: NaN, held: {} };
  }

  async reset(): Promise<void> {
    this.#base = await this.#gets();
  }

  async body(p: string): Promise<string> {
    return (await this.consul.ok('GET', p)).text;
  }

  stop(): Promise<void> {
    return this.consul.destroy();
  }
}
