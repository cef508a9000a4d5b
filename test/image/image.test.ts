// docker/Dockerfile built and run for real with podman (../shared/CONTAINERS.md): the daemon in the
// image, on the host network, follows the Consul simulator and serves through the image's HAProxy, as
// the image's non-root user under tini; a catalog change under load fails no request; the HEALTHCHECK
// answers; SIGTERM stops the container cleanly; syn-drop works with exactly NET_ADMIN in the
// container's own network namespace; and the sidecar layout of docker/compose.yaml (HAProxy in one
// container, hapilot in another, a shared directory) reloads through the master socket.
// One image, built once per content hash of its inputs, serves every test here.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chown, readFile } from 'node:fs/promises';
import path from 'node:path';
import { parse } from 'yaml';
import { z } from 'zod';
import { ConsulSim } from '../sim/consul-sim.js';
import { eventually, get, startBackend, type Backend } from '../helpers/backends.js';
import { freePorts, tempDir } from '../helpers/haproxy.js';
import { ENABLE_TAGS, simNode } from '../helpers/daemon.js';
import { PodmanSession, containerPid, hapilotImage, processTree, setupContainers } from '../helpers/podman.js';
import { parseShowProc, socketCommand } from '../../src/haproxy/socket.js';
import { failures, runLoad } from '../../bench/lib/loadgen.js';

const IMAGE_UID = 10001;
const HOST = 'web.example.test';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const ComposeService = z.object({
  entrypoint: z.array(z.string()),
  command: z.array(z.string()),
  environment: z.record(z.string(), z.string()).optional(),
}).passthrough();

