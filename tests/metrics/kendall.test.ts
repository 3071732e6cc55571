import { describe, it, expect } from 'vitest';
import { Rng } from '../../src/pipeline/util/random.ts';
import {
  concatSpans, demoTokenSpans, dualFormScores, gatherSpans, kendall, kendallTauB, layerAverage, softmax, sumPerSpan,
  type KendallExample,
} from '../../src/pipeline/metrics/index.ts';

/** O(n^2) tau-b straight from the definition, as an independent reference. */
function tauBReference(x: number[], y: number[]): number | undefined {
  let c = 0;
  let d = 0;
  let tx = 0;
  let ty = 0;
  const n = x.length;
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      const sx = Math.sign(x[i] - x[j]);
      const sy = Math.sign(y[i] - y[j]);
      if (sx === 0) tx++;
      if (sy === 0) ty++;
      if (sx * sy > 0) c++;
      if (sx * sy < 0) d++;
    }
  }
  const n0 = (n * (n - 1)) / 2;
  if (n0 === tx || n0 === ty) return undefined;
  return (c - d) / Math.sqrt((n0 - tx) * (n0 - ty));
}

describe('Kendall tau-b', () => {
  it('hand case with ties in x and in y', () => {
    // x = (1,2,2,3), y = (1,3,2,2). Pairs: (1,2) C, (1,3) C, (1,4) C, (2,3) tied in x, (2,4) D, (3,4) tied in y.
    // C = 3, D = 1, n0 = 6, n_x = 1, n_y = 1: tau_b = 2 / sqrt(5 * 5) = 0.4 (scipy: 0.39999999999999997).
    expect(kendallTauB([1, 2, 2, 3], [1, 3, 2, 2])).toBeCloseTo(0.4, 14);
  });

  it('hand case with a joint tie', () => {
    // x = (1,1,2,2,3), y = (1,1,2,3,3). (1,2) tied in both; (3,4) tied in x; (4,5) tied in y; the other 7 pairs
    // concordant. n_x = 2, n_y = 2 (the joint tie counts in both): tau_b = 7 / sqrt(8 * 8) = 0.875.
    expect(kendallTauB([1, 1, 2, 2, 3], [1, 1, 2, 3, 3])).toBeCloseTo(0.875, 14);
  });

  it('no ties: tau-b = tau-a = (C - D) / (n(n-1)/2)', () => {
    // x = (1,2,3,4), y = (2,1,4,3): discordant pairs (1,2) and (3,4); C = 4, D = 2 -> 2/6.
    expect(kendallTauB([1, 2, 3, 4], [2, 1, 4, 3])).toBeCloseTo(1 / 3, 14);
    expect(kendallTauB([1, 2, 3], [10, 20, 30])).toBe(1);
    expect(kendallTauB([1, 2, 3], [3, 2, 1])).toBe(-1);
  });

  it('undefined where scipy gives NaN: constant input or fewer than 2 values', () => {
    expect(kendallTauB([1, 1, 1], [1, 2, 3])).toBeUndefined();
    expect(kendallTauB([1, 2, 3], [5, 5, 5])).toBeUndefined();
    expect(kendallTauB([1], [2])).toBeUndefined();
    expect(kendallTauB([], [])).toBeUndefined();
  });

  it('throws on NaN input and on length mismatch', () => {
    expect(() => kendallTauB([1, NaN], [1, 2])).toThrow(/NaN/);
    expect(() => kendallTauB([1, 2], [1, 2, 3])).toThrow(/length mismatch/);
  });

  it('matches the O(n^2) definition on random data with many ties', () => {
    const rng = new Rng(7);
    for (let t = 0; t < 60; t++) {
      const n = 2 + rng.int(80);
      const levels = 1 + rng.int(6);
      const x = Array.from({ length: n }, () => rng.int(levels));
      const y = Array.from({ length: n }, () => rng.int(1 + rng.int(6)));
      const got = kendallTauB(Float32Array.from(x), y);
      const want = tauBReference(x, y);
      if (want === undefined) expect(got).toBeUndefined();
      else expect(got).toBeCloseTo(want, 12);
    }
  });

  it('is fast enough at the paper scale (n = 2000)', () => {
    const rng = new Rng(1);
    const x = Float64Array.from({ length: 2000 }, () => rng.normal());
    const y = Float64Array.from({ length: 2000 }, () => rng.normal());
    const t0 = performance.now();
    for (let i = 0; i < 20; i++) kendallTauB(x, y);
    expect(performance.now() - t0).toBeLessThan(2000);
  });
});

