// HAProxy names for Consul names: a backend per service, a server per instance, each stable, unique
// and safe to write in haproxy.cfg; and names as messages show them.
import { createHash } from 'node:crypto';
import { showTag } from './tags.js';

/** Names HAProxy accepts for proxies and servers: letters, digits, `.`, `-`, `_`, `:`. */
const NAME_RE = /^[A-Za-z0-9._:-]+$/;
/** Service names used as backend names unchanged. No `:`, so a mapped name (which has one) never equals one. */
const SERVICE_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
/** Section names hapilot uses itself. */
export const RESERVED_PREFIX = 'hapilot_';

/** A server name that is stable, unique and safe; a hash marks names that had to be changed. */
export function serverName(node: string, serviceId: string): string {
  const raw = `${node}:${serviceId}`;
  if (NAME_RE.test(raw) && raw.length <= 96) return raw;
  const hash = createHash('sha1').update(raw).digest('hex').slice(0, 8);
  return `${raw.replace(/[^A-Za-z0-9._:-]/g, '_').slice(0, 80)}-${hash}`;
}

/**
 * The HAProxy backend name of a service: the name itself when HAProxy can use it, else its safe
 * characters (at most 64; `svc_` first when it would start with hapilot's prefix or not with a letter
 * or digit) then `:` and a hash of the whole name. Valid names have no `:`, so a mapped
 * name never equals a service's own name, and two mapped names differ unless their names hash alike.
 */
export function backendName(service: string): string {
  if (SERVICE_NAME_RE.test(service) && !service.startsWith(RESERVED_PREFIX)) return service;
  const hash = createHash('sha256').update(service).digest('hex').slice(0, 12);
  const safe = service.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 64);
  const prefix = /^[A-Za-z0-9]/.test(safe) && !safe.startsWith(RESERVED_PREFIX) ? '' : 'svc_';
  return `${prefix}${safe}:${hash}`;
}

/** A name as it appears in messages: as is when plain, else JSON-quoted (and cut when long). */
export function showName(name: string): string {
  return /^[\x21-\x7e]{1,128}$/.test(name) && !/["'\\]/.test(name) ? name : showTag(name);
}
