// From protocol results to the two files the report reads: the metrics record (metrics/schema.ts) and the
// per-example file (metrics/examples-schema.ts). Null-model runs of the same task and seed become the similarity
// metrics' "untrained" / "trained-embeddings" baselines.

import { type LayerExampleMatrix, exampleMeans } from '../metrics/aggregate.ts';
import { correctness } from '../metrics/accuracy.ts';
import { relativeDepth } from '../metrics/aggregate.ts';
import { dualFormScores, kendall, type KendallExample } from '../metrics/kendall.ts';
import { METRICS_SCHEMA_VERSION, type AnalysisPosition, type MetricsRecord, parseMetricsRecord } from '../metrics/schema.ts';
import { simam, type SimamExample } from '../metrics/simam.ts';
import { simaou, type SimaouExample } from '../metrics/simaou.ts';
import { accuracyJson, layerAverageComparison, rec2ftpJson, similarityMetric } from '../metrics/summarize.ts';
import {
  EXAMPLES_MAX_SHOWN, EXAMPLES_MAX_TEXT, EXAMPLES_SCHEMA_VERSION, type ExamplesFile, parseExamplesFile,
} from '../metrics/examples-schema.ts';
import type { NullModelKind } from '../models/family.ts';
import type { TextTokenizer } from '../models/tokenizer.ts';
import type { Task } from '../tasks/task.ts';
import { formatInput } from '../tasks/task.ts';
import type { ProtocolResult } from './protocol.ts';

export interface SimilarityValues {
  simaou_norm: LayerExampleMatrix;
  simaou_raw: LayerExampleMatrix;
  simam_before: LayerExampleMatrix;
  simam_after: LayerExampleMatrix;
  simam_delta: LayerExampleMatrix;
  kendall: LayerExampleMatrix;
  kendall_example: LayerExampleMatrix;
}

export interface Similarities {
  values: SimilarityValues;
  baselines: {
    simaou_norm: { uniform: LayerExampleMatrix; gaussian: LayerExampleMatrix };
    simaou_raw: { uniform: LayerExampleMatrix; gaussian: LayerExampleMatrix };
    kendall: { uniform: LayerExampleMatrix };
    kendall_example: { uniform: LayerExampleMatrix };
  };
  perHead: { simam_before: Float64Array[]; simam_after: Float64Array[]; simam_delta: Float64Array[] };
}

/** Every similarity metric at one analysis position. Kendall uses the first `kendallExamples` test examples. */
export function similarities(r: ProtocolResult, position: AnalysisPosition, kendallExamples: number, seed: number): Similarities {
  const at = (s: 'zsl' | 'icl' | 'ft', e: number) => r[s].captures[e][position];
  const n = r.tests.length;
  const aou: SimaouExample[] = [];
  const maps: SimamExample[] = [];
  for (let e = 0; e < n; e++) {
    aou.push({ zsl: at('zsl', e).attnOut, icl: at('icl', e).attnOut, ft: at('ft', e).attnOut });
    maps.push({ zsl: at('zsl', e).queryScores, icl: at('icl', e).queryScores, ft: at('ft', e).queryScores });
  }
  const ranks: KendallExample[] = [];
  for (let e = 0; e < Math.min(n, kendallExamples); e++) {
    const icl = at('icl', e).demoScores!;
    const q = at('ft', e).q!;
    ranks.push({ icl, ft: q.map((qStar, l) => dualFormScores(r.trainQueries[l], qStar)) });
  }
  const so = simaou(aou, { seed });
  const sm = simam(maps);
  const kd = kendall(ranks, { seed, demoLengths: r.demoLengths });
  return {
    values: {
      simaou_norm: so.simaou_norm.values, simaou_raw: so.simaou_raw.values,
      simam_before: sm.values.simam_before, simam_after: sm.values.simam_after, simam_delta: sm.values.simam_delta,
      kendall: kd.kendall.values, kendall_example: kd.kendall_example!.values,
    },
    baselines: {
      simaou_norm: so.simaou_norm.baselines, simaou_raw: so.simaou_raw.baselines,
      kendall: kd.kendall.baselines, kendall_example: kd.kendall_example!.baselines,
    },
    perHead: sm.perHead,
  };
}

export interface RecordInputs {
  modelId: string;
  taskId: string;
  seed: number;
  position: AnalysisPosition;
  result: ProtocolResult;
  sims: Similarities;
  /** The same protocol on the null models, at the real model's learning rate. */
  nulls: Partial<Record<NullModelKind, Similarities>>;
  numHeads: number;
  resamples: number;
}

