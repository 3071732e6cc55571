// A synthetic run: a metrics record and its examples file generated together from the same per-example values, so
// the two agree (accuracy counts, layer averages, paired intervals). Deterministic from its options. For building and
// testing the report before real results exist; never shown as results of this project.

import { Rng } from '../util/random.ts';
import { type LayerExampleMatrix, exampleMeans, relativeDepth } from './aggregate.ts';
import { EXAMPLES_SCHEMA_VERSION, type ExamplesFile, type ShownExample } from './examples-schema.ts';
import { type AnalysisPosition, METRICS_SCHEMA_VERSION, type MetricsRecord, SETTINGS } from './schema.ts';
import { accuracyJson, layerAverageComparison, rec2ftpJson, similarityMetric } from './summarize.ts';

export interface RunFixtureOptions {
  model?: string;
  task?: string;
  seed?: number;
  position?: AnalysisPosition;
  numLayers?: number;
  numHeads?: number;
  numTestExamples?: number;
  /** Examples with text in the examples file (default: all, up to 40). */
  numShown?: number;
  /** Label words (default: Negative, Positive). */
  labelWords?: string[];
  /** Input texts cycled over the test examples (default: short synthetic sentences). */
  texts?: string[];
  /** How strongly ICL and FT updates agree in this synthetic model (0..1, default 0.4). */
  strength?: number;
  /** Include the null-model baselines (default true) and Kendall (default true). */
  nullModels?: boolean;
  /** Bootstrap resamples (default 200). */
  resamples?: number;
}

export interface RunFixture {
  metrics: MetricsRecord;
  examples: ExamplesFile;
}

const DEFAULT_TEXTS = [
  'a gentle, funny film that never overstays its welcome',
  'the plot is thin and the acting is worse',
  'an uneven but often striking debut',
  'nothing here works, from the script to the score',
  'one of the warmest comedies of the year',
  'tedious and far too long',
];

/** Hash a string to a 32-bit seed so different model/task names give different data. */
function stringSeed(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619) >>> 0;
  return h;
}

function clamp(v: number): number {
  return Math.max(-1, Math.min(1, v));
}

