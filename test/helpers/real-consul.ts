// A real HashiCorp Consul agent for tests: the binary built by scripts/consul.sh, one server agent
// on free loopback ports (HTTP or HTTPS; serf LAN/WAN and server RPC on free ports; DNS, gRPC and
// gRPC-TLS off) so that two agents never collide, a temp data dir, stopped by pid.
// Variants: ACLs on with default_policy "deny" and a management token; HTTPS with verify_incoming.
// When the binary is missing the test FAILS with the setup message (never skips).
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { execa } from 'execa';
import { freePorts } from './haproxy.js';

export const CONSUL_VERSION = '1.16.6';

/** The binary scripts/consul.sh builds (HAPILOT_CONSUL overrides). */
export function consulBinary(): string {
  const bin = process.env.HAPILOT_CONSUL
    ?? path.join(process.env.HAPILOT_CACHE_DIR ?? path.join(os.homedir(), '.cache', 'hapilot'), `consul-${CONSUL_VERSION}`, 'consul');
  if (!existsSync(bin)) {
    throw new Error(`Consul ${CONSUL_VERSION} is not built (${bin} is missing): run scripts/setup.sh (it runs scripts/consul.sh, which needs Go) before the real-Consul tests`);
  }
  return bin;
}

export interface TlsFiles { ca: string; cert: string; key: string; clientCert: string; clientKey: string }

export interface ConsulOptions {
  /** ACLs on, default_policy "deny"; the management token is `RealConsul.token`. */
  acl?: boolean;
  /** HTTPS only (HTTP off), verify_incoming: clients need a certificate signed by the CA. */
  tls?: TlsFiles;
  /** Extra agent config (merged at the top level). */
  extra?: Record<string, unknown>;
  /** More config directories for the agent (service definitions, …). */
  configDirs?: string[];
}

export interface ApiResponse { status: number; headers: http.IncomingHttpHeaders; text: string; json: () => unknown; index: number }

export class RealConsul {
  readonly bin = consulBinary();
  readonly nodeName: string;
  /** Management token (ACL variant). */
  readonly token: string | undefined;
  #proc: ChildProcess | undefined;
  #exited: Promise<void> = Promise.resolve();
  #logs: string[] = [];

  private constructor(
    readonly dir: string,
    readonly httpPort: number,
    readonly opts: ConsulOptions,
  ) {
    this.nodeName = `consul-test-${httpPort}`;
    this.token = opts.acl ? randomUUID() : undefined;
  }

  /** Starts an agent and waits for its leader; tries other ports if one was taken meanwhile. */
  static async start(opts: ConsulOptions = {}): Promise<RealConsul> {
    consulBinary();
    for (let attempt = 1; ; attempt++) {
      try {
        return await RealConsul.#startOnce(opts);
      } catch (err) {
        if (attempt >= 3 || !/address already in use/.test(String(err))) throw err;
      }
    }
  }

