// The metrics JSON: what the protocol writes per (model, task, seed, analysis position) and the site reads. Versioned:
// any change to the shape bumps METRICS_SCHEMA_VERSION, and a file of another version is refused with a clear error.
// JSON has no `undefined`: an undefined value (empty denominator, no defined example) is written as null.
// Rates are fractions in [0, 1]; the site multiplies by 100 where it prints percent like the paper.

import { z } from 'zod';

export const METRICS_SCHEMA_VERSION = 1;

/** Settings compared: zero-shot, in-context, finetuned (zero-shot prompt on the FT model). */
export const SETTINGS = ['zsl', 'icl', 'ft'] as const;
/**
 * Analysis positions: 'label_token' is the paper code's p* (the first candidate label token appended to the prompt);
 * 'prompt_end' is the last prompt token, the position whose output predicts the label.
 */
export const ANALYSIS_POSITIONS = ['label_token', 'prompt_end'] as const;
/** Similarity metrics, named as in the paper and the critiques. */
export const SIMILARITY_METRICS = ['simaou_norm', 'simaou_raw', 'simam_before', 'simam_after', 'simam_delta', 'kendall', 'kendall_example'] as const;
/**
 * Baselines every similarity metric has a slot for: random vectors (uniform [0,1) as the paper, zero-mean Gaussian)
 * and the two null models of Deutch et al. (random weights; trained embeddings/norms/unembedding with random blocks).
 * null = not applicable to this metric, or not run yet.
 */
export const BASELINES = ['uniform', 'gaussian', 'untrained', 'trained-embeddings'] as const;

const maybeNumber = z.number().nullable();
const count = z.int().nonnegative();

/** A percentile bootstrap interval (null bounds: no resample gave a defined value). */
export const intervalSchema = z.strictObject({
  estimate: maybeNumber,
  lo: maybeNumber,
  hi: maybeNumber,
  level: z.number().gt(0).lt(1),
  resamples: z.int().positive(),
  validResamples: count,
}).superRefine((v, ctx) => {
  if (v.lo !== null && v.hi !== null && v.lo > v.hi) ctx.addIssue({ code: 'custom', message: `lo (${v.lo}) > hi (${v.hi})`, path: ['lo'] });
  if (v.validResamples > v.resamples) ctx.addIssue({ code: 'custom', message: 'validResamples exceeds resamples', path: ['validResamples'] });
});

/** A count-based rate with its interval; value is null exactly when the denominator is 0. */
export const ratioSchema = z.strictObject({
  numerator: count,
  denominator: count,
  value: z.number().min(0).max(1).nullable(),
  ci: intervalSchema,
}).superRefine((v, ctx) => {
  if (v.numerator > v.denominator) ctx.addIssue({ code: 'custom', message: `numerator ${v.numerator} > denominator ${v.denominator}`, path: ['numerator'] });
  if ((v.denominator === 0) !== (v.value === null)) {
    ctx.addIssue({ code: 'custom', message: 'value must be null exactly when the denominator is 0', path: ['value'] });
  }
});

/** One curve over layers and its layer-averaged value. */
export const layerCurveSchema = z.strictObject({
  /** Mean over examples per layer, length numLayers (null: no defined example at that layer). */
  perLayer: z.array(maybeNumber),
  /** Layer-averaged value with a bootstrap interval over test examples. */
  mean: intervalSchema,
});

export const similarityMetricSchema = z.strictObject({
  /** Test examples this metric was computed on (Kendall: the first 100 in the paper). */
  numExamples: count,
  perLayer: z.array(maybeNumber),
  mean: intervalSchema,
  /** Mean over examples per head, [layer][head]; only for head-resolved metrics (SimAM). */
  perHead: z.array(z.array(maybeNumber)).optional(),
  baselines: z.strictObject({
    uniform: layerCurveSchema.nullable(),
    gaussian: layerCurveSchema.nullable(),
    untrained: layerCurveSchema.nullable(),
    'trained-embeddings': layerCurveSchema.nullable(),
  }),
});

/** A paired-bootstrap difference of a metric between two models/settings on the same examples. */
export const comparisonSchema = z.strictObject({
  metric: z.string().min(1),
  /** What is compared, e.g. 'pretrained' vs 'untrained', or 'simaou_norm' vs 'baseline:uniform'. */
  a: z.string().min(1),
  b: z.string().min(1),
  diff: intervalSchema,
  pValue: maybeNumber,
});

