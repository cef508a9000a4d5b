// Follows Consul with a constant number of long-polls, whatever the number of services:
// - `/v1/catalog/services` (blocking): which services exist and their tags → which ones are
//   candidates (carry HAPROXY tags), added, removed or retagged;
// - `/v1/health/state/any` (blocking): every check, diffed by key against the previous answer
//   (checks-diff.ts) → the services whose checks appeared, vanished or changed (a flap, a
//   registration, a deregistration, a node going down);
// and re-reads `/v1/health/service/:name` (not blocking) for exactly those services.
// consul-template instead holds one long-poll per service and hits the agent's 200-connections cap.
//
// One change is invisible to both lists: an instance re-registered with another address or weight
// but the same tags and checks (measured on Consul 1.16.6: it moves the services table and the
// service's index, not the checks table), and an instance that has no checks at all. When the
// services index moves with identical content, a request for the checks of a node that does not
// exist (`[]`, an index lookup for Consul) says whether the checks table moved as far: if not, no list will explain the move and everything is
// read at once; if it did, the checks list says whether a check changed by that very write (a
// check's ModifyIndex is the index of the write that last changed it) or vanished, and if none did,
// everything is read. Reading everything is one request, Consul's node dump (node-dump.ts; one
// `/v1/health/service/:name` per service, 32 at a time, where Consul refuses it), counted as a full
// resync, and only the services whose entries differ are reported.
//
// Why every registration still brings the whole checks list (O(catalog) bytes), measured against
// Consul 1.16.6: no HTTP endpoint says which service changed since an index. `?filter=` has no `>`
// or `<`, and ModifyIndex/CreateIndex are not selectors on /v1/health/state/any or
// /v1/catalog/services; /v1/catalog/services carries tags, no counts or indexes; the per-service
// index of /v1/health/service/:name is one long-poll per service (consul-template's design). A
// filter on status (`Status != "passing"`) shows flips but not a passing instance registered or
// deregistered; a filter on service names cannot be long (10,000 names in a URL, evaluated against
// every check). So a constant number of long-polls can learn *that* the checks table moved for
// zero bytes, but learning *which* service registered takes a listing of every check.
import { setMaxListeners } from 'node:events';
import type { Logger } from '../log.js';
import { messageOf } from '../errors.js';
import { runBlockingLoop, abortableSleep, backoffDelay, type LostLongPoll, type PollWatch } from '../consul/blocking-query.js';
import type { ConsulApi } from '../consul/client.js';
import type { CatalogServices } from '../consul/schemas.js';
import { candidateServices } from './fetch-catalog.js';
import { diffChecks, spliceRegions, type CheckRow } from './checks-diff.js';
import { checkRowsParser } from './checks-body.js';
import { KeptAnswer, type PendingDecode } from './kept-answer.js';
import { HeldCatalog } from './held-catalog.js';
import { ServiceReads } from './service-reads.js';
import { SettleClock } from './settle-clock.js';
import { ExplainedWrites } from './explained-writes.js';
import { UnseenWrites } from './unseen-writes.js';
import type { CatalogSnapshot, CatalogSource, SourceHealth } from './source.js';

export interface ConsulSourceOptions {
  consul: ConsulApi;
  log: Logger;
  /** `wait` of each long-poll (Consul adds up to wait/16 of jitter). */
  wait?: string;
  /** How long a services-index move may wait for the checks table's index to reach it before every service is re-read. */
  settleMs?: number;
  /** Service reads in flight at once (Consul allows 200 connections per client address). */
  concurrency?: number;
  /** Counts full re-reads of every candidate (metrics). */
  onFullResync?: () => void;
  /**
   * A long-poll open this long is checked against the endpoint's index (asked without blocking, with
   * a filter that matches nothing); when Consul's index has passed the one it waits on and its answer
   * has not come, it is asked again at once (see `probe` in blocking-query.ts). 0 turns it off.
   */
  probeMs?: number;
  /** Counts long-polls given up because their answer never came (metrics). */
  onLostLongPoll?: (lost: LostLongPoll) => void;
  /**
   * Least time between two reads of every service for verification (see UnseenWrites.gap), counted from
   * the last read of every service (5 minutes by default); the time also grows with the number of
   * services (10 ms each). A single change costs its few requests; the verification is a background
   * read of everything at most that often while the catalog changes, none when idle.
   */
  verifyMinMs?: number;
}

