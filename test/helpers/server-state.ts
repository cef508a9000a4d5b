// `show servers state` as HAProxy 2.6 prints it (version 1): its header, and one row per server.
export const STATE_HEADER = '# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr srv_agent_addr srv_agent_port';

/** One row: `op` is srv_op_state (2 running), `admin` srv_admin_state (1 maintenance, 8 drain). */
export function stateRow({ backend = 'web', server, addr, port, op = 2, admin = 1 }: { backend?: string; server: string; addr: string; port: number; op?: number; admin?: number }): string {
  return `3 ${backend} 1 ${server} ${addr} ${op} ${admin} 1 1 5 6 3 4 6 0 0 0 - ${port} - 0 0 - - 0`;
}
