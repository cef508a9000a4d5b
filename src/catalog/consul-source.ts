// Follows Consul with a constant number of long-polls, whatever the number of services:
// - `/v1/catalog/services` (blocking): which services exist and their tags → which ones are
//   candidates (carry HAPROXY tags), added, removed or retagged;
// - `/v1/health/state/any` (blocking): every check → the services whose checks differ from what we
//   hold (a flap, a registration, a deregistration, a node going down);
// and re-reads `/v1/health/service/:name` (not blocking) for exactly those services.
// consul-template instead holds one long-poll per service and hits the agent's 200-connections cap.
//
// One change is invisible to both long-polls: an instance modified without touching tags or checks
// (an address changed by re-registration). When the services index moves with identical content and
// the checks index has not caught up with it after a short settle time, every candidate is re-read
// once (counted as a full resync).
import { setMaxListeners } from 'node:events';
import type { Logger } from '../log.js';
import { messageOf } from '../errors.js';
import { runBlockingLoop, abortableSleep, backoffDelay } from '../consul/blocking-query.js';
import type { ConsulApi } from '../consul/client.js';
import { candidateServices, mapLimit } from './fetch-catalog.js';
import type { CatalogServices, HealthCheck, HealthEntry } from '../consul/schemas.js';
import type { CatalogSnapshot, CatalogSource, SourceHealth } from './source.js';

export interface ConsulSourceOptions {
  consul: ConsulApi;
  log: Logger;
  /** `wait` of each long-poll (Consul adds up to wait/16 of jitter). */
  wait?: string;
  /** How long an unexplained services-index move may wait for the checks long-poll to explain it. */
  settleMs?: number;
  concurrency?: number;
  /** Counts full re-reads of every candidate (metrics). */
  onFullResync?: () => void;
}

function checkKey(c: { Node?: string | null | undefined; CheckID: string; ServiceID?: string | null | undefined; Status: string }): string {
  return `${c.Node ?? ''}|${c.CheckID}|${c.ServiceID ?? ''}|${c.Status}`;
}

/** The checks of a service as we hold them: its instances' checks, node checks included. */
function fingerprintEntries(entries: readonly HealthEntry[]): string {
  const keys = new Set<string>();
  for (const e of entries) for (const c of e.Checks ?? []) keys.add(checkKey({ ...c, Node: c.Node ?? e.Node.Node }));
  return [...keys].sort().join('\n');
}

export class ConsulSource implements CatalogSource {
  readonly kind = 'consul';
  readonly #o: Required<Omit<ConsulSourceOptions, 'onFullResync'>> & Pick<ConsulSourceOptions, 'onFullResync'>;
  readonly #abort = new AbortController();
  #onSnapshot: ((s: CatalogSnapshot) => void) | undefined;
  #candidates: string[] = [];
  #entries = new Map<string, HealthEntry[]>();
  #dirty = new Set<string>();
  #servicesIndex = 0;
  #checksIndex = 0;
  #checks: HealthCheck[] | undefined;
  #synced = false;
  #servicesSeen = false;
  #errors = new Map<string, string>();
  #lastSuccessMs: number | undefined;
  #wake: (() => void) | undefined;
  #fullResync = false;
  #loops: Promise<void>[] = [];

