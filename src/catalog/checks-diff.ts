// The checks list of /v1/health/state/any, diffed against the previous answer by key (node, check
// ID): which checks appeared, vanished or changed status, notes or service. At 10,000 services the
// list holds ~100,000 checks and every change brings all of them, so this runs on every change: it
// walks both lists in step (Consul answers in the same order each time: its state store iterates
// the checks table by node, then check ID) and allocates nothing for checks that did not change;
// where the lists stop lining up (an insertion or deletion of more than a few checks, another
// order) it falls back to a map of what is left. Output, Name, Definition… are not compared: hapilot
// does not use them (a script check's output changes on every run).
import type { HealthCheck } from '../consul/schemas.js';

/** What is kept of each check between two answers. */
export interface CheckRow {
  readonly node: string;
  readonly id: string;
  /** Service name; '' for a node check (it concerns every service on the node). */
  readonly service: string;
  readonly serviceId: string;
  readonly status: string;
  readonly notes: string;
}

const LOOKAHEAD = 4;

function sameKey(c: HealthCheck, r: CheckRow): boolean {
  return c.CheckID === r.id && (c.Node ?? '') === r.node;
}

function sameValue(c: HealthCheck, r: CheckRow): boolean {
  return c.Status === r.status && (c.ServiceName ?? '') === r.service && (c.ServiceID ?? '') === r.serviceId && (c.Notes ?? '') === r.notes;
}

export function toRow(c: HealthCheck): CheckRow {
  return { node: c.Node ?? '', id: c.CheckID, service: c.ServiceName ?? '', serviceId: c.ServiceID ?? '', status: c.Status, notes: c.Notes ?? '' };
}

const keyOf = (node: string, id: string) => `${node}\u0000${id}`;

/**
 * The new answer as rows (the previous rows reused where unchanged), calling `touched` with every
 * row that appeared, vanished or changed (both its old and new row when it changed; `check` is the
 * check of the new answer, undefined for a row that vanished).
 */
export function diffChecks(previous: readonly CheckRow[], next: readonly HealthCheck[], touched: (row: CheckRow, check: HealthCheck | undefined) => void): CheckRow[] {
  const rows: CheckRow[] = new Array(next.length);
  // Checks that appeared or vanished where the lists were out of step; matched by key at the end (a
  // check that only moved is neither).
  const appeared = new Map<string, { row: CheckRow; check: HealthCheck }>();
  const vanished = new Map<string, CheckRow>();
  const appear = (x: number) => { const c = next[x] as HealthCheck; const n = toRow(c); rows[x] = n; appeared.set(keyOf(n.node, n.id), { row: n, check: c }); };
  const vanish = (r: CheckRow) => vanished.set(keyOf(r.node, r.id), r);
  let i = 0;
  let j = 0;
  while (i < next.length && j < previous.length) {
    const c = next[i] as HealthCheck;
    const r = previous[j] as CheckRow;
    if (sameKey(c, r)) {
      if (sameValue(c, r)) rows[i] = r;
      else { const n = toRow(c); rows[i] = n; touched(r, c); touched(n, c); }
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
      const c = next[i] as HealthCheck;
      const key = keyOf(c.Node ?? '', c.CheckID);
      const r = left.get(key);
      if (!r) { appear(i); continue; }
      left.delete(key);
      if (sameValue(c, r)) { rows[i] = r; continue; }
      const n = toRow(c);
      rows[i] = n;
      touched(r, c);
      touched(n, c);
    }
    for (const r of left.values()) vanish(r);
    j = previous.length;
  }
  for (; i < next.length; i++) appear(i);
  for (; j < previous.length; j++) vanish(previous[j] as CheckRow);
  for (const [key, { row, check }] of appeared) {
    const old = vanished.get(key);
    if (old) {
      vanished.delete(key);
      if (sameValue(check, old)) continue;
      touched(old, check);
    }
    touched(row, check);
  }
  for (const r of vanished.values()) touched(r, undefined);
  return rows;
}
