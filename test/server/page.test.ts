// The status page: rendered from a view object, every value escaped, and loaded in a real headless
// Chromium (Debian's, scripts/setup-chromium.sh) through playwright-core: it shows a depooled server
// as depooled, refreshes itself, runs no injected script, and a screenshot is written.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { chromium } from 'playwright-core';
import { buildStatusPageView, escapeHtml, pageBackends, poolLabel, refreshSeconds, renderStatusPage, type PageServer, type StatusPageView } from '../../src/server/page.js';

const CHROMIUM = process.env.HAPILOT_CHROMIUM ?? '/usr/bin/chromium';
export const SCREENSHOT = path.join(os.tmpdir(), 'hapilot-status-page.png');

function srv(name: string, o: Partial<PageServer> = {}): PageServer {
  return {
    name, address: '10.0.0.1:8000', consulHealth: 'passing', consulMaintenance: undefined, pool: 'yes', poolSource: 'default', poolReason: undefined,
    outReason: undefined, keptByThreshold: false, weight: 1, haproxy: { status: 'UP', sessions: 3, weight: 1 }, ...o,
  };
}

function view(): StatusPageView {
  return {
    generatedAt: '2026-11-23T13:10:00.000Z',
    refreshSeconds: 1,
    source: 'consul http://127.0.0.1:8500',
    consulIndex: 4711,
    degraded: [],
    frontends: [
      { name: 'hapilot_http', bind: '127.0.0.1:8080', mode: 'http', routes: [{ host: 'web.example.test', backend: 'web' }, { host: 'api.example.test', backend: 'api' }] },
      { name: 'port_9292', bind: '127.0.0.1:9292', mode: 'tcp', routes: [{ host: undefined, backend: 'db' }] },
    ],
    backends: [
      {
        name: 'web', mode: 'http', balance: 'roundrobin', depoolThreshold: 0.5, minInRotation: 2, inRotation: 2, counted: 4,
        servers: [
          srv('n1:web-1'),
          srv('n2:web-2', { pool: 'no', poolSource: 'record', poolReason: 'kernel upgrade <T1234>', outReason: 'depooled (pool state "no")', haproxy: { status: 'MAINT', sessions: 0, weight: 1 } }),
          srv('n3:web-3', { pool: 'drain', poolSource: 'record', outReason: 'draining (pool state "drain")', haproxy: { status: 'DRAIN', sessions: 7, weight: 1 } }),
          srv('n4:web-4', { consulHealth: 'critical', keptByThreshold: true, outReason: 'failing Consul checks', haproxy: { status: 'UP', sessions: 1, weight: 1 } }),
        ],
      },
      {
        name: 'api', mode: 'http', balance: 'leastconn', depoolThreshold: 0.5, minInRotation: 1, inRotation: 1, counted: 2,
        servers: [
          srv('n1:api-1', { consulMaintenance: 'node n1: rack move', outReason: 'maintenance in Consul (node n1: rack move); lift it with `consul maint -disable` on node n1', haproxy: { status: 'MAINT', sessions: 0, weight: 1 } }),
          srv('n2:api-2'),
        ],
      },
      { name: 'db', mode: 'tcp', balance: 'roundrobin', depoolThreshold: 0.5, minInRotation: 0, inRotation: 0, counted: 0, servers: [] },
    ],
    quarantined: [{ service: 'evil<script>window.__pwned=1</script>', instance: 'x-1', tag: 'HAPROXY.BACKEND.MAXCONN=lots', reason: 'value "lots" does not match 1–1000000 & friends' }],
    invalidRecords: [{ key: 'hapilot/pool/web/web-9', reason: 'not JSON ("{oops"): expected JSON such as {"state":"no"}' }],
    reloads: [
      { at: '2026-11-23T13:09:58.120Z', action: 'runtime', ok: true, trigger: 'consul', durationMs: 4.2, summary: 'web: n2:web-2 → maint' },
      { at: '2026-11-23T13:02:11.500Z', action: 'reload', ok: false, trigger: 'consul', durationMs: 210, summary: 'haproxy -c: "<bad>" rejected' },
      { at: '2026-11-23T12:58:00.000Z', action: 'start', ok: true, trigger: undefined, durationMs: 95, haproxyMs: 81, summary: 'started' },
    ],
  };
}

