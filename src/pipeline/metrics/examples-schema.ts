// The per-example JSON written beside each metrics record (`seed-<seed>.<position>.examples.json`): what the report's
// example explorer shows and what a diff needs for paired intervals. Two parts:
//   - `perExample`: one column per quantity over ALL test examples of the run (ids, gold, predictions, layer-averaged
//     metric values). Numbers only, so it stays small, and two runs that share example ids can be paired.
//   - `examples`: a capped subset with text and the top demonstration tokens by ICL attention, for reading.
// Versioned like the metrics schema. Dataset text is untrusted: the site prints it as text, never as HTML.

import { z } from 'zod';
import { ANALYSIS_POSITIONS, SETTINGS, formatPath } from './schema.ts';

export const EXAMPLES_SCHEMA_VERSION = 1;
/** At most this many examples carry text for the explorer. */
export const EXAMPLES_MAX_SHOWN = 500;
/** At most this many demonstration tokens per example. */
export const EXAMPLES_MAX_TOP_TOKENS = 32;
/** Longest text kept for one example or demonstration (characters); writers cut longer text and end it with '…'. */
export const EXAMPLES_MAX_TEXT = 4000;

/** Per-example, layer-averaged metric values (null: undefined for that example, e.g. Kendall beyond the first 100). */
export const PER_EXAMPLE_METRICS = ['simaou_norm', 'simaou_raw', 'simam_before', 'simam_after', 'simam_delta', 'kendall'] as const;

const text = z.string().max(EXAMPLES_MAX_TEXT);
const labelIndex = z.int().nonnegative();
const maybeNumber = z.number().nullable();

export const demonstrationSchema = z.strictObject({
  /** The formatted input of the demonstration (without its label). */
  text,
  label: labelIndex,
});

export const taskMetaSchema = z.strictObject({
  /** Display name, e.g. "SST-2". */
  name: z.string().min(1),
  /** Where the data come from, e.g. "glue/sst2 (Hugging Face)". */
  dataset: z.string().optional(),
  /** The prompt template with `{input}` and `{label}` placeholders, as the run used it. */
  template: z.string().min(1),
  /** Label word of each class index. */
  labelWords: z.array(z.string().min(1)).min(2),
  /** The demonstrations in order (= the FT training examples). */
  demonstrations: z.array(demonstrationSchema),
  /** How BOS and separators were placed, in words. */
  tokenPolicy: z.string().optional(),
  /** Split the test examples come from, and the split used to select seeds / learning rates. */
  evalSplit: z.string().optional(),
  selectionSplit: z.string().optional(),
});

export const topTokenSchema = z.strictObject({
  /** Index of the demonstration the token belongs to. */
  demo: z.int().nonnegative(),
  /** Token text as decoded (may contain leading spaces). */
  token: z.string(),
  /** ICL attention score (head-summed pre-softmax logit, or its softmax; see `topTokenScore`). */
  score: z.number(),
});

export const shownExampleSchema = z.strictObject({
  id: z.string().min(1),
  text,
  gold: labelIndex,
  pred: z.strictObject({ zsl: labelIndex, icl: labelIndex, ft: labelIndex }),
  /** Demonstration tokens with the highest ICL attention from the analysis position, best first. */
  topDemoTokens: z.array(topTokenSchema).max(EXAMPLES_MAX_TOP_TOKENS),
});

const boolColumn = z.array(z.boolean());
const numberColumn = z.array(maybeNumber);

export const perExampleSchema = z.strictObject({
  /** Stable example ids (e.g. the index in the evaluation split); equal ids in two runs mean the same example. */
  ids: z.array(z.string().min(1)),
  gold: z.array(labelIndex),
  correct: z.strictObject({ zsl: boolColumn, icl: boolColumn, ft: boolColumn }),
  values: z.strictObject({
    simaou_norm: numberColumn,
    simaou_raw: numberColumn,
    simam_before: numberColumn,
    simam_after: numberColumn,
    simam_delta: numberColumn,
    kendall: numberColumn.nullable(),
  }),
});

export const provenanceSchema = z.strictObject({
  producer: z.string().min(1),
  /** ISO 8601 time the run finished. */
  createdAt: z.string().optional(),
  /** Content hash of the run's inputs (model, data, config, code version). */
  inputsHash: z.string().optional(),
  codeVersion: z.string().optional(),
});