describe('token bookkeeping and the dual form', () => {
  it('demoTokenSpans follows the paper layout <s> D1 </s> D2 </s> ...', () => {
    // lengths 2, 3, 1: D1 at 1..2, </s> at 3, D2 at 4..6, </s> at 7, D3 at 8.
    const spans = demoTokenSpans([2, 3, 1]);
    expect(spans).toEqual([{ start: 1, length: 2 }, { start: 4, length: 3 }, { start: 8, length: 1 }]);
    const row = Float64Array.from({ length: 10 }, (_, i) => i);
    expect(Array.from(gatherSpans(row, spans))).toEqual([1, 2, 4, 5, 6, 8]);
    expect(concatSpans([2, 3])).toEqual([{ start: 0, length: 2 }, { start: 2, length: 3 }]);
    expect(Array.from(sumPerSpan([1, 2, 3, 4, 5], concatSpans([2, 3])))).toEqual([3, 12]);
    expect(() => gatherSpans([1, 2], [{ start: 1, length: 2 }])).toThrow(/outside/);
  });

  it('dual-form scores are training-token queries dotted with the test query (heads concatenated = head sum)', () => {
    // (1,0,2)·(3,4,5) = 13, (0,1,1)·(3,4,5) = 9
    expect(Array.from(dualFormScores([[1, 0, 2], [0, 1, 1]], [3, 4, 5]))).toEqual([13, 9]);
  });

  it('softmax sums to 1 and is stable for large logits', () => {
    const s = softmax([1000, 1000 + Math.log(3)]);
    expect(s[0]).toBeCloseTo(0.25, 12); // 1000 + ln 3 carries ~1e-13 rounding
    expect(s[1]).toBeCloseTo(0.75, 12);
  });
});

describe('Kendall batch', () => {
  it('token level per (layer, example), and example level softmax-then-sum as the paper code', () => {
    // demos of 2, 1, 3 tokens (N = 6). ICL scores ln(1,1 | 3 | 1,1,2): softmax over N = (1,1,3,1,1,2)/9,
    // summed per demo = (2/9, 3/9, 4/9). FT ln(1,1 | 5 | 1,1,1): (2/10, 5/10, 3/10).
    // Ranks (1,2,3) vs (1,3,2): pairs C, C, D -> tau = 1/3. (Summing the raw scores instead would give
    // (0, ln3, ln2) vs (0, ln5, 0) and tau-b = 2/sqrt(6) ~ 0.816: the convention matters.)
    const icl = [1, 1, 3, 1, 1, 2].map(Math.log);
    const ft = [1, 1, 5, 1, 1, 1].map(Math.log);
    const out = kendall([{ icl: [icl], ft: [ft] }], { seed: 1, demoLengths: [2, 1, 3] });
    expect(out.kendall_example!.values[0][0]).toBeCloseTo(1 / 3, 14);
    // Token level: direct tau-b of the two N-vectors.
    expect(out.kendall.values[0][0]).toBeCloseTo(kendallTauB(icl, ft)!, 14);
    expect(out.kendall_example!.baselines.uniform[0][0]).toBeGreaterThanOrEqual(-1);
  });

  it('without demoLengths there is no example level; a wrong total is refused', () => {
    const ex: KendallExample = { icl: [[1, 2, 3]], ft: [[1, 3, 2]] };
    expect(kendall([ex], { seed: 1 }).kendall_example).toBeUndefined();
    expect(() => kendall([ex], { seed: 1, demoLengths: [1, 1] })).toThrow(/sum to 2/);
  });

  it('a constant vector gives NaN in the matrix (undefined) and is skipped by the averages', () => {
    const out = kendall([{ icl: [[1, 2, 3]], ft: [[1, 2, 3]] }, { icl: [[1, 2, 3]], ft: [[4, 4, 4]] }], { seed: 1 });
    expect(out.kendall.values[0][0]).toBe(1);
    expect(out.kendall.values[0][1]).toBeNaN();
    expect(layerAverage(out.kendall.values)).toBe(1);
  });

  it('the random baseline reproduces from its seed, changes with it, and averages near 0', () => {
    const rng = new Rng(5);
    const examples: KendallExample[] = Array.from({ length: 30 }, () => ({
      icl: [0, 1].map(() => Float64Array.from({ length: 50 }, () => rng.normal())),
      ft: [0, 1].map(() => Float64Array.from({ length: 50 }, () => rng.normal())),
    }));
    const a = kendall(examples, { seed: 3, demoLengths: [10, 20, 20] });
    const b = kendall(examples, { seed: 3, demoLengths: [10, 20, 20] });
    const c = kendall(examples, { seed: 4, demoLengths: [10, 20, 20] });
    expect(a.kendall.baselines.uniform).toEqual(b.kendall.baselines.uniform);
    expect(a.kendall_example!.baselines.uniform).toEqual(b.kendall_example!.baselines.uniform);
    expect(a.kendall.baselines.uniform[0][0]).not.toBe(c.kendall.baselines.uniform[0][0]);
    // 60 draws of tau over n = 50: sd of each ~ sqrt(2(2n+5)/(9n(n-1))) ~ 0.096, of the mean ~ 0.012.
    expect(Math.abs(layerAverage(a.kendall.baselines.uniform)!)).toBeLessThan(0.05);
  });
});
