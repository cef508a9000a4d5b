// Every candidate service's entries from one request: Consul's node dump (`/v1/internal/ui/nodes`,
// what its UI reads) holds every node with its services and all its checks, so the entries
// `/v1/health/service/:name` would answer for each service are in it (an instance, its node, the
// node's checks and the instance's own). When everything must be read (the first read, a services
// index move that no checks list explains, the verification read) that is 1 request instead of one per
// service: at 1,000 services × 10 instances 6.1 MB in ~100 ms from Consul 1.16.6 against 1,000
// requests. The answer is split into nodes at the byte level (checks-body.ts's scanner) and each node
// is parsed, shape-checked and reduced to held entries on its own, so a 60 MB dump never exists as
// one object graph.
import { ErrorCode, HapilotError } from '../errors.js';
import { checkDumpNode, type HealthCheck, type HealthEntry } from '../consul/schemas.js';
import { elementStarts } from './checks-body.js';
import { byNodeAndId, heldEntry } from './held-entry.js';

const ENDPOINT = '/v1/internal/ui/nodes';

const malformed = (why: string) => new HapilotError(ErrorCode.CONSUL_SHAPE, `Consul ${ENDPOINT} answered ${why}: expected a JSON array of nodes`);

/** The held entries of each service in `wanted` that has instances, in /v1/health/service's order. */
export function entriesFromDump(bytes: Buffer, wanted: ReadonlySet<string>): Map<string, HealthEntry[]> {
  const open = bytes.indexOf(0x5b);
  const close = bytes.lastIndexOf(0x5d);
  if (open < 0 || close < open || bytes.subarray(0, open).toString('latin1').trim() !== '' || bytes.subarray(close + 1).toString('latin1').trim() !== '') throw malformed('something other than an array');
  const starts = elementStarts(bytes, open + 1, close);
  if (!starts) throw malformed('malformed JSON (unbalanced brackets or an unterminated string)');
  const out = new Map<string, HealthEntry[]>();
  for (let i = 0; i < starts.length; i++) {
    let text = bytes.toString('utf8', starts[i] as number, i + 1 < starts.length ? (starts[i + 1] as number) : close).trimEnd();
    if (i + 1 < starts.length) {
      if (!text.endsWith(',')) throw malformed(`malformed JSON between nodes ${i} and ${i + 1}`);
      text = text.slice(0, -1);
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (err) {
      throw malformed(`malformed JSON in node ${i} (${String((err as Error).message).slice(0, 200)})`);
    }
    const shape = checkDumpNode(parsed, String(i));
    if (!shape.ok) throw new HapilotError(ErrorCode.CONSUL_SHAPE, `Consul ${ENDPOINT} answered an unexpected shape ${shape.message}`);
    const node = shape.data;
    const services = (node.Services ?? []).filter((s) => wanted.has(s.Service));
    if (services.length === 0) continue;
    const nodeChecks: HealthCheck[] = [];
    const own = new Map<string, HealthCheck[]>();
    for (const c of node.Checks ?? []) {
      if (!c.ServiceID) { nodeChecks.push(c); continue; }
      const list = own.get(c.ServiceID);
      if (list) list.push(c); else own.set(c.ServiceID, [c]);
    }
    for (const s of services) {
      let list = out.get(s.Service);
      if (!list) out.set(s.Service, (list = []));
      const entry = { Node: { Node: node.Node, Address: node.Address }, Service: s, Checks: [...nodeChecks, ...(own.get(s.ID) ?? [])] };
      list.push(heldEntry(entry, list[list.length - 1]));
    }
  }
  for (const list of out.values()) list.sort(byNodeAndId);
  return out;
}
