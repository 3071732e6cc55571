// The causal + padding attention bias, built inside the graph from what varies between calls: which keys are real.
// Families add it to their pre-softmax scores; it is computed once per run and shared by every layer.

import type { Graph, Value } from '../engine/graph.ts';

// Additive bias for masked keys: large enough that exp() underflows to exactly 0, finite so that a fully masked row
// can never turn into NaN.
export const MASKED_BIAS = -1e9;

/** Name of the mask input: [batch, past+time] bool, true where the key at that absolute position is a real token. */
export const KEY_MASK = 'key_mask';

/**
 * The bias [batch, 1, time, keys] for queries of `inputIds` [batch, time], which are the last `time` of `keys`
 * positions (the first keys - time come from a reused prefix): 0 where the key is real and not after the query's
 * absolute position, MASKED_BIAS elsewhere. Only integer and boolean ops: nothing here carries a gradient.
 * With `window` (GPT-Neo's local attention), a key at absolute position j is visible from the query at i only when
 * also i - window < j (so j in (i - window, i]); without it, the bias is as before.
 */
export function causalPaddingBias(g: Graph, inputIds: Value, keyMask: Value, window?: number): Value {
  if (window !== undefined && (!Number.isInteger(window) || window < 1)) throw new Error(`attention window must be a positive integer, got ${window}`);
  return g.scope(window === undefined ? 'attention_mask' : `attention_mask_window${window}`, () => {
    const dim = (v: Value, axis: number) => g.gather(g.shape(v), g.constantInt([axis], []));
    const keys = dim(keyMask, 1);
    const time = dim(inputIds, 1);
    const keyPos = g.unsqueeze(g.range(keys), [0]); // [1, keys]
    const queryPos = g.unsqueeze(g.add(g.range(time), g.sub(keys, time)), [1]); // [time, 1]: absolute positions
    let causal = g.lessOrEqual(keyPos, queryPos); // [time, keys]
    if (window !== undefined) causal = g.and(causal, g.less(g.sub(queryPos, g.constantInt([window], [])), keyPos));
    const visible = g.and(causal, g.unsqueeze(keyMask, [1, 2])); // [batch, 1, time, keys]
    return g.where(visible, g.constantFloat(0), g.constantFloat(MASKED_BIAS));
  });
}
