// socketCommand decodes an answer as it arrives: a character cut between two chunks comes out whole;
// socketLines hands it over in pieces of whole lines, and `show stat` parsed so equals parsed whole.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import path from 'node:path';
import fc from 'fast-check';
import { parseShowStat, ShowStatParser, socketCommand, socketLines, showStat } from '../../src/haproxy/socket.js';
import { ErrorCode, isHapilotError } from '../../src/errors.js';
import { tempDir } from '../helpers/haproxy.js';

test('socketCommand: an answer in many chunks, a UTF-8 character split between two, comes back whole', async () => {
  const { dir, cleanup } = await tempDir();
  const sock = path.join(dir, 's.sock');
  const answer = `${'x'.repeat(100_000)}é€${'y'.repeat(10)}\n`;
  const bytes = Buffer.from(answer);
  const cut = bytes.indexOf(0xe2) + 1; // inside the three bytes of €
  // HAProxy answers after the client has sent its command and half-closed: so does this server.
  const server = net.createServer({ allowHalfOpen: true }, (c) => c.once('data', () => {
    c.write(bytes.subarray(0, cut));
    setTimeout(() => c.end(bytes.subarray(cut)), 50);
  }));
  await new Promise<void>((r) => server.listen(sock, r));
  try {
    assert.equal(await socketCommand(sock, 'show stat'), answer);
  } finally {
    server.close();
    await cleanup();
  }
});

/** A socket server answering `answer` in the given chunk sizes (cycled), as HAProxy does after the command. */
async function answering(answer: Buffer, sizes: number[]) {
  const { dir, cleanup } = await tempDir();
  const sock = path.join(dir, 's.sock');
  const server = net.createServer({ allowHalfOpen: true }, (c) => c.once('data', async () => {
    for (let at = 0, i = 0; at < answer.length; i++) {
      const n = Math.max(1, sizes[i % sizes.length] ?? answer.length);
      c.write(answer.subarray(at, at + n));
      at += n;
      await new Promise((r) => setImmediate(r));
    }
    c.end();
  }));
  await new Promise<void>((r) => server.listen(sock, r));
  return { sock, close: async () => { server.close(); await cleanup(); } };
}

const STAT_HEADER = '# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight,act,bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,sid,throttle,lbtot,tracked,type,rate,rate_lim,rate_max,check_status,check_code,check_duration,hrsp_1xx,hrsp_2xx,hrsp_3xx,hrsp_4xx,hrsp_5xx,hrsp_other,hanafail,req_rate,req_rate_max,req_tot,cli_abrt,srv_abrt,comp_in,comp_out,comp_byp,comp_rsp,lastsess,last_chk,last_agt,qtime,ctime,rtime,ttime,agent_status,agent_code,agent_duration,check_desc,agent_desc,check_rise,check_fall,check_health,agent_rise,agent_fall,agent_health,addr,cookie,mode,algo';
const statRow = (px: string, sv: string, scur: number, status: string, weight: number) => {
  const cells = STAT_HEADER.slice(2).split(',').map(() => '');
  const set = (name: string, v: string) => { cells[STAT_HEADER.slice(2).split(',').indexOf(name)] = v; };
  set('pxname', px); set('svname', sv); set('scur', String(scur)); set('status', status); set('weight', String(weight)); set('addr', `10.0.0.${scur % 250}:80`);
  return cells.join(',');
};

test('socketLines: pieces of whole lines whatever the chunks; `show stat` parsed as it arrives equals parsed whole', async () => {
  const csv = [STAT_HEADER, statRow('web', 'FRONTEND', 0, 'OPEN', 0), ...Array.from({ length: 3000 }, (_, i) => statRow(`be${i % 7}`, `n${i}:web-é${i}`, i, i % 5 ? 'UP' : 'MAINT', i % 256)), statRow('web', 'BACKEND', 3, 'UP', 10), ''].join('\n');
  const whole = parseShowStat(csv);
  assert.equal(whole.length, 3000);
  await fc.assert(fc.asyncProperty(fc.array(fc.integer({ min: 1, max: 70_000 }), { minLength: 1, maxLength: 4 }), async (sizes) => {
    const s = await answering(Buffer.from(csv), sizes);
    try {
      const pieces: string[] = [];
      await socketLines(s.sock, 'show stat', (t) => pieces.push(t));
      assert.equal(pieces.join(''), csv);
      assert.ok(pieces.slice(0, -1).every((p) => p.endsWith('\n')), 'every piece but the last ends a line');
      assert.deepEqual(await showStat(s.sock), whole);
    } finally {
      await s.close();
    }
  }), { numRuns: 15 });
  // Fed line pieces of any size, the parser gives the same rows.
  fc.assert(fc.property(fc.array(fc.nat(), { maxLength: 8 }), (cuts) => {
    const lines = csv.split(/(?<=\n)/);
    const at = [...new Set(cuts.map((c) => c % (lines.length + 1)))].sort((a, b) => a - b);
    const parser = new ShowStatParser();
    let from = 0;
    for (const end of [...at, lines.length]) { parser.push(lines.slice(from, end).join('')); from = end; }
    assert.deepEqual(parser.finish(), whole);
  }), { numRuns: 100 });
});

test('socketLines: an answer without the expected header fails with a one-line error; so does nothing at all', async () => {
  for (const answer of ['Unknown command\n', '']) {
    const s = await answering(Buffer.from(answer), [3]);
    try {
      await assert.rejects(showStat(s.sock), (e: unknown) => isHapilotError(e, ErrorCode.HAPROXY_EXEC) && /without the expected columns/.test(e.message));
    } finally {
      await s.close();
    }
  }
});
