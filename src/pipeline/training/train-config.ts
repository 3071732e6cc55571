// The recipe of an embedded model: architecture, synthetic world, data mixture, optimiser and schedule.
// One JSON file per model under content/training/, validated here.

import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { createHash } from 'node:crypto';

/** Which next-token predictions count in the loss (see training/corpus.ts). */
export const LOSS_TARGETS = ['labels', 'all-tokens'] as const;
export type LossTargets = (typeof LOSS_TARGETS)[number];

export const trainConfigSchema = z.strictObject({
  id: z.string().regex(/^[a-z0-9][a-z0-9-]*$/, 'use lowercase letters, digits and dashes'),
  description: z.string().default(''),
  seed: z.int().nonnegative(),
  model: z.strictObject({
    n_layer: z.int().positive(),
    n_head: z.int().positive(),
    n_embd: z.int().positive(),
    n_positions: z.int().positive(),
    /** Starting values of the (learned) position embeddings; 'sinusoidal' makes recency easy to attend to early. */
    positionInit: z.enum(['normal', 'sinusoidal']).optional(),
  }),
  world: z.strictObject({
    seed: z.int().nonnegative(),
    clusters: z.int().positive().multipleOf(4),
    wordsPerCluster: z.int().positive(),
    fillerWords: z.int().nonnegative(),
  }),
  data: z.strictObject({
    contextOnlyShare: z.number().min(0).max(1),
    minDemos: z.int().positive(),
    maxDemos: z.int().positive(),
    /** Longest training sequence in tokens (demonstrations are dropped from the front to fit). */
    maxTokens: z.int().positive(),
    /** Shape of context-only sentences; default 1-3 words with a filler 25% of the time. */
    contextOnlySentence: z.strictObject({ maxWords: z.int().positive(), fillerRate: z.number().min(0).max(1) }).optional(),
    /** The mixed stream (see PretrainingOptions.mixKnownAndNovel); absent means the first recipe. */
    mixKnownAndNovel: z.boolean().optional(),
    /** Share of context-only sequences in the bare ' {sentence} {label}' format (default 0). */
    bareShare: z.number().min(0).max(1).optional(),
    /** Share of sequences that are a random string of words said twice, the loss on the repeat (default 0). */
    repeatShare: z.number().min(0).max(1).optional(),
    /**
     * Which next-token predictions count in the loss: 'labels' (the first recipe: label tokens only) or 'all-tokens'
     * (every token, as a language model learns). See training/corpus.ts for why the second makes in-context learning
     * emerge.
     */
    lossOn: z.enum(LOSS_TARGETS).optional(),
    /**
     * A curriculum's first phase: for its first `steps` steps these options replace the stream's own (e.g. mostly
     * bare context-only sequences of one word, where the copying circuit forms early), then the stream proper runs.
     */
    firstPhase: z.strictObject({
      steps: z.int().positive(),
      contextOnlyShare: z.number().min(0).max(1).optional(),
      bareShare: z.number().min(0).max(1).optional(),
      repeatShare: z.number().min(0).max(1).optional(),
      contextOnlySentence: z.strictObject({ maxWords: z.int().positive(), fillerRate: z.number().min(0).max(1) }).optional(),
    }).optional(),
  }),
  optimizer: z.strictObject({
    peakLr: z.number().positive(),
    warmupSteps: z.int().nonnegative(),
    totalSteps: z.int().positive(),
    minLrRatio: z.number().min(0).max(1),
    beta1: z.number().min(0).lt(1).default(0.9),
    beta2: z.number().min(0).lt(1).default(0.95),
    eps: z.number().positive().default(1e-8),
    weightDecay: z.number().min(0).default(0.1),
    /** Global gradient-norm clip (0: none). */
    clip: z.number().min(0).default(1),
  }),
  batchSize: z.int().positive(),
  eval: z.strictObject({
    every: z.int().positive(),
    examplesPerTask: z.int().positive(),
    demos: z.int().positive(),
    contextOnlyExamples: z.int().positive(),
  }),
  checkpointEvery: z.int().positive(),
}).superRefine((c, ctx) => {
  if (c.model.n_embd % c.model.n_head !== 0) ctx.addIssue({ code: 'custom', message: 'n_embd must be divisible by n_head', path: ['model', 'n_embd'] });
  if (c.data.minDemos > c.data.maxDemos) ctx.addIssue({ code: 'custom', message: 'minDemos > maxDemos', path: ['data', 'minDemos'] });
  if (c.data.maxTokens > c.model.n_positions) ctx.addIssue({ code: 'custom', message: 'maxTokens exceeds n_positions', path: ['data', 'maxTokens'] });
});

export type TrainConfig = z.infer<typeof trainConfigSchema>;

/** A training recipe that cannot be read or used; the message names the file and the field. */
export class TrainConfigError extends Error {}

export function parseTrainConfig(data: unknown, source: string): TrainConfig {
  const parsed = trainConfigSchema.safeParse(data);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    throw new TrainConfigError(`${source}: invalid training config (${issues})`);
  }
  return parsed.data;
}

export async function readTrainConfig(path: string): Promise<TrainConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new TrainConfigError(`${path}: cannot read the training config (${(err as Error).message})`);
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new TrainConfigError(`${path}: not valid JSON (${(err as Error).message})`);
  }
  return parseTrainConfig(data, path);
}

/** Identity of a recipe, so a checkpoint is never resumed under a different one. */
export function configHash(config: TrainConfig): string {
  return createHash('sha256').update(JSON.stringify(config)).digest('hex').slice(0, 16);
}
