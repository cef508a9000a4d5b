// Traffic through a real HAProxy running a rendered config: Host routing (port ignored),
// X-Forwarded headers (shared frontend and an HTTP port frontend), unknown hosts, TCP port frontends,
// the stats/monitor frontend.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import net from 'node:net';
import { execa } from 'execa';
import { ENABLE, entry } from '../helpers/entries.js';
import { renderEntries, tempPaths } from '../helpers/render.js';
import { HAPROXY, freePorts, haproxyCheck, tempDir } from '../helpers/haproxy.js';
import { get, startBackend, waitForPort, eventually } from '../helpers/backends.js';

test('HAProxy routes by Host header through the map, ignoring the port; unknown hosts get 404; TCP ports forward', async () => {
  const [w1, w2, api, tcp, adm] = await Promise.all([startBackend('web-1'), startBackend('web-2'), startBackend('api-1'), startBackend('pg-1'), startBackend('adm-1')]);
  const [httpPort, statsPort, tcpPort, admPort] = await freePorts(4);
  const { dir, cleanup } = await tempDir();
  const lo = { nodeAddress: '127.0.0.1' };
  const result = await renderEntries([
    entry('web', 'w1', [ENABLE], { ...lo, node: 'n1', port: w1!.port }),
    entry('web', 'w2', [ENABLE], { ...lo, node: 'n2', port: w2!.port }),
    entry('api', 'a1', [ENABLE, 'HAPROXY.FRONTEND.HOST=api.example.org', 'HAPROXY.BACKEND.BALANCE=leastconn', 'HAPROXY.BACKEND.STICKY=src'], { ...lo, port: api!.port }),
    entry('pg', 'p1', [ENABLE, 'HAPROXY.PROTOCOL=tcp', `HAPROXY.FRONTEND.PORT=${tcpPort}`], { ...lo, port: tcp!.port }),
    entry('adm', 'ad1', [ENABLE, `HAPROXY.FRONTEND.PORT=${admPort}`], { ...lo, port: adm!.port }),
  ], { env: { HAPROXY_HTTP_PORT: String(httpPort), HAPROXY_STATS_PORT: String(statsPort), HAPROXY_MAXCONN_GLOBAL: '4000', HAPROXY_MAXCONN: '2000' }, paths: tempPaths(dir) });
  const cfg = path.join(dir, 'haproxy.cfg');
  assert.equal((await haproxyCheck(result, cfg)).ok, true);
  const proc = execa(HAPROXY, ['-db', '-f', cfg], { reject: false });
  try {
    await waitForPort(httpPort!);
    const seen = new Set<string>();
    for (let i = 0; i < 6; i++) {
      const r = await get(httpPort!, i % 2 ? 'WEB.example.test:8080' : 'web.example.test');
      assert.equal(r.status, 200);
      if (typeof r.body === 'object') seen.add(r.body.name ?? '');
    }
    assert.deepEqual([...seen].sort(), ['web-1', 'web-2'], 'round robin over both web instances');
    const a = await get(httpPort!, 'api.example.org:443');
    assert.equal(a.status, 200);
    assert.deepEqual(typeof a.body === 'object' && [a.body.name, a.body.xff, a.body.xfport, a.body.xfproto], ['api-1', '127.0.0.1', String(httpPort), 'http']);
    // An HTTP service on a port of its own gets the same headers, with that port.
    const viaPort = await get(admPort!, 'anything');
    assert.deepEqual(typeof viaPort.body === 'object' && [viaPort.body.name, viaPort.body.xff, viaPort.body.xfport, viaPort.body.xfproto], ['adm-1', '127.0.0.1', String(admPort), 'http']);
    const unknown = await get(httpPort!, 'nobody.example.test');
    assert.equal(unknown.status, 404);
    // The TCP frontend forwards raw bytes to the pg backend (an HTTP server here).
    const viaTcp = await get(tcpPort!, 'anything');
    assert.deepEqual(typeof viaTcp.body === 'object' && viaTcp.body.name, 'pg-1');
    // Stats frontend: monitor URI, stats page and Prometheus exporter on loopback.
    assert.equal((await get(statsPort!, 'x', '/healthz')).status, 200);
    await eventually(async () => {
      const m = await get(statsPort!, 'x', '/metrics');
      return m.status === 200 && typeof m.body === 'string' && m.body.includes('haproxy_backend_active_servers{proxy="web"} 2');
    }, 10_000, 'metrics with 2 active web servers');
    assert.equal((await get(statsPort!, 'x', '/stats')).status, 200);
    // The stats port is not reachable on another address than loopback (bound to 127.0.0.1 only).
    const other = await new Promise<boolean>((resolve) => {
      const s = net.connect({ host: '127.0.0.2', port: statsPort! }, () => { s.destroy(); resolve(true); });
      s.once('error', () => resolve(false));
    });
    assert.equal(other, false);
  } finally {
    proc.kill('SIGTERM');
    await proc;
    await Promise.all([w1, w2, api, tcp, adm].map((b) => b!.close()));
    await cleanup();
  }
});
