import { describe, it, expect } from 'vitest';
import { simam, simamHead, type SimamExample } from '../../src/pipeline/metrics/index.ts';

describe('SimAM on hand-computed score rows', () => {
  // A shared ZSL map dominates: zsl = (10,10,10,10); ICL moves (+1,-1,0,0), FT moves (0,0,+1,-1).
  const zsl = [10, 10, 10, 10];
  const icl = [11, 9, 10, 10];
  const ft = [10, 10, 11, 9];

  it('raw SimAM is high while SimAM_Delta is 0 for orthogonal deltas', () => {
    const s = simamHead(zsl, icl, ft);
    // |zsl| = 20, |icl| = |ft| = sqrt(121+81+100+100) = sqrt(402).
    // before: icl·zsl = 400 -> 400 / (20 sqrt 402) = 20 / sqrt(402) ~ 0.99751
    expect(s.simam_before).toBeCloseTo(20 / Math.sqrt(402), 14);
    // after: icl·ft = 110+90+110+90 = 400 -> 400 / 402 ~ 0.99502
    expect(s.simam_after).toBeCloseTo(400 / 402, 14);
    expect(s.simam_after).toBeGreaterThan(0.99);
    // delta: (1,-1,0,0)·(0,0,1,-1) = 0
    expect(s.simam_delta).toBe(0);
  });

  it('SimAM_Delta is 1 when FT moves the map the same way as ICL, whatever the size', () => {
    expect(simamHead(zsl, icl, [12, 8, 10, 10]).simam_delta).toBeCloseTo(1, 14);
    expect(simamHead(zsl, icl, [9, 11, 10, 10]).simam_delta).toBeCloseTo(-1, 14);
  });

  it('FT identical to ZSL gives SimAM_Delta 0 (zero vector, epsilon rule), not NaN', () => {
    expect(simamHead(zsl, icl, zsl).simam_delta).toBe(0);
  });

  it('refuses rows of different lengths (a slicing bug upstream)', () => {
    expect(() => simamHead([1, 2], [1, 2, 3], [1, 2])).toThrow(/length mismatch/);
  });
});

describe('SimAM batch', () => {
  // 2 examples, 1 layer, 2 heads. Head 0 is the orthogonal case above (delta 0), head 1 the aligned one (delta 1).
  const z = [10, 10, 10, 10];
  const ex: SimamExample = {
    zsl: [[z, z]],
    icl: [[[11, 9, 10, 10], [11, 9, 10, 10]]],
    ft: [[[10, 10, 11, 9], [12, 8, 10, 10]]],
  };
  // Second example: every head identical in all settings -> before = after = 1, delta = 0 (zero deltas).
  const same: SimamExample = { zsl: [[[1, 2, 3, 4], [4, 3, 2, 1]]], icl: [[[1, 2, 3, 4], [4, 3, 2, 1]]], ft: [[[1, 2, 3, 4], [4, 3, 2, 1]]] };

  it('averages over heads per example, keeps per-example values and per-head means', () => {
    const out = simam([ex, same]);
    // example 0: delta = mean(0, 1) = 0.5; example 1: delta 0.
    expect(out.values.simam_delta[0][0]).toBeCloseTo(0.5, 14);
    expect(out.values.simam_delta[0][1]).toBe(0);
    expect(out.values.simam_before[0][1]).toBeCloseTo(1, 14);
    // per head over examples: head 0 = mean(0, 0) = 0, head 1 = mean(1, 0) = 0.5.
    expect(out.perHead.simam_delta[0][0]).toBeCloseTo(0, 14);
    expect(out.perHead.simam_delta[0][1]).toBeCloseTo(0.5, 14);
    // after, example 0: head 0 = 400/402; head 1 = cos((11,9,10,10),(12,8,10,10)) = 404/(sqrt402 sqrt408).
    const h1 = 404 / (Math.sqrt(402) * Math.sqrt(408));
    expect(out.values.simam_after[0][0]).toBeCloseTo((400 / 402 + h1) / 2, 14);
  });

  it('refuses mismatched head counts', () => {
    const bad: SimamExample = { zsl: [[z, z]], icl: [[z]], ft: [[z, z]] };
    expect(() => simam([bad])).toThrow(/head counts/);
  });
});
