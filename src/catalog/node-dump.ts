// Every candidate service's entries from one request: Consul's node dump (`/v1/internal/ui/nodes`,
// what its UI reads) holds every node with its services and all its checks, so the entries
// `/v1/health/service/:name` would answer for each service are in it (an instance, its node, the
// node's checks and the instance's own). When everything must be read (the first read, a services
// index move that no checks list explains, the verification read) that is 1 request instead of one per
// service: at 1,000 services × 10 instances 6.1 MB in ~100 ms from Consul 1.16.6 against 1,000
// requests.
//
// Consul writes the dump in the same order every time (nodes by name, then services and checks by
// ID), so each answer is decoded against the previous one's bytes (checks-body.ts's decodeArray):
// only the nodes whose bytes differ are parsed, and only the services on those nodes are rebuilt. A
// weight changed on one instance costs the parse of one node, not of 10,000. The first answer is
// split into nodes at the byte level and each node is parsed on its own and trimmed to its held
// entries before the next, so a 60 MB dump never exists as one object graph; a dump that will not be
// kept (the startup read's) is parsed so as it arrives (NodeDumpStream), and its bytes never exist whole.
import { ErrorCode, HapilotError } from '../errors.js';
import { checkDumpNode, type DumpNode, type HealthCheck, type HealthEntry } from '../consul/schemas.js';
import { Writable } from 'node:stream';
import { BACKSLASH, CLOSE, decodeArray, elementsText, elementStarts, OPEN, QUOTE, type ArrayBody } from './checks-body.js';
import { byNodeAndId, heldEntry, Interner } from './held-entry.js';
import { sortShort } from '../util/sorted.js';

const ENDPOINT = '/v1/internal/ui/nodes';

const malformed = (why: string) => new HapilotError(ErrorCode.CONSUL_SHAPE, `Consul ${ENDPOINT} answered ${why}: expected a JSON array of nodes`);

/**
 * The nodes of a JSON array, each parsed, shape-checked and turned into what is kept of it (`keep`)
 * before the next is parsed: the parsed nodes of a 60 MB dump never exist all at once (at 10,000
 * services the full objects of every instance, TaggedAddresses, Meta, Proxy…, are several times the
 * answer's size); with the body kept for the next answer.
 */
function parseNodeBytes<T>(bytes: Buffer, keep: (node: DumpNode) => T): { nodes: T[]; body: ArrayBody } {
  const open = bytes.indexOf(0x5b);
  const close = bytes.lastIndexOf(0x5d);
  if (open < 0 || close < open || bytes.subarray(0, open).toString('latin1').trim() !== '' || bytes.subarray(close + 1).toString('latin1').trim() !== '') throw malformed('something other than an array');
  const starts = elementStarts(bytes, open + 1, close);
  if (!starts) throw malformed('malformed JSON (unbalanced brackets or an unterminated string)');
  if (starts.length === 0 && bytes.subarray(open + 1, close).toString('latin1').trim() !== '') throw malformed('an array of something other than nodes');
  const nodes: T[] = [];
  for (let i = 0; i < starts.length; i++) {
    const piece = elementsText(bytes, starts, i, i + 1, close);
    if (piece === undefined) throw malformed(`malformed JSON between nodes ${i} and ${i + 1}`);
    nodes.push(keep(parseNode(piece, i)));
  }
  return { nodes, body: { bytes, starts: Uint32Array.from(starts), close } };
}

/** The `i`th node of a dump, parsed and shape-checked. */
function parseNode(text: string, i: number): DumpNode {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw malformed(`malformed JSON in node ${i} (${String((err as Error).message).slice(0, 200)})`);
  }
  const shape = checkDumpNode(parsed, String(i));
  if (!shape.ok) throw new HapilotError(ErrorCode.CONSUL_SHAPE, `Consul ${ENDPOINT} answered an unexpected shape ${shape.message}`);
  return shape.data;
}

const WHITESPACE: ReadonlySet<number> = new Set([0x20, 0x09, 0x0a, 0x0d]);

/**
 * A dump read as it arrives, for a read that keeps nothing for the next (the startup read): each
 * node is parsed and trimmed as soon as its last byte is in, and its bytes are let go, so neither the
 * answer (62 MB at 10,000 services × 10) nor its chunks ever exist whole. Never emits an error (a
 * piped stream's error would be unhandled): the first problem is kept and thrown by `finish`.
 */
