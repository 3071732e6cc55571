// Label words as token sequences for a model. The paper's code scores single-token label words only (protocol §1.3):
// by default a word that is several tokens is an error that names the word and its pieces; with multiToken the
// per-label token sequences are returned (the caller scores summed log-probabilities).

import type { TextTokenizer } from '../models/tokenizer.ts';
import { formatAnswer, type TaskSpec } from './task.ts';

export interface LabelTokens {
  /** tokens[c]: the token ids of " " + labelWords[c]. */
  tokens: number[][];
  /** True when every label word is a single token. */
  singleToken: boolean;
}

export class LabelWordError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LabelWordError';
  }
}

/** Token pieces of ids as readable text (each id decoded alone). */
function pieces(tokenizer: TextTokenizer, ids: number[]): string {
  return `[${ids.map((id) => `'${tokenizer.decode([id])}'`).join(', ')}]`;
}

export function checkLabelWords(
  spec: Pick<TaskSpec, 'id' | 'labelWords'>,
  tokenizer: TextTokenizer,
  options: { multiToken?: boolean } = {},
): LabelTokens {
  const tokens = spec.labelWords.map((_, c) => tokenizer.encode(formatAnswer(spec, c)));
  for (const [c, ids] of tokens.entries()) {
    if (ids.length === 0) throw new LabelWordError(`task ${spec.id}: label word "${spec.labelWords[c]}" gives no tokens for this model`);
    if (ids.length > 1 && !options.multiToken) {
      throw new LabelWordError(
        `task ${spec.id}: label word "${spec.labelWords[c]}" (with its leading space) is ${ids.length} tokens for this model: ` +
          `${pieces(tokenizer, ids)}; choose single-token label words or pass --multi-token-labels to score summed log-probabilities`,
      );
    }
  }
  // Two labels that share their first token cannot be told apart by the single next-token distribution.
  const seen = new Map<string, number>();
  for (const [c, ids] of tokens.entries()) {
    const key = options.multiToken ? ids.join(',') : String(ids[0]);
    const other = seen.get(key);
    if (other !== undefined) {
      throw new LabelWordError(
        `task ${spec.id}: label words "${spec.labelWords[other]}" and "${spec.labelWords[c]}" give the same tokens ${pieces(tokenizer, ids)} for this model`,
      );
    }
    seen.set(key, c);
  }
  return { tokens, singleToken: tokens.every((t) => t.length === 1) };
}
