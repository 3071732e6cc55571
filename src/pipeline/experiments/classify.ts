// Classification by next-token scores, as the paper's code does it: one forward pass per prompt, the log-softmax
// over the full vocabulary at the last prompt token, read at each candidate label's (single) token; the
// prediction is the best-scoring candidate.

import type { ModelSession, PastState } from '../models/forward.ts';

export interface Classification {
  /** Index of the predicted candidate, per prompt. */
  predictions: number[];
  /** Log-probability of each candidate, per prompt. */
  scores: number[][];
}

/**
 * Classify prompts (token ids, ending where the label would follow) among `labelTokens`. The session must be built
 * with `logits: 'positions'`. With `past`, prompts continue a shared prefix (the demonstrations).
 */
export async function classify(
  session: ModelSession,
  prompts: number[][],
  labelTokens: number[],
  options: { batchSize?: number; past?: PastState } = {},
): Promise<Classification> {
  if (session.options.logits !== 'positions') throw new Error('classify() needs a session built with logits: "positions"');
  const batchSize = options.batchSize ?? 16;
  const predictions: number[] = [];
  const scores: number[][] = [];
  for (let start = 0; start < prompts.length; start += batchSize) {
    const sequences = prompts.slice(start, start + batchSize);
    const { outputs } = await session.forward({
      sequences,
      past: options.past,
      logitPositions: sequences.map((s) => [s.length - 1]),
      fetch: ['logits'],
    });
    const logits = outputs.logits;
    const vocab = logits.shape[2];
    sequences.forEach((_, b) => {
      const row = (logits.data as Float32Array).subarray(b * vocab, (b + 1) * vocab);
      let max = -Infinity;
      for (let i = 0; i < vocab; i++) max = Math.max(max, row[i]);
      let sum = 0;
      for (let i = 0; i < vocab; i++) sum += Math.exp(row[i] - max);
      const logZ = max + Math.log(sum);
      const s = labelTokens.map((id) => row[id] - logZ);
      let best = 0;
      for (let j = 1; j < s.length; j++) if (s[j] > s[best]) best = j;
      predictions.push(best);
      scores.push(s);
    });
  }
  return { predictions, scores };
}
