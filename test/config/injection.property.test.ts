// No tag value can add a line, a directive or a server to the config: over 10,000 generated values
// (newlines, `#`, spaces, quotes, backslashes, unicode, and valid prefixes with injections appended),
// a value is either accepted whole by its anchored schema or its instance is quarantined, and every
// other service still renders.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import fc from 'fast-check';
import { TAGS } from '../../src/model/tags.js';
import { buildConfig } from '../../src/config/build.js';
import { ENABLE, entry, settings } from '../helpers/entries.js';
import { builtinTemplates, GOLDEN_PATHS, tempPaths } from '../helpers/render.js';
import { haproxyCheck, tempDir } from '../helpers/haproxy.js';

const VALID = ['roundrobin', 'leastconn', 'hdr(Host)', 'http', 'tcp', 'true', 'src', '1s', '250ms', '2', '9000', '/health', 'api.example.com', '100'];
const INJECT = ['\n', '\r\n', '\r', ' ', '\t', '#', '"', "'", '\\', '\u2028', '\u0085', '\0', '}', '{{', '${X}', '%[src]'];
const value = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 20 }),
  fc.constantFrom(...VALID),
  fc.tuple(fc.constantFrom(...VALID), fc.constantFrom(...INJECT), fc.constantFrom('', 'server evil 6.6.6.6:80', 'bind :80', 'x'), fc.string({ maxLength: 10 }))
    .map((parts) => parts.join('')),
);

const SERVER_LINE = /^ {4}server [A-Za-z0-9._:-]+ (\[[0-9a-f:]+\]|[0-9.]+|[A-Za-z0-9.-]+):\d+ weight \d+( init-addr libc,none)?$/;
const KNOWN_SERVERS = new Set(['n1:v1', 'n2:v2', 'n3:o1']);

test('property: no tag value adds a line, a directive or a server (10,000 values)', async () => {
  const templates = await builtinTemplates();
  const env = settings({ HAPILOT_FD_LIMIT: '1000000' });
  const render = (tag: string | undefined) => buildConfig({
    entries: [
      entry('victim', 'v1', tag === undefined ? [ENABLE] : [ENABLE, tag], { node: 'n1', modifyIndex: 20 }),
      entry('victim', 'v2', [ENABLE], { node: 'n2', modifyIndex: 1 }),
      entry('other', 'o1', [ENABLE], { node: 'n3' }),
    ],
    settings: env, templates, paths: GOLDEN_PATHS, fdLimit: undefined,
  });
  // Every directive keyword the templates can emit, from a render with every feature on.
  const full = buildConfig({
    entries: [entry('f', 'f1', [ENABLE, 'HAPROXY.FRONTEND.PORT=9000', 'HAPROXY.BACKEND.STICKY=src', 'HAPROXY.BACKEND.HTTPCHK=/x', 'HAPROXY.BACKEND.MAXCONN=5'])],
    settings: env, templates, paths: GOLDEN_PATHS, fdLimit: undefined,
  });
  const keywords = new Set(full.config.split('\n').map((l) => l.trim().split(' ')[0]));
  const baseline = render(undefined).config.split('\n').length;
  const accepted = new Map<string, string>();
  let quarantinedCount = 0;

  fc.assert(fc.property(fc.constantFrom(...Object.keys(TAGS)), value, (key, v) => {
    const tag = `${key}=${v}`;
    const { config, model } = render(tag);
    const lines = config.split('\n');
    const quarantined = model.quarantined.some((q) => q.service === 'victim' && q.instance === 'v1' && q.tag !== undefined);
    if (quarantined) quarantinedCount++;
    // Accepted values are plain printable ASCII without HAProxy's comment, quote or escape characters.
    if (!quarantined && config.includes(v) && v.length > 0) {
      assert.match(v, /^[\x21-\x7e]*$/, `accepted value with unsafe characters: ${JSON.stringify(v)}`);
      assert.doesNotMatch(v, /[#"'\\]/, `accepted value with unsafe characters: ${JSON.stringify(v)}`);
    }
    // No directive outside the templates' vocabulary; servers only the catalog's, each on a well-formed line.
    for (const line of lines) {
      assert.ok(keywords.has(line.trim().split(' ')[0]), `unexpected line ${JSON.stringify(line)} for ${JSON.stringify(tag)}`);
      if (line.trimStart().startsWith('server ')) {
        assert.match(line, SERVER_LINE);
        assert.ok(KNOWN_SERVERS.has(line.trim().split(' ')[1] ?? ''), line);
      }
    }
    // A tag can add at most its own documented lines (a port frontend of 10 lines with its blank one
    // and its X-Forwarded headers, a stick table, a check).
    assert.ok(lines.length <= baseline + 10, `${lines.length} lines for ${JSON.stringify(tag)}`);
    // One bad tag never takes another service or instance down.
    assert.match(config, /^ {4}server n3:o1 /m);
    assert.match(config, /^ {4}server n2:v2 /m);
    if (!quarantined && !accepted.has(key)) accepted.set(key, tag);
  }), { numRuns: 10_000, seed: Number(process.env.FC_SEED ?? 42) });

  assert.ok(quarantinedCount > 1000, `the generator reached the quarantine path (${quarantinedCount})`);
  // Configs with accepted values are valid for the real HAProxy.
  const { dir, cleanup } = await tempDir();
  try {
    for (const tag of accepted.values()) {
      const result = buildConfig({
        entries: [entry('victim', 'v1', [ENABLE, tag], { node: 'n1' })],
        settings: env, templates, paths: tempPaths(dir), fdLimit: undefined,
      });
      if (result.model.quarantined.length) continue; // e.g. tcp without a port: a model-level rule
      const verdict = await haproxyCheck(result, path.join(dir, 'haproxy.cfg'));
      assert.equal(verdict.ok, true, `${tag}: ${verdict.message}`);
    }
  } finally {
    await cleanup();
  }
});
