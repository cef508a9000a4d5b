// `npm run audit` (scripts/audit.sh) never reports clean unless the registry answered: npm stands in
// for itself here (a stub first on PATH), answering as the real registry did on this machine (405
// on the advisories endpoint), with a clean report, and with a high advisory.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { tempDir } from '../helpers/haproxy.js';

const REFUSED = { message: '405 Method Not Allowed - POST https://registry.npmjs.org/-/npm/v1/security/advisories/bulk', method: 'POST', uri: 'https://registry.npmjs.org/-/npm/v1/security/advisories/bulk', statusCode: 405, body: '', error: { summary: '', detail: '' } };
const report = (high: number) => ({
  auditReportVersion: 2,
  vulnerabilities: high ? { handlebars: { name: 'handlebars', severity: 'high', range: '<4.7.7', fixAvailable: true } } : {},
  metadata: { vulnerabilities: { info: 0, low: 0, moderate: 1, high, critical: 0, total: high + 1 }, dependencies: { total: 120 } },
});

async function audit(answer: unknown, rc: number): Promise<{ code: number; out: string }> {
  const { dir, cleanup } = await tempDir();
  try {
    await writeFile(path.join(dir, 'answer.json'), typeof answer === 'string' ? answer : JSON.stringify(answer, null, 2));
    await writeFile(path.join(dir, 'npm'), `#!/bin/sh\n[ "$1" = audit ] || exit 99\ncat "${path.join(dir, 'answer.json')}"\nexit ${rc}\n`, { mode: 0o755 });
    const r = await execa('sh', ['scripts/audit.sh'], { reject: false, all: true, env: { PATH: `${dir}:${process.env.PATH ?? ''}` } });
    return { code: r.exitCode ?? -1, out: String(r.all ?? '').trim() };
  } finally {
    await cleanup();
  }
}

test('npm run audit: a registry that refuses the advisories endpoint is one line and exit 2, never a pass', async () => {
  const r = await audit(REFUSED, 1);
  assert.equal(r.code, 2);
  assert.equal(r.out.split('\n').length, 1, r.out);
  assert.match(r.out, /^audit: npm audit could not run \(the registry answered HTTP 405 to POST https:\/\/registry\.npmjs\.org\/-\/npm\/v1\/security\/advisories\/bulk\): no advisory data/);
  // Whatever else stops npm from answering: no output, garbage, an error without a status.
  for (const [answer, rc] of [['', 1], ['not json', 0], [{ error: { summary: 'getaddrinfo ENOTFOUND registry.npmjs.org' } }, 1]] as const) {
    const x = await audit(answer, rc);
    assert.equal(x.code, 2, `${JSON.stringify(answer)}: ${x.out}`);
    assert.match(x.out, /^audit: npm audit could not run/);
  }
});

test('npm run audit: exit 0 only on a report without high or critical advisories; 1, naming them, otherwise', async () => {
  const clean = await audit(report(0), 0);
  assert.equal(clean.code, 0, clean.out);
  assert.match(clean.out, /^audit: 0 critical, 0 high, 1 moderate, 0 low \(120 dependencies\)$/);
  const high = await audit(report(1), 1);
  assert.equal(high.code, 1, high.out);
  assert.match(high.out, /audit: high handlebars <4\.7\.7 \(fix available\)/);
});