  static async #startOnce(opts: ConsulOptions): Promise<RealConsul> {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'hapilot-consul-'));
    const [httpPort, serfLan, serfWan, server] = await freePorts(4) as [number, number, number, number];
    const c = new RealConsul(dir, httpPort, opts);
    const config: Record<string, unknown> = {
      node_name: c.nodeName,
      datacenter: 'dc1',
      server: true,
      bootstrap_expect: 1,
      data_dir: path.join(dir, 'data'),
      bind_addr: '127.0.0.1',
      advertise_addr: '127.0.0.1',
      client_addr: '127.0.0.1',
      log_level: 'warn',
      disable_update_check: true,
      ui_config: { enabled: false },
      // Raft timings of dev mode: a single server elects itself in well under a second.
      performance: { raft_multiplier: 1 },
      ports: {
        http: opts.tls ? -1 : httpPort,
        https: opts.tls ? httpPort : -1,
        dns: -1, grpc: -1, grpc_tls: -1,
        serf_lan: serfLan, serf_wan: serfWan, server,
      },
      // Consul's own request counters (consul.api.http) for the figures, kept for an hour.
      telemetry: { disable_hostname: true, prometheus_retention_time: '1h' },
      ...(opts.acl ? { acl: { enabled: true, default_policy: 'deny', enable_token_persistence: true, tokens: { initial_management: c.token, agent: c.token } } } : {}),
      ...(opts.tls ? { tls: { defaults: { ca_file: opts.tls.ca, cert_file: opts.tls.cert, key_file: opts.tls.key }, https: { verify_incoming: true }, internal_rpc: { verify_incoming: false } } } : {}),
      ...opts.extra,
    };
    await mkdir(path.join(dir, 'config'));
    await writeFile(path.join(dir, 'config', 'agent.json'), JSON.stringify(config, null, 2));
    try {
      await c.resume();
    } catch (err) {
      await c.destroy();
      throw err;
    }
    return c;
  }

  get url(): string {
    return `${this.opts.tls ? 'https' : 'http'}://127.0.0.1:${this.httpPort}`;
  }

  get pid(): number | undefined {
    return this.#proc?.pid;
  }

  /** What the Consul CLI (and hapilot) need in the environment to reach this agent. */
  get env(): Record<string, string> {
    return {
      CONSUL_HTTP_ADDR: this.url,
      ...(this.token ? { CONSUL_HTTP_TOKEN: this.token } : {}),
      ...(this.opts.tls ? { CONSUL_CACERT: this.opts.tls.ca, CONSUL_CLIENT_CERT: this.opts.tls.clientCert, CONSUL_CLIENT_KEY: this.opts.tls.clientKey } : {}),
    };
  }

  logs(): string {
    return this.#logs.join('');
  }

  /** Starts the agent (again, with the same ports and data dir) and waits for its leader. */
  async resume(): Promise<void> {
    if (this.#proc) throw new Error('consul is already running');
    this.#logs = [];
    const dirs = [path.join(this.dir, 'config'), ...(this.opts.configDirs ?? [])].flatMap((d) => ['-config-dir', d]);
    const proc = spawn(this.bin, ['agent', ...dirs], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.#proc = proc;
    const keep = (b: Buffer) => { this.#logs.push(b.toString()); if (this.#logs.length > 400) this.#logs.splice(0, 100); };
    proc.stdout!.on('data', keep);
    proc.stderr!.on('data', keep);
    this.#exited = new Promise((resolve) => proc.once('exit', () => resolve()));
    const until = Date.now() + 30_000;
    for (;;) {
      if (proc.exitCode !== null) {
        this.#proc = undefined;
        throw new Error(`consul agent exited with ${proc.exitCode}: ${this.logs().slice(-2000)}`);
      }
      const ok = await this.#ready().catch((e: unknown) => { if (process.env.DEBUG_CONSUL) console.error(e); return false; });
      if (ok) return;
      if (Date.now() > until) {
        await this.stop();
        throw new Error(`consul agent on ${this.url} had no leader after 30 s: ${this.logs().slice(-2000)}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  async #ready(): Promise<boolean> {
    const leader = await this.api('GET', '/v1/status/leader');
    if (leader.status !== 200 || !/"[^"]+:\d+"/.test(leader.text)) return false;
    // The leader has set itself up: its own node is in the catalog (and, with ACLs, the token works).
    const node = await this.api('GET', `/v1/health/node/${this.nodeName}`);
    if (node.status !== 200 || !node.text.includes('serfHealth')) return false;
    // And the agent's first anti-entropy sync has written its node (tagged addresses, segment meta),
    // up to 1.3 s after the leader: that write moves the nodes table, and with it the node dump's
    // index, under whatever a test measures next.
    const self = await this.api('GET', `/v1/catalog/node/${this.nodeName}`);
    return self.status === 200 && (self.json() as { Node?: { TaggedAddresses?: unknown } } | null)?.Node?.TaggedAddresses != null;
  }

  /** Stops the agent by its pid (SIGTERM, then SIGKILL after 10 s) and waits for it to exit. */
  async stop(): Promise<void> {
    const proc = this.#proc;
    if (!proc) return;
    this.#proc = undefined;
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), 10_000);
      await this.#exited;
      clearTimeout(timer);
    }
  }

  /** Stops the agent and removes its data dir. */
  async destroy(): Promise<void> {
    await this.stop();
    await rm(this.dir, { recursive: true, force: true });
  }

  /** One request to the agent's HTTP API (with the management token, if any, unless `token` says otherwise). */
  async api(method: string, pathAndQuery: string, body?: unknown, o: { token?: string | null; timeoutMs?: number } = {}): Promise<ApiResponse> {
    const token = o.token === null ? undefined : o.token ?? this.token;
    const tls = this.opts.tls;
    const payload = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const mod = tls ? https : http;
      const req = mod.request({
        host: '127.0.0.1', port: this.httpPort, method, path: pathAndQuery, agent: false,
        headers: { ...(token ? { 'X-Consul-Token': token } : {}), ...(payload ? { 'Content-Type': 'application/json' } : {}) },
        timeout: o.timeoutMs ?? 60_000,
        ...(tls ? { ca: readCached(tls.ca), cert: readCached(tls.clientCert), key: readCached(tls.clientKey) } : {}),
      }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => { text += c; });
        res.on('end', () => resolve({
          status: res.statusCode ?? 0, headers: res.headers, text,
          json: () => JSON.parse(text) as unknown,
          index: Number(res.headers['x-consul-index'] ?? 0),
        }));
      });
      req.on('timeout', () => req.destroy(new Error(`${method} ${pathAndQuery}: timeout`)));
      req.on('error', reject);
      req.end(payload);
    });
  }

  /** `api` that throws unless the status is 2xx. */
  async ok(method: string, pathAndQuery: string, body?: unknown): Promise<ApiResponse> {
    const r = await this.api(method, pathAndQuery, body);
    if (r.status < 200 || r.status > 299) throw new Error(`consul ${method} ${pathAndQuery} answered ${r.status}: ${r.text}`);
    return r;
  }

  /** Runs the consul CLI against this agent. */
  async cli(args: string[], o: { env?: Record<string, string> } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
    const r = await execa(this.bin, args, { reject: false, env: { ...this.env, ...o.env }, extendEnv: true, stdin: 'ignore', timeout: 60_000 });
    return { code: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) };
  }

  // ---- catalog writes through the HTTP API (the catalog endpoints: any node, any address) --------

  /** PUT /v1/catalog/register: one instance on an external node with one check `service:<ID>`. */
  async register(o: { node: string; address?: string; id: string; service: string; tags?: string[]; port: number; serviceAddress?: string; status?: 'passing' | 'warning' | 'critical'; weights?: { Passing: number; Warning: number } }): Promise<number> {
    const r = await this.ok('PUT', '/v1/catalog/register', {
      Node: o.node, Address: o.address ?? '127.0.0.1',
      Service: { ID: o.id, Service: o.service, Tags: o.tags ?? [], Port: o.port, Address: o.serviceAddress ?? '', ...(o.weights ? { Weights: o.weights } : {}) },
      Check: { Node: o.node, CheckID: `service:${o.id}`, Name: `Service '${o.service}' check`, Status: o.status ?? 'passing', ServiceID: o.id },
    });
    return r.index;
  }

  async deregister(node: string, serviceId: string): Promise<void> {
    await this.ok('PUT', '/v1/catalog/deregister', { Node: node, ServiceID: serviceId });
  }

  /** Sets the status of check `service:<ID>` (re-registering the check alone). */
  async setStatus(node: string, serviceId: string, status: 'passing' | 'warning' | 'critical'): Promise<void> {
    const svc = await this.instance(node, serviceId);
    await this.ok('PUT', '/v1/catalog/register', {
      Node: node, Address: svc.address, SkipNodeUpdate: true,
      Check: { Node: node, CheckID: `service:${serviceId}`, Name: `Service '${svc.service}' check`, Status: status, ServiceID: serviceId },
    });
  }

  async instance(node: string, serviceId: string): Promise<{ service: string; address: string }> {
    const r = await this.ok('GET', `/v1/catalog/node-services/${encodeURIComponent(node)}`);
    const body = r.json() as { Node: { Address: string }; Services: Array<{ ID: string; Service: string }> } | null;
    const s = body?.Services.find((x) => x.ID === serviceId);
    if (!body || !s) throw new Error(`no instance ${node}/${serviceId} in Consul`);
    return { service: s.Service, address: body.Node.Address };
  }

  /** Consul's own count of HTTP requests per endpoint (telemetry `consul.api.http`, Prometheus format). */
  async httpRequestCounts(): Promise<Map<string, number>> {
    const r = await this.ok('GET', '/v1/agent/metrics?format=prometheus');
    const out = new Map<string, number>();
    for (const m of r.text.matchAll(/^consul_api_http_count\{([^}]*)\} (\d+(?:\.\d+)?(?:e[+-]?\d+)?)$/gm)) {
      const labels = Object.fromEntries([...m[1]!.matchAll(/(\w+)="([^"]*)"/g)].map((l) => [l[1], l[2]]));
      const key = `${labels.method ?? '?'} ${labels.path ?? '?'}`;
      out.set(key, (out.get(key) ?? 0) + Number(m[2]));
    }
    return out;
  }
}

const pemCache = new Map<string, Buffer>();
function readCached(file: string): Buffer {
  let b = pemCache.get(file);
  if (!b) {
    b = readFileSync(file);
    pemCache.set(file, b);
  }
  return b;
}

/** The test CA and certificates in test/fixtures/tls (server SANs: IP 127.0.0.1, DNS localhost). */
export function fixtureTls(root = process.cwd()): TlsFiles {
  const d = path.join(root, 'test', 'fixtures', 'tls');
  return { ca: path.join(d, 'ca.pem'), cert: path.join(d, 'server.pem'), key: path.join(d, 'server.key'), clientCert: path.join(d, 'client.pem'), clientKey: path.join(d, 'client.key') };
}

/** Registers many instances through the catalog API, a few requests at a time. */
export async function registerMany(consul: RealConsul, regs: Array<Parameters<RealConsul['register']>[0]>, concurrency = 16): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < regs.length) await consul.register(regs[next++]!);
  }));
}

export interface ReadCounts { catalogServices: number; healthState: number; healthService: number; nodeDump: number; indexProbe: number; total: number }

/**
 * The reads hapilot makes, as Consul counts them (telemetry `consul.api.http` by path): a request is
 * counted when it is answered, so an open long-poll is not counted until it returns.
 */
export async function hapilotReads(consul: RealConsul): Promise<ReadCounts> {
  const counts = await consul.httpRequestCounts();
  const get = (p: string) => counts.get(`GET ${p}`) ?? 0;
  const catalogServices = get('v1_catalog_services');
  const healthState = get('v1_health_state_');
  const healthService = get('v1_health_service_');
  const nodeDump = get('v1_internal_ui_nodes');
  // The zero-byte probe of the checks index (`/v1/health/node/` of a node that does not exist).
  const indexProbe = get('v1_health_node_');
  return { catalogServices, healthState, healthService, nodeDump, indexProbe, total: catalogServices + healthState + healthService + nodeDump + indexProbe };
}