/** A matching metrics record and examples file for one synthetic (model, task, seed, position) run. */
export function makeRunFixture(opts: RunFixtureOptions = {}): RunFixture {
  const model = opts.model ?? 'fixture-model';
  const task = opts.task ?? 'fixture-task';
  const seed = opts.seed ?? 1;
  const position = opts.position ?? 'label_token';
  const L = opts.numLayers ?? 4;
  const H = opts.numHeads ?? 2;
  const n = opts.numTestExamples ?? 24;
  const labelWords = opts.labelWords ?? ['Negative', 'Positive'];
  const texts = opts.texts ?? DEFAULT_TEXTS;
  const strength = opts.strength ?? 0.4;
  const nullModels = opts.nullModels ?? true;
  const boot = { resamples: opts.resamples ?? 200, seed };
  // Model and task shape the data; the test examples (gold labels) depend on the task only, so runs of two models on
  // one task share example ids and labels and can be paired.
  const rng = new Rng(stringSeed(`${model}/${task}/${seed}/${position}`));
  const taskRng = new Rng(stringSeed(`task:${task}`));

  // Layer profile: similarity rising with relative depth, scaled by the model's strength.
  const depth = relativeDepth(L);
  const matrix = (center: (l: number) => number, spread: number): LayerExampleMatrix =>
    Array.from({ length: L }, (_, l) => Float64Array.from({ length: n }, () => clamp(center(l) + spread * rng.normal())));
  const values = {
    simaou_norm: matrix((l) => 0.05 + strength * 0.5 * depth[l], 0.1),
    simaou_raw: matrix((l) => 0.02 + strength * 0.3 * depth[l], 0.1),
    simam_before: matrix((l) => 0.3 + 0.2 * depth[l], 0.1),
    simam_after: matrix((l) => 0.3 + (0.2 + strength * 0.2) * depth[l], 0.1),
    simam_delta: matrix((l) => strength * 0.4 * depth[l], 0.1),
    kendall: matrix((l) => strength * 0.3 * depth[l], 0.08),
  };
  const noise = (spread: number, offset = 0) => matrix(() => offset, spread);
  const nulls = nullModels ? { untrained: matrix((l) => 0.06 + 0.15 * depth[l], 0.1) } : {};

  const gold = Array.from({ length: n }, () => taskRng.int(labelWords.length));
  const pick = (p: number, g: number) => (rng.uniform() < p ? g : (g + 1 + rng.int(labelWords.length - 1)) % labelWords.length);
  const pred = {
    zsl: gold.map((g) => pick(0.5, g)),
    icl: gold.map((g) => pick(0.6 + strength * 0.3, g)),
    ft: gold.map((g) => pick(0.55 + strength * 0.1, g)),
  };
  const correct = {
    zsl: Uint8Array.from(gold, (g, i) => (pred.zsl[i] === g ? 1 : 0)),
    icl: Uint8Array.from(gold, (g, i) => (pred.icl[i] === g ? 1 : 0)),
    ft: Uint8Array.from(gold, (g, i) => (pred.ft[i] === g ? 1 : 0)),
  };
  const perHead = (offset: number) => Array.from({ length: L }, (_, l) => Float64Array.from({ length: H }, (_, h) => clamp(offset + 0.2 * depth[l] + 0.05 * h)));

  const metrics: MetricsRecord = {
    schemaVersion: METRICS_SCHEMA_VERSION,
    id: { model, task, seed, position, learningRate: 0.001 },
    k: 4,
    numTestExamples: n,
    numLayers: L,
    numHeads: H,
    relativeDepth: Array.from(depth),
    accuracy: { zsl: accuracyJson(correct.zsl, boot), icl: accuracyJson(correct.icl, boot), ft: accuracyJson(correct.ft, boot) },
    rec2ftp: rec2ftpJson(correct, boot),
    metrics: {
      simaou_norm: similarityMetric(values.simaou_norm, { uniform: noise(0.02, 0.01), gaussian: noise(0.02), ...nulls }, boot),
      simaou_raw: similarityMetric(values.simaou_raw, { uniform: noise(0.02, 0.01), gaussian: noise(0.02), ...nulls }, boot),
      simam_before: similarityMetric(values.simam_before, {}, boot, perHead(0.3)),
      simam_after: similarityMetric(values.simam_after, {}, boot, perHead(0.35)),
      simam_delta: similarityMetric(values.simam_delta, {}, boot, perHead(0.05)),
      kendall: similarityMetric(values.kendall, { uniform: noise(0.02), gaussian: noise(0.02) }, boot),
      kendall_example: null,
    },
    comparisons: nulls.untrained ? [layerAverageComparison('simaou_norm', 'pretrained', 'untrained', values.simaou_norm, nulls.untrained, boot)] : [],
  };

  const column = (m: LayerExampleMatrix) => Array.from(exampleMeans(m), (v) => (Number.isNaN(v) ? null : v));
  const demonstrations = Array.from({ length: 4 }, (_, i) => ({ text: texts[(i + 3) % texts.length], label: i % labelWords.length }));
  const numShown = Math.min(n, opts.numShown ?? 40);
  const shown: ShownExample[] = Array.from({ length: numShown }, (_, i) => ({
    id: String(i),
    text: texts[i % texts.length],
    gold: gold[i],
    pred: { zsl: pred.zsl[i], icl: pred.icl[i], ft: pred.ft[i] },
    topDemoTokens: Array.from({ length: 3 }, (_, j) => {
      const demo = (i + j) % demonstrations.length;
      const words = demonstrations[demo].text.split(' ');
      return { demo, token: ` ${words[(i + j) % words.length]}`, score: Number((3 - j + rng.uniform()).toFixed(4)) };
    }),
  }));
  const examples: ExamplesFile = {
    schemaVersion: EXAMPLES_SCHEMA_VERSION,
    id: { model, task, seed, position },
    task: {
      name: task.toUpperCase(),
      dataset: 'synthetic fixture',
      template: 'Sentence: {input} Label: {label}',
      labelWords,
      demonstrations,
      tokenPolicy: 'BOS first; demonstrations separated by the end-of-text token',
      evalSplit: 'validation',
      selectionSplit: 'train (held out from the demonstrations)',
    },
    topTokenScore: 'logit',
    perExample: {
      ids: gold.map((_, i) => String(i)),
      gold,
      correct: Object.fromEntries(SETTINGS.map((s) => [s, Array.from(correct[s], (c) => c === 1)])) as ExamplesFile['perExample']['correct'],
      values: {
        simaou_norm: column(values.simaou_norm),
        simaou_raw: column(values.simaou_raw),
        simam_before: column(values.simam_before),
        simam_after: column(values.simam_after),
        simam_delta: column(values.simam_delta),
        kendall: column(values.kendall),
      },
    },
    examples: shown,
    provenance: { producer: 'icl-lab fixture (synthetic)', codeVersion: 'fixture' },
  };
  return { metrics, examples };
}
