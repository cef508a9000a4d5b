// The history's diff costs what changed, not the size of the config: over random texts changed in
// one or several places (lines added, removed, replaced; at the start, the end, with and without a
// final newline), `configPatch` turns the old text into the new one with as many lines added and
// removed as `createTwoFilesPatch` of the whole texts (a minimal diff too: where repeated lines make
// several minimal diffs, the two may pick different ones), and in a config of unique sections it is
// that very patch.
import { cutRope } from '../helpers/rope.js';
import { ByteRope } from '../../src/util/byte-rope.js';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { applyPatch, createTwoFilesPatch } from 'diff';
import { configPatch, configPatchParts } from '../../src/daemon/history.js';

const LINE = fc.constantFrom('backend a', '    server x 10.0.0.1:80', '    server y 10.0.0.2:80', '', 'frontend f', '    balance roundrobin', '# note', 'backend b', '# café ☕');
const EDIT = fc.record({ at: fc.nat(), remove: fc.nat(3), insert: fc.array(LINE, { maxLength: 3 }) });

function edit(lines: string[], edits: ReadonlyArray<{ at: number; remove: number; insert: string[] }>): string[] {
  const out = [...lines];
  for (const e of edits) out.splice(out.length ? e.at % (out.length + 1) : 0, e.remove, ...e.insert);
  return out;
}

const counts = (patch: string) => ({ added: patch.split('\n').filter((l) => /^\+(?!\+\+ )/.test(l)).length, removed: patch.split('\n').filter((l) => /^-(?!-- )/.test(l)).length });

test('property: configPatch applies, and adds and removes as many lines as createTwoFilesPatch of the whole texts', () => {
  fc.assert(fc.property(
    fc.array(LINE, { maxLength: 40 }), fc.array(EDIT, { minLength: 0, maxLength: 3 }), fc.boolean(), fc.boolean(), fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 4 }),
    (lines, edits, finalNewlineBefore, finalNewlineAfter, cuts) => {
      const before = lines.join('\n') + (finalNewlineBefore && lines.length ? '\n' : '');
      const afterLines = edit(lines, edits);
      const after = afterLines.join('\n') + (finalNewlineAfter && afterLines.length ? '\n' : '');
      const patch = configPatch(before, after, 'label');
      assert.equal(applyPatch(before, patch), after);
      // The same patch from the UTF-8 bytes of both (how the daemon records a server-only change).
      assert.equal(configPatch(Buffer.from(before), Buffer.from(after), 'label'), patch);
      // And from ropes cut anywhere, inside a character too (a spliced config's bytes).
      assert.equal(configPatch(cutRope(Buffer.from(before), cuts), cutRope(Buffer.from(after), cuts.map((c) => 1 - c)), 'label'), patch);
      const full = createTwoFilesPatch('haproxy.cfg (before)', 'haproxy.cfg (after)', before, after, undefined, 'label', { context: 2 });
      assert.deepEqual(counts(patch), counts(full));
      if (edits.length <= 1 && new Set(lines).size === lines.length && new Set(afterLines).size === afterLines.length) assert.equal(patch, full, 'one edit, unique lines: the same patch');
    },
  ), { numRuns: 2000 });
});

test('configPatch of one backend changed in a large config: the same patch, line numbers and all', () => {
  const backends = Array.from({ length: 3000 }, (_, i) => `backend svc${i}\n    balance roundrobin\n    server a 10.0.${i >> 8}.${i & 255}:80 check\n    server b 10.1.${i >> 8}.${i & 255}:80 check\n`);
  const before = `global\n    maxconn 100\n\n${backends.join('\n')}`;
  const after = before.replace('backend svc1234\n    balance roundrobin\n', 'backend svc1234\n    balance roundrobin\n    server new 127.100.0.1:80 check\n');
  const patch = configPatch(before, after, 'change');
  assert.equal(patch, createTwoFilesPatch('haproxy.cfg (before)', 'haproxy.cfg (after)', before, after, undefined, 'change', { context: 2 }));
  assert.match(patch, /^@@ -\d+,4 \+\d+,5 @@$/m);
  assert.match(patch, /^\+    server new 127\.100\.0\.1:80 check$/m);
  // The first config: every line added, as the diff of the whole texts has it.
  assert.equal(configPatch('', before + '\n', 'first'), createTwoFilesPatch('haproxy.cfg (before)', 'haproxy.cfg (after)', '', before + '\n', undefined, 'first', { context: 2 }));
});

test('property: the first config written slice by slice is the diff of the whole texts, lines longer than a slice included', () => {
  const line = fc.stringMatching(/^[a-z ]{0,12}$/);
  fc.assert(fc.property(fc.array(line, { minLength: 1, maxLength: 30 }), fc.integer({ min: 1, max: 40 }), (lines, slice) => {
    const next = lines.join('\n') + '\n';
    const parts = [...configPatchParts('', next, 'first', slice)];
    assert.equal(parts.join(''), createTwoFilesPatch('haproxy.cfg (before)', 'haproxy.cfg (after)', '', next, undefined, 'first', { context: 2 }));
    // Each part after the header holds whole lines.
    for (const p of parts.slice(1)) assert.ok(p.startsWith('+') && p.endsWith('\n'), JSON.stringify(p));
  }), { numRuns: 500 });
});

test('over a chain of splices of a 2 MB rope, the line numbers are those of the texts (stretches counted before reused)', () => {
  const lines = Array.from({ length: 60_000 }, (_, i) => `    server s${i} 10.0.${i >> 8}.${i & 255}:80 check`);
  let text = `${lines.join('\n')}\n`;
  let rope = ByteRope.of(Buffer.from(text));
  for (let k = 0; k < 25; k++) {
    // A line replaced somewhere (spread over the text), as a server-only change replaces a section.
    const line = ((k * 7919) % 59_000) + 500;
    const from = text.indexOf(`    server s${line} `);
    const to = text.indexOf('\n', from) + 1;
    const inserted = `    server n${k} 10.9.0.${k}:80 check\n    server m${k} 10.9.1.${k}:80 check\n`;
    const nextText = text.slice(0, from) + inserted + text.slice(to);
    const nextRope = rope.splice([{ from, to, bytes: Buffer.from(inserted) }]);
    assert.equal(configPatch(rope, nextRope, 'k'), configPatch(text, nextText, 'k'), `step ${k}`);
    text = nextText;
    rope = nextRope;
  }
});