describe('docker image, built and run with podman', { concurrency: false }, () => {
  let s: PodmanSession;
  let image = '';
  let sim: ConsulSim;
  const backends: Backend[] = [];
  const dirs: Array<() => Promise<void>> = [];
  const suffix = `${process.pid}`;
  const daemonName = `hapilot-image-test-${suffix}`;
  let http = 0;
  let stats = 0;
  let status = 0;

  const register = (n: number) => sim.register({ node: simNode(n), service: { ID: `web-${n}`, Service: 'web', Tags: ENABLE_TAGS, Port: backends[n - 1]!.port } });
  const names = async (port: number, n = 8) => {
    const seen = new Set<string>();
    for (let i = 0; i < n; i++) {
      const r = await get(port, HOST);
      seen.add(typeof r.body === 'object' ? r.body.name ?? '' : String(r.status));
    }
    return seen;
  };
  /** Environment for a container on the host network: loopback only, the test's own ports. */
  const env = (e: Record<string, string>) => Object.entries(e).flatMap(([k, v]) => ['--env', `${k}=${v}`]);

  before(async () => {
    const state = await setupContainers();
    s = await PodmanSession.open(state);
    const built = await hapilotImage(s);
    image = built.tag;
    console.log(`# image ${image}: ${built.built ? 'built' : 'cached'} in ${Math.round(built.ms)} ms`);
    for (let i = 1; i <= 3; i++) backends.push(await startBackend(`web-${i}`));
    sim = new ConsulSim();
    sim.jitter = false;
    register(1);
    await sim.start();
    [http, stats, status] = await freePorts(3) as [number, number, number];
  }, { timeout: 900_000 });

  after(async () => {
    if (s) {
      await s.podman(['rm', '--all', '--force', '--time', '0']);
      s.close();
    }
    await sim?.stop();
    await Promise.all(backends.map((b) => b.close()));
    for (const d of dirs) await d();
  });

  it('the daemon serves the catalog through the image\'s HAProxy, as the non-root user under tini', { timeout: 120_000 }, async () => {
    await s.must(['run', '-d', '--name', daemonName, '--network', 'host', ...env({
      HAPILOT_CONSUL: sim.url, HAPROXY_DOM: 'example.test', HAPROXY_HTTP_PORT: String(http), HAPROXY_STATS_PORT: String(stats),
      HAPROXY_BIND_ADDRESS: '127.0.0.1', HAPILOT_STATUS_LISTEN: `127.0.0.1:${status}`, HAPROXY_MAXCONN_GLOBAL: '2000',
      HAPILOT_WAIT: '100ms:500ms', HAPILOT_MIN_RELOAD_INTERVAL: '200ms', HAPILOT_CONSUL_WAIT: '30s',
    }), image]);
    await eventually(async () => (await names(http, 2)).has('web-1'), 60_000, 'web-1 through the containerised HAProxy');

    const tree = await processTree(await containerPid(s, daemonName));
    assert.match(tree[0]!.cmdline, /^\/usr\/bin\/tini -- hapilot run$/, 'PID 1 of the container is tini running the default command');
    const daemon = tree.find((p) => /node \/usr\/local\/bin\/hapilot run/.test(p.cmdline));
    assert.ok(daemon, `hapilot runs: ${JSON.stringify(tree)}`);
    // With the image's two malloc arenas (its environment as the kernel holds it).
    const environ = (await readFile(`/proc/${daemon.pid}/environ`, 'utf8')).split('\0');
    assert.ok(environ.includes('MALLOC_ARENA_MAX=2'), `hapilot's environment: ${environ.filter((e) => e.startsWith('MALLOC')).join(' ') || 'no MALLOC_ setting'}`);
    const haproxy = tree.filter((p) => /^haproxy -W -S /.test(p.cmdline));
    assert.ok(haproxy.length >= 2, `an HAProxy master and its worker: ${JSON.stringify(tree)}`);
    assert.deepEqual([...new Set(tree.map((p) => p.uid))], [IMAGE_UID], `every process runs as uid ${IMAGE_UID}: ${JSON.stringify(tree)}`);
  });

  it('follows a catalog change with 0 failed requests under load (seamless reloads)', { timeout: 120_000 }, async () => {
    const stop = new AbortController();
    const load = runLoad({ port: http, hostHeader: HOST, concurrency: 4, mode: 'close', thinkMs: 5 }, stop.signal);
    try {
      await sleep(500);
      register(2);
      await eventually(async () => (await names(http)).has('web-2'), 30_000, 'web-2 added');
      sim.deregister('node1', 'web-1');
      await eventually(async () => { const n = await names(http); return n.size === 1 && n.has('web-2'); }, 30_000, 'web-1 removed');
      await sleep(500);
    } finally {
      stop.abort();
    }
    const result = await load;
    assert.ok(result.ok > 100, `load ran (${result.ok} ok)`);
    assert.equal(failures(result), 0, `failed requests: ${JSON.stringify({ ...result, latenciesMs: undefined })}`);
    const st = JSON.parse((await s.must(['exec', daemonName, 'node', '-e', `fetch('http://127.0.0.1:${status}/status').then((r) => r.text()).then((t) => process.stdout.write(t))`]))) as { reloads: Array<{ ok: boolean; action: string }> };
    assert.ok(st.reloads.filter((r) => r.ok && r.action === 'reload').length >= 2, `two reloads: ${JSON.stringify(st.reloads)}`);
  });

  it('HEALTHCHECK exits 0 when ready, non-zero while HAProxy does not serve, 0 again when it does', { timeout: 120_000 }, async () => {
    const hc = JSON.parse(await s.must(['image', 'inspect', '--format', '{{json .Config.Healthcheck}}', image])) as { Test: string[] };
    assert.deepEqual(hc.Test.slice(0, 2), ['CMD', 'node'], 'the image declares a HEALTHCHECK');
    const check = async () => (await s.podman(['healthcheck', 'run', daemonName])).code;
    assert.equal(await check(), 0, 'healthy while serving');

    // Freeze HAProxy's worker: the process is alive (the master still answers), nothing is served.
    const tree = await processTree(await containerPid(s, daemonName));
    const haproxy = tree.filter((p) => /^haproxy /.test(p.cmdline));
    const master = haproxy.find((p) => !haproxy.some((q) => q.pid === p.ppid));
    const workerPids = haproxy.filter((p) => p.ppid === master?.pid).map((p) => p.pid);
    assert.ok(workerPids.length >= 1, `HAProxy workers: ${JSON.stringify(tree)}`);
    for (const pid of workerPids) process.kill(pid, 'SIGSTOP');
    try {
      assert.notEqual(await check(), 0, 'unhealthy while HAProxy does not serve');
    } finally {
      for (const pid of workerPids) process.kill(pid, 'SIGCONT');
    }
    await eventually(async () => (await check()) === 0, 30_000, 'healthy again');
  });

  it('SIGTERM stops the container cleanly within its stop timeout, HAProxy with it', { timeout: 120_000 }, async () => {
    const t0 = performance.now();
    await s.must(['stop', '--time', '30', daemonName], { timeout: 60_000 });
    const ms = performance.now() - t0;
    const state = JSON.parse(await s.must(['inspect', '--format', '{{json .State}}', daemonName])) as { ExitCode: number };
    const logs = (await s.podman(['logs', daemonName])).stdout;
    assert.equal(state.ExitCode, 0, `exit code 0 (not killed after the timeout): ${logs.slice(-500)}`);
    assert.ok(ms < 15_000, `stopped in ${Math.round(ms)} ms, well within the 30 s timeout`);
    assert.match(logs, /SIGTERM: shutting down and stopping HAProxy/);
    await assert.rejects(get(http, HOST), /ECONNREFUSED/, 'HAProxy stopped with the container');
    console.log(`# podman stop: ${Math.round(ms)} ms`);
    await s.must(['rm', daemonName]);
  });

  it('syn-drop reloads work as the image user with exactly NET_ADMIN, in the container\'s own network namespace', { timeout: 120_000 }, async () => {
    // Without the capability, iptables is refused for the image user.
    const denied = await s.podman(['run', '--rm', '--no-healthcheck', '--network', 'none', '--entrypoint', 'iptables', image, '-w', '-S', 'INPUT']);
    assert.notEqual(denied.code, 0, 'iptables without NET_ADMIN is refused');
    // With it: hapilot in syn-drop mode in a private network namespace (--network none), reloaded by SIGHUP.
    const name = `hapilot-syndrop-test-${suffix}`;
    await s.must(['run', '-d', '--name', name, '--network', 'none', '--cap-add', 'NET_ADMIN', ...env({ HAPILOT_RELOAD: 'syn-drop', HAPROXY_DOM: 'example.test', HAPROXY_MAXCONN_GLOBAL: '2000' }),
      image, 'run', '--catalog', '/opt/hapilot/examples/catalog.json']);
    const statusOf = async () => JSON.parse(await s.must(['exec', name, 'node', '-e', 'fetch("http://127.0.0.1:9105/status").then((r) => r.text()).then((t) => process.stdout.write(t))'])) as { reloads: Array<{ ok: boolean; action: string; trigger: string; message?: string }> };
    await eventually(async () => (await statusOf()).reloads.some((r) => r.ok && r.action === 'start'), 30_000, 'HAProxy started');
    await s.must(['kill', '--signal', 'HUP', name]);
    await eventually(async () => (await statusOf()).reloads.some((r) => r.trigger === 'SIGHUP'), 30_000, 'the SIGHUP reload');
    const reload = (await statusOf()).reloads.find((r) => r.trigger === 'SIGHUP')!;
    assert.equal(reload.ok, true, `syn-drop reload: ${JSON.stringify(reload)}`);
    const rules = await s.must(['exec', name, 'iptables', '-w', '-S', 'INPUT']);
    assert.doesNotMatch(rules, /hapilot-syn-drop/, 'the SYN-drop rule was removed after the reload');
    await s.must(['stop', '--time', '30', name]);
    await s.must(['rm', name]);
  });

  it('sidecar (docker/compose.yaml): HAProxy in one container, hapilot in another, reloading it through the master socket on a shared directory', { timeout: 180_000 }, async () => {
    const compose = parse(await readFile('docker/compose.yaml', 'utf8'), { merge: true }) as { services: Record<string, unknown> };
    const hx = ComposeService.parse(compose.services.haproxy);
    const hp = ComposeService.parse(compose.services['hapilot-sidecar']);
    const { dir, cleanup } = await tempDir('hapilot-sidecar-');
    dirs.push(cleanup);
    await chown(dir, IMAGE_UID, IMAGE_UID);
    const volume = `${dir}:/run/hapilot`;
    const [http2, stats2, status2] = await freePorts(3) as [number, number, number];
    const hxName = `hapilot-sidecar-haproxy-${suffix}`;
    const hpName = `hapilot-sidecar-hapilot-${suffix}`;
    const run = (name: string, svc: z.infer<typeof ComposeService>, e: Record<string, string>) => s.must(['run', '-d', '--name', name, '--network', 'host', '-v', volume,
      '--entrypoint', JSON.stringify(svc.entrypoint), ...env(e), image, ...svc.command]);
    await run(hxName, hx, {});
    await run(hpName, hp, {
      ...hp.environment, CONSUL_HTTP_ADDR: sim.url.replace(/^http:\/\//, ''), HAPROXY_HTTP_PORT: String(http2), HAPROXY_STATS_PORT: String(stats2),
      HAPROXY_BIND_ADDRESS: '127.0.0.1', HAPILOT_STATUS_LISTEN: `127.0.0.1:${status2}`, HAPROXY_MAXCONN_GLOBAL: '2000',
      HAPILOT_WAIT: '100ms:500ms', HAPILOT_MIN_RELOAD_INTERVAL: '200ms', HAPILOT_CONSUL_WAIT: '30s',
    });
    const masterSock = path.join(dir, 'master.sock');
    try {
      await eventually(async () => (await names(http2, 2)).has('web-2'), 60_000, 'web-2 through the sidecar HAProxy');
      // The master re-executes itself on every reload: its socket refuses connections for a moment.
      const master = async () => {
        let found: ReturnType<typeof parseShowProc>[number] | undefined;
        await eventually(async () => {
          found = await socketCommand(masterSock, 'show proc', 2000).then((t) => parseShowProc(t).find((p) => p.type === 'master')).catch(() => undefined);
          return found !== undefined;
        }, 15_000, 'the master answers on its socket');
        return found!;
      };
      const before = await master();

      // HAProxy's processes live in the HAProxy container, none in hapilot's.
      const inHx = await processTree(await containerPid(s, hxName));
      const inHp = await processTree(await containerPid(s, hpName));
      assert.ok(inHx.some((p) => /^haproxy -W -db -S \/run\/hapilot\/master\.sock/.test(p.cmdline)), `the master runs in the HAProxy container: ${JSON.stringify(inHx)}`);
      assert.ok(!inHp.some((p) => /^haproxy/.test(p.cmdline)), `no HAProxy in hapilot's container: ${JSON.stringify(inHp)}`);
      assert.ok(inHp.some((p) => /hapilot run/.test(p.cmdline)));

      // An instance joins (the Runtime API on the shared stats socket), then a new service: hapilot
      // reloads the other container's HAProxy through the shared master socket.
      register(3);
      await eventually(async () => (await names(http2)).has('web-3'), 30_000, 'web-3 joins');
      sim.register({ node: simNode(4), service: { ID: 'api-1', Service: 'api', Tags: ENABLE_TAGS, Port: backends[0]!.port } });
      await eventually(async () => (await get(http2, 'api.example.test')).status === 200, 30_000, 'api after the reload');
      const afterReload = await master();
      assert.equal(afterReload.pid, before.pid, 'the same master (reloaded, not restarted)');
      assert.ok(afterReload.reloads > before.reloads, `the master reloaded (${before.reloads} → ${afterReload.reloads})`);
      assert.equal(afterReload.failed, before.failed, 'no failed reload');
    } finally {
      sim.deregister('node3', 'web-3');
      sim.deregister('node4', 'api-1');
      await s.podman(['stop', '--time', '10', hpName, hxName], { timeout: 60_000 });
      await s.podman(['rm', '--force', hpName, hxName]);
    }
  });
});