test('refreshSeconds: every 5 s while a page costs up to 2.5 % of that; a costlier page refreshes less often', () => {
  assert.equal(refreshSeconds(0), 5);
  assert.equal(refreshSeconds(125), 5);
  assert.equal(refreshSeconds(200), 8);
  assert.equal(refreshSeconds(1600), 64, 'a page that costs 1.6 s: about once a minute');
});

test('escapeHtml escapes the five characters', () => {
  assert.equal(escapeHtml(`<a href="x" title='y'>&</a>`), '&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;&lt;/a&gt;');
});

test('the page escapes every value from Consul and operators, and labels pool states', () => {
  const page = renderStatusPage(view());
  assert.ok(!page.includes('<script>'), 'no raw script tag from a service name');
  assert.ok(page.includes('evil&lt;script&gt;window.__pwned=1&lt;/script&gt;'));
  assert.ok(page.includes('kernel upgrade &lt;T1234&gt;'));
  assert.ok(page.includes('1–1000000 &amp; friends'));
  assert.match(page, /<meta http-equiv="refresh" content="1">/);
  assert.match(page, /data-server="n2:web-2" data-pool="no"[^>]*>[\s\S]*?data-role="pool">depooled</);
  assert.match(page, /data-server="n4:web-4"[^>]*data-kept="yes"[\s\S]*?kept in rotation \(depool threshold\)/);
  assert.match(page, /data-server="n1:api-1"[\s\S]*?>maintenance in Consul</);
  assert.match(page, /no servers: clients get 503/);
  assert.match(page, /<b>start<\/b> ok · 95 ms \(HAProxy 81 ms\)<div>started/, "a reload says HAProxy's own part of its time");
  assert.match(page, /<b>reload<\/b> failed · consul · 210 ms<div>/, 'and nothing when it is not known');
});

