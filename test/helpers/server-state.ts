// `show servers state` as HAProxy 2.6 prints it (version 1): its header, and one row per server;
// and rewriteServerState of such a dump as text.
import { rewriteServerState } from '../../src/haproxy/server-state.js';

export const STATE_HEADER = '# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr srv_agent_addr srv_agent_port';

/**
 * One row: `op` is srv_op_state (2 running), `admin` srv_admin_state (1 maintenance, 8 drain),
 * `check` and `agent` srv_check_state and srv_agent_state (bit 2: configured; 6 a health check as
 * HAProxy shows it), `ssl` srv_use_ssl.
 */
export function stateRow({ backend = 'web', server, addr, port, op = 2, admin = 1, uweight = 1, iweight = 1, check = 6, agent = 0, ssl = 0 }: {
  backend?: string; server: string; addr: string; port: number; op?: number; admin?: number; uweight?: number; iweight?: number; check?: number; agent?: number; ssl?: number;
}): string {
  return `3 ${backend} 1 ${server} ${addr} ${op} ${admin} ${uweight} ${iweight} 5 6 3 4 ${check} ${agent} 0 0 - ${port} - ${ssl} 0 - - 0`;
}

/** rewriteServerState of a dump given as text, its parts joined back into text. */
export function rewrittenText(dump: string, ...rest: Parameters<typeof rewriteServerState> extends [Buffer, ...infer R] ? R : never): string {
  return Buffer.concat(rewriteServerState(Buffer.from(dump), ...rest)).toString();
}
