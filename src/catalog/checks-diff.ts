// The checks list of /v1/health/state/any, diffed against the previous answer by key (node, check
// ID): which checks appeared, vanished or changed status, notes or service. At 10,000 services the
// list holds ~100,000 checks and every change brings all of them, so this runs on every change: it
// walks both lists in step (Consul answers in the same order each time: its state store iterates
// the checks table by node, then check ID) and keeps the previous row of each check that did not
// change; where the lists stop lining up (an insertion or deletion of more than a few checks, another
// order) it falls back to a map of what is left. Checks become rows as they are parsed
// (checks-body.ts): Output, Name, Definition, ServiceTags… are neither kept nor compared, hapilot
// does not use them (a script check's output changes on every run).
import type { HealthCheck } from '../consul/schemas.js';
import type { Interner } from './held-entry.js';

/** What is kept of each check between two answers (and all that is made of a check as it is parsed). */
export interface CheckRow {
  readonly node: string;
  readonly id: string;
  /** Service name; '' for a node check (it concerns every service on the node). */
  readonly service: string;
  readonly serviceId: string;
  readonly status: string;
  readonly notes: string;
  /** The index of the write that last changed the check (what a services-index move is explained by). */
  readonly modifyIndex: number | undefined;
}

const LOOKAHEAD = 4;

function sameKey(c: CheckRow, r: CheckRow): boolean {
  return c.id === r.id && c.node === r.node;
}

function sameValue(c: CheckRow, r: CheckRow): boolean {
  return c.status === r.status && c.service === r.service && c.serviceId === r.serviceId && c.notes === r.notes;
}

/** A check as kept; names repeated across the list (nodes, services) are shared through `strings`. */
export function toRow(c: HealthCheck, strings: Interner): CheckRow {
  return {
    node: strings.string(c.Node ?? ''), id: c.CheckID, service: strings.string(c.ServiceName ?? ''), serviceId: c.ServiceID ?? '', status: c.Status, notes: c.Notes ?? '',
    modifyIndex: typeof c.ModifyIndex === 'number' ? c.ModifyIndex : undefined,
  };
}

const keyOf = (node: string, id: string) => `${node}\u0000${id}`;

/**
 * The new answer's rows, the previous rows reused where unchanged, calling `touched` with every
 * row that appeared, vanished or changed (both its old and new row when it changed; `check` is the
 * row of the new answer, undefined for a row that vanished).
 */
export function diffChecks(previous: readonly CheckRow[], next: readonly CheckRow[], touched: (row: CheckRow, check: CheckRow | undefined) => void): CheckRow[] {
  const rows: CheckRow[] = new Array(next.length);
  // Checks that appeared or vanished where the lists were out of step; matched by key at the end (a
  // check that only moved is neither).
  const appeared = new Map<string, CheckRow>();
  const vanished = new Map<string, CheckRow>();
  const appear = (x: number) => { const n = next[x] as CheckRow; rows[x] = n; appeared.set(keyOf(n.node, n.id), n); };
  const vanish = (r: CheckRow) => vanished.set(keyOf(r.node, r.id), r);
  let i = 0;
  let j = 0;
  while (i < next.length && j < previous.length) {
    const c = next[i] as CheckRow;
    const r = previous[j] as CheckRow;
    if (sameKey(c, r)) {
      if (sameValue(c, r)) rows[i] = r;
      else { rows[i] = c; touched(r, c); touched(c, c); }
      i++; j++;
      continue;
    }
    // Out of step: a few checks inserted here (registration), or a few removed (deregistration)?
    let resynced = false;
    for (let k = 1; k <= LOOKAHEAD && !resynced; k++) {
      const ahead = next[i + k];
      if (ahead !== undefined && sameKey(ahead, r)) {
        for (let x = 0; x < k; x++) appear(i + x);
        i += k;
        resynced = true;
      } else if (previous[j + k] !== undefined && sameKey(c, previous[j + k] as CheckRow)) {
        for (let x = 0; x < k; x++) vanish(previous[j + x] as CheckRow);
        j += k;
        resynced = true;
      }
    }
    if (!resynced) break;
  }
  if (i < next.length && j < previous.length) {
    // Not in step any more: match the rest by key.
    const left = new Map<string, CheckRow>();
    for (let x = j; x < previous.length; x++) { const r = previous[x] as CheckRow; left.set(keyOf(r.node, r.id), r); }
    for (; i < next.length; i++) {
      const c = next[i] as CheckRow;
      const key = keyOf(c.node, c.id);
      const r = left.get(key);
      if (!r) { appear(i); continue; }
      left.delete(key);
      if (sameValue(c, r)) { rows[i] = r; continue; }
      rows[i] = c;
      touched(r, c);
      touched(c, c);
    }
    for (const r of left.values()) vanish(r);
    j = previous.length;
  }
  for (; i < next.length; i++) appear(i);
  for (; j < previous.length; j++) vanish(previous[j] as CheckRow);
  for (const [key, row] of appeared) {
    const old = vanished.get(key);
    if (old) {
      vanished.delete(key);
      if (sameValue(row, old)) continue;
      touched(old, row);
    }
    touched(row, row);
  }
  for (const r of vanished.values()) touched(r, undefined);
  return rows;
}

/**
 * `list` (one row per element of the answer before) with each region's [from, to) replaced by its share of
 * `next` (every region's new elements, one region after another): a change's few elements are
 * spliced in place, not copied with the 100,000 others; many make a new array.
 */
export function spliceRegions<T>(list: T[], regions: ReadonlyArray<{ from: number; to: number; items: readonly unknown[] }>, next: T[]): T[] {
  const only = regions[0];
  if (regions.length === 1 && only && only.from === 0 && only.to === list.length) return next;
  if (next.length <= 10_000) {
    let at = next.length;
    for (let i = regions.length - 1; i >= 0; i--) {
      const r = regions[i] as { from: number; to: number; items: readonly unknown[] };
      list.splice(r.from, r.to - r.from, ...next.slice(at - r.items.length, at));
      at -= r.items.length;
    }
    return list;
  }
  const out: T[] = [];
  let k = 0;
  let at = 0;
  for (const r of regions) {
    for (; k < r.from; k++) out.push(list[k] as T);
    for (let i = 0; i < r.items.length; i++) out.push(next[at + i] as T);
    at += r.items.length;
    k = r.to;
  }
  for (; k < list.length; k++) out.push(list[k] as T);
  return out;
}