/** A filter that matches nothing: the answer is `[]` and its X-Consul-Index is the services table's. */
const PROBE_SERVICES_FILTER = 'ServiceName == "hapilot-index-probe"';
/**
 * A node that does not exist: `/v1/health/node/:node` answers `[]` under the checks table's index,
 * found by an index lookup (a filter on /v1/health/state/any would have Consul evaluate it against
 * every check: ~100,000 at 10,000 services, on every probe).
 */
const PROBE_NODE = 'hapilot-index-probe';

/** Milliseconds to a tenth, for the debug log. */
const round = (ms: number) => Math.round(ms * 10) / 10;

export class ConsulSource implements CatalogSource {
  readonly kind = 'consul';
  readonly #o: Required<Omit<ConsulSourceOptions, 'onFullResync' | 'onLostLongPoll'>> & Pick<ConsulSourceOptions, 'onFullResync' | 'onLostLongPoll'>;
  readonly #abort = new AbortController();
  #onSnapshot: ((s: CatalogSnapshot) => void) | undefined;
  #candidates: string[] = [];
  #candidateSet = new Set<string>();
  #tags = new Map<string, string>();
  /** Entries of each candidate as held (held-entry.ts), and the services with an instance on each node. */
  readonly #held = new HeldCatalog();
  /** X-Consul-Index of each service's last read. */
  #fetchedIndex = new Map<string, number>();
  /**
   * Services being read now, with the highest index of a checks list that touched them meanwhile:
   * the read's own index says whether it already holds that change (a new service is read on the
   * services answer, and its checks list most often arrives during that read: a second read for
   * nothing), so it is decided when the read returns.
   */
  #reading = new Map<string, number>();
  /**
   * Services read again only because a restore was seen while their read was under way: the
   * re-read names them as changed only if their entries differ from what that read brought.
   */
  readonly #verify = new Set<string>();
  #dirty = new Set<string>();
  #servicesIndex = 0;
  #checksIndex = 0;
  /** Highest checks-table index seen (the list's header, before its body is read). */
  #checksNotice = 0;
  /** The last checks answer, as diffed against the next one; undefined until the first. */
  #checkRows: CheckRow[] | undefined;
  /** When the last checks list's headers and body came and when it was decoded (for the next snapshot's timings). */
  #checksTiming: { headers: number; body: number; decoded: number } | undefined;
  #parsedBytes = 0;
  /** The held entries have not been compared with the checks list yet (first sync, restore). */
  #reconcile = true;
  #synced = false;
  #servicesSeen = false;
  #errors = new Map<string, string>();
  #lastSuccessMs: number | undefined;
  #wake: (() => void) | undefined;
  #fullResync = false;
  #loops: Promise<void>[] = [];
  /** The last services answer, its candidates and its fingerprint. */
  #servicesPrint: { data: CatalogServices; candidates: string[]; print: string } | undefined;

