// SimAM: similarity of attention maps (paper §4.5, protocol §4.4). Each input row is the vector of pre-softmax
// scores (`blocks.{l}.attn.scores`) from the analysis position to the query-example tokens (test input + the position
// itself; no BOS, no demonstrations), one row per head. The rows of the three settings must have equal length: the
// paper's code left-pads them with zeros to a common length, which only matters if they differ, and a difference
// means the positions were sliced wrongly upstream, so we refuse it.
//
// simam_before = cos(ICL, ZSL), simam_after = cos(ICL, FT) (the paper), and simam_delta = cos(ICL - ZSL, FT - ZSL)
// (Deutch et al.), which removes the shared ZSL map that dominates the raw cosines. Each is a mean over heads per
// (example, layer); the layer value is then the mean over examples.

import { type LayerExampleMatrix, headMeans, newMatrix } from './aggregate.ts';
import { type Vec, assertSameLength, cosine, sub } from './cosine.ts';

export type SimamMetric = 'simam_before' | 'simam_after' | 'simam_delta';
export const SIMAM_METRICS: readonly SimamMetric[] = ['simam_before', 'simam_after', 'simam_delta'];

/** The three SimAM cosines for one head's score rows. */
export function simamHead(zsl: Vec, icl: Vec, ft: Vec): Record<SimamMetric, number> {
  assertSameLength(zsl, icl, 'simam zsl/icl');
  assertSameLength(zsl, ft, 'simam zsl/ft');
  return {
    simam_before: cosine(icl, zsl),
    simam_after: cosine(icl, ft),
    simam_delta: cosine(sub(icl, zsl), sub(ft, zsl)),
  };
}

/** One test example: score rows indexed [layer][head] -> query-example length. */
export interface SimamExample {
  zsl: readonly (readonly Vec[])[];
  icl: readonly (readonly Vec[])[];
  ft: readonly (readonly Vec[])[];
}

export interface SimamResult {
  /** Head-averaged values, [layer][example]. */
  values: Record<SimamMetric, LayerExampleMatrix>;
  /** Example-averaged values per head, [layer][head]. */
  perHead: Record<SimamMetric, Float64Array[]>;
}

export function simam(examples: readonly SimamExample[]): SimamResult {
  const numExamples = examples.length;
  const numLayers = numExamples === 0 ? 0 : examples[0].zsl.length;
  const values = {} as Record<SimamMetric, LayerExampleMatrix>;
  // Per-example per-head values, [metric][example][layer][head], kept for the per-head means.
  const raw = {} as Record<SimamMetric, Float64Array[][]>;
  for (const m of SIMAM_METRICS) {
    values[m] = newMatrix(numLayers, numExamples);
    raw[m] = [];
  }
  for (let e = 0; e < numExamples; e++) {
    const ex = examples[e];
    if (ex.zsl.length !== numLayers || ex.icl.length !== numLayers || ex.ft.length !== numLayers) {
      throw new Error(`simam: example ${e} has a different layer count (expected ${numLayers})`);
    }
    for (const m of SIMAM_METRICS) raw[m].push([]);
    for (let l = 0; l < numLayers; l++) {
      const H = ex.zsl[l].length;
      if (H === 0 || ex.icl[l].length !== H || ex.ft[l].length !== H) {
        throw new Error(`simam: example ${e} layer ${l} has mismatched or zero head counts`);
      }
      const heads = {} as Record<SimamMetric, Float64Array>;
      for (const m of SIMAM_METRICS) heads[m] = new Float64Array(H);
      for (let h = 0; h < H; h++) {
        const s = simamHead(ex.zsl[l][h], ex.icl[l][h], ex.ft[l][h]);
        for (const m of SIMAM_METRICS) heads[m][h] = s[m];
      }
      for (const m of SIMAM_METRICS) {
        let sum = 0;
        for (let h = 0; h < H; h++) sum += heads[m][h];
        values[m][l][e] = sum / H;
        raw[m][e].push(heads[m]);
      }
    }
  }
  const perHead = {} as Record<SimamMetric, Float64Array[]>;
  for (const m of SIMAM_METRICS) perHead[m] = headMeans(raw[m]);
  return { values, perHead };
}
