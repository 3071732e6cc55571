import { describe, it, expect } from 'vitest';
import {
  atRelativeDepth, exampleMeans, headMeans, layerAverage, layerMeans, meanDefined, newMatrix, relativeDepth,
} from '../../src/pipeline/metrics/index.ts';

describe('aggregation over layers and examples', () => {
  // 2 layers x 3 examples; layer 1 example 2 undefined (NaN).
  const m = [Float64Array.from([1, 2, 3]), Float64Array.from([4, 6, NaN])];

  it('per-layer means skip undefined examples', () => {
    // layer 0: (1+2+3)/3 = 2; layer 1: (4+6)/2 = 5
    expect(layerMeans(m)).toEqual([2, 5]);
  });

  it('per-example means over layers', () => {
    // e0: (1+4)/2 = 2.5; e1: (2+6)/2 = 4; e2: only layer 0 -> 3
    expect(Array.from(exampleMeans(m))).toEqual([2.5, 4, 3]);
  });

  it('layer average = mean over layers of the per-layer means (the paper order)', () => {
    expect(layerAverage(m)).toBe(3.5); // (2 + 5) / 2, not the mean of example means (2.5+4+3)/3 = 3.1667
  });

  it('nothing defined -> undefined, never NaN or 0', () => {
    expect(meanDefined([])).toBeUndefined();
    expect(meanDefined([NaN, NaN])).toBeUndefined();
    expect(layerMeans([Float64Array.from([NaN])])).toEqual([undefined]);
    expect(layerAverage([Float64Array.from([NaN])])).toBeUndefined();
    expect(exampleMeans([Float64Array.from([NaN])])[0]).toBeNaN();
  });

  it('newMatrix has the requested shape', () => {
    const z = newMatrix(3, 4);
    expect(z.length).toBe(3);
    expect(z[2].length).toBe(4);
  });

  it('per-head means over examples', () => {
    // values[example][layer][head]: 2 examples, 1 layer, 2 heads.
    const v = [[Float64Array.from([1, 10])], [Float64Array.from([3, NaN])]];
    expect(headMeans(v).map((r) => Array.from(r))).toEqual([[2, 10]]);
  });
});

describe('relative depth', () => {
  it('is (l + 1) / L', () => {
    expect(Array.from(relativeDepth(4))).toEqual([0.25, 0.5, 0.75, 1]);
    expect(Array.from(relativeDepth(1))).toEqual([1]);
    expect(() => relativeDepth(0)).toThrow();
  });

  it('reads a curve at other depths by linear interpolation so models of different depth overlay', () => {
    // curve (0,1,2,3) at depths 0.25..1: layer l at (l+1)/4. Depth 0.625 lies halfway between layers 1 and 2.
    expect(Array.from(atRelativeDepth([0, 1, 2, 3], [0.25, 0.5, 0.625, 1]))).toEqual([0, 1, 1.5, 3]);
    // below the first layer it clamps
    expect(atRelativeDepth([0, 1, 2, 3], [0.1])[0]).toBe(0);
    // A 2-layer curve (0, 1) on a 4-layer grid: fractional index 2d - 1 = (-0.5, 0, 0.5, 1) -> (0, 0, 0.5, 1).
    expect(Array.from(atRelativeDepth([0, 1], relativeDepth(4)))).toEqual([0, 0, 0.5, 1]);
  });
});
