// What hapilot runs with, said once at startup: the user, the effective capabilities, and which of
// them the chosen reload strategy needs. Only syn-drop needs a privilege (NET_ADMIN for iptables);
// the admin sockets HAProxy creates are 0600 whatever the user, or 0660 in HAPILOT_SOCKET_GROUP.
import { readFileSync } from 'node:fs';

const CAP_NET_ADMIN = 12;

export interface Privileges {
  uid: number;
  euid: number;
  root: boolean;
  netAdmin: boolean;
  /** What the reload strategy needs, and whether it has it. */
  needs: string;
  ok: boolean;
  /** Who may use HAProxy's admin stats socket (the Runtime API). */
  sockets: string;
}

/** Effective capability mask from /proc/self/status (`CapEff:` in hex), or 0 when unreadable. */
export function effectiveCapabilities(status: string): bigint {
  const hex = /^CapEff:\s*([0-9a-f]+)$/mi.exec(status)?.[1];
  return hex ? BigInt(`0x${hex}`) : 0n;
}

export function describePrivileges({ uid, euid, capEff, synDrop, socketGroup }: { uid: number; euid: number; capEff: bigint; synDrop: boolean; socketGroup?: string | undefined }): Privileges {
  const netAdmin = (capEff >> BigInt(CAP_NET_ADMIN)) & 1n ? true : false;
  const root = euid === 0;
  const sockets = socketGroup === undefined ? 'stats socket mode 600 (its owner only)' : `stats socket mode 660, group ${socketGroup} (HAPILOT_SOCKET_GROUP)`;
  if (!synDrop) return { uid, euid, root, netAdmin, needs: 'no privilege (Runtime API and master-worker reloads)', ok: true, sockets };
  return { uid, euid, root, netAdmin, needs: 'NET_ADMIN for the syn-drop iptables rules', ok: netAdmin, sockets };
}

/** This process's privileges for the given strategy. */
export function ownPrivileges(synDrop: boolean, socketGroup?: string): Privileges {
  let status = '';
  try { status = readFileSync('/proc/self/status', 'utf8'); } catch { /* not Linux: no capabilities known */ }
  return describePrivileges({ uid: process.getuid?.() ?? -1, euid: process.geteuid?.() ?? -1, capEff: effectiveCapabilities(status), synDrop, socketGroup });
}
