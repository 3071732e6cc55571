import { describe, it, expect } from 'vitest';
import { Rng } from '../../src/pipeline/util/random.ts';
import {
  accuracy, bootstrap, bootstrapMean, pairedBootstrapMeanDiff, quantileSorted, rec2ftp,
} from '../../src/pipeline/metrics/index.ts';

describe('bootstrap basics', () => {
  it('numpy-style linear quantile', () => {
    // (n-1) p = 0.75 -> 1 + 0.75 (2 - 1) = 1.75
    expect(quantileSorted([1, 2, 3, 4], 0.25)).toBe(1.75);
    expect(quantileSorted([1, 2, 3, 4], 1)).toBe(4);
    expect(quantileSorted([5], 0.5)).toBe(5);
  });

  it('estimate is the sample mean; interval brackets it; reproducible from the seed', () => {
    const v = Float64Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    const a = bootstrapMean(v, { seed: 1 });
    expect(a.estimate).toBe(5.5);
    expect(a.resamples).toBe(1000);
    expect(a.validResamples).toBe(1000);
    expect(a.level).toBe(0.95);
    expect(a.lo!).toBeLessThan(5.5);
    expect(a.hi!).toBeGreaterThan(5.5);
    // se of the mean = sd / sqrt(n) ~ 2.87 / 3.16 ~ 0.91: the 95% interval is roughly +-1.8.
    expect(a.hi! - a.lo!).toBeGreaterThan(2.5);
    expect(a.hi! - a.lo!).toBeLessThan(4.5);
    expect(bootstrapMean(v, { seed: 1 })).toEqual(a);
    expect(bootstrapMean(v, { seed: 2 }).lo).not.toBe(a.lo);
  });

  it('a constant sample has a zero-width interval', () => {
    const c = bootstrapMean([2, 2, 2], { resamples: 50 });
    expect([c.estimate, c.lo, c.hi]).toEqual([2, 2, 2]);
  });

  it('NaN entries (undefined values) are skipped; nothing defined gives undefined bounds', () => {
    expect(bootstrapMean([1, NaN, 3], { resamples: 50 }).estimate).toBe(2);
    const none = bootstrapMean([NaN, NaN], { resamples: 50 });
    expect(none.estimate).toBeUndefined();
    expect(none.lo).toBeUndefined();
    expect(none.validResamples).toBe(0);
    expect(bootstrapMean([]).estimate).toBeUndefined();
  });

  it('ratio statistics: resamples with an empty denominator are dropped and counted', () => {
    // Only example 0 has ZSL wrong & FT right: about (1 - 1/20)^20 ~ 36% of resamples miss it.
    const n = 20;
    const zsl = Uint8Array.from({ length: n }, (_, i) => (i === 0 ? 0 : 1));
    const c = { zsl, icl: new Uint8Array(n).fill(1), ft: new Uint8Array(n).fill(1) };
    const ci = bootstrap(n, (idx) => rec2ftp(c, idx).rec2ftp.value, { resamples: 500, seed: 3 });
    expect(ci.estimate).toBe(1);
    expect(ci.validResamples).toBeGreaterThan(250);
    expect(ci.validResamples).toBeLessThan(400);
    expect([ci.lo, ci.hi]).toEqual([1, 1]);
  });

  it('rejects bad options', () => {
    expect(() => bootstrapMean([1, 2], { resamples: 0 })).toThrow(/resamples/);
    expect(() => bootstrapMean([1, 2], { level: 1 })).toThrow(/level/);
  });
});

describe('bootstrap coverage (simulation)', () => {
  it('the 95% interval of a mean covers the true mean at about the nominal rate', () => {
    const rng = new Rng(12345);
    const trials = 300;
    const n = 40;
    let covered = 0;
    for (let t = 0; t < trials; t++) {
      const x = Float64Array.from({ length: n }, () => 1 + rng.normal()); // true mean 1
      const ci = bootstrapMean(x, { resamples: 400, seed: t });
      if (ci.lo! <= 1 && 1 <= ci.hi!) covered++;
    }
    // Percentile bootstrap at n = 40 runs slightly under nominal (~0.94); binomial sd at 300 trials ~ 0.013.
    expect(covered / trials).toBeGreaterThan(0.9);
    expect(covered / trials).toBeLessThan(0.985);
  });

  it('a proportion (accuracy) interval covers the true rate at about the nominal rate', () => {
    const rng = new Rng(99);
    const trials = 300;
    let covered = 0;
    for (let t = 0; t < trials; t++) {
      const correct = Uint8Array.from({ length: 100 }, () => (rng.uniform() < 0.7 ? 1 : 0));
      const ci = bootstrap(100, (idx) => accuracy(correct, idx).value, { resamples: 400, seed: t });
      if (ci.lo! <= 0.7 && 0.7 <= ci.hi!) covered++;
    }
    expect(covered / trials).toBeGreaterThan(0.9);
    expect(covered / trials).toBeLessThan(0.985);
  });

  it('paired bootstrap covers the true difference and is much narrower than an unpaired comparison', () => {
    // Two settings on the same examples share a large per-example effect x_i; their true difference is 0.1.
    const rng = new Rng(7);
    const trials = 300;
    const n = 40;
    let covered = 0;
    let pairedWidth = 0;
    let unpairedWidth = 0;
    for (let t = 0; t < trials; t++) {
      const x = Float64Array.from({ length: n }, () => 3 * rng.normal());
      const a = x.map((v) => v + 0.1 + 0.2 * rng.normal());
      const b = x.map((v) => v + 0.2 * rng.normal());
      const d = pairedBootstrapMeanDiff(a, b, { resamples: 400, seed: t });
      if (d.lo! <= 0.1 && 0.1 <= d.hi!) covered++;
      pairedWidth += d.hi! - d.lo!;
      const ca = bootstrapMean(a, { resamples: 400, seed: t });
      const cb = bootstrapMean(b, { resamples: 400, seed: t + 1000 });
      unpairedWidth += Math.hypot(ca.hi! - ca.lo!, cb.hi! - cb.lo!);
    }
    expect(covered / trials).toBeGreaterThan(0.9);
    expect(covered / trials).toBeLessThan(0.985);
    // sd of the paired difference ~ 0.28 vs ~ 4.3 for the unpaired one: more than 10x narrower.
    expect(pairedWidth * 10).toBeLessThan(unpairedWidth);
  });
});

describe('paired bootstrap details', () => {
  it('estimate is the mean difference; p-value small for a clear difference, large for none', () => {
    const a = Float64Array.from({ length: 30 }, (_, i) => i + 1);
    const b = a.map((v) => v - 1);
    const d = pairedBootstrapMeanDiff(a, b, { seed: 1 });
    // every resample differs by exactly 1 per example (up to float rounding of the two means)
    expect(d.estimate).toBeCloseTo(1, 12);
    expect(d.lo!).toBeCloseTo(1, 12);
    expect(d.hi!).toBeCloseTo(1, 12);
    expect(d.pValue).toBe(0);
    const same = pairedBootstrapMeanDiff(a, a, { seed: 1 });
    expect(same.pValue).toBe(1);
  });

  it('needs the same examples on both sides', () => {
    expect(() => pairedBootstrapMeanDiff([1, 2], [1])).toThrow(/same examples/);
  });
});
