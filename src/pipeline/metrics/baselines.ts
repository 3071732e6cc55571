// Random comparison vectors for the similarity baselines, always drawn from the project's seeded Rng.
// The paper's baselines were unseeded `np.random.random`, i.e. uniform on [0, 1): every coordinate positive, so the
// expected cosine with a fixed vector v is not 0 but about (sqrt(3)/2) * cos(v, 1) (see expectedUniformCosine). A
// zero-mean Gaussian vector has expected cosine exactly 0 with any fixed vector, so we report both.

import type { Rng } from '../util/random.ts';
import type { Vec } from './cosine.ts';

export type BaselineKind = 'uniform' | 'gaussian';
export const BASELINE_KINDS: readonly BaselineKind[] = ['uniform', 'gaussian'];

/** d draws from Uniform[0, 1), the paper's `np.random.random(d)`. */
export function uniformVector(rng: Rng, d: number): Float64Array {
  const out = new Float64Array(d);
  for (let i = 0; i < d; i++) out[i] = rng.uniform();
  return out;
}

/** d draws from N(0, 1). The scale is irrelevant: cosine and rank correlation ignore it. */
export function gaussianVector(rng: Rng, d: number): Float64Array {
  const out = new Float64Array(d);
  for (let i = 0; i < d; i++) out[i] = rng.normal();
  return out;
}

export function randomVector(kind: BaselineKind, rng: Rng, d: number): Float64Array {
  return kind === 'uniform' ? uniformVector(rng, d) : gaussianVector(rng, d);
}

/**
 * Expected cosine between a fixed vector v and u ~ Uniform[0,1)^d, to second order in 1/d.
 * With c = cos(v, 1) = sum(v) / (|v| sqrt(d)): E[u.v] = sum(v)/2 and E|u|^2 = d/3, so to first order
 * E[cos] = (sqrt(3)/2) c. The delta-method correction for the random norm |u| (Var|u|^2 = 4d/45,
 * Cov(u.v, |u|^2) = sum(v)/12) multiplies this by (1 + 1/(20 d)). It explains why the paper's random SimAOU is near 0
 * only because the ICL updates happen to have near-zero coordinate sums.
 */
export function expectedUniformCosine(v: Vec): number {
  const d = v.length;
  let s = 0;
  let ss = 0;
  for (let i = 0; i < d; i++) {
    s += v[i];
    ss += v[i] * v[i];
  }
  if (ss === 0) return 0;
  const c = s / (Math.sqrt(ss) * Math.sqrt(d));
  return (Math.sqrt(3) / 2) * c * (1 + 1 / (20 * d));
}
