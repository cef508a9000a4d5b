// The privileges line at startup: only syn-drop needs one (NET_ADMIN), read from CapEff.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { describePrivileges, effectiveCapabilities } from '../../src/haproxy/privileges.js';

test('effectiveCapabilities reads CapEff; describePrivileges says what the strategy needs and whether it is there', () => {
  assert.equal(effectiveCapabilities('Name:\tnode\nCapInh:\t0000000000000000\nCapEff:\t000001ffffffffff\n'), 0x1ffffffffffn);
  assert.equal(effectiveCapabilities('no such line'), 0n);
  const cases = [
    { uid: 0, euid: 0, capEff: 0x1ffffffffffn, synDrop: true, root: true, netAdmin: true, ok: true },
    { uid: 10001, euid: 10001, capEff: 1n << 12n, synDrop: true, root: false, netAdmin: true, ok: true }, // --cap-add NET_ADMIN
    { uid: 10001, euid: 10001, capEff: 0n, synDrop: true, root: false, netAdmin: false, ok: false },
    { uid: 10001, euid: 10001, capEff: 0n, synDrop: false, root: false, netAdmin: false, ok: true },
  ];
  for (const c of cases) {
    const p = describePrivileges(c);
    assert.deepEqual({ root: p.root, netAdmin: p.netAdmin, ok: p.ok }, { root: c.root, netAdmin: c.netAdmin, ok: c.ok }, JSON.stringify({ ...c, capEff: String(c.capEff) }));
    assert.match(p.needs, c.synDrop ? /NET_ADMIN/ : /no privilege/);
  }
});
