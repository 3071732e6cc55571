import { describe, it, expect } from 'vitest';
import { Rng } from '../../src/pipeline/util/random.ts';
import {
  cosine, expectedUniformCosine, gaussianVector, layerMeans, meanDefined, simaou, simaouNorm, simaouRaw, uniformVector,
  type SimaouExample,
} from '../../src/pipeline/metrics/index.ts';

describe('SimAOU on the critique construction (Deutch et al.)', () => {
  // z = e1, r = sqrt(3) e2, r' = sqrt(3) e3: mutually orthogonal, |r|^2 = |r'|^2 = 3 = 3|z|^2.
  // ICL = z + r, FT = z + r', |ICL| = |FT| = 2, so ICL/|ICL| = (1/2, sqrt3/2, 0), FT/|FT| = (1/2, 0, sqrt3/2).
  // Normalised updates: (-1/2, sqrt3/2, 0) and (-1/2, 0, sqrt3/2), each of norm 1; dot = 1/4 -> cosine 0.25.
  // Unnormalised updates: r and r', orthogonal -> cosine 0.
  const s3 = Math.sqrt(3);
  const z = [1, 0, 0];
  const icl = [1, s3, 0];
  const ft = [1, 0, s3];

  it('normalised SimAOU is exactly 0.25 and the unnormalised one is 0', () => {
    expect(simaouNorm(z, icl, ft)).toBeCloseTo(0.25, 14);
    expect(simaouRaw(z, icl, ft)).toBe(0);
  });

  it('the 0.25 does not depend on scale or on the basis', () => {
    // Same construction in d = 64 along three orthonormal directions built from random vectors (Gram-Schmidt),
    // with |z| = 7.
    const rng = new Rng(11);
    const d = 64;
    const basis: Float64Array[] = [];
    while (basis.length < 3) {
      const v = gaussianVector(rng, d);
      for (const b of basis) {
        const p = v.reduce((s, x, i) => s + x * b[i], 0);
        for (let i = 0; i < d; i++) v[i] -= p * b[i];
      }
      const n = Math.hypot(...v);
      basis.push(v.map((x) => x / n));
    }
    const comb = (cz: number, cr: number, cr2: number) => basis[0].map((_, i) => cz * basis[0][i] + cr * basis[1][i] + cr2 * basis[2][i]);
    const zz = comb(7, 0, 0);
    expect(simaouNorm(zz, comb(7, 7 * s3, 0), comb(7, 0, 7 * s3))).toBeCloseTo(0.25, 12);
    expect(simaouRaw(zz, comb(7, 7 * s3, 0), comb(7, 0, 7 * s3))).toBeCloseTo(0, 12);
  });

  it('independent random r, r\' in high dimension give about 0.25 normalised, about 0 unnormalised', () => {
    const rng = new Rng(3);
    const d = 4000;
    const examples: SimaouExample[] = [];
    for (let e = 0; e < 5; e++) {
      const zz = gaussianVector(rng, d);
      // E|r|^2 = 3 E|z|^2 for r ~ N(0, 3 I).
      const r = gaussianVector(rng, d).map((x) => x * s3);
      const r2 = gaussianVector(rng, d).map((x) => x * s3);
      examples.push({ zsl: [zz], icl: [zz.map((x, i) => x + r[i])], ft: [zz.map((x, i) => x + r2[i])] });
    }
    const out = simaou(examples, { seed: 1 });
    // Off-diagonal dot products are O(1/sqrt(d)) ~ 0.016 relative.
    expect(layerMeans(out.simaou_norm.values)[0]).toBeCloseTo(0.25, 1);
    expect(Math.abs(layerMeans(out.simaou_norm.values)[0]! - 0.25)).toBeLessThan(0.03);
    expect(Math.abs(layerMeans(out.simaou_raw.values)[0]!)).toBeLessThan(0.03);
  });

  it('identical updates give 1, opposite updates -1', () => {
    expect(simaouRaw([1, 1], [2, 3], [2, 3])).toBeCloseTo(1, 14);
    expect(simaouRaw([1, 1], [2, 3], [0, -1])).toBeCloseTo(-1, 14);
  });
});

function syntheticExamples(seed: number, n: number, L: number, d: number): SimaouExample[] {
  const rng = new Rng(seed);
  return Array.from({ length: n }, () => {
    const ex: { zsl: Float64Array[]; icl: Float64Array[]; ft: Float64Array[] } = { zsl: [], icl: [], ft: [] };
    for (let l = 0; l < L; l++) {
      const zz = gaussianVector(rng, d);
      ex.zsl.push(zz);
      ex.icl.push(zz.map((x) => x + rng.normal()));
      ex.ft.push(zz.map((x) => x + rng.normal()));
    }
    return ex;
  });
}