export const metricsRecordSchema = z.strictObject({
  schemaVersion: z.literal(METRICS_SCHEMA_VERSION),
  id: z.strictObject({
    model: z.string().min(1),
    task: z.string().min(1),
    seed: z.int(),
    position: z.enum(ANALYSIS_POSITIONS),
    /** The FT learning rate of this record. */
    learningRate: z.number().positive(),
  }),
  /** Number of demonstrations (= FT training examples). */
  k: z.int().positive(),
  numTestExamples: count,
  numLayers: z.int().positive(),
  numHeads: z.int().positive(),
  /** (l + 1) / numLayers for each 0-based layer l. */
  relativeDepth: z.array(z.number().gt(0).max(1)),
  accuracy: z.strictObject({ zsl: ratioSchema, icl: ratioSchema, ft: ratioSchema }),
  rec2ftp: z.strictObject({
    /** P(ICL right | ZSL wrong, FT right), the paper's Rec2FTP. */
    rec2ftp: ratioSchema,
    /** P(ICL right | ZSL wrong): Rec2FTP's independence baseline. */
    chance: ratioSchema,
    /** P(FT right | ZSL wrong, ICL right): the share of ICL's corrections that FT also makes. */
    reverse: ratioSchema,
    /** P(FT right | ZSL wrong): the reverse direction's baseline. */
    reverseChance: ratioSchema,
  }),
  metrics: z.strictObject({
    simaou_norm: similarityMetricSchema,
    simaou_raw: similarityMetricSchema,
    simam_before: similarityMetricSchema,
    simam_after: similarityMetricSchema,
    simam_delta: similarityMetricSchema,
    kendall: similarityMetricSchema,
    /** Not in the paper's text, only its code; null if not computed. */
    kendall_example: similarityMetricSchema.nullable(),
  }),
  comparisons: z.array(comparisonSchema),
}).superRefine((r, ctx) => {
  // Cross-field checks the shape alone cannot express: every per-layer array has numLayers entries.
  const L = r.numLayers;
  const checkLength = (arr: readonly unknown[], path: (string | number)[], want: number) => {
    if (arr.length !== want) ctx.addIssue({ code: 'custom', message: `expected ${want} entries, got ${arr.length}`, path });
  };
  checkLength(r.relativeDepth, ['relativeDepth'], L);
  r.relativeDepth.forEach((d, l) => {
    if (Math.abs(d - (l + 1) / L) > 1e-9) ctx.addIssue({ code: 'custom', message: `expected ${(l + 1) / L}, got ${d}`, path: ['relativeDepth', l] });
  });
  for (const name of SIMILARITY_METRICS) {
    const m = r.metrics[name];
    if (m === null) continue;
    checkLength(m.perLayer, ['metrics', name, 'perLayer'], L);
    if (m.perHead) {
      checkLength(m.perHead, ['metrics', name, 'perHead'], L);
      m.perHead.forEach((row, l) => checkLength(row, ['metrics', name, 'perHead', l], r.numHeads));
    }
    if (m.numExamples > r.numTestExamples) {
      ctx.addIssue({ code: 'custom', message: `numExamples ${m.numExamples} > numTestExamples ${r.numTestExamples}`, path: ['metrics', name, 'numExamples'] });
    }
    for (const b of BASELINES) {
      const curve = m.baselines[b];
      if (curve) checkLength(curve.perLayer, ['metrics', name, 'baselines', b, 'perLayer'], L);
    }
  }
  for (const s of SETTINGS) {
    if (r.accuracy[s].denominator !== r.numTestExamples) {
      ctx.addIssue({ code: 'custom', message: `denominator must equal numTestExamples (${r.numTestExamples})`, path: ['accuracy', s, 'denominator'] });
    }
  }
});

export type IntervalJson = z.infer<typeof intervalSchema>;
export type RatioJson = z.infer<typeof ratioSchema>;
export type LayerCurveJson = z.infer<typeof layerCurveSchema>;
export type SimilarityMetricJson = z.infer<typeof similarityMetricSchema>;
export type ComparisonJson = z.infer<typeof comparisonSchema>;
export type MetricsRecord = z.infer<typeof metricsRecordSchema>;
export type Setting = (typeof SETTINGS)[number];
export type AnalysisPosition = (typeof ANALYSIS_POSITIONS)[number];
export type SimilarityMetricName = (typeof SIMILARITY_METRICS)[number];
export type BaselineName = (typeof BASELINES)[number];

/** Dotted path with [index] for numbers and ["key"] for keys that are not identifiers: metrics.kendall.perLayer[3]. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else if (typeof key === 'string' && /^[A-Za-z_$][\w$]*$/.test(key)) out += out === '' ? key : `.${key}`;
    else out += `[${JSON.stringify(String(key))}]`;
  }
  return out === '' ? '(root)' : out;
}

export class MetricsSchemaError extends Error {
  readonly issues: { path: string; message: string }[];
  constructor(issues: { path: string; message: string }[]) {
    super(`metrics JSON does not match schema v${METRICS_SCHEMA_VERSION}:\n` + issues.map((i) => `  - ${i.path}: ${i.message}`).join('\n'));
    this.name = 'MetricsSchemaError';
    this.issues = issues;
  }
}

/** Validate parsed JSON as a metrics record; throws MetricsSchemaError naming the path of every bad field. */
export function parseMetricsRecord(data: unknown): MetricsRecord {
  // A wrong version would otherwise surface as a pile of unrelated shape errors: say it first and alone.
  if (typeof data === 'object' && data !== null && 'schemaVersion' in data && data.schemaVersion !== METRICS_SCHEMA_VERSION) {
    throw new MetricsSchemaError([{ path: 'schemaVersion', message: `unsupported schema version ${JSON.stringify(data.schemaVersion)} (this code reads ${METRICS_SCHEMA_VERSION})` }]);
  }
  const result = metricsRecordSchema.safeParse(data);
  if (!result.success) {
    throw new MetricsSchemaError(result.error.issues.map((i) => ({ path: formatPath(i.path), message: i.message })));
  }
  return result.data;
}
