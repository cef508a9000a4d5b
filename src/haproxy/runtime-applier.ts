// The `runtime` strategy as an applier: a change that only touches servers is sent to the running
// worker through the Runtime API (stats socket), with no reload; anything else is declined with the
// reason, and the next applier (a reload) takes it. The plan itself lives in runtime-api.ts.
import type { ApplyResult, Applier, Change } from './applier.js';
import { applyRuntimePlan, planRuntime, retryRemovals } from './runtime-api.js';

export class RuntimeApplier implements Applier {
  readonly strategy = 'runtime';
  readonly #statsSocket: string;
  /** Servers removed from the config that still had connections (left in maintenance until they have none). */
  #lingering = new Set<string>();

  constructor({ statsSocket }: { statsSocket: string }) {
    this.#statsSocket = statsSocket;
  }

  async apply(change: Change): Promise<ApplyResult> {
    const { strategy } = this;
    if (!change.previous || !change.next) return { kind: 'declined', strategy, reason: 'no model of what HAProxy runs' };
    const plan = planRuntime({ previous: change.previous, next: change.next, serverLines: change.serverLines });
    if ('reason' in plan) return { kind: 'declined', strategy, reason: plan.reason };
    if (plan.ops.length === 0) return { kind: 'declined', strategy, reason: 'no server operation to send' };
    const r = await applyRuntimePlan({ socket: this.#statsSocket, plan });
    for (const id of r.lingering) this.#lingering.add(id);
    return r.ok
      ? { kind: 'applied', strategy, action: 'runtime', message: r.message }
      : { kind: 'failed', strategy, action: 'runtime', message: `Runtime API: ${r.message}` };
  }

  get lingering(): string[] {
    return [...this.#lingering];
  }

  /** Asks HAProxy again to delete the lingering servers: which ones it deleted, which are left. */
  async sweep(): Promise<{ deleted: string[]; left: string[] }> {
    const r = await retryRemovals(this.#statsSocket, [...this.#lingering]);
    this.#lingering = new Set(r.left);
    return r;
  }
}
