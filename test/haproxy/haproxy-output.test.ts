// Reading HAProxy's own words: `show proc` on the master CLI, `show stat` and the alerts of `haproxy -c`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseShowProc, parseShowStat, parseUptime } from '../../src/haproxy/socket.js';
import { summarizeHaproxyOutput } from '../../src/haproxy/validate.js';

test('parseShowProc: master with its failed reloads, current and old workers with their reload counts and ages', () => {
  const text = [
    '#<PID>          <type>          <reloads>       <uptime>        <version>',
    '4120            master          3 [failed: 1]   0d00h05m02s     2.6.12-1+deb12u2',
    '# workers',
    '4388            worker          0               0d00h00m10s     2.6.12-1+deb12u2',
    '4301            worker          1               0d01h00m00s     2.6.12-1+deb12u2',
    '# old workers',
    '# programs',
    '',
  ].join('\n');
  assert.deepEqual(parseShowProc(text), [
    { pid: 4120, type: 'master', reloads: 3, failed: 1, uptimeSeconds: 302 },
    { pid: 4388, type: 'worker', reloads: 0, failed: 0, uptimeSeconds: 10 },
    { pid: 4301, type: 'worker', reloads: 1, failed: 0, uptimeSeconds: 3600 },
  ]);
  assert.deepEqual(parseShowProc('Unknown command.\n'), []);
  assert.equal(parseUptime('2d03h04m05s'), 2 * 86400 + 3 * 3600 + 4 * 60 + 5);
  assert.equal(parseUptime('garbage'), 0);
});

test('parseShowStat: server rows only, the columns found by the header wherever they are, the header again skipped, short rows, no final newline', () => {
  const header = '# pxname,svname,qcur,qmax,scur,smax,status,weight,extra,addr,';
  const csv = [
    header,
    'fe,FRONTEND,,,3,5,OPEN,,x,,',
    'web,node1:web-1,0,0,2,4,UP,100,x,127.0.0.1:8080,',
    'web,node2:web-2,0,0,0,1,MAINT (resolution),0,x,[::1]:8081,',
    'web,BACKEND,0,0,2,4,UP,100,x,,',
    '',
    header, // a second answer concatenated
    'api,node1:api-1,0,0,7,9,DOWN 1/2',
  ].join('\n');
  const rows = [
    { proxy: 'web', server: 'node1:web-1', status: 'UP', weight: 100, addr: '127.0.0.1:8080', sessions: 2 },
    { proxy: 'web', server: 'node2:web-2', status: 'MAINT (resolution)', weight: 0, addr: '[::1]:8081', sessions: 0 },
    { proxy: 'api', server: 'node1:api-1', status: 'DOWN 1/2', weight: 0, addr: '', sessions: 7 },
  ];
  assert.deepEqual(parseShowStat(csv, { addr: true }), rows);
  // The address only when asked for: a line is read up to the last column wanted.
  assert.deepEqual(parseShowStat(csv), rows.map(({ addr: _, ...r }) => r));
  // Without weight and addr columns (an older HAProxy): rows still come, with their defaults.
  assert.deepEqual(parseShowStat('# pxname,svname,scur,status\nb,s,1,UP\n', { addr: true }), [{ proxy: 'b', server: 's', status: 'UP', weight: 0, addr: '', sessions: 1 }]);
  assert.throws(() => parseShowStat('Unknown command.\n'), /show stat answered without the expected columns \(pxname, svname, status, scur\): "Unknown command."/);
  assert.deepEqual(parseShowStat(''.concat(header, '\n')), []);
});

test('summarizeHaproxyOutput: alerts without their prefixes, on one line, the last N, no boilerplate', () => {
  const output = [
    '[NOTICE]   (77) : haproxy version is 2.6.12',
    "[ALERT]    (77) : config : parsing [/tmp/x.cfg:12] : unknown keyword 'blance' in 'backend' section",
    "[ALERT]    (77) : config : parsing [/tmp/x.cfg:20] : 'server' expects <name> and <addr>[:<port>] as arguments.",
    '[ALERT]    (77) : config : Error(s) found in configuration file : /tmp/x.cfg',
    '[ALERT]    (77) : config : Fatal errors found in configuration.',
    '[WARNING]  (77) : config : something else',
  ].join('\n');
  assert.equal(summarizeHaproxyOutput(output), "config : parsing [/tmp/x.cfg:12] : unknown keyword 'blance' in 'backend' section | config : parsing [/tmp/x.cfg:20] : 'server' expects <name> and <addr>[:<port>] as arguments.");
  assert.equal(summarizeHaproxyOutput(output, 1), "config : parsing [/tmp/x.cfg:20] : 'server' expects <name> and <addr>[:<port>] as arguments.");
  assert.equal(summarizeHaproxyOutput('Configuration file is valid\n'), '');
});
