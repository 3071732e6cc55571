// SimAOU: similarity of the attention-output updates that ICL and FT make to the zero-shot output (paper §4.4,
// protocol §4.3). Inputs are the attention sub-layer outputs at the analysis position (`blocks.{l}.attn.out`).
//
// simaou_norm (the paper): normalise each output, then subtract ZSL: cos(â_ICL - â_ZSL, â_FT - â_ZSL).
// simaou_raw (Deutch et al. 2024): subtract first, no normalisation: cos(a_ICL - a_ZSL, a_FT - a_ZSL).
// Normalising first leaves -â_ZSL inside both updates, which inflates simaou_norm even for unrelated updates
// (0.25 in the orthogonal construction of the critique), hence both are reported.

import { Rng } from '../util/random.ts';
import { type LayerExampleMatrix, newMatrix } from './aggregate.ts';
import { type BaselineKind, randomVector } from './baselines.ts';
import { type Vec, assertSameLength, cosine, normalize, sub } from './cosine.ts';

export type SimaouVariant = 'norm' | 'raw';

/** The two updates (ICL - ZSL, FT - ZSL) of one layer, normalised first for 'norm'. */
export function simaouUpdates(zsl: Vec, icl: Vec, ft: Vec, variant: SimaouVariant): { icl: Float64Array; ft: Float64Array } {
  assertSameLength(zsl, icl, 'simaou zsl/icl');
  assertSameLength(zsl, ft, 'simaou zsl/ft');
  if (variant === 'norm') {
    const z = normalize(zsl);
    return { icl: sub(normalize(icl), z), ft: sub(normalize(ft), z) };
  }
  return { icl: sub(icl, zsl), ft: sub(ft, zsl) };
}

/** The paper's SimAOU for one example and layer. */
export function simaouNorm(zsl: Vec, icl: Vec, ft: Vec): number {
  const u = simaouUpdates(zsl, icl, ft, 'norm');
  return cosine(u.icl, u.ft);
}

/** Unnormalised SimAOU for one example and layer. */
export function simaouRaw(zsl: Vec, icl: Vec, ft: Vec): number {
  const u = simaouUpdates(zsl, icl, ft, 'raw');
  return cosine(u.icl, u.ft);
}

/** One test example: attention sub-layer outputs at the analysis position, indexed [layer] -> d. */
export interface SimaouExample {
  zsl: readonly Vec[];
  icl: readonly Vec[];
  ft: readonly Vec[];
}

export interface SimaouVariantResult {
  /** cos(ΔICL, ΔFT), [layer][example]. */
  values: LayerExampleMatrix;
  /** cos(ΔICL, random vector), [layer][example], per baseline kind. */
  baselines: Record<BaselineKind, LayerExampleMatrix>;
}

export interface SimaouResult {
  simaou_norm: SimaouVariantResult;
  simaou_raw: SimaouVariantResult;
}

/**
 * SimAOU (both variants) and their random baselines for every example and layer. One fresh random vector of each
 * kind per (example, layer), as the paper's code, drawn in (example, layer) order from generators forked off
 * `new Rng(seed)`; both variants are compared with the same draw. The baseline replaces ΔFT by the random vector:
 * cos(ΔICL, r).
 */
export function simaou(examples: readonly SimaouExample[], opts: { seed: number }): SimaouResult {
  const numExamples = examples.length;
  const numLayers = numExamples === 0 ? 0 : examples[0].zsl.length;
  const master = new Rng(opts.seed);
  const rngs: Record<BaselineKind, Rng> = { uniform: master.fork(), gaussian: master.fork() };
  const make = (): SimaouVariantResult => ({
    values: newMatrix(numLayers, numExamples),
    baselines: { uniform: newMatrix(numLayers, numExamples), gaussian: newMatrix(numLayers, numExamples) },
  });
  const out: SimaouResult = { simaou_norm: make(), simaou_raw: make() };
  for (let e = 0; e < numExamples; e++) {
    const ex = examples[e];
    if (ex.zsl.length !== numLayers || ex.icl.length !== numLayers || ex.ft.length !== numLayers) {
      throw new Error(`simaou: example ${e} has a different layer count (expected ${numLayers})`);
    }
    for (let l = 0; l < numLayers; l++) {
      const d = ex.zsl[l].length;
      const rand = { uniform: randomVector('uniform', rngs.uniform, d), gaussian: randomVector('gaussian', rngs.gaussian, d) };
      for (const [variant, key] of [['norm', 'simaou_norm'], ['raw', 'simaou_raw']] as const) {
        const u = simaouUpdates(ex.zsl[l], ex.icl[l], ex.ft[l], variant);
        const r = out[key];
        r.values[l][e] = cosine(u.icl, u.ft);
        r.baselines.uniform[l][e] = cosine(u.icl, rand.uniform);
        r.baselines.gaussian[l][e] = cosine(u.icl, rand.gaussian);
      }
    }
  }
  return out;
}