export const examplesFileSchema = z.strictObject({
  schemaVersion: z.literal(EXAMPLES_SCHEMA_VERSION),
  id: z.strictObject({
    model: z.string().min(1),
    task: z.string().min(1),
    seed: z.int(),
    position: z.enum(ANALYSIS_POSITIONS),
  }),
  task: taskMetaSchema,
  /** What `topDemoTokens[].score` is. */
  topTokenScore: z.enum(['logit', 'softmax']),
  perExample: perExampleSchema,
  /** The shown subset (capped at EXAMPLES_MAX_SHOWN), in evaluation order. */
  examples: z.array(shownExampleSchema).max(EXAMPLES_MAX_SHOWN),
  provenance: provenanceSchema.optional(),
}).superRefine((f, ctx) => {
  const n = f.perExample.ids.length;
  const len = (arr: readonly unknown[] | null, path: (string | number)[]) => {
    if (arr && arr.length !== n) ctx.addIssue({ code: 'custom', message: `expected ${n} entries (one per id), got ${arr.length}`, path });
  };
  len(f.perExample.gold, ['perExample', 'gold']);
  for (const s of SETTINGS) len(f.perExample.correct[s], ['perExample', 'correct', s]);
  for (const m of PER_EXAMPLE_METRICS) len(f.perExample.values[m], ['perExample', 'values', m]);
  if (new Set(f.perExample.ids).size !== n) ctx.addIssue({ code: 'custom', message: 'example ids must be unique', path: ['perExample', 'ids'] });
  const classes = f.task.labelWords.length;
  const checkLabel = (v: number, path: (string | number)[]) => {
    if (v >= classes) ctx.addIssue({ code: 'custom', message: `label ${v} out of range (${classes} label words)`, path });
  };
  f.perExample.gold.forEach((g, i) => checkLabel(g, ['perExample', 'gold', i]));
  f.task.demonstrations.forEach((d, i) => checkLabel(d.label, ['task', 'demonstrations', i, 'label']));
  const index = new Map(f.perExample.ids.map((id, i) => [id, i]));
  f.examples.forEach((e, i) => {
    checkLabel(e.gold, ['examples', i, 'gold']);
    for (const s of SETTINGS) checkLabel(e.pred[s], ['examples', i, 'pred', s]);
    const j = index.get(e.id);
    if (j === undefined) {
      ctx.addIssue({ code: 'custom', message: `example id "${e.id}" is not in perExample.ids`, path: ['examples', i, 'id'] });
      return;
    }
    if (f.perExample.gold[j] !== e.gold) ctx.addIssue({ code: 'custom', message: 'gold disagrees with perExample.gold', path: ['examples', i, 'gold'] });
    for (const s of SETTINGS) {
      if (f.perExample.correct[s][j] !== (e.pred[s] === e.gold)) {
        ctx.addIssue({ code: 'custom', message: `pred.${s} disagrees with perExample.correct.${s}`, path: ['examples', i, 'pred', s] });
      }
    }
    e.topDemoTokens.forEach((t, k) => {
      if (t.demo >= f.task.demonstrations.length) {
        ctx.addIssue({ code: 'custom', message: `demo ${t.demo} out of range (${f.task.demonstrations.length} demonstrations)`, path: ['examples', i, 'topDemoTokens', k, 'demo'] });
      }
    });
  });
});

export type ExamplesFile = z.infer<typeof examplesFileSchema>;
export type TaskMeta = z.infer<typeof taskMetaSchema>;
export type ShownExample = z.infer<typeof shownExampleSchema>;
export type PerExample = z.infer<typeof perExampleSchema>;
export type PerExampleMetric = (typeof PER_EXAMPLE_METRICS)[number];

export class ExamplesSchemaError extends Error {
  readonly issues: { path: string; message: string }[];
  constructor(issues: { path: string; message: string }[]) {
    super(`examples JSON does not match schema v${EXAMPLES_SCHEMA_VERSION}:\n` + issues.map((i) => `  - ${i.path}: ${i.message}`).join('\n'));
    this.name = 'ExamplesSchemaError';
    this.issues = issues;
  }
}

/** Validate parsed JSON as an examples file; throws ExamplesSchemaError naming the path of every bad field. */
export function parseExamplesFile(data: unknown): ExamplesFile {
  if (typeof data === 'object' && data !== null && 'schemaVersion' in data && data.schemaVersion !== EXAMPLES_SCHEMA_VERSION) {
    throw new ExamplesSchemaError([{ path: 'schemaVersion', message: `unsupported examples schema version ${JSON.stringify(data.schemaVersion)} (this code reads ${EXAMPLES_SCHEMA_VERSION})` }]);
  }
  const result = examplesFileSchema.safeParse(data);
  if (!result.success) throw new ExamplesSchemaError(result.error.issues.map((i) => ({ path: formatPath(i.path), message: i.message })));
  return result.data;
}
