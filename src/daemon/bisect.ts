// When HAProxy rejects a whole config, find the services responsible by bisection (about 2·log2(n)
// validations per culprit, not n), so everyone else keeps being updated. `valid(set)` validates a
// config rendered with only those services.

export interface Verdict {
  ok: boolean;
  message: string;
}

export interface BisectResult {
  /** Services that make the config invalid, with HAProxy's message for each. */
  culprits: Array<{ service: string; message: string }>;
  /** False when even a config without any service is invalid (a template or global problem). */
  isolated: boolean;
  validations: number;
}

export async function findCulprits(services: readonly string[], valid: (subset: readonly string[]) => Promise<Verdict>): Promise<BisectResult> {
  let validations = 0;
  const check = async (subset: readonly string[]) => {
    validations += 1;
    return valid(subset);
  };
  if (!(await check([]).then((v) => v.ok))) return { culprits: [], isolated: false, validations };

  // Invariant: `base` is valid and `base ∪ set` is not.
  const search = async (base: readonly string[], set: readonly string[], failure: Verdict): Promise<Array<{ service: string; message: string }>> => {
    if (set.length === 1) return [{ service: set[0]!, message: failure.message }];
    const mid = Math.ceil(set.length / 2);
    const a = set.slice(0, mid);
    const b = set.slice(mid);
    const va = await check([...base, ...a]);
    const inA = va.ok ? [] : await search(base, a, va);
    const cleanA = a.filter((s) => !inA.some((c) => c.service === s));
    const base2 = [...base, ...cleanA];
    const vb = await check([...base2, ...b]);
    const inB = vb.ok ? [] : await search(base2, b, vb);
    return [...inA, ...inB];
  };
  const all = await check(services);
  if (all.ok) return { culprits: [], isolated: true, validations };
  return { culprits: await search([], services, all), isolated: true, validations };
}
