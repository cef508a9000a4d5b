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
// entries before the next, so a 60 MB dump never exists as one object graph.
import { ErrorCode, HapilotError } from '../errors.js';
import { checkDumpNode, type DumpNode, type HealthCheck, type HealthEntry } from '../consul/schemas.js';
import { decodeArray, elementStarts, type ArrayBody } from './checks-body.js';
import { byNodeAndId, heldEntry, Interner } from './held-entry.js';

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
    let piece = bytes.toString('utf8', starts[i] as number, i + 1 < starts.length ? (starts[i + 1] as number) : close).trimEnd();
    if (i + 1 < starts.length) {
      if (!piece.endsWith(',')) throw malformed(`malformed JSON between nodes ${i} and ${i + 1}`);
      piece = piece.slice(0, -1);
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(piece);
    } catch (err) {
      throw malformed(`malformed JSON in node ${i} (${String((err as Error).message).slice(0, 200)})`);
    }
    const shape = checkDumpNode(parsed, String(i));
    if (!shape.ok) throw new HapilotError(ErrorCode.CONSUL_SHAPE, `Consul ${ENDPOINT} answered an unexpected shape ${shape.message}`);
    nodes.push(keep(shape.data));
  }
  return { nodes, body: { bytes, starts, close } };
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
      for (const list of this.#entries.values()) list.sort(byNodeAndId);
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
      if (list.length) this.#entries.set(service, list.sort(byNodeAndId)); else this.#entries.delete(service);
    }
    return { entries: this.#entries, touched, parsedBytes: d.parsedBytes };
  }
}

/** The held entries of each service in `wanted` that has instances, from one dump on its own. */
export function entriesFromDump(bytes: Buffer, wanted: ReadonlySet<string>): Map<string, HealthEntry[]> {
  return new Map(new NodeDumpDecoder().read(bytes, wanted).entries);
}