describe('SimAOU batch and its random baselines', () => {
  const examples = syntheticExamples(5, 6, 3, 10);

  it('fills [layer][example] with the per-example values', () => {
    const out = simaou(examples, { seed: 1 });
    expect(out.simaou_norm.values.length).toBe(3);
    expect(out.simaou_norm.values[0].length).toBe(6);
    expect(out.simaou_norm.values[2][4]).toBeCloseTo(simaouNorm(examples[4].zsl[2], examples[4].icl[2], examples[4].ft[2]), 14);
    expect(out.simaou_raw.values[1][3]).toBeCloseTo(simaouRaw(examples[3].zsl[1], examples[3].icl[1], examples[3].ft[1]), 14);
  });

  it('baselines reproduce from their seed and change with it', () => {
    const a = simaou(examples, { seed: 42 });
    const b = simaou(examples, { seed: 42 });
    const c = simaou(examples, { seed: 43 });
    for (const v of ['simaou_norm', 'simaou_raw'] as const) {
      for (const k of ['uniform', 'gaussian'] as const) {
        expect(a[v].baselines[k]).toEqual(b[v].baselines[k]);
        expect(a[v].baselines[k][0][0]).not.toBe(c[v].baselines[k][0][0]);
      }
    }
  });

  it('uniform and Gaussian baselines are cosines with [0,1) and N(0,1) draws', () => {
    const out = simaou(examples, { seed: 9 });
    for (const row of out.simaou_raw.baselines.uniform) for (const v of row) expect(Math.abs(v)).toBeLessThanOrEqual(1);
    // The uniform vectors are all-positive: against an all-positive update the cosine is positive.
    const pos: SimaouExample = { zsl: [[0, 0, 0, 0]], icl: [[1, 2, 3, 4]], ft: [[1, 1, 1, 1]] };
    const o = simaou([pos], { seed: 9 });
    expect(o.simaou_raw.baselines.uniform[0][0]).toBeGreaterThan(0);
  });

  it('refuses examples with different layer counts', () => {
    const bad = [...examples.slice(0, 1), { zsl: [[1]], icl: [[1]], ft: [[1]] }];
    expect(() => simaou(bad, { seed: 1 })).toThrow(/layer count/);
  });
});

describe('uniform [0,1) baseline: expected cosine with a fixed vector', () => {
  // E[cos(v, u)] ~ (sqrt(3)/2) cos(v, 1) (1 + 1/(20 d)) for u ~ U[0,1)^d, from E[u·v] = sum(v)/2, E|u|^2 = d/3.
  it('the closed form is right on hand cases', () => {
    // v = 1: cos(v, 1) = 1 -> sqrt(3)/2 (1 + 1/(20 d)).
    expect(expectedUniformCosine(new Float64Array(100).fill(1))).toBeCloseTo((Math.sqrt(3) / 2) * (1 + 1 / 2000), 14);
    // Zero-sum v: expected cosine 0.
    expect(expectedUniformCosine([1, -1, 2, -2])).toBe(0);
    expect(expectedUniformCosine([0, 0])).toBe(0);
  });

  it('matches a simulation from the seeded generator', () => {
    const d = 256;
    // v = 1 + 2 sin(i): cos(v, 1) well inside (0, 1).
    const v = Float64Array.from({ length: d }, (_, i) => 1 + 2 * Math.sin(i));
    const rng = new Rng(2024);
    const draws = Float64Array.from({ length: 4000 }, () => cosine(v, uniformVector(rng, d)));
    // sd per draw ~ 1/(2 sqrt d) = 0.031; standard error of the mean ~ 0.0005.
    expect(Math.abs(meanDefined(draws)! - expectedUniformCosine(v))).toBeLessThan(0.002);
    // The Gaussian baseline has expected cosine exactly 0 with the same v.
    const g = Float64Array.from({ length: 4000 }, () => cosine(v, gaussianVector(rng, d)));
    expect(Math.abs(meanDefined(g)!)).toBeLessThan(0.002);
    // ... while the uniform one is far from 0 here: the paper's baseline is near 0 only for zero-sum updates.
    expect(expectedUniformCosine(v)).toBeGreaterThan(0.3);
  });
});
