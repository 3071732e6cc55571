// Prompt construction shared by every experiment: demonstrations and the query, in a family's token policy.
// Sequence = [BOS] + D_1 + SEP + D_2 + SEP + ... + D_k + SEP + input, with D_i = input_i + ' ' + label_i, as the
// paper's code builds it (its separator is </s>, a newline for those models).

import type { TokenPolicy } from '../models/family.ts';
import type { TextTokenizer } from '../models/tokenizer.ts';

export interface Demonstration {
  input: string;
  label: string;
}

export interface EncodedPrompt {
  ids: number[];
  /** [start, end) token spans of each demonstration (input + label, without the separator). */
  demoSpans: Array<[number, number]>;
  /** Where the query's input starts. */
  queryStart: number;
}

export function separatorIds(policy: TokenPolicy, tokenizer: TextTokenizer): number[] {
  return policy.demoSeparator.kind === 'token' ? [policy.demoSeparator.tokenId] : tokenizer.encode(policy.demoSeparator.text);
}

/** The answer's tokens: the label word after a space, as the paper's code appends it. */
export function answerIds(tokenizer: TextTokenizer, label: string): number[] {
  return tokenizer.encode(` ${label}`);
}

export function encodePrompt(
  policy: TokenPolicy,
  tokenizer: TextTokenizer,
  demos: readonly Demonstration[],
  queryInput: string,
): EncodedPrompt {
  const ids: number[] = policy.bosTokenId === undefined ? [] : [policy.bosTokenId];
  const sep = separatorIds(policy, tokenizer);
  const demoSpans: Array<[number, number]> = [];
  for (const d of demos) {
    const start = ids.length;
    ids.push(...tokenizer.encode(d.input), ...answerIds(tokenizer, d.label));
    demoSpans.push([start, ids.length]);
    ids.push(...sep);
  }
  const queryStart = ids.length;
  ids.push(...tokenizer.encode(queryInput));
  return { ids, demoSpans, queryStart };
}
