// Kendall rank correlation between ICL's attention to the demonstration tokens and FT's dual-form attention to the
// training tokens (paper §4.6, protocol §4.5). The paper's code uses scipy.stats.kendalltau's default, tau-b; we
// implement tau-b exactly as scipy does (Knight's O(n log n) algorithm), so ties are handled the same way.

import { Rng } from '../util/random.ts';
import { type LayerExampleMatrix, newMatrix } from './aggregate.ts';
import { uniformVector } from './baselines.ts';
import { type Vec, assertSameLength, dot } from './cosine.ts';

/**
 * Kendall tau-b, as scipy.stats.kendalltau(x, y) (variant 'b'):
 * (n_c - n_d) / sqrt((n0 - n_x)(n0 - n_y)), with n0 = n(n-1)/2 and n_x, n_y the pairs tied in x, in y (joint ties
 * count in both). Undefined where scipy gives NaN: fewer than 2 values, or x or y constant. Throws on NaN inputs,
 * which would mean a broken capture rather than a statistic.
 */
export function kendallTauB(x: Vec, y: Vec): number | undefined {
  assertSameLength(x, y, 'kendallTauB');
  const n = x.length;
  for (let i = 0; i < n; i++) {
    if (Number.isNaN(x[i]) || Number.isNaN(y[i])) throw new Error(`kendallTauB: NaN at index ${i}`);
  }
  if (n < 2) return undefined;

  // Dense ranks of y (1-based) for the Fenwick tree.
  const byY = Uint32Array.from({ length: n }, (_, i) => i).sort((a, b) => y[a] - y[b]);
  const yRank = new Uint32Array(n);
  let r = 0;
  for (let j = 0; j < n; j++) {
    if (j === 0 || y[byY[j]] !== y[byY[j - 1]]) r++;
    yRank[byY[j]] = r;
  }
  const numYRanks = r;

  // Visit in (x, y) order. A pair (earlier j, later i) is discordant iff y_j > y_i and x_j < x_i; pairs tied in x
  // come sorted by y, so none of them is counted as discordant.
  const order = Uint32Array.from({ length: n }, (_, i) => i).sort((a, b) => x[a] - x[b] || y[a] - y[b]);
  const tree = new Float64Array(numYRanks + 1);
  let discordant = 0;
  for (let j = 0; j < n; j++) {
    const rank = yRank[order[j]];
    // Count of earlier elements with rank <= current.
    let le = 0;
    for (let k = rank; k > 0; k -= k & -k) le += tree[k];
    discordant += j - le;
    for (let k = rank; k <= numYRanks; k += k & -k) tree[k] += 1;
  }

  const tiedPairs = (runs: number[]): number => runs.reduce((s, t) => s + (t * (t - 1)) / 2, 0);
  const runLengths = (sorted: Uint32Array, same: (a: number, b: number) => boolean): number[] => {
    const runs: number[] = [];
    let len = 1;
    for (let j = 1; j < n; j++) {
      if (same(sorted[j], sorted[j - 1])) len++;
      else {
        runs.push(len);
        len = 1;
      }
    }
    runs.push(len);
    return runs;
  };
  const xTies = tiedPairs(runLengths(order, (a, b) => x[a] === x[b]));
  const yTies = tiedPairs(runLengths(byY, (a, b) => y[a] === y[b]));
  const jointTies = tiedPairs(runLengths(order, (a, b) => x[a] === x[b] && y[a] === y[b]));
  const total = (n * (n - 1)) / 2;
  if (xTies === total || yTies === total) return undefined;
  // concordant - discordant = total - xTies - yTies + jointTies - 2 * discordant (scipy's identity).
  const conMinusDis = total - xTies - yTies + jointTies - 2 * discordant;
  const tau = conMinusDis / Math.sqrt(total - xTies) / Math.sqrt(total - yTies);
  return Math.min(1, Math.max(-1, tau));
}

/** A run of positions [start, start + length). */
export interface Span {
  start: number;
  length: number;
}

/**
 * Where the demonstration tokens sit in the ICL context, for the paper's layout `<s> D_1 </s> D_2 </s> ... D_k </s>`:
 * D_1 starts at `offset` (1, after BOS) and one separator follows each demonstration. Other prompt layouts pass
 * their own offset/separator length (or build the spans themselves).
 */
export function demoTokenSpans(demoLengths: readonly number[], opts: { offset?: number; separator?: number } = {}): Span[] {
  let pos = opts.offset ?? 1;
  const sep = opts.separator ?? 1;
  return demoLengths.map((length) => {
    const span = { start: pos, length };
    pos += length + sep;
    return span;
  });
}

/** Consecutive spans covering the concatenated training tokens, one per demonstration (for the example level). */
export function concatSpans(demoLengths: readonly number[]): Span[] {
  return demoTokenSpans(demoLengths, { offset: 0, separator: 0 });
}

/** The entries of `row` inside the spans, concatenated (e.g. the demo tokens out of a context score row). */
export function gatherSpans(row: Vec, spans: readonly Span[]): Float64Array {
  const total = spans.reduce((s, sp) => s + sp.length, 0);
  const out = new Float64Array(total);
  let k = 0;
  for (const sp of spans) {
    if (sp.start < 0 || sp.start + sp.length > row.length) throw new Error(`gatherSpans: span ${sp.start}+${sp.length} outside row of ${row.length}`);
    for (let i = 0; i < sp.length; i++) out[k++] = row[sp.start + i];
  }
  return out;
}