export function metricsRecord(i: RecordInputs): MetricsRecord {
  const { result: r, sims } = i;
  const boot = { resamples: i.resamples, seed: i.seed };
  const c = {
    zsl: correctness(r.zsl.predictions, r.gold),
    icl: correctness(r.icl.predictions, r.gold),
    ft: correctness(r.ft.predictions, r.gold),
  };
  const nullCurves = (name: keyof SimilarityValues) => ({
    untrained: i.nulls.untrained?.values[name],
    'trained-embeddings': i.nulls['trained-embeddings']?.values[name],
  });
  const L = sims.values.simaou_norm.length;
  const comparisons = [
    layerAverageComparison('simaou_norm', 'simaou_norm', 'baseline:uniform', sims.values.simaou_norm, sims.baselines.simaou_norm.uniform, boot),
    layerAverageComparison('simaou_raw', 'simaou_raw', 'baseline:gaussian', sims.values.simaou_raw, sims.baselines.simaou_raw.gaussian, boot),
    layerAverageComparison('kendall', 'kendall', 'baseline:uniform', sims.values.kendall, sims.baselines.kendall.uniform, boot),
  ];
  for (const kind of ['untrained', 'trained-embeddings'] as const) {
    const nul = i.nulls[kind];
    if (!nul) continue;
    for (const m of ['simaou_norm', 'simaou_raw', 'simam_delta', 'kendall'] as const) {
      comparisons.push(layerAverageComparison(m, 'trained', kind, sims.values[m], nul.values[m], boot));
    }
  }
  const record: MetricsRecord = {
    schemaVersion: METRICS_SCHEMA_VERSION,
    id: { model: i.modelId, task: i.taskId, seed: i.seed, position: i.position, learningRate: r.lr },
    k: r.demos.length,
    numTestExamples: r.tests.length,
    numLayers: L,
    numHeads: i.numHeads,
    relativeDepth: Array.from(relativeDepth(L)),
    accuracy: { zsl: accuracyJson(c.zsl, boot), icl: accuracyJson(c.icl, boot), ft: accuracyJson(c.ft, boot) },
    rec2ftp: rec2ftpJson(c, boot),
    metrics: {
      simaou_norm: similarityMetric(sims.values.simaou_norm, { ...sims.baselines.simaou_norm, ...nullCurves('simaou_norm') }, boot),
      simaou_raw: similarityMetric(sims.values.simaou_raw, { ...sims.baselines.simaou_raw, ...nullCurves('simaou_raw') }, boot),
      simam_before: similarityMetric(sims.values.simam_before, nullCurves('simam_before'), boot, sims.perHead.simam_before),
      simam_after: similarityMetric(sims.values.simam_after, nullCurves('simam_after'), boot, sims.perHead.simam_after),
      simam_delta: similarityMetric(sims.values.simam_delta, nullCurves('simam_delta'), boot, sims.perHead.simam_delta),
      kendall: similarityMetric(sims.values.kendall, { ...sims.baselines.kendall, ...nullCurves('kendall') }, boot),
      kendall_example: similarityMetric(sims.values.kendall_example, { ...sims.baselines.kendall_example, ...nullCurves('kendall_example') }, boot),
    },
    comparisons,
  };
  return parseMetricsRecord(record);
}

const cut = (s: string) => (s.length > EXAMPLES_MAX_TEXT ? `${s.slice(0, EXAMPLES_MAX_TEXT - 1)}…` : s);

export function examplesFile(
  i: RecordInputs & { task: Task; tokenizer: TextTokenizer; tokenPolicy: string; selectionSplit: string },
): ExamplesFile {
  const { result: r, sims } = i;
  const n = r.tests.length;
  const perExampleMean = (m: LayerExampleMatrix | undefined, count = n) => {
    const means = m ? exampleMeans(m) : new Float64Array(0);
    return Array.from({ length: n }, (_, e) => (e < count && Number.isFinite(means[e]) ? means[e] : null));
  };
  // Demonstration tokens with their owning demonstration, to name the most-attended ones.
  const demoOf: number[] = [];
  const tokenText: string[] = [];
  r.demoTokens.forEach((tokens, d) => tokens.forEach((t) => {
    demoOf.push(d);
    tokenText.push(i.tokenizer.decode([t]));
  }));
  const shown = r.tests.slice(0, EXAMPLES_MAX_SHOWN).map((ex, e) => {
    // Attention to demonstration tokens averaged over layers (head-summed pre-softmax logits).
    const scores = r.icl.captures[e][i.position].demoScores!;
    const mean = new Float64Array(demoOf.length);
    for (const layer of scores) layer.forEach((v, j) => (mean[j] += v / scores.length));
    const top = [...mean.keys()].sort((a, b) => mean[b] - mean[a]).slice(0, 8);
    return {
      id: ex.id,
      text: cut(formatInput(i.task.spec, ex)),
      gold: ex.label,
      pred: { zsl: r.zsl.predictions[e], icl: r.icl.predictions[e], ft: r.ft.predictions[e] },
      topDemoTokens: top.map((j) => ({ demo: demoOf[j], token: tokenText[j], score: mean[j] })),
    };
  });
  const file: ExamplesFile = {
    schemaVersion: EXAMPLES_SCHEMA_VERSION,
    id: { model: i.modelId, task: i.taskId, seed: i.seed, position: i.position },
    task: {
      name: i.task.spec.name,
      dataset: i.task.spec.source,
      template: `${i.task.spec.template} {label}`,
      labelWords: i.task.spec.labelWords,
      demonstrations: r.demos.map((d) => ({ text: cut(d.input), label: i.task.spec.labelWords.indexOf(d.label) })),
      tokenPolicy: i.tokenPolicy,
      evalSplit: 'evaluation split (first examples, in order)',
      selectionSplit: i.selectionSplit,
    },
    topTokenScore: 'logit',
    perExample: {
      ids: r.tests.map((e) => e.id),
      gold: r.gold,
      correct: {
        zsl: r.zsl.predictions.map((p, e) => p === r.gold[e]),
        icl: r.icl.predictions.map((p, e) => p === r.gold[e]),
        ft: r.ft.predictions.map((p, e) => p === r.gold[e]),
      },
      values: {
        simaou_norm: perExampleMean(sims.values.simaou_norm),
        simaou_raw: perExampleMean(sims.values.simaou_raw),
        simam_before: perExampleMean(sims.values.simam_before),
        simam_after: perExampleMean(sims.values.simam_after),
        simam_delta: perExampleMean(sims.values.simam_delta),
        kendall: perExampleMean(sims.values.kendall, sims.values.kendall[0]?.length ?? 0),
      },
    },
    examples: shown,
  };
  return parseExamplesFile(file);
}
