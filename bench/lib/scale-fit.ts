// Curves for extrapolation: a least-squares line y = a + b·x through the measured sizes, its value
// at a size that cannot run here, and a check of the method (the line through the smaller sizes
// against what was measured at the largest).

export interface Line {
  /** Value at x = 0. */
  a: number;
  /** Growth per unit of x. */
  b: number;
  /** Coefficient of determination over the points used (1 = on the line). */
  r2: number;
  points: number;
}

export function fitLine(points: ReadonlyArray<readonly [number, number]>): Line | undefined {
  const p = points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
  if (p.length < 2) return undefined;
  const n = p.length;
  const mx = p.reduce((s, [x]) => s + x, 0) / n;
  const my = p.reduce((s, [, y]) => s + y, 0) / n;
  const sxx = p.reduce((s, [x]) => s + (x - mx) ** 2, 0);
  if (sxx === 0) return undefined;
  const b = p.reduce((s, [x, y]) => s + (x - mx) * (y - my), 0) / sxx;
  const a = my - b * mx;
  const sst = p.reduce((s, [, y]) => s + (y - my) ** 2, 0);
  const sse = p.reduce((s, [x, y]) => s + (y - (a + b * x)) ** 2, 0);
  return { a, b, r2: sst === 0 ? 1 : 1 - sse / sst, points: n };
}

export const at = (l: Line | undefined, x: number): number => (l ? l.a + l.b * x : NaN);
