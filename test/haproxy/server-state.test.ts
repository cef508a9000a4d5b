// rewriteServerState: the state file a new worker loads never restores a stale address (haproxy#3265).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rewriteServerState } from '../../src/haproxy/server-state.js';
import { buildModel } from '../../src/model/model.js';
import { ENABLE, entry, settings } from '../helpers/entries.js';

const HEADER = '# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr srv_agent_addr srv_agent_port';
const row = (backend: string, server: string, addr: string, port: number, admin = 1) => `3 ${backend} 1 ${server} ${addr} 2 ${admin} 1 1 5 6 3 4 6 0 0 0 - ${port} - 0 0 - - 0`;

test('rewriteServerState: rows get the new config\'s address and port; gone, host-name and short rows are dropped', () => {
  const model = buildModel({
    settings: settings(),
    entries: [
      entry('web', 'a', [ENABLE], { node: 'n1', address: '10.0.0.7', port: 8080 }),
      entry('web', 'v6', [ENABLE], { node: 'n2', address: '2001:db8::1', port: 81 }),
      entry('web', 'h', [ENABLE], { node: 'n3', address: 'app.internal', port: 82 }),
    ],
  });
  const dump = ['1', HEADER,
    row('web', 'n1:a', '10.9.9.9', 9999, 1), // drained by an operator, stale runtime address
    row('web', 'n2:v6', '::1', 1),
    row('web', 'n3:h', '10.1.1.1', 82),
    row('web', 'gone:x', '10.0.0.8', 80),
    '3 web 1 n1:a 10.0.0.7 2', // truncated
    ''].join('\n');
  const out = rewriteServerState(dump, model).split('\n');
  assert.equal(out[0], '1');
  assert.equal(out[1], HEADER);
  assert.equal(out[2], row('web', 'n1:a', '10.0.0.7', 8080, 1), 'admin state kept, address and port from the new config');
  assert.equal(out[3], row('web', 'n2:v6', '2001:db8::1', 81), 'IPv6 without brackets');
  assert.equal(out.length, 5, `only those two rows remain: ${JSON.stringify(out)}`);
  assert.equal(out[4], '');
  assert.equal(rewriteServerState('', model), '', 'nothing in, nothing out');
});
