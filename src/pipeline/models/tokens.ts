// Text -> the token sequence a model family expects (its BOS policy applied).

import type { LoadedModel } from './registry.ts';

/** Tokens of `text` as one model input: the family's BOS (if any) then the text without special tokens. */
export function encodeSequence(model: Pick<LoadedModel, 'family' | 'config' | 'tokenizer'>, text: string): number[] {
  const policy = model.family.tokenPolicy(model.config);
  const ids = model.tokenizer.encode(text);
  return policy.bosTokenId === undefined ? ids : [policy.bosTokenId, ...ids];
}