export class NodeDumpStream extends Writable {
  readonly #row: (node: DumpNode) => NodeRow;
  readonly #rows: NodeRow[] = [];
  /** Nesting: 0 outside the array, 1 between nodes, 2 and more inside a node. */
  #depth = 0;
  #inString = false;
  #escaped = false;
  #ended = false;
  /** A comma was seen since the last node (one must separate two nodes). */
  #comma = false;
  /** The bytes of the node being received, from earlier chunks. */
  #pieces: Buffer[] = [];
  #problem: HapilotError | undefined;
  /** The first bytes received (an error answer's text). */
  #head = Buffer.alloc(0);
  #received = 0;

  constructor(row: (node: DumpNode) => NodeRow) {
    // Writes complete at once: no back-pressure on the piping response.
    super({ decodeStrings: true, highWaterMark: 1 << 30 });
    this.#row = row;
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (err?: Error | null) => void): void {
    this.accept(chunk);
    callback();
  }

  /** Takes the next bytes of the dump at once, copying what it keeps: `chunk` may be reused after the call (consul/raw-get.ts). */
  accept(chunk: Buffer): void {
    this.#received += chunk.length;
    if (this.#head.length < 4096) this.#head = Buffer.concat([this.#head, chunk.subarray(0, 4096 - this.#head.length)]);
    if (!this.#problem) {
      try {
        this.#scan(chunk);
      } catch (err) {
        this.#problem = err instanceof HapilotError ? err : malformed(String(err));
        this.#pieces = [];
      }
    }
  }

  #scan(chunk: Buffer): void {
    let start = this.#depth >= 2 ? 0 : -1;
    for (let i = 0; i < chunk.length; i++) {
      const b = chunk[i] as number;
      if (this.#depth >= 2) {
        if (this.#inString) {
          if (this.#escaped) this.#escaped = false;
          else if (b === BACKSLASH) this.#escaped = true;
          else if (b === QUOTE) this.#inString = false;
          continue;
        }
        if (b === QUOTE) this.#inString = true;
        else if (b === OPEN || b === 0x5b) this.#depth++;
        else if (b === CLOSE || b === 0x5d) {
          this.#depth--;
          if (this.#depth === 1) {
            this.#pieces.push(chunk.subarray(start, i + 1));
            const text = Buffer.concat(this.#pieces).toString('utf8');
            this.#pieces = [];
            this.#rows.push(this.#row(parseNode(text, this.#rows.length)));
            this.#comma = false;
            start = -1;
          }
        }
        continue;
      }
      if (WHITESPACE.has(b)) continue;
      if (this.#depth === 0 && !this.#ended && b === 0x5b) { this.#depth = 1; continue; }
      if (this.#depth === 1) {
        const n = this.#rows.length;
        if (b === OPEN && (n === 0 || this.#comma)) { this.#depth = 2; start = i; continue; }
        if (b === 0x2c && n > 0 && !this.#comma) { this.#comma = true; continue; }
        if (b === 0x5d && !this.#comma) { this.#depth = 0; this.#ended = true; continue; }
        throw malformed(n === 0 ? 'an array of something other than nodes' : `malformed JSON between nodes ${n - 1} and ${n}`);
      }
      throw malformed('something other than an array');
    }
    if (start >= 0) this.#pieces.push(Buffer.from(chunk.subarray(start)));
  }

  /** Bytes received so far. */
  get received(): number {
    return this.#received;
  }

  /** The first bytes received, for the text of an error answer. */
  head(): Buffer {
    return this.#head;
  }

  /** The nodes' rows, once the whole answer is in; throws the first problem found, or a truncated answer. */
  finish(): NodeRow[] {
    if (this.#problem) throw this.#problem;
    if (!this.#ended) throw malformed(this.#depth === 0 ? 'something other than an array' : 'malformed JSON (unbalanced brackets or an unterminated string)');
    return this.#rows;
  }
}

/** One node's instances of the wanted services, as held entries by service. */
type NodeRow = ReadonlyMap<string, HealthEntry[]>;

function nodeRow(node: DumpNode, wanted: ReadonlySet<string>, strings: Interner): NodeRow {
  const row = new Map<string, HealthEntry[]>();
  const services = (node.Services ?? []).filter((s) => wanted.has(s.Service));
  if (services.length === 0) return row;
  const nodeChecks: HealthCheck[] = [];
  const own = new Map<string, HealthCheck[]>();
  for (const c of node.Checks ?? []) {
    if (!c.ServiceID) { nodeChecks.push(c); continue; }
    const list = own.get(c.ServiceID);
    if (list) list.push(c); else own.set(c.ServiceID, [c]);
  }
  for (const s of services) {
    let list = row.get(s.Service);
    if (!list) row.set(s.Service, (list = []));
    list.push(heldEntry({ Node: { Node: node.Node, Address: node.Address }, Service: s, Checks: [...nodeChecks, ...(own.get(s.ID) ?? [])] }, strings));
  }
  return row;
}

export interface DumpRead {
  /** Held entries of every wanted service that has instances, in /v1/health/service's order. */
  entries: ReadonlyMap<string, HealthEntry[]>;
  /** The services whose entries may differ from the previous read's; undefined: any of them. */
  touched: ReadonlySet<string> | undefined;
  /** Bytes parsed for this read (the whole dump, or the nodes that differ). */
  parsedBytes: number;
}

/** Decodes successive dumps, each against the one before (see the header). */
export class NodeDumpDecoder {
  #body: ArrayBody | undefined;
  #rows: NodeRow[] = [];
  #wanted: ReadonlySet<string> = new Set();
  #entries = new Map<string, HealthEntry[]>();
  #strings = new Interner();

  /**
   * Lets go of the last dump (its bytes and rows: ~140 MB at 10,000 services × 10): the next read
   * decodes its dump whole. For a catalog where full reads are rare.
   */
  release(): void {
    this.#body = undefined;
    this.#strings = new Interner();
    this.#rows = [];
    this.#entries = new Map();
  }

  /** Bytes of the dump kept to decode the next one against. */
  get keptBytes(): number {
    return this.#body?.bytes.length ?? 0;
  }

  /**
   * A dump to be read as it arrives and not kept (see NodeDumpStream): pipe the answer into it, then
   * `readStream` it. The decoder keeps nothing of it for the next dump.
   */
  stream(wanted: ReadonlySet<string>): NodeDumpStream {
    const strings = new Interner();
    return new NodeDumpStream((n) => nodeRow(n, wanted, strings));
  }

  /** The entries of a dump received through `stream`. */
  readStream(stream: NodeDumpStream): DumpRead {
    const rows = stream.finish();
    this.release();
    const entries = new Map<string, HealthEntry[]>();
    for (const row of rows) for (const [service, list] of row) {
      const all = entries.get(service);
      if (all) all.push(...list); else entries.set(service, [...list]);
    }
    for (const list of entries.values()) sortShort(list, byNodeAndId);
    return { entries, touched: undefined, parsedBytes: stream.received };
  }

  read(bytes: Buffer, wanted: ReadonlySet<string>): DumpRead {
    // Rows hold the wanted services only: another set of them means reading every node again.
    const sameWanted = wanted.size === this.#wanted.size && [...wanted].every((w) => this.#wanted.has(w));
    const previous = sameWanted && this.#body?.starts.length ? this.#body : undefined;
    this.#wanted = wanted;
    // The entries share their strings and tag arrays (a node holds one instance of each service:
    // the entries of one service come from as many nodes), those of every dump decoded against this
    // one too; a dump read whole starts afresh.
    if (!previous) this.#strings = new Interner();
    const strings = this.#strings;
    const row = (n: DumpNode) => nodeRow(n, wanted, strings);
    if (!previous) {
      const whole = parseNodeBytes(bytes, row);
      const fresh = whole.nodes;
      this.#body = whole.body;
      this.#rows = fresh;
      this.#entries = new Map();
      for (const row of fresh) for (const [service, list] of row) {
        const all = this.#entries.get(service);
        if (all) all.push(...list); else this.#entries.set(service, [...list]);
      }
      for (const list of this.#entries.values()) sortShort(list, byNodeAndId);
      return { entries: this.#entries, touched: undefined, parsedBytes: bytes.length };
    }
    // The stretch of nodes that differs (or, rarely, the whole answer again).
    const d = decodeArray(previous, bytes, this.#rows.length, (text) => parseNodeBytes(Buffer.from(text, 'utf8'), row).nodes);
    const fresh = d.items;
    this.#body = d.body;
    const touched = new Set<string>();
    for (let i = d.from; i < d.to; i++) for (const service of (this.#rows[i] as NodeRow).keys()) touched.add(service);
    for (const row of fresh) for (const service of row.keys()) touched.add(service);
    this.#rows = d.from === 0 && d.to === this.#rows.length ? fresh : [...this.#rows.slice(0, d.from), ...fresh, ...this.#rows.slice(d.to)];
    for (const service of touched) {
      const list: HealthEntry[] = [];
      for (const row of this.#rows) for (const e of row.get(service) ?? []) list.push(e);
      if (list.length) this.#entries.set(service, sortShort(list, byNodeAndId)); else this.#entries.delete(service);
    }
    return { entries: this.#entries, touched, parsedBytes: d.parsedBytes };
  }
}

/** The held entries of each service in `wanted` that has instances, from one dump on its own. */
export function entriesFromDump(bytes: Buffer, wanted: ReadonlySet<string>): Map<string, HealthEntry[]> {
  return new Map(new NodeDumpDecoder().read(bytes, wanted).entries);
}
