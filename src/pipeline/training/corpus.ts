// Batches of pretraining sequences from the synthetic world, tokenised, with the loss on label tokens only
// (the content words of a sentence are random draws; predicting them teaches nothing about the task).

import type { Rng } from '../util/random.ts';
import type { TokenPolicy } from '../models/family.ts';
import type { TextTokenizer } from '../models/tokenizer.ts';
import type { TrainingBatch } from '../models/training.ts';
import { answerIds, encodePrompt } from '../experiments/prompt.ts';
import type { World } from '../tasks/synthetic-world.ts';
import { type PretrainingOptions, samplePretrainingSequence } from '../tasks/synthetic-tasks.ts';

export interface EncodedSequence {
  ids: number[];
  /** One flag per next-token target: true where the next token is a label token. */
  targetMask: boolean[];
  contextOnly: boolean;
}

/** One pretraining sequence as tokens; demonstrations are dropped from the front until it fits `maxTokens`. */
export function encodePretrainingSequence(
  world: World,
  rng: Rng,
  policy: TokenPolicy,
  tokenizer: TextTokenizer,
  options: PretrainingOptions,
  maxTokens: number,
): EncodedSequence {
  const seq = samplePretrainingSequence(world, rng, options);
  let demos = seq.demos;
  for (;;) {
    const query = demos[demos.length - 1];
    const prompt = encodePrompt(policy, tokenizer, demos.slice(0, -1), query.input);
    const ids = [...prompt.ids, ...answerIds(tokenizer, query.label)];
    if (ids.length <= maxTokens || demos.length === 1) {
      if (ids.length > maxTokens) throw new Error(`a single demonstration needs ${ids.length} tokens, more than ${maxTokens}`);
      const labelStarts = new Set([...prompt.demoSpans.map(([, end]) => end - 1), ids.length - 1]);
      const targetMask = ids.slice(1).map((_, t) => labelStarts.has(t + 1));
      return { ids, targetMask, contextOnly: seq.contextOnly };
    }
    demos = demos.slice(1);
  }
}

export function pretrainingBatch(
  world: World,
  rng: Rng,
  policy: TokenPolicy,
  tokenizer: TextTokenizer,
  options: PretrainingOptions,
  batchSize: number,
  maxTokens: number,
): TrainingBatch {
  const seqs = Array.from({ length: batchSize }, () => encodePretrainingSequence(world, rng, policy, tokenizer, options, maxTokens));
  return { sequences: seqs.map((s) => s.ids), targetMask: seqs.map((s) => s.targetMask) };
}
