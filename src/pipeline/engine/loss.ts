// Training objectives as graph fragments.

import type { Graph, Value } from './graph.ts';

/**
 * Mean next-token negative log-likelihood over a target mask. `logits` is [batch, n, vocab]: every position
 * (n = time) or gathered ones (n = n_logit). Adds the inputs `targets` [batch, n] (int64: the token each row should
 * predict, i.e. the next token) and `target_mask` [batch, n] (1 where that row's prediction counts, 0 for padding
 * and the last token). loss = sum(mask * -log_softmax(logits)[target]) / sum(mask).
 */
export function addNextTokenLoss(g: Graph, logits: Value): Value {
  const rows = logits.shape[1];
  const targets = g.input('targets', 'int64', ['batch', rows]);
  const mask = g.input('target_mask', g.floatType, ['batch', rows]);
  const logProbs = g.logSoftmax(logits, -1);
  const picked = g.squeeze(g.gatherElements(logProbs, g.unsqueeze(targets, [-1]), -1), [-1]);
  const total = g.reduceSum(g.mul(picked, mask), [0, 1], false);
  return g.neg(g.div(total, g.reduceSum(mask, [0, 1], false)));
}
