// Vector helpers shared by every similarity metric. Inputs are any array-like of numbers (Float32Array from captured
// tensors, Float64Array, plain arrays); sums are always accumulated in float64.

/** A vector as the metrics accept it: Float32Array, Float64Array or number[]. */
export type Vec = ArrayLike<number>;

/**
 * The paper's code adds 1e-20 to the norm product in every cosine and to every norm it divides by
 * (compute_sim.py `cal_cos_sim`, `norm_hidden`). We keep it so that a zero vector gives cosine 0 (not NaN), exactly as
 * the original: e.g. SimAM_Delta is 0 when FT left a head's scores unchanged.
 */
export const COSINE_EPS = 1e-20;

export function assertSameLength(a: Vec, b: Vec, what: string): void {
  if (a.length !== b.length) throw new Error(`${what}: length mismatch (${a.length} vs ${b.length})`);
}

export function dot(a: Vec, b: Vec): number {
  assertSameLength(a, b, 'dot');
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

export function norm(a: Vec): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * a[i];
  return Math.sqrt(s);
}

/** cos(a, b) = a·b / (|a||b| + 1e-20), as the paper's code; 0 when either vector is zero. */
export function cosine(a: Vec, b: Vec): number {
  assertSameLength(a, b, 'cosine');
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < a.length; i++) {
    ab += a[i] * b[i];
    aa += a[i] * a[i];
    bb += b[i] * b[i];
  }
  return ab / (Math.sqrt(aa) * Math.sqrt(bb) + COSINE_EPS);
}

/** a / (|a| + 1e-20), as the paper's `norm_hidden`. */
export function normalize(a: Vec): Float64Array {
  const n = norm(a) + COSINE_EPS;
  const out = new Float64Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i] / n;
  return out;
}

/** a - b. */
export function sub(a: Vec, b: Vec): Float64Array {
  assertSameLength(a, b, 'sub');
  const out = new Float64Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i] - b[i];
  return out;
}

/** Sum of several equal-length vectors (e.g. per-head score rows summed over heads). */
export function sumVectors(rows: readonly Vec[]): Float64Array {
  if (rows.length === 0) throw new Error('sumVectors: no rows');
  const out = new Float64Array(rows[0].length);
  for (const r of rows) {
    assertSameLength(r, out, 'sumVectors');
    for (let i = 0; i < r.length; i++) out[i] += r[i];
  }
  return out;
}
