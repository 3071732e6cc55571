// Batches of pretraining sequences from the synthetic world, tokenised, with the loss on label tokens only (the
// first recipe) or on every token (see withLossTargets: predicting the content words is what teaches the model to read
// its context).

import type { Rng } from '../util/random.ts';
import type { TokenPolicy } from '../models/family.ts';
import type { TextTokenizer } from '../models/tokenizer.ts';
import type { TrainingBatch } from '../models/training.ts';
import { answerIds, separatorIds } from '../experiments/prompt.ts';
import type { World } from '../tasks/synthetic-world.ts';
import { type PretrainingOptions, samplePretrainingSequence } from '../tasks/synthetic-tasks.ts';
import type { LossTargets } from './train-config.ts';

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
  // (No draw at all without repeated text, so streams without it stay what they were.)
  if ((options.repeatShare ?? 0) > 0 && rng.uniform() < options.repeatShare!) return encodeRepeatedText(world, rng, policy, tokenizer, maxTokens);
  const seq = samplePretrainingSequence(world, rng, options);
  // Each demonstration is encoded once; dropping one from the front drops its tokens and a separator. The ids are
  // those of encodePrompt(policy, tokenizer, kept demos, query input) followed by the query's answer.
  const bos = policy.bosTokenId === undefined ? [] : [policy.bosTokenId];
  const sep = separatorIds(policy, tokenizer);
  const query = seq.demos[seq.demos.length - 1];
  const tail = [...tokenizer.encode(query.input), ...answerIds(tokenizer, query.label)];
  const demos = seq.demos.slice(0, -1).map((d) => [...tokenizer.encode(d.input), ...answerIds(tokenizer, d.label)]);
  let first = 0;
  let length = bos.length + demos.reduce((n, d) => n + d.length + sep.length, 0) + tail.length;
  while (length > maxTokens && first < demos.length) length -= demos[first++].length + sep.length;
  if (length > maxTokens) throw new Error(`a single demonstration needs ${length} tokens, more than ${maxTokens}`);
  const ids = [...bos];
  const labelStarts = new Set<number>();
  for (const d of demos.slice(first)) {
    for (const id of d) ids.push(id);
    labelStarts.add(ids.length - 1);
    for (const id of sep) ids.push(id);
  }
  for (const id of tail) ids.push(id);
  labelStarts.add(ids.length - 1);
  const targetMask = ids.slice(1).map((_, t) => labelStarts.has(t + 1));
  return { ids, targetMask, contextOnly: seq.contextOnly };
}

/**
 * A random string of the world's words, then the same string again, with the loss on the repeat: the task on which
 * induction heads (find the earlier occurrence of this token, copy what followed it) form, after ~1000 steps of
 * repeats for a 2-layer model here. Natural text teaches a language model this through its repetitions; the
 * synthetic world has none of its own. Its tokens count in the mean-token loss: a large share drowns the labels.
 */
export function encodeRepeatedText(world: World, rng: Rng, policy: TokenPolicy, tokenizer: TextTokenizer, maxTokens: number): EncodedSequence {
  const bos = policy.bosTokenId === undefined ? [] : [policy.bosTokenId];
  const vocabulary = [...world.clusters.flatMap((c) => c.words), ...world.fillers];
  const longest = Math.max(2, Math.min(48, Math.floor((maxTokens - bos.length) / 2)));
  const words = Array.from({ length: 2 + rng.int(longest - 1) }, () => vocabulary[rng.int(vocabulary.length)]);
  const once = tokenizer.encode(` ${words.join(' ')}`);
  const ids = [...bos, ...once, ...once];
  if (ids.length > maxTokens) throw new Error(`repeated text of ${ids.length} tokens exceeds ${maxTokens}`);
  // Target t predicts ids[t + 1]: every token of the repeat after its first one is predictable by copying.
  const firstCopyable = bos.length + once.length + 1;
  const targetMask = ids.slice(1).map((_, t) => t + 1 >= firstCopyable);
  return { ids, targetMask, contextOnly: false };
}

/**
 * Which targets count in the loss (LossTargets). 'labels' (the default) keeps each sequence's own mask; 'all-tokens'
 * counts every next-token prediction. Measured (scripts/recipe-search/sweep.py on a GPU, 4 layers, d_model 128):
 * with label tokens only, no variant of the stream learnt in context within 10000 steps, and with a context the
 * models mostly ignored their query (in-context accuracy at a constant-label rate on most tasks); with every token in
 * the loss, accuracy on context-only sequences jumped from chance to ~0.8 between steps 5500 and 8000. The dense loss
 * teaches attention to the current sentence (to predict its next words) and which words share a cluster, the two
 * parts of the circuit that matches a query to its demonstrations.
 */
function withLossTargets(sequence: EncodedSequence, lossOn: LossTargets): EncodedSequence {
  return lossOn === 'labels' ? sequence : { ...sequence, targetMask: sequence.targetMask.map(() => true) };
}

export function pretrainingBatch(
  world: World,
  rng: Rng,
  policy: TokenPolicy,
  tokenizer: TextTokenizer,
  options: PretrainingOptions & { lossOn?: LossTargets },
  batchSize: number,
  maxTokens: number,
): TrainingBatch {
  const seqs = Array.from({ length: batchSize }, () =>
    withLossTargets(encodePretrainingSequence(world, rng, policy, tokenizer, options, maxTokens), options.lossOn ?? 'labels'),
  );
  return { sequences: seqs.map((s) => s.ids), targetMask: seqs.map((s) => s.targetMask) };
}