/** Sum of `row` inside each span: one value per span. */
export function sumPerSpan(row: Vec, spans: readonly Span[]): Float64Array {
  return Float64Array.from(spans.map((sp) => {
    if (sp.start < 0 || sp.start + sp.length > row.length) throw new Error(`sumPerSpan: span ${sp.start}+${sp.length} outside row of ${row.length}`);
    let s = 0;
    for (let i = 0; i < sp.length; i++) s += row[sp.start + i];
    return s;
  }));
}

/** Numerically stable softmax. */
export function softmax(row: Vec): Float64Array {
  let max = -Infinity;
  for (let i = 0; i < row.length; i++) max = Math.max(max, row[i]);
  const out = new Float64Array(row.length);
  let s = 0;
  for (let i = 0; i < row.length; i++) {
    out[i] = Math.exp(row[i] - max);
    s += out[i];
  }
  for (let i = 0; i < row.length; i++) out[i] /= s;
  return out;
}

/**
 * FT's dual-form attention to the training tokens for one layer: q_j · q* for each training token j, where q_j is the
 * query of training token j recorded at its FT step and q* the FT model's query at the analysis position. Heads are
 * concatenated, so the full dot product is the head sum the paper describes. Whether the queries are scaled by
 * head_dim^-0.5 (paper's code) or not (our `attn.q`) multiplies every score by the same positive constant and leaves
 * the ranks, hence Kendall, unchanged.
 */
export function dualFormScores(trainQueries: readonly Vec[], testQuery: Vec): Float64Array {
  return Float64Array.from(trainQueries.map((q) => dot(q, testQuery)));
}

/**
 * One test example, per layer: ICL's head-summed pre-softmax scores from the analysis position to the N training
 * (demonstration) tokens, and FT's dual-form scores to the same N tokens in the same order.
 */
export interface KendallExample {
  icl: readonly Vec[];
  ft: readonly Vec[];
}

export interface KendallLevelResult {
  /** tau-b(ICL, FT), [layer][example]; NaN where undefined (a constant vector). */
  values: LayerExampleMatrix;
  /** tau-b(ICL, u) with u ~ Uniform[0,1) fresh per (example, layer), the paper's random baseline. */
  baselines: { uniform: LayerExampleMatrix };
}

export interface KendallResult {
  /** Token level (the paper's Kendall): vectors of length N. */
  kendall: KendallLevelResult;
  /**
   * Example level (in the paper's code, not its text): each vector is softmax-ed over the N tokens and summed per
   * demonstration, giving the attention mass on each of the k demonstrations. Present when `demoLengths` is given.
   */
  kendall_example?: KendallLevelResult;
}

/**
 * Kendall per (layer, example) at token level and, with `demoLengths` (tokens per demonstration, summing to N), at
 * example level. A random vector is ranked like any other continuous iid draw, so a Gaussian baseline would have the
 * same distribution as the uniform one; only the paper's uniform baseline is computed.
 */
export function kendall(examples: readonly KendallExample[], opts: { seed: number; demoLengths?: readonly number[] }): KendallResult {
  const numExamples = examples.length;
  const numLayers = numExamples === 0 ? 0 : examples[0].icl.length;
  const master = new Rng(opts.seed);
  const tokenRng = master.fork();
  const exampleRng = master.fork();
  const spans = opts.demoLengths ? concatSpans(opts.demoLengths) : undefined;
  const make = (): KendallLevelResult => ({
    values: newMatrix(numLayers, numExamples),
    baselines: { uniform: newMatrix(numLayers, numExamples) },
  });
  const token = make();
  const exampleLevel = spans ? make() : undefined;
  const tau = (a: Vec, b: Vec): number => kendallTauB(a, b) ?? NaN;
  for (let e = 0; e < numExamples; e++) {
    const ex = examples[e];
    if (ex.icl.length !== numLayers || ex.ft.length !== numLayers) {
      throw new Error(`kendall: example ${e} has a different layer count (expected ${numLayers})`);
    }
    for (let l = 0; l < numLayers; l++) {
      const icl = ex.icl[l];
      const ft = ex.ft[l];
      assertSameLength(icl, ft, `kendall example ${e} layer ${l} icl/ft`);
      token.values[l][e] = tau(icl, ft);
      token.baselines.uniform[l][e] = tau(icl, uniformVector(tokenRng, icl.length));
      if (spans && exampleLevel) {
        const n = spans.reduce((s, sp) => s + sp.length, 0);
        if (n !== icl.length) throw new Error(`kendall: demoLengths sum to ${n} but vectors have ${icl.length} tokens`);
        const iclEx = sumPerSpan(softmax(icl), spans);
        const ftEx = sumPerSpan(softmax(ft), spans);
        exampleLevel.values[l][e] = tau(iclEx, ftEx);
        exampleLevel.baselines.uniform[l][e] = tau(iclEx, uniformVector(exampleRng, spans.length));
      }
    }
  }
  return exampleLevel ? { kendall: token, kendall_example: exampleLevel } : { kendall: token };
}
