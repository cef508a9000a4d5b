// How the Consul source reads services: one `/v1/health/service/:name` each (a few at a time), or
// all of them at once through Consul's node dump (node-dump.ts), which is decoded against the dump
// before it and kept a quiet minute for the next full read. The first dump (the startup read) is not
// kept: nothing says another full read is near, and at 10,000 services × 10 its bytes alone are
// 62 MB; the full reads after it come from changes no list shows (weights, addresses), in bursts.
import type { Logger } from '../log.js';
import { ErrorCode, HapilotError } from '../errors.js';
import type { ConsulApi } from '../consul/client.js';
import type { HealthEntry } from '../consul/schemas.js';
import { mapLimit } from './fetch-catalog.js';
import { heldEntries } from './held-entry.js';
import { NodeDumpDecoder } from './node-dump.js';

/** How long the last node dump is kept to decode the next one against. */
const DUMP_KEEP_MS = 60_000;

/** A service's entries as read, with the index of the answer that held them. */
export type ServiceRead = readonly [name: string, entries: HealthEntry[], index: number];

export class ServiceReads {
  readonly #consul: ConsulApi;
  readonly #concurrency: number;
  readonly #log: Logger;
  /** Each dump decoded against the one before. */
  readonly #dump = new NodeDumpDecoder();
  #dumpRelease: NodeJS.Timeout | undefined;
  #dumpRefused = false;
  #dumpsRead = 0;

  constructor({ consul, concurrency, log }: { consul: ConsulApi; concurrency: number; log: Logger }) {
    this.#consul = consul;
    this.#concurrency = concurrency;
    this.#log = log;
  }

  /** `/v1/health/service/:name` for each of `names` that is `wanted`, `concurrency` at a time. */
  each(names: readonly string[], wanted: ReadonlySet<string>, signal: AbortSignal): Promise<ServiceRead[]> {
    return mapLimit(names.filter((n) => wanted.has(n)), this.#concurrency, async (name) => {
      const r = await this.#consul.healthService(name, { signal });
      return [name, heldEntries(r.data), r.index] as const;
    });
  }

  /**
   * Every service at once: the node dump, one request, all of it as of its index. When Consul
   * refuses it (a 4xx: an agent without the endpoint, a proxy allowing only the documented API) it
   * is not asked again and each service is read on its own from then on; when the token may not read
   * every node, this read is done service by service, whose answers name the denial. `held`: the
   * entries a service had, kept for a service on no node whose bytes changed (the same array: not
   * compared).
   */
  async all(names: readonly string[], wanted: ReadonlySet<string>, held: (name: string) => HealthEntry[] | undefined, signal: AbortSignal): Promise<ServiceRead[]> {
    const dump = this.#consul.nodeDumpBytes;
    if (!dump || this.#dumpRefused) return this.each(names, wanted, signal);
    let r: Awaited<ReturnType<NonNullable<ConsulApi['nodeDumpBytes']>>>;
    // The startup dump, kept for nothing, is read as it arrives (node-dump.ts's NodeDumpStream).
    const stream = this.#dumpsRead === 0 ? this.#dump.stream(wanted) : undefined;
    try {
      r = await dump.call(this.#consul, { signal, ...(stream && { into: stream }) });
    } catch (err) {
      if (!(err instanceof HapilotError) || err.code !== ErrorCode.CONSUL_HTTP || !/answered HTTP 4\d\d/.test(err.message)) throw err;
      this.#dumpRefused = true;
      this.#log.warn({ err: err.message }, 'Consul refused the node dump: every service is read on its own from now on');
      return this.each(names, wanted, signal);
    }
    if (r.filteredByAcls) return this.each(names, wanted, signal);
    // A client that does not stream answers with the bytes.
    const { entries, touched } = stream && r.data.length === 0 ? this.#dump.readStream(stream) : this.#dump.read(r.data, wanted);
    // Kept for the next full read while they come close together (a burst of weight changes); let go
    // after a quiet minute (the last dump's bytes and rows are ~140 MB at 10,000 services × 10), and
    // at once after the startup read (see the header).
    clearTimeout(this.#dumpRelease);
    if (this.#dumpsRead++ === 0) this.#dump.release();
    else {
      this.#dumpRelease = setTimeout(() => this.#dump.release(), DUMP_KEEP_MS);
      this.#dumpRelease.unref();
    }
    return names.filter((n) => wanted.has(n)).map((n) => [n, (touched && !touched.has(n) ? held(n) : undefined) ?? entries.get(n) ?? [], r.index] as const);
  }

  /** Bytes of the last node dump kept to decode the next one against (0: none kept). */
  get keptDumpBytes(): number {
    return this.#dump.keptBytes;
  }

  stop(): void {
    clearTimeout(this.#dumpRelease);
  }
}
