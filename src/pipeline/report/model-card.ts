// A model's card (`content/models/<modelId>/card.json`): what the report says about a model beyond its metrics.
// Optional: without a card the report shows what the metrics records tell (layers, heads) and the id as its name.

import { z } from 'zod';
import { formatPath } from '../metrics/schema.ts';

export const trainingPointSchema = z.strictObject({
  step: z.int().nonnegative(),
  loss: z.number(),
  /** Zero-shot / in-context accuracy on a probe set at this step, as fractions in [0, 1]. */
  zslAcc: z.number().min(0).max(1).optional(),
  iclAcc: z.number().min(0).max(1).optional(),
});

export const modelCardSchema = z.strictObject({
  displayName: z.string().min(1),
  family: z.string().min(1),
  parameters: z.int().positive(),
  layers: z.int().positive(),
  heads: z.int().positive(),
  dModel: z.int().positive(),
  description: z.string(),
  /** 'embedded': trained by this project, shipped in the repo; 'hub': downloaded pretrained weights. */
  source: z.enum(['embedded', 'hub']),
  /** Hub repository id for hub models, e.g. "openai-community/gpt2". */
  hubId: z.string().optional(),
  /** Training curve of an embedded model (in step order). */
  trainingCurve: z.array(trainingPointSchema).optional(),
}).superRefine((c, ctx) => {
  if (c.dModel % c.heads !== 0) ctx.addIssue({ code: 'custom', message: `dModel ${c.dModel} is not a multiple of heads ${c.heads}`, path: ['dModel'] });
  const steps = c.trainingCurve?.map((p) => p.step) ?? [];
  if (steps.some((s, i) => i > 0 && s <= steps[i - 1])) ctx.addIssue({ code: 'custom', message: 'steps must increase', path: ['trainingCurve'] });
});

export type ModelCard = z.infer<typeof modelCardSchema>;
export type TrainingPoint = z.infer<typeof trainingPointSchema>;

export class ModelCardError extends Error {}

export function parseModelCard(data: unknown): ModelCard {
  const r = modelCardSchema.safeParse(data);
  if (!r.success) throw new ModelCardError(`model card does not match its schema:\n${r.error.issues.map((i) => `  - ${formatPath(i.path)}: ${i.message}`).join('\n')}`);
  return r.data;
}