test('in headless Chromium: the page loads, shows the depooled server as depooled, refreshes itself, and a screenshot is written', { timeout: 90_000 }, async () => {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: run scripts/setup-chromium.sh`);
  let hits = 0;
  const server = http.createServer((req, res) => {
    hits += 1;
    const v = view();
    v.generatedAt = new Date().toISOString();
    // Long enough for a full-page screenshot to finish before the page reloads itself (a loaded machine).
    v.refreshSeconds = 3;
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(renderStatusPage(v));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu'] });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const response = await page.goto(url);
    assert.equal(response?.status(), 200);
    assert.equal(await page.title(), 'hapilot status');
    const depooled = page.locator('tr[data-server="n2:web-2"]');
    assert.equal(await depooled.locator('[data-role=pool]').innerText(), 'depooled');
    assert.equal(await depooled.locator('[data-role=haproxy]').innerText(), 'MAINT');
    assert.equal(await depooled.locator('[data-role=sessions]').innerText(), '0');
    // The depooled name is struck through: it reads as out of rotation, not just labelled so.
    const decoration = await page.evaluate<unknown>(`getComputedStyle(document.querySelector('tr[data-server="n2:web-2"] td.name')).textDecorationLine`);
    assert.equal(decoration, 'line-through');
    assert.equal(await page.locator('tr[data-server="n1:web-1"] [data-role=pool]').innerText(), 'pooled');
    assert.equal(await page.evaluate<unknown>('window.__pwned'), undefined, 'the injected script did not run');
    assert.match(await page.locator('[data-quarantined]').innerText(), /evil<script>window\.__pwned=1<\/script>/);
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    const before = hits;
    await page.waitForTimeout(4500);
    assert.ok(hits > before, `the page reloaded itself (${hits - before} more requests)`);
  } finally {
    await browser.close();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
  const png = await readFile(SCREENSHOT);
  assert.equal(png.subarray(1, 4).toString('ascii'), 'PNG');
  assert.ok(png.length > 20_000, `screenshot ${SCREENSHOT} has content (${png.length} bytes)`);
});

test('pageBackends joins pool decisions, Consul instances and show stat rows', async () => {
  const { applyPoolStates } = await import('../../src/pool/rules.js');
  const { ingestPoolKv } = await import('../../src/pool/table.js');
  const base = { backend: 'web', service: 'web', address: '10.0.0.1', port: 80, weight: 1, health: 'passing' as const, maintenance: undefined };
  const instances = [
    { ...base, server: 'n1:a', node: 'n1', serviceId: 'a' },
    { ...base, server: 'n2:b', node: 'n2', serviceId: 'b', address: 'fe80::1', maintenance: { scope: 'service' as const, reason: 'swap' } },
  ];
  const table = ingestPoolKv({ prefix: 'p', pairs: [{ key: 'p/web/a', value: '{"state":"no","reason":"T9"}', modifyIndex: 3 }] });
  const decisions = applyPoolStates({ instances, table, defaultThreshold: 0 });
  const [b] = pageBackends({ backends: [{ name: 'web', mode: 'http', balance: 'roundrobin' }], decisions, instances, stats: [{ proxy: 'web', server: 'n1:a', status: 'MAINT', sessions: 0, weight: 1 }] });
  assert.ok(b);
  assert.deepEqual(b.servers.map((s) => [s.name, s.address, s.pool, s.poolReason, s.consulMaintenance, s.haproxy?.status]), [
    ['n1:a', '10.0.0.1:80', 'no', 'T9', undefined, 'MAINT'],
    ['n2:b', '[fe80::1]:80', 'yes', undefined, 'service b: swap', undefined],
  ]);
  assert.equal(poolLabel(b.servers[1]!).text, 'maintenance in Consul');
  assert.deepEqual([b.counted, b.inRotation], [2, 0]);
});

test('buildStatusPageView: frontends from the model and settings, pool decisions per server, reloads as a timeline; without pools, the model as configured', async () => {
  const { buildModel } = await import('../../src/model/model.js');
  const { applyPoolStates } = await import('../../src/pool/rules.js');
  const { ingestPoolKv } = await import('../../src/pool/table.js');
  const { poolInstancesFor } = await import('../../src/pool/model-adapter.js');
  const { entry, ENABLE, settings } = await import('../helpers/entries.js');
  const entries = [entry('web', 'w1', [ENABLE], { node: 'n1' }), entry('web', 'w2', [ENABLE], { node: 'n2' }), entry('db', 'd1', [ENABLE, 'HAPROXY.PROTOCOL=tcp', 'HAPROXY.FRONTEND.PORT=9292'], { node: 'n1' })];
  const model = buildModel({ entries, settings: settings() });
  const instances = poolInstancesFor(entries, model);
  const decisions = applyPoolStates({ instances, table: ingestPoolKv({ prefix: 'p', pairs: [{ key: 'p/web/w2', value: '{"state":"no"}', modifyIndex: 1 }, { key: 'p/web/w1', value: 'x', modifyIndex: 1 }] }), defaultThreshold: 0 });
  const base = {
    now: new Date('2026-11-23T13:00:00Z'), source: 'consul', consulIndex: 7, degraded: [], model,
    stats: [{ proxy: 'web', server: 'n2:w2', status: 'MAINT', sessions: 0, weight: 1 }], quarantined: [],
    reloads: [{ at: '2026-11-23T12:59:00.000Z', action: 'runtime', ok: true, trigger: 'catalog change', durationMs: 3, message: '1 runtime operations' }],
  };
  const v = buildStatusPageView({ ...base, pool: { decisions, instances } });
  assert.deepEqual(v.frontends.map((f) => [f.name, f.bind, f.routes.map((r) => r.backend)]), [
    ['hapilot_stats', '127.0.0.1:8404', []], ['hapilot_http', '127.0.0.1:8080', ['web']], ['port_9292', '127.0.0.1:9292', ['db']],
  ]);
  const web = v.backends.find((b) => b.name === 'web');
  assert.deepEqual(web?.servers.map((s) => [s.name, s.pool, s.poolSource, s.haproxy?.status]), [['n1:w1', 'yes', 'unreadable', undefined], ['n2:w2', 'no', 'record', 'MAINT']]);
  assert.deepEqual(v.invalidRecords.map((r) => r.key), ['p/web/w1']);
  assert.equal(v.reloads[0]?.summary, '1 runtime operations');
  const html = renderStatusPage(v);
  assert.match(html, /data-server="n2:w2" data-pool="no"/);
  const plain = buildStatusPageView({ ...base, pool: undefined });
  assert.deepEqual(plain.backends.find((b) => b.name === 'web')?.servers.map((s) => [s.name, s.pool]), [['n1:w1', 'yes'], ['n2:w2', 'yes']]);
});