  constructor(o: ConsulSourceOptions) {
    this.#o = { wait: '5m', settleMs: 1500, concurrency: 8, ...o };
    // Every request of a full re-read listens on this one signal (two long-polls, `concurrency` reads, sleeps).
    setMaxListeners(this.#o.concurrency * 4 + 16, this.#abort.signal);
  }

  start(onSnapshot: (s: CatalogSnapshot) => void): void {
    this.#onSnapshot = onSnapshot;
    const signal = this.#abort.signal;
    const log = this.#o.log;
    const onError = (name: string) => (err: unknown, attempt: number, delayMs: number) => {
      this.#errors.set(name, messageOf(err));
      log.warn({ err: messageOf(err), attempt, retryInMs: delayMs }, `${name} failed; retrying`);
    };
    this.#loops.push(runBlockingLoop<CatalogServices>({
      name: 'catalog/services', signal, notifyIndexOnly: true,
      fetch: (index, s) => this.#o.consul.catalogServices({ index, wait: this.#o.wait, signal: s }),
      fingerprint: (d) => JSON.stringify(candidateServices(d).map((n) => [n, [...(d[n] ?? [])].sort()])),
      onContact: () => this.#contact('catalog/services'),
      onError: onError('catalog/services'),
      onData: (data, index, changed) => this.#onServices(data, index, changed),
    }));
    this.#loops.push(runBlockingLoop<HealthCheck[]>({
      name: 'health/state/any', signal,
      fetch: (index, s) => this.#o.consul.healthState('any', { index, wait: this.#o.wait, signal: s }),
      fingerprint: (d) => d.map(checkKey).sort().join('\n'),
      onContact: () => this.#contact('health/state/any'),
      onError: onError('health/state/any'),
      onData: (data, index) => this.#onChecks(data, index),
    }));
    this.#loops.push(this.#worker());
  }

  async stop(): Promise<void> {
    this.#abort.abort();
    this.#wake?.();
    await Promise.allSettled(this.#loops);
  }

  health(): SourceHealth {
    return {
      degraded: [...this.#errors.entries()].map(([k, v]) => `consul ${k}: ${v}`),
      index: Math.max(this.#servicesIndex, this.#checksIndex),
      lastSuccessMs: this.#lastSuccessMs,
      synced: this.#synced,
    };
  }

  #contact(name: string): void {
    this.#errors.delete(name);
    this.#lastSuccessMs = Date.now();
  }

  #onServices(data: CatalogServices, index: number, contentChanged: boolean): void {
    const previous = new Set(this.#candidates);
    const next = candidateServices(data);
    // An index that went backwards (a snapshot restore): the indexes of our earlier reads say nothing
    // about the restored state.
    if (index < this.#servicesIndex) this.#fetchedIndex.clear();
    this.#servicesIndex = index;
    if (!this.#servicesSeen || contentChanged) {
      this.#servicesSeen = true;
      const prevTags = this.#tags;
      this.#tags = new Map(next.map((n) => [n, JSON.stringify([...(data[n] ?? [])].sort())]));
      for (const n of next) if (!previous.has(n) || prevTags.get(n) !== this.#tags.get(n)) this.#dirty.add(n);
      for (const n of previous) if (!next.includes(n)) this.#dirty.add(n);
      this.#candidates = next;
      this.#kick();
      return;
    }
    // The index moved, the tags did not: an instance was registered, removed or modified. The checks
    // long-poll normally explains it; if it has not reached this index after the settle time, re-read all.
    const target = index;
    void abortableSleep(this.#o.settleMs, this.#abort.signal).then(() => {
      if (this.#abort.signal.aborted || this.#checksIndex >= target || this.#servicesIndex > target) return;
      this.#o.log.debug({ index: target, checksIndex: this.#checksIndex }, 'services index moved without a visible change: re-reading every service');
      this.#fullResync = true;
      this.#kick();
    });
  }

  #tags = new Map<string, string>();
  /** X-Consul-Index of each service's last read. */
  #fetchedIndex = new Map<string, number>();

  #onChecks(data: HealthCheck[], index: number): void {
    if (index < this.#checksIndex) this.#fetchedIndex.clear(); // restored: see #onServices
    this.#checksIndex = index;
    this.#checks = data;
    this.#markChecksDirty();
    this.#kick();
  }

  /** Services whose checks in Consul differ from the checks in the entries we hold. */
  #markChecksDirty(): void {
    const checks = this.#checks;
    if (!checks || !this.#synced) return;
    const byService = new Map<string, HealthCheck[]>();
    const byNode = new Map<string, HealthCheck[]>();
    for (const c of checks) {
      if (c.ServiceName) {
        const list = byService.get(c.ServiceName) ?? [];
        list.push(c);
        byService.set(c.ServiceName, list);
      } else {
        const list = byNode.get(c.Node ?? '') ?? [];
        list.push(c);
        byNode.set(c.Node ?? '', list);
      }
    }
    for (const name of this.#candidates) {
      // Our copy was read after this view of the checks: it is the newer one.
      if ((this.#fetchedIndex.get(name) ?? 0) > this.#checksIndex) continue;
      const held = this.#entries.get(name) ?? [];
      const nodes = new Set(held.map((e) => e.Node.Node));
      const current = [...(byService.get(name) ?? [])];
      for (const node of nodes) current.push(...(byNode.get(node) ?? []));
      const keys = new Set(current.map(checkKey));
      const live = [...keys].sort().join('\n');
      if (live !== fingerprintEntries(held)) this.#dirty.add(name);
    }
  }

  #kick(): void {
    this.#wake?.();
  }

  /** Re-reads dirty services (all of them for the first snapshot) and emits complete snapshots. */
  async #worker(): Promise<void> {
    const signal = this.#abort.signal;
    let failures = 0;
    const changed = new Set<string>();
    while (!signal.aborted) {
      const idle = !this.#servicesSeen || (this.#synced && this.#dirty.size === 0 && !this.#fullResync);
      if (idle) {
        await new Promise<void>((resolve) => { this.#wake = resolve; });
        this.#wake = undefined;
        continue;
      }
      const full = !this.#synced || this.#fullResync;
      const names = full ? [...this.#candidates] : [...this.#dirty].sort();
      this.#fullResync = false;
      for (const n of names) this.#dirty.delete(n);
      const wanted = new Set(this.#candidates);
      try {
        const results = await mapLimit(names.filter((n) => wanted.has(n)), this.#o.concurrency, async (name) =>
          [name, await this.#o.consul.healthService(name, { signal })] as const);
        changed.clear();
        for (const n of [...this.#entries.keys()]) if (!wanted.has(n)) { this.#entries.delete(n); changed.add(n); }
        for (const [name, r] of results) {
          // A full re-read names the services whose entries really differ (a weight, an address).
          if (!full || JSON.stringify(this.#entries.get(name)) !== JSON.stringify(r.data)) changed.add(name);
          this.#entries.set(name, r.data);
          this.#fetchedIndex.set(name, r.index);
        }
        if (full) this.#o.onFullResync?.();
        this.#errors.delete('health/service');
        failures = 0;
      } catch (err) {
        if (signal.aborted) return;
        for (const n of names) this.#dirty.add(n);
        if (full && this.#synced) this.#fullResync = true;
        const delay = backoffDelay(failures++);
        this.#errors.set('health/service', messageOf(err));
        this.#o.log.warn({ err: messageOf(err), services: names.length, retryInMs: delay }, 'reading service health failed; retrying');
        await abortableSleep(delay, signal);
        continue;
      }
      const first = !this.#synced;
      this.#synced = true;
      // Checks that arrived while we were reading may already differ again.
      this.#markChecksDirty();
      const entries = [...this.#entries.keys()].sort().flatMap((n) => this.#entries.get(n) ?? []);
      this.#onSnapshot?.({
        entries,
        index: Math.max(this.#servicesIndex, this.#checksIndex),
        cause: first ? `initial read of ${names.length} services` : full ? `full re-read of ${names.length} services` : `re-read ${names.join(', ')}`,
        changed: first ? undefined : [...changed].sort(),
      });
    }
  }
}
