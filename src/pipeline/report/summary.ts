// The report's summary and verdicts, computed from the runs: counts of layers / runs where a metric beats its
// baseline, and a verdict word per critique derived from those counts. Pure; the site publishes the result as JSON and
// every number on the page points into it.

import { BASELINES, type BaselineName, type MetricsRecord, type SimilarityMetricName } from '../metrics/schema.ts';
import type { DiffRunInput } from './diff.ts';

export interface Tally {
  count: number;
  total: number;
}

export type VerdictStatus = 'holds' | 'mixed' | 'fails' | 'not run';

export interface LayerClaim {
  metric: SimilarityMetricName;
  baseline: BaselineName;
  /** Layers (pooled over runs) where the metric's per-layer mean exceeds the baseline's. */
  layers: Tally;
  /** Runs where the metric's layer average exceeds the upper bound of the baseline's interval. */
  runs: Tally;
  status: VerdictStatus;
}

export interface ReportSummary {
  position: string;
  counts: { runs: number; models: number; tasks: number; seeds: number; runsWithExamples: number };
  accuracy: { iclAboveZsl: Tally; ftAboveZsl: Tally };
  layerClaims: LayerClaim[];
  /** Critique 1: runs where normalised SimAOU exceeds unnormalised. */
  normAboveRaw: Tally;
  /** Critique 2: runs where SimAM after > before (the paper's claim), and where SimAM_Delta's interval is above 0. */
  simamAfterAboveBefore: Tally;
  simamDeltaAboveZero: Tally;
  /** Kendall's interval above 0. */
  kendallAboveZero: Tally;
  /** Critique 6: runs where Rec2FTP's interval lies above its chance level; runs where Rec2FTP is undefined. */
  rec2ftpAboveChance: Tally;
  rec2ftpUndefined: number;
  /** Baselines with no curve in any run of this position: controls not run yet. */
  baselinesNotRun: { metric: SimilarityMetricName; baseline: BaselineName }[];
  /** (model, task) pairs with fewer than 3 seeds. */
  fewSeeds: { model: string; task: string; seeds: number }[];
}

export function statusOf(t: Tally): VerdictStatus {
  if (t.total === 0) return 'not run';
  if (t.count === t.total) return 'holds';
  if (t.count === 0) return 'fails';
  return 'mixed';
}

const tally = (runs: MetricsRecord[], pred: (r: MetricsRecord) => boolean | null): Tally => {
  let count = 0;
  let total = 0;
  for (const r of runs) {
    const v = pred(r);
    if (v === null) continue;
    total++;
    if (v) count++;
  }
  return { count, total };
};

/** The similarity/baseline pairs whose layer counts the summary states. */
export const LAYER_CLAIMS: [SimilarityMetricName, BaselineName][] = [
  ['simaou_norm', 'untrained'],
  ['simaou_norm', 'trained-embeddings'],
  ['simaou_norm', 'uniform'],
  ['simaou_norm', 'gaussian'],
  ['simaou_raw', 'untrained'],
  ['simaou_raw', 'trained-embeddings'],
  ['simaou_raw', 'gaussian'],
  ['kendall', 'uniform'],
];

function layerClaim(runs: MetricsRecord[], metric: SimilarityMetricName, baseline: BaselineName): LayerClaim {
  let above = 0;
  let total = 0;
  for (const r of runs) {
    const m = r.metrics[metric];
    const b = m?.baselines[baseline];
    if (!m || !b) continue;
    m.perLayer.forEach((v, l) => {
      const bv = b.perLayer[l];
      if (v === null || bv === null) return;
      total++;
      if (v > bv) above++;
    });
  }
  const runTally = tally(runs, (r) => {
    const m = r.metrics[metric];
    const b = m?.baselines[baseline];
    if (!m || !b || m.mean.estimate === null || b.mean.hi === null) return null;
    return m.mean.estimate > b.mean.hi;
  });
  const layers = { count: above, total };
  return { metric, baseline, layers, runs: runTally, status: statusOf(layers) };
}

