// Where Consul is and how to talk to it, configured the way the Consul CLI is.
// https://developer.hashicorp.com/consul/commands#environment-variables
import { readFileSync } from 'node:fs';
import { ErrorCode, HapilotError, messageOf } from '../errors.js';

export type Consistency = 'default' | 'stale' | 'consistent';

export interface ConsulConfig {
  /** Base URL, e.g. http://127.0.0.1:8500 (no /v1). */
  url: URL;
  /** ACL token. Never logged: see `redactConsulConfig`. */
  token: string | undefined;
  ca: Buffer | undefined;
  cert: Buffer | undefined;
  key: Buffer | undefined;
  verify: boolean;
  consistency: Consistency;
  datacenter: string | undefined;
}

function readPemOrThrow(env: string, file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new HapilotError(ErrorCode.CONSUL_CONFIG, `${env}=${file}: cannot read (${messageOf(err)}): expected a readable PEM file`, { cause: err });
  }
}

/** Parses `127.0.0.1:8500`, `http://host:8500`, `https://host:8501`, as CONSUL_HTTP_ADDR allows. */
export function parseConsulAddress(raw: string, source: string, sslDefault = false): URL {
  const withScheme = /^[a-z]+:\/\//i.test(raw) ? raw : `${sslDefault ? 'https' : 'http'}://${raw}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new HapilotError(ErrorCode.CONSUL_CONFIG, `${source}=${JSON.stringify(raw)} is invalid: expected an address such as 127.0.0.1:8500 or https://consul.example:8501`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new HapilotError(ErrorCode.CONSUL_CONFIG, `${source}=${JSON.stringify(raw)} is invalid: expected an http:// or https:// address`);
  }
  if (url.username || url.password) {
    throw new HapilotError(ErrorCode.CONSUL_CONFIG, `${source} must not carry credentials: use CONSUL_HTTP_TOKEN or CONSUL_HTTP_TOKEN_FILE`);
  }
  url.pathname = '/';
  url.search = '';
  return url;
}

export function loadConsulConfig({ flagUrl, consistency = 'default', env = process.env }: {
  flagUrl?: string | undefined;
  consistency?: Consistency;
  env?: NodeJS.ProcessEnv;
}): ConsulConfig {
  const sslDefault = /^(1|true)$/i.test(env.CONSUL_HTTP_SSL ?? '');
  const url = flagUrl !== undefined
    ? parseConsulAddress(flagUrl, '--consul', sslDefault)
    : parseConsulAddress(env.CONSUL_HTTP_ADDR || '127.0.0.1:8500', 'CONSUL_HTTP_ADDR', sslDefault);
  let token = env.CONSUL_HTTP_TOKEN || undefined;
  if (!token && env.CONSUL_HTTP_TOKEN_FILE) {
    try {
      token = readFileSync(env.CONSUL_HTTP_TOKEN_FILE, 'utf8').trim() || undefined;
    } catch (err) {
      throw new HapilotError(ErrorCode.CONSUL_CONFIG, `CONSUL_HTTP_TOKEN_FILE=${env.CONSUL_HTTP_TOKEN_FILE}: cannot read (${messageOf(err)}): expected a readable file holding the ACL token`, { cause: err });
    }
  }
  const verifyRaw = env.CONSUL_HTTP_SSL_VERIFY;
  if (verifyRaw !== undefined && verifyRaw !== '' && !/^(0|1|true|false)$/i.test(verifyRaw)) {
    throw new HapilotError(ErrorCode.CONSUL_CONFIG, `CONSUL_HTTP_SSL_VERIFY=${JSON.stringify(verifyRaw)} is invalid: expected true or false`);
  }
  return {
    url,
    token,
    ca: env.CONSUL_CACERT ? readPemOrThrow('CONSUL_CACERT', env.CONSUL_CACERT) : undefined,
    cert: env.CONSUL_CLIENT_CERT ? readPemOrThrow('CONSUL_CLIENT_CERT', env.CONSUL_CLIENT_CERT) : undefined,
    key: env.CONSUL_CLIENT_KEY ? readPemOrThrow('CONSUL_CLIENT_KEY', env.CONSUL_CLIENT_KEY) : undefined,
    verify: !/^(0|false)$/i.test(verifyRaw ?? ''),
    consistency,
    datacenter: env.HAPILOT_CONSUL_DATACENTER || undefined,
  };
}

/** What may be logged about the Consul configuration: never the token or key material. */
export function redactConsulConfig(c: ConsulConfig): Record<string, unknown> {
  return {
    url: c.url.toString(),
    token: c.token ? '[REDACTED]' : undefined,
    tls: c.url.protocol === 'https:' ? { ca: Boolean(c.ca), clientCert: Boolean(c.cert), verify: c.verify } : undefined,
    consistency: c.consistency,
    datacenter: c.datacenter,
  };
}
