// `hapilot explain SERVICE`: how each HAPROXY.* tag of each instance was understood
// (model/explain.ts) and which lines of the rendered config it produced: the backend block, the
// host-map line, the port frontend. The config is read by section, so custom templates work too.
import path from 'node:path';
import type { BuildResult } from '../config/build.js';
import { showTag } from '../model/tags.js';
import { EXPLAIN_VERSION, type InstanceExplanation, type ServiceExplanation, type TagExplanation, type TagValue } from '../model/explain.js';

const SECTION_RE = /^(global|defaults|frontend|backend|listen|userlist|peers|resolvers|mailers|program|http-errors|ring|cache)\b/;

/** The lines of the config section `<keyword> <name>`: its header up to the next section, without trailing blank or comment lines. */
export function configSection(config: string, keyword: string, name: string): string[] {
  const lines = config.split('\n');
  const start = lines.findIndex((l) => {
    const [k, n] = l.trim().split(/\s+/);
    return SECTION_RE.test(l) && k === keyword && n === name;
  });
  if (start < 0) return [];
  let end = start + 1;
  while (end < lines.length && !SECTION_RE.test(lines[end] ?? '')) end++;
  const block = lines.slice(start, end);
  while (block.length > 1 && /^\s*(#.*)?$/.test(block[block.length - 1] ?? '')) block.pop();
  return block;
}

type Where = 'backend' | 'map' | 'frontend';

/** Which config lines each tag key gives rise to (matched on the trimmed line, in the part named). */
export const TAG_LINES: Readonly<Record<string, { where: Where[]; match: RegExp }>> = {
  'HAPROXY.ENABLE': { where: ['backend'], match: /^server\s/ },
  'HAPROXY.PROTOCOL': { where: ['backend', 'frontend'], match: /^mode\s/ },
  'HAPROXY.BACKEND.BALANCE': { where: ['backend'], match: /^balance\s/ },
  'HAPROXY.BACKEND.MAXCONN': { where: ['backend'], match: /^(default-server|server)\s.*\bmaxconn\s/ },
  'HAPROXY.FRONTEND.HOST': { where: ['map'], match: /./ },
  'HAPROXY.FRONTEND.PORT': { where: ['frontend'], match: /^(frontend|bind)\s/ },
  'HAPROXY.BACKEND.STICKY': { where: ['backend'], match: /^stick(-table)?\s/ },
  'HAPROXY.BACKEND.CHECK.INTER': { where: ['backend'], match: /^(default-server|server)\s.*\binter\s/ },
  'HAPROXY.BACKEND.CHECK.FALL': { where: ['backend'], match: /^(default-server|server)\s.*\bfall\s/ },
  'HAPROXY.BACKEND.CHECK.RISE': { where: ['backend'], match: /^(default-server|server)\s.*\brise\s/ },
  'HAPROXY.BACKEND.HTTPCHK': { where: ['backend'], match: /^(option\s+httpchk|http-check)\b/ },
  // Applied by hapilot through the Runtime API (pool states), not written into the config.
  'HAPROXY.BACKEND.DEPOOL_THRESHOLD': { where: [], match: /(?!)/ },
};

export interface ConfigLines {
  backend: string[];
  map: { file: string | undefined; lines: string[] };
  frontends: string[][];
}

export function configLinesFor(explanation: ServiceExplanation, result: BuildResult): ConfigLines {
  const b = explanation.backend;
  if (!b) return { backend: [], map: { file: undefined, lines: [] }, frontends: [] };
  const mapFile = result.files[0];
  const mapLines = (mapFile?.contents ?? '').split('\n').filter((l) => !l.startsWith('#') && l.split(/\s+/)[1] === b.name);
  const frontends = result.model.portFrontends.filter((f) => f.backend === b.name).map((f) => configSection(result.config, 'frontend', f.name));
  return { backend: configSection(result.config, 'backend', b.name), map: { file: mapFile ? path.basename(mapFile.path) : undefined, lines: mapLines }, frontends };
}

/** The config lines a tag of this instance produced (none unless the tag is used). */
export function linesOfTag(t: TagExplanation, inst: InstanceExplanation, lines: ConfigLines): string[] {
  if (t.status !== 'used' || t.key === undefined) return [];
  const spec = TAG_LINES[t.key];
  if (!spec) return [];
  if (t.key === 'HAPROXY.ENABLE') {
    return inst.server === undefined ? [] : lines.backend.filter((l) => l.trim().split(/\s+/)[1] === inst.server);
  }
  const pool: string[] = [];
  for (const w of spec.where) {
    if (w === 'backend') pool.push(...lines.backend.slice(1));
    if (w === 'map') pool.push(...lines.map.lines);
    if (w === 'frontend') for (const f of lines.frontends) pool.push(...f);
  }
  return pool.filter((l) => spec.match.test(l.trim()));
}

/**
 * The `--json` shape (version 1; fields are added, never changed, without a version bump):
 * { version, service, status: balanced|quarantined|not-enabled, reason, optionsFrom, host, port,
 *   instances: [{ id, node, address, port, health, status: server|quarantined|not-enabled|unhealthy|left-out,
 *                 server, reason, quarantineTag,
 *                 tags: [{ tag, key, status: used|overridden|unused|rejected|ignored, value, effective, reason, deprecatedFor, lines }],
 *                 defaults: [{ key, value, effective }] }],
 *   config: { backend: [line], map: { file, lines: [line] }, frontends: [[line]] } }
 * Absent values are null, never missing.
 */
export function explainJson(e: ServiceExplanation, lines: ConfigLines): string {
  const doc = {
    version: EXPLAIN_VERSION,
    service: e.service,
    status: e.status,
    reason: e.reason,
    optionsFrom: e.optionsFrom,
    host: e.host,
    port: e.port,
    instances: e.instances.map((i) => ({
      id: i.id,
      node: i.node,
      address: i.address,
      port: i.port,
      health: i.health,
      status: i.status,
      server: i.server,
      reason: i.reason,
      quarantineTag: i.quarantineTag,
      tags: i.tags.map((t) => ({ tag: t.tag, key: t.key, status: t.status, value: t.value, effective: t.effective, reason: t.reason, deprecatedFor: t.deprecatedFor, lines: linesOfTag(t, i, lines) })),
      defaults: i.defaults.map((d) => ({ key: d.key, value: d.value, effective: d.effective })),
    })),
    config: lines,
  };
  return `${JSON.stringify(doc, (_k, v: unknown) => (v === undefined ? null : v), 2)}\n`;
}

const show = (v: TagValue): string => (v === null ? 'none' : String(v));

export function explainText(e: ServiceExplanation, lines: ConfigLines): string {
  const out: string[] = [];
  const head = `service ${e.service}: ${e.status}`;
  if (e.status === 'balanced') {
    const routes = [e.host !== undefined ? `host ${e.host}` : undefined, e.port !== undefined ? `port ${e.port}` : undefined].filter(Boolean).join(', ');
    out.push(`${head}${routes ? ` (${routes})` : ''}; options from instance ${e.optionsFrom ?? '?'}`);
  } else {
    out.push(`${head}: ${e.reason ?? ''}`);
  }
  for (const i of e.instances) {
    out.push('');
    const state = i.status === 'server' ? `server ${i.server ?? ''}`
      : i.status === 'quarantined' ? `QUARANTINED${i.quarantineTag !== undefined ? ` by tag ${showTag(i.quarantineTag)}` : ''}: ${i.reason ?? ''}`
      : `${i.status}: ${i.reason ?? ''}`;
    out.push(`instance ${i.id} on ${i.node} ${i.address}:${i.port} (${i.health}): ${state}`);
    const shown = (tag: string) => (/^[\x21-\x7e]+$/.test(tag) ? tag : showTag(tag));
    const width = Math.min(48, Math.max(20, ...i.tags.map((t) => shown(t.tag).length)));
    for (const t of i.tags) {
      let what: string;
      switch (t.status) {
        case 'used': what = `used: ${show(t.value)}`; break;
        case 'overridden': what = `valid (${show(t.value)}) but overridden by ${show(t.effective)}: ${t.reason ?? ''}`; break;
        case 'unused': what = `valid (${show(t.value)}) but unused: ${t.reason ?? ''}`; break;
        case 'rejected': what = `REJECTED: ${t.reason ?? ''}`; break;
        case 'ignored': what = `ignored: ${t.reason ?? ''}`; break;
      }
      if (t.deprecatedFor) what += ` (deprecated: write ${t.deprecatedFor})`;
      out.push(`  ${shown(t.tag).padEnd(width)}  ${what}`);
      for (const l of linesOfTag(t, i, lines)) out.push(`  ${''.padEnd(width)}    → ${l.trim()}`);
    }
    if (i.defaults.length) {
      out.push(`  defaults: ${i.defaults.map((d) => `${d.key}=${show(d.value)}${d.effective !== null ? ` (service uses ${show(d.effective)})` : ''}`).join(', ')}`);
    }
  }
  if (lines.backend.length) {
    out.push('', 'config:', ...lines.backend.map((l) => `  ${l}`));
    if (lines.map.lines.length) out.push('', `  # host map ${lines.map.file ?? ''}`, ...lines.map.lines.map((l) => `  ${l}`));
    for (const f of lines.frontends) out.push('', ...f.map((l) => `  ${l}`));
  }
  return `${out.join('\n')}\n`;
}
