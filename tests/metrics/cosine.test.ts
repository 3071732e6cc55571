import { describe, it, expect } from 'vitest';
import { COSINE_EPS, cosine, dot, norm, normalize, sub, sumVectors } from '../../src/pipeline/metrics/index.ts';

describe('vector helpers', () => {
  it('cosine of hand-computed vectors', () => {
    // (1,2,2)·(2,0,1) = 4; |a| = 3, |b| = sqrt(5) -> 4 / (3 sqrt 5)
    expect(cosine([1, 2, 2], [2, 0, 1])).toBeCloseTo(4 / (3 * Math.sqrt(5)), 14);
    expect(cosine(new Float32Array([1, 0]), new Float64Array([0, 3]))).toBe(0);
    expect(cosine([2, 2], [-1, -1])).toBeCloseTo(-1, 14);
  });

  it('a zero vector gives cosine 0, not NaN (the paper code adds 1e-20 to the denominator)', () => {
    expect(COSINE_EPS).toBe(1e-20);
    expect(cosine([0, 0, 0], [1, 2, 3])).toBe(0);
    expect(cosine([0, 0], [0, 0])).toBe(0);
    expect(Array.from(normalize([0, 0]))).toEqual([0, 0]);
  });

  it('dot, norm, normalize, sub, sumVectors', () => {
    expect(dot([1, 2, 3], [4, 5, 6])).toBe(32);
    expect(norm([3, 4])).toBe(5);
    expect(Array.from(normalize([3, 4]))).toEqual([0.6, 0.8]);
    expect(Array.from(sub([5, 5], [1, 2]))).toEqual([4, 3]);
    expect(Array.from(sumVectors([[1, 2], new Float32Array([3, 4]), [5, 6]]))).toEqual([9, 12]);
  });

  it('refuses vectors of different lengths', () => {
    expect(() => cosine([1, 2], [1, 2, 3])).toThrow(/length mismatch/);
    expect(() => sub([1], [1, 2])).toThrow(/length mismatch/);
  });
});