  #servicesOf(data: CatalogServices): { candidates: string[]; print: string } {
    if (this.#servicesPrint?.data !== data) {
      const candidates = candidateServices(data);
      this.#servicesPrint = { data, candidates, print: JSON.stringify(candidates.map((n) => [n, [...(data[n] ?? [])].sort()])) };
    }
    return this.#servicesPrint;
  }
  /** How long a services-index move waits for the checks list (settle-clock.ts). */
  readonly #settle: SettleClock;
  /** Services read one by one, or all at once from the node dump (service-reads.ts). */
  readonly #reads: ServiceReads;

  constructor(o: ConsulSourceOptions) {
    this.#o = { wait: '5m', settleMs: 250, concurrency: 32, probeMs: 15_000, verifyMinMs: 300_000, ...o };
    this.#settle = new SettleClock(this.#o.settleMs);
    this.#reads = new ServiceReads({ consul: this.#o.consul, concurrency: this.#o.concurrency, log: this.#o.log });
    this.#unseen = new UnseenWrites({
      signal: this.#abort.signal, settle: this.#settle, explained: this.#explained, log: this.#o.log, verifyMinMs: this.#o.verifyMinMs,
      probe: async (signal) => {
        const { index } = await this.#o.consul.healthNode(PROBE_NODE, { signal });
        this.#watches.get('health/state/any')?.indexSeen(index);
        return index;
      },
      checksNotice: () => this.#checksNotice, checksIndex: () => this.#checksIndex, servicesIndex: () => this.#servicesIndex,
      services: () => this.#candidates.length,
      readAll: () => {
        this.#fullResync = true;
        this.#kick();
      },
    });
    // Every request of a full re-read listens on this one signal (three long-polls, `concurrency` reads, sleeps).
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
    // A long-poll whose answer never came: said loudly (it would otherwise look like a quiet
    // catalog), shown on /status until the next answer, and asked again at once.
    const probing = this.#o.probeMs > 0 ? { probeAfterMs: this.#o.probeMs } : undefined;
    // Each long-poll's answer says Consul reached its index: the other long-poll, open on an older
    // index for a while, is probed soon (unless its own answer comes first) rather than at its next
    // period, so a change one of them saw and the other never did does not wait `probeMs`.
    const watches = this.#watches;
    const watch = (name: string) => (w: PollWatch | undefined) => { if (w) watches.set(name, w); else watches.delete(name); };
    const nudge = (other: string, index: number) => {
      const w = watches.get(other);
      if (w && w.askedIndex < index) w.probeNow();
    };
    const onLost = (name: string) => (lost: LostLongPoll) => {
      const why = `long-poll at index ${lost.askedIndex} unanswered for ${Math.round(lost.openMs / 1000)} s while Consul is at ${lost.consulIndex}: asked again`;
      this.#errors.set(name, why);
      log.warn({ askedIndex: lost.askedIndex, consulIndex: lost.consulIndex, openMs: lost.openMs }, `${name}: ${why}`);
      this.#o.onLostLongPoll?.(lost);
    };
    this.#loops.push(runBlockingLoop<CatalogServices>({
      name: 'catalog/services', signal, notifyIndexOnly: true,
      fetch: (index, s) => this.#o.consul.catalogServices({ index, wait: this.#o.wait, signal: s }),
      // An answer identical to the last one is the same object (client.ts): its fingerprint is known.
      fingerprint: (d) => {
        return this.#servicesOf(d).print;
      },
      onContact: (index) => { this.#contact('catalog/services'); nudge('health/state/any', index); },
      onError: onError('catalog/services'),
      onData: (data, index, changed) => this.#onServices(data, index, changed),
      ...(probing && {
        ...probing,
        probe: async (s) => (await this.#o.consul.catalogServices({ filter: PROBE_SERVICES_FILTER, signal: s })).index,
        onLost: onLost('catalog/services'),
        onWatch: watch('catalog/services'),
      }),
    }));
    this.#loops.push(runBlockingLoop<PendingDecode<CheckRow>>({
      name: 'health/state/any', signal,
      fetch: async (index, s) => {
        const started = performance.now();
        let headers = started;
        const patch = this.#checksAnswer.open();
        const r = await this.#o.consul.healthStateBytes('any', {
          index, wait: this.#o.wait, signal: s,
          onIndex: (i) => { headers = performance.now(); this.#onChecksHeader(i, index === 0 ? started : undefined); },
          into: patch,
        });
        const body = performance.now();
        // Decoded here, against the last answer taken, so that a malformed answer is retried as an error.
        const decoded = { ...r, data: patch.decode(checkRowsParser(), this.#checkRows?.length ?? 0) };
        this.#checksTiming = { headers, body, decoded: performance.now() };
        return decoded;
      },
      // No fingerprint: #onChecks diffs the list by key, which also says what changed.
      onContact: (index) => { this.#contact('health/state/any'); nudge('catalog/services', index); },
      onError: onError('health/state/any'),
      onData: (data, index) => this.#onChecks(data, index),
      ...(probing && {
        ...probing,
        probe: async (s) => (await this.#o.consul.healthNode(PROBE_NODE, { signal: s })).index,
        onLost: onLost('health/state/any'),
        onWatch: watch('health/state/any'),
      }),
    }));
    this.#loops.push(this.#worker());
  }

  async stop(): Promise<void> {
    this.#reads.stop();
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
    const previous = this.#candidateSet;
    if (index < this.#servicesIndex) {
      // An index that went backwards (a snapshot restore): the indexes of our earlier reads say
      // nothing about the restored state, and a restore can change what no list shows (addresses,
      // weights): read everything again once.
      this.#fetchedIndex.clear();
      this.#readAgain();
      this.#checksNotice = 0;
      if (this.#synced) this.#fullResync = true;
    }
    const before = this.#servicesIndex;
    this.#servicesIndex = index;
    if (this.#synced && index > before + 1) this.#unseen.gap(before, index);
    if (!this.#servicesSeen || contentChanged) {
      const next = this.#servicesOf(data).candidates;
      this.#servicesSeen = true;
      const prevTags = this.#tags;
      this.#tags = new Map(next.map((n) => [n, JSON.stringify([...(data[n] ?? [])].sort())]));
      for (const n of next) if (!previous.has(n) || prevTags.get(n) !== this.#tags.get(n)) this.#dirty.add(n);
      this.#candidates = next;
      this.#candidateSet = new Set(next);
      for (const n of previous) if (!this.#candidateSet.has(n)) this.#dirty.add(n);
      this.#kick();
      return;
    }
    // The index moved, the tags did not: an instance was registered, removed or modified; the checks
    // list may explain it (unseen-writes.ts).
    if (!this.#synced) return; // the initial read is under way and reads everything
    this.#unseen.moved(index);
  }

  /** The checks list's X-Consul-Index, as soon as its headers arrive (before its body is read). */
  #onChecksHeader(index: number, requestStarted: number | undefined): void {
    this.#settle.header(index, requestStarted);
    if (index > this.#checksNotice) this.#checksNotice = index;
  }

  /** Which services-index moves the checks lists explain, and which wait for one. */
  readonly #explained = new ExplainedWrites();
  /** When a move no list explains costs a read of every service. */
  readonly #unseen: UnseenWrites;

  #onChecks(decoded: PendingDecode<CheckRow>, index: number): void {
    if (index < this.#checksIndex) {
      // Restored (see #onServices): earlier indexes say nothing any more.
      this.#fetchedIndex.clear();
      this.#readAgain();
      this.#explained.restored();
    }
    this.#checksIndex = index;
    this.#checksNotice = Math.max(this.#checksNotice, index);
    decoded.commit();
    this.#parsedBytes += decoded.parsedBytes;
    const previous = this.#checkRows ?? [];
    const { regions } = decoded;
    // The first list (or the lists before the initial read is done) is compared with the entries themselves.
    const reconcile = this.#checkRows === undefined || this.#reconcile;
    const modified = new Set<number>();
    const marked = this.#marked;
    let vanished = false;
    // The regions' rows compared at once, matched by key (a check that moved between them is neither new nor gone).
    const before = regions.length === 1 ? previous.slice(regions[0]?.from, regions[0]?.to) : regions.flatMap((r) => previous.slice(r.from, r.to));
    const after = regions.length === 1 ? (regions[0]?.items ?? []) : regions.flatMap((r) => r.items);
    const middle = diffChecks(before, after, reconcile ? () => undefined : (row, check) => {
      this.#touched(row, index);
      if (!check) vanished = true;
      else if (check.modifyIndex !== undefined) modified.add(check.modifyIndex);
    });
    this.#checkRows = spliceRegions(previous, regions, middle);
    if (reconcile && this.#synced) this.#reconcileEntries();
    // A list compared with the entries (no list before it to tell what changed) explains nothing.
    for (const t of this.#explained.list(index, reconcile ? undefined : (t) => vanished || modified.has(t))) this.#unseen.unexplained(t);
    // Its timings go with the snapshot it brings, if it brings one.
    if (this.#marked === marked) this.#checksTiming = undefined;
    this.#kick();
  }

  /** Bytes of checks lists parsed so far (a changed check costs its own bytes, not the list's). */
  get parsedChecksBytes(): number {
    return this.#parsedBytes;
  }

  /** A check that appeared, vanished or changed: its service, or every service on its node. */
  #touched(row: CheckRow, index: number): void {
    if (row.service) this.#markDirty(row.service, index);
    else for (const service of this.#held.servicesOn(row.node)) this.#markDirty(service, index);
  }

  /** A restore was seen: the reads under way may have read the old state; each is read again, to verify. */
  #readAgain(): void {
    for (const n of this.#reading.keys()) {
      this.#reading.set(n, Infinity);
      this.#verify.add(n);
    }
  }

  #markDirty(service: string, index: number): void {
    if (!this.#candidateSet.has(service)) return;
    // Our copy was read after this view of the checks: it already holds the change.
    if ((this.#fetchedIndex.get(service) ?? 0) >= index) return;
    const reading = this.#reading.get(service);
    if (reading !== undefined) this.#reading.set(service, Math.max(reading, index));
    else this.#dirty.add(service);
    this.#marked++;
  }

  /** Services marked for a re-read so far (a checks list that marks none brings no snapshot of its own). */
  #marked = 0;

  /**
   * Services whose held entries' checks differ from the checks list (once, after the initial read
   * or a restore: from then on each new list is diffed against the one before).
   */
  #reconcileEntries(): void {
    const rows = this.#checkRows;
    if (!rows) return;
    this.#reconcile = false;
    const unread = this.#candidates.filter((name) => (this.#fetchedIndex.get(name) ?? 0) < this.#checksIndex);
    for (const name of this.#held.differFrom(rows, unread)) this.#dirty.add(name);
  }

  #kick(): void {
    this.#wake?.();
  }

  /** The last checks list taken, each new one compared with it as it arrives (kept-answer.ts). */
  readonly #checksAnswer = new KeptAnswer();
  /** The long-polls in flight, by name (for probes and nudges). */
  readonly #watches = new Map<string, PollWatch>();

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
      // The checks list that marked these services for a re-read, if one did (#onChecks drops the
      // timings of a list that marked none).
      const list = this.#checksTiming;
      this.#checksTiming = undefined;
      const readStart = performance.now();
      this.#fullResync = false;
      for (const n of names) {
        this.#dirty.delete(n);
        this.#reading.set(n, 0);
      }
      try {
        const results = full
          ? await this.#reads.all(names, this.#candidateSet, (n) => this.#held.get(n), signal)
          : await this.#reads.each(names, this.#candidateSet, signal);
        // A checks list that touched a service during its read and is newer than the read: read it again.
        for (const [name, , index] of results) if ((this.#reading.get(name) ?? 0) > index) this.#dirty.add(name);
        this.#reading.clear();
        changed.clear();
        for (const n of this.#held.names()) if (!this.#candidateSet.has(n)) { this.#held.set(n, undefined); changed.add(n); }
        for (const [name, entries, index] of results) {
          this.#fetchedIndex.set(name, index);
          const held = this.#held.get(name);
          if (held === entries) continue;
          // A full re-read, or one to verify after a restore, names only the services whose entries
          // really differ (a weight, an address).
          const compare = full || this.#verify.has(name);
          if (!compare || JSON.stringify(held) !== JSON.stringify(entries)) changed.add(name);
          this.#held.set(name, entries);
        }
        for (const [name] of results) if (!this.#dirty.has(name)) this.#verify.delete(name);
        if (full && this.#synced) this.#o.onFullResync?.();
        this.#errors.delete('health/service');
        failures = 0;
      } catch (err) {
        this.#reading.clear();
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
      // Any read of every service (the first one included) is as good as a verification.
      if (full) this.#unseen.readEverything();
      // The checks list that arrived before or during the initial read is compared with what was read.
      if (this.#reconcile) this.#reconcileEntries();
      if (!first && full && changed.size === 0) continue; // a full re-read that found nothing new
      this.#onSnapshot?.({
        entries: this.#held.all(),
        index: Math.max(this.#servicesIndex, this.#checksIndex),
        cause: first ? `initial read of ${names.length} services` : full ? `full re-read of ${names.length} services` : `re-read ${names.join(', ')}`,
        changed: first ? undefined : [...changed].sort(),
        ...(list && !first && { timings: { checksListMs: round(list.body - list.headers), decodeMs: round(list.decoded - list.body), readMs: round(performance.now() - readStart) } }),
      });
    }
  }
}
