// Graph pieces every decoder family builds the same way: gathering rows at chosen positions, the attention-scores
// capture, and the final norm + unembedding. The blocks themselves stay in each family's module, where they differ.

import type { Graph, Value } from '../engine/graph.ts';
import { type GraphOptions, type ParamSource, captureName } from './family.ts';

/** Gather rows of a [batch, time, ...] value at `positions` [batch, n, 1]. */
export function atPositions(g: Graph, x: Value, positions: Value): Value {
  return g.gatherND(x, positions, 1);
}

/** Output layer `l`'s scores [batch, heads, time, keys] as the attn.scores capture, at the captured positions if any. */
export function outputScores(g: Graph, scores: Value, l: number, capturePositions: Value | undefined): void {
  const s = capturePositions
    ? g.transpose(atPositions(g, g.transpose(scores, [0, 2, 1, 3]), capturePositions), [0, 2, 1, 3])
    : scores;
  g.output(s, captureName(l, 'attn.scores'));
}

/**
 * The logits the options ask for: none, every position, or the rows at the `logit_positions` input; `finalNorm` is
 * the family's last norm, and the unembedding is the token embedding when tied.
 */
export function outputLogits(
  g: Graph,
  x: Value,
  options: GraphOptions,
  param: ParamSource,
  finalNorm: (x: Value) => Value,
  tieWordEmbeddings: boolean,
): void {
  const mode = options.logits ?? 'all';
  if (mode === 'none') return;
  const rows = mode === 'positions' ? atPositions(g, x, g.input('logit_positions', 'int64', ['batch', 'n_logit', 1])) : x;
  const unembed = tieWordEmbeddings ? param('embed.tokens') : param('unembed.weight');
  g.output(g.matmul(finalNorm(rows), g.transpose(unembed, [1, 0])), 'logits');
}
