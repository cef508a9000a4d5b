// --haproxy-master-socket with an HAProxy that is not up yet at hapilot's first apply (a sidecar
// starting after hapilot): hapilot keeps trying, and adopts it once its master answers, with no
// catalog change.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MasterWorker } from '../../src/haproxy/master-worker.js';
import path from 'node:path';
import { access } from 'node:fs/promises';
import { execa, type ResultPromise } from 'execa';
import { eventually, get } from '../helpers/backends.js';
import { registerWeb, startDaemon } from '../helpers/daemon.js';
import { startBackend } from '../helpers/backends.js';
import { HAPROXY, tempDir } from '../helpers/haproxy.js';
import { ConsulSim } from '../sim/consul-sim.js';

test('an external master that answers only after the first apply is adopted without a catalog change', async () => {
  const backend = await startBackend('web-1');
  const sim = new ConsulSim();
  sim.jitter = false;
  registerWeb(sim, 1, backend);
  await sim.start();
  const { dir, cleanup } = await tempDir();
  const sock = path.join(dir, 'external-master.sock');
  const d = await startDaemon({ runDir: dir, sim, extra: { masterSocket: sock } });
  let external: ResultPromise | undefined;
  try {
    assert.ok(d.controller instanceof MasterWorker && d.controller.external, 'hapilot uses the external master');
    // The first apply fails: nothing answers on the socket. The config is on disk for the sidecar.
    await eventually(async () => access(d.configPath).then(() => true, () => false), 10_000, 'config written');
    await eventually(async () => ((await d.daemon.status()) as { reloads: Array<{ ok: boolean }> }).reloads.some((r) => !r.ok), 10_000, 'a failed first apply');
    await new Promise((r) => setTimeout(r, 1500));
    external = execa(HAPROXY, ['-W', '-S', `${sock},mode,600`, '-f', d.configPath], { reject: false, stdin: 'ignore' });
    await eventually(async () => (await d.daemon.ready()).ready, 20_000, 'hapilot adopts the late HAProxy and is ready');
    await eventually(async () => (await get(d.httpPort, 'web.example.test')).status === 200, 5000, 'traffic');
  } finally {
    await d.stop();
    external?.kill('SIGUSR1');
    if (external) await Promise.race([external, new Promise((r) => setTimeout(r, 3000))]);
    external?.kill('SIGKILL');
    await external;
    await sim.stop();
    await backend.close();
    await cleanup();
  }
});
