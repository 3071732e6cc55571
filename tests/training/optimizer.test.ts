import { describe, it, expect } from 'vitest';
import { learningRate } from '../../src/pipeline/training/schedule.ts';
import { adamwStep, gradNorm, newAdamWState } from '../../src/pipeline/training/adamw.ts';
import { float32 } from '../../src/pipeline/engine/tensor.ts';

describe('learning-rate schedule', () => {
  const s = { peakLr: 1e-3, warmupSteps: 10, totalSteps: 110, minLrRatio: 0.1 };
  it('warms up linearly, peaks, then follows a cosine to the floor', () => {
    expect(learningRate(0, s)).toBeCloseTo(1e-4, 12);
    expect(learningRate(9, s)).toBeCloseTo(1e-3, 12);
    expect(learningRate(10, s)).toBeCloseTo(1e-3, 12);
    // Half-way through the decay: floor + (peak - floor) / 2.
    expect(learningRate(60, s)).toBeCloseTo(1e-4 + 0.5 * 9e-4, 12);
    expect(learningRate(110, s)).toBeCloseTo(1e-4, 12);
    expect(learningRate(500, s)).toBeCloseTo(1e-4, 12);
  });
});

describe('AdamW', () => {
  it('takes a first step of lr * sign(gradient) (bias-corrected), plus decoupled weight decay on matrices only', () => {
    const params = new Map([
      ['w', float32([1, -2, 3, 4], [2, 2])],
      ['b', float32([1, 1], [2])],
    ]);
    const grads = new Map([
      ['w', float32([0.5, -0.25, 0, 2], [2, 2])],
      ['b', float32([-3, 0.1], [2])],
    ]);
    const state = newAdamWState(params);
    const lr = 0.01;
    const wd = 0.1;
    adamwStep(params, grads, state, lr, 0, { beta1: 0.9, beta2: 0.95, eps: 1e-12, weightDecay: wd });
    // m_hat = g, v_hat = g^2, so the update is lr * g / (|g| + eps) = lr * sign(g) (0 where g = 0).
    const w = Array.from(params.get('w')!.data as Float32Array);
    const expectedW = [1 - lr * wd * 1 - lr, -2 + lr * wd * 2 + lr, 3 - lr * wd * 3 - 0, 4 - lr * wd * 4 - lr];
    w.forEach((v, i) => expect(v).toBeCloseTo(expectedW[i], 6));
    const b = Array.from(params.get('b')!.data as Float32Array);
    [1 + lr, 1 - lr].forEach((v, i) => expect(b[i]).toBeCloseTo(v, 6)); // no decay on biases
    expect(state.step).toBe(1);
  });

  it('clips the global gradient norm before the moments see it', () => {
    const params = new Map([['w', float32([0, 0], [1, 2])]]);
    const grads = new Map([['w', float32([3, 4], [1, 2])]]);
    expect(gradNorm(grads)).toBe(5);
    const state = newAdamWState(params);
    const norm = adamwStep(params, grads, state, 0.1, 1, { beta1: 0.9, beta2: 0.95, eps: 0, weightDecay: 0 });
    expect(norm).toBe(5);
    // m = 0.1 * clipped g = 0.1 * (0.6, 0.8)
    expect(state.m.get('w')![0]).toBeCloseTo(0.06, 7);
    expect(state.m.get('w')![1]).toBeCloseTo(0.08, 7);
  });
});