export function summarize(allRuns: readonly DiffRunInput[], position = 'label_token'): ReportSummary {
  const sel = allRuns.filter((r) => r.position === position);
  const runs = sel.map((r) => r.metrics);
  const baselinesNotRun: ReportSummary['baselinesNotRun'] = [];
  if (runs.length) {
    for (const metric of ['simaou_norm', 'simaou_raw', 'kendall'] as const) {
      for (const baseline of BASELINES) if (!runs.some((r) => r.metrics[metric].baselines[baseline])) baselinesNotRun.push({ metric, baseline });
    }
  }
  const seedsBy = new Map<string, Set<number>>();
  for (const r of sel) {
    const k = `${r.model}\u0000${r.task}`;
    if (!seedsBy.has(k)) seedsBy.set(k, new Set());
    seedsBy.get(k)?.add(r.seed);
  }
  const fewSeeds = [...seedsBy.entries()]
    .filter(([, s]) => s.size < 3)
    .map(([k, s]) => {
      const [model, task] = k.split('\u0000');
      return { model, task, seeds: s.size };
    });
  const gt = (a: number | null, b: number | null) => (a === null || b === null ? null : a > b);
  return {
    position,
    counts: {
      runs: sel.length,
      models: new Set(sel.map((r) => r.model)).size,
      tasks: new Set(sel.map((r) => r.task)).size,
      seeds: new Set(sel.map((r) => r.seed)).size,
      runsWithExamples: sel.filter((r) => r.examples).length,
    },
    accuracy: {
      iclAboveZsl: tally(runs, (r) => gt(r.accuracy.icl.value, r.accuracy.zsl.value)),
      ftAboveZsl: tally(runs, (r) => gt(r.accuracy.ft.value, r.accuracy.zsl.value)),
    },
    layerClaims: LAYER_CLAIMS.map(([m, b]) => layerClaim(runs, m, b)),
    normAboveRaw: tally(runs, (r) => gt(r.metrics.simaou_norm.mean.estimate, r.metrics.simaou_raw.mean.estimate)),
    simamAfterAboveBefore: tally(runs, (r) => gt(r.metrics.simam_after.mean.estimate, r.metrics.simam_before.mean.estimate)),
    simamDeltaAboveZero: tally(runs, (r) => gt(r.metrics.simam_delta.mean.lo, 0)),
    kendallAboveZero: tally(runs, (r) => gt(r.metrics.kendall.mean.lo, 0)),
    rec2ftpAboveChance: tally(runs, (r) => gt(r.rec2ftp.rec2ftp.ci.lo, r.rec2ftp.chance.value)),
    rec2ftpUndefined: runs.filter((r) => r.rec2ftp.rec2ftp.value === null).length,
    baselinesNotRun,
    fewSeeds,
  };
}

/** Controls from docs/beyond-the-paper.md that the results schema has no slot for yet: always "not yet run". */
export const CONTROLS_NOT_IN_SCHEMA: { id: string; title: string; what: string }[] = [
  { id: 'lcgd', title: 'Layer causality (critique 4)', what: 'Layer-causal gradient descent (LCGD) compared with plain FT at matched update norm.' },
  { id: 'selection', title: 'Selection on the evaluation set (critique 5)', what: 'Demonstration seeds and learning rates chosen on a separate split, and every metric across a learning-rate sweep of 3-4 orders of magnitude.' },
  { id: 'order', title: 'Order sensitivity (critique 7)', what: 'Permuting the demonstrations; output-distribution comparisons (top-k overlap, KL).' },
  { id: 'positive-control', title: 'Positive control', what: 'One linear self-attention layer that provably performs a gradient-descent step on in-context linear regression, and how the metrics fall as softmax, depth or the token format break the equivalence.' },
  { id: 'emergence', title: 'Emergence contrast', what: 'The same architecture trained with in-context learning switched on or off (bursty vs non-bursty data), with ICL-FT similarity tracked as ICL emerges.' },
  { id: 'learners', title: 'Which learner is ICL closest to?', what: 'ICL predictions compared with one-step and multi-step GD, ridge/logistic regression and k-NN.' },
];
