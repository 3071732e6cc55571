// AdamW (Loshchilov & Hutter), in place on the parameter store, with global-norm gradient clipping.
// Moments are float32 like the parameters; the update is computed in float64 per element.

import type { HostTensor } from '../engine/tensor.ts';
import type { ParamStore } from '../models/family.ts';

export interface AdamWSettings {
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
}

export const ADAMW_DEFAULTS: AdamWSettings = { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1 };

export interface AdamWState {
  /** Steps taken so far (bias correction uses it). */
  step: number;
  m: Map<string, Float32Array>;
  v: Map<string, Float32Array>;
}

export function newAdamWState(params: ParamStore): AdamWState {
  const m = new Map<string, Float32Array>();
  const v = new Map<string, Float32Array>();
  for (const [name, t] of params) {
    m.set(name, new Float32Array(t.data.length));
    v.set(name, new Float32Array(t.data.length));
  }
  return { step: 0, m, v };
}

/** Global L2 norm of all gradients. */
export function gradNorm(grads: ReadonlyMap<string, HostTensor>): number {
  let sum = 0;
  for (const g of grads.values()) {
    const d = g.data as Float32Array;
    for (let i = 0; i < d.length; i++) sum += d[i] * d[i];
  }
  return Math.sqrt(sum);
}

/** Weight decay applies to matrices only (embeddings and projections), not to biases or norm gains, as in GPT-2 recipes. */
export function decays(t: HostTensor): boolean {
  return t.shape.length >= 2;
}

/**
 * One AdamW step at learning rate `lr`, after scaling gradients so their global norm is at most `clip`
 * (0 = no clipping). Returns the gradient norm before clipping.
 */
export function adamwStep(
  params: ParamStore,
  grads: ReadonlyMap<string, HostTensor>,
  state: AdamWState,
  lr: number,
  clip: number,
  s: AdamWSettings = ADAMW_DEFAULTS,
): number {
  const norm = gradNorm(grads);
  const scale = clip > 0 && norm > clip ? clip / norm : 1;
  state.step += 1;
  const c1 = 1 - s.beta1 ** state.step;
  const c2 = 1 - s.beta2 ** state.step;
  for (const [name, grad] of grads) {
    const p = params.get(name);
    const m = state.m.get(name);
    const v = state.v.get(name);
    if (!p || !m || !v) throw new Error(`adamwStep: no parameter or optimiser state for "${name}"`);
    const w = p.data as Float32Array;
    const g = grad.data as Float32Array;
    const decay = decays(p) ? lr * s.weightDecay : 0;
    for (let i = 0; i < w.length; i++) {
      const gi = g[i] * scale;
      m[i] = s.beta1 * m[i] + (1 - s.beta1) * gi;
      v[i] = s.beta2 * v[i] + (1 - s.beta2) * gi * gi;
      w[i] = w[i] - decay * w[i] - (lr * (m[i] / c1)) / (Math.sqrt(v[i] / c2) + s.eps);
    }
  }
  return norm;
}
