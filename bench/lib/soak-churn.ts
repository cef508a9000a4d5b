// The soak bench's churn trace: about R catalog changes a second, drawn from a seeded PRNG (the same
// seed gives the same sequence of operations), bounded in size. Two kinds of services:
// - loaded services (traffic goes to them): instances added, drained (deregistered, then the backend
//   keeps serving for a grace period before it closes), crashed (backend closed at once and
//   deregistered: a server that really went away), flipped critical (the backend answers 500 and
//   says so) and back to passing. Each keeps at least `minLive` healthy instances, and removals in
//   one service are spaced so the mass-removal guard never holds them;
// - background services (no traffic): created with 1-3 instances, removed, instances added and
//   removed, health flips. Their instances point at a small shared pool of listeners.
import type { ConsulSim, SimNode, SimStatus } from '../../test/sim/consul-sim.js';
import type { BackendSet, SoakBackend } from './soak-backends.js';

export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const NODES: SimNode[] = ['node-a', 'node-b', 'node-c'].map((n) => ({ Node: n, Address: '127.0.0.1' }));
const TAGS = ['HAPROXY.ENABLE=true', 'HAPROXY.BACKEND.CHECK.INTER=1s'];

interface LoadedInstance {
  id: string;
  node: SimNode;
  backend: SoakBackend;
  status: SimStatus;
}

interface BgInstance {
  id: string;
  node: SimNode;
  port: number;
  status: SimStatus;
}

/** A churn event that can explain a failed request: a server that went away or turned critical. */
export interface ChurnEvent {
  t: number;
  service: string;
  kind: 'crash' | 'critical' | 'drain-closed';
  id: string;
}

export interface ChurnOptions {
  sim: ConsulSim;
  backends: BackendSet;
  seed: number;
  loadedServices: string[];
  /** Listeners shared by background instances. */
  bgPorts: number[];
  initialPerLoaded?: number;
  maxPerLoaded?: number;
  minLive?: number;
  maxBgServices?: number;
  maxBgInstances?: number;
  /** How long a deregistered instance keeps serving before its backend closes. */
  drainMs: number;
  /** Least time between two removals (drain, crash, critical) in one loaded service. */
  removalSpacingMs?: number;
}

export class Churn {
  readonly counts: Record<string, number> = {};
  readonly events: ChurnEvent[] = [];
  readonly #o: Required<ChurnOptions>;
  readonly #rand: () => number;
  readonly #loaded = new Map<string, LoadedInstance[]>();
  readonly #lastRemoval = new Map<string, number>();
  readonly #bg = new Map<string, BgInstance[]>();
  readonly #drainTimers = new Set<NodeJS.Timeout>();
  readonly #draining = new Set<SoakBackend>();
  #seq = 0;
  #bgSeq = 0;

  constructor(o: ChurnOptions) {
    this.#o = { initialPerLoaded: 4, maxPerLoaded: 6, minLive: 3, maxBgServices: 30, maxBgInstances: 4, removalSpacingMs: 10_000, ...o };
    this.#rand = mulberry32(o.seed);
  }

  #pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.#rand() * xs.length)]!;
  }

  #count(kind: string): void {
    this.counts[kind] = (this.counts[kind] ?? 0) + 1;
  }

  /** Registers the loaded services' first instances. */
  async init(): Promise<void> {
    for (const s of this.#o.loadedServices) {
      this.#loaded.set(s, []);
      for (let i = 0; i < this.#o.initialPerLoaded; i++) await this.#addLoaded(s);
    }
  }

  async #addLoaded(service: string): Promise<void> {
    const id = `${service}-${++this.#seq}`;
    const backend = await this.#o.backends.start(service, id);
    const node = this.#pick(NODES);
    this.#o.sim.register({ node, service: { ID: id, Service: service, Tags: TAGS, Port: backend.port }, status: 'passing' });
    this.#loaded.get(service)!.push({ id, node, backend, status: 'passing' });
  }

  /** One catalog change; returns its kind. */
  async step(): Promise<string> {
    const r = this.#rand();
    const kind = r < 0.45 ? await this.#loadedStep() : await this.#bgStep();
    this.#count(kind);
    return kind;
  }

  async #loadedStep(): Promise<string> {
    const service = this.#pick(this.#o.loadedServices);
    const list = this.#loaded.get(service)!;
    const live = list.filter((i) => i.status === 'passing');
    const critical = list.filter((i) => i.status === 'critical');
    const now = Date.now();
    const canRemove = live.length > this.#o.minLive && now - (this.#lastRemoval.get(service) ?? 0) >= this.#o.removalSpacingMs;
    const r = this.#rand();
    if (critical.length > 0 && r < 0.3) {
      const inst = this.#pick(critical);
      inst.backend.setState('ok');
      inst.status = 'passing';
      this.#o.sim.setStatus(inst.node.Node, inst.id, 'passing');
      return 'loaded:recover';
    }
    if (canRemove && r < 0.45 && critical.length === 0) {
      const inst = this.#pick(live);
      inst.backend.setState('critical');
      inst.status = 'critical';
      this.#o.sim.setStatus(inst.node.Node, inst.id, 'critical');
      this.#lastRemoval.set(service, now);
      this.events.push({ t: now, service, kind: 'critical', id: inst.id });
      return 'loaded:critical';
    }
    if (canRemove && r < 0.6) {
      const inst = this.#pick(live);
      list.splice(list.indexOf(inst), 1);
      this.#lastRemoval.set(service, now);
      this.events.push({ t: now, service, kind: 'crash', id: inst.id });
      await this.#o.backends.close(inst.backend);
      this.#o.sim.deregister(inst.node.Node, inst.id);
      return 'loaded:crash';
    }
    if (canRemove && r < 0.8) {
      const inst = this.#pick(live);
      list.splice(list.indexOf(inst), 1);
      this.#lastRemoval.set(service, now);
      this.#o.sim.deregister(inst.node.Node, inst.id);
      inst.backend.setState('draining');
      this.#draining.add(inst.backend);
      const timer = setTimeout(() => {
        this.#drainTimers.delete(timer);
        this.#draining.delete(inst.backend);
        this.events.push({ t: Date.now(), service, kind: 'drain-closed', id: inst.id });
        void this.#o.backends.close(inst.backend);
      }, this.#o.drainMs);
      this.#drainTimers.add(timer);
      return 'loaded:drain';
    }
    if (list.length < this.#o.maxPerLoaded) {
      await this.#addLoaded(service);
      return 'loaded:add';
    }
    // Full: a weight change (a server-only change through the Runtime API).
    const inst = this.#pick(list);
    this.#o.sim.register({ node: inst.node, service: { ID: inst.id, Service: service, Tags: TAGS, Port: inst.backend.port, Weights: { Passing: 1 + Math.floor(this.#rand() * 20), Warning: 1 } }, status: inst.status });
    return 'loaded:weight';
  }

  async #bgStep(): Promise<string> {
    const names = [...this.#bg.keys()];
    const r = this.#rand();
    if (names.length < 3 || (r < 0.15 && names.length < this.#o.maxBgServices)) {
      const name = `bg-${String(++this.#bgSeq).padStart(4, '0')}`;
      const n = 1 + Math.floor(this.#rand() * 3);
      const list: BgInstance[] = [];
      for (let i = 0; i < n; i++) list.push(this.#bgInstance(name));
      this.#bg.set(name, list);
      for (const inst of list) this.#registerBg(name, inst);
      return 'bg:create-service';
    }
    const name = this.#pick(names);
    const list = this.#bg.get(name)!;
    if (r < 0.27) {
      for (const inst of list) this.#o.sim.deregister(inst.node.Node, inst.id);
      this.#bg.delete(name);
      return 'bg:remove-service';
    }
    if (r < 0.5 && list.length < this.#o.maxBgInstances) {
      const inst = this.#bgInstance(name);
      list.push(inst);
      this.#registerBg(name, inst);
      return 'bg:add';
    }
    if (r < 0.65 && list.length > 1) {
      const inst = list.splice(Math.floor(this.#rand() * list.length), 1)[0]!;
      this.#o.sim.deregister(inst.node.Node, inst.id);
      return 'bg:remove';
    }
    const inst = this.#pick(list);
    inst.status = inst.status === 'passing' ? 'critical' : 'passing';
    this.#o.sim.setStatus(inst.node.Node, inst.id, inst.status);
    return 'bg:flip';
  }

  #bgInstance(service: string): BgInstance {
    return { id: `${service}-${++this.#seq}`, node: this.#pick(NODES), port: this.#pick(this.#o.bgPorts), status: 'passing' };
  }

  #registerBg(service: string, inst: BgInstance): void {
    this.#o.sim.register({ node: inst.node, service: { ID: inst.id, Service: service, Tags: TAGS, Port: inst.port }, status: inst.status });
  }

  /** Service names that exist in the catalog right now, with their instance count. */
  summary(): { loaded: number; loadedInstances: number; bg: number; bgInstances: number; draining: number } {
    return {
      loaded: this.#loaded.size,
      loadedInstances: [...this.#loaded.values()].reduce((n, l) => n + l.length, 0),
      bg: this.#bg.size,
      bgInstances: [...this.#bg.values()].reduce((n, l) => n + l.length, 0),
      draining: this.#draining.size,
    };
  }

  /** Stops the drain timers (the backends themselves are closed through the BackendSet). */
  stop(): void {
    for (const t of this.#drainTimers) clearTimeout(t);
    this.#drainTimers.clear();
  }
}
