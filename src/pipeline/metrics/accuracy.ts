// Accuracy per setting and Rec2FTP with its chance level and reverse direction (paper §4.3; protocol §4.1-4.2).
// All rates are fractions in [0, 1] (the paper prints percent); an empty denominator gives `undefined`, never 0 or 1.

/** A count-based rate. `value` is numerator / denominator, or undefined when the denominator is 0. */
export interface Ratio {
  numerator: number;
  denominator: number;
  value: number | undefined;
}

export function ratio(numerator: number, denominator: number): Ratio {
  return { numerator, denominator, value: denominator === 0 ? undefined : numerator / denominator };
}

/** 1 where the prediction equals the gold label, else 0. */
export function correctness(pred: ArrayLike<number>, gold: ArrayLike<number>): Uint8Array {
  if (pred.length !== gold.length) throw new Error(`correctness: ${pred.length} predictions vs ${gold.length} labels`);
  const out = new Uint8Array(pred.length);
  for (let i = 0; i < pred.length; i++) out[i] = pred[i] === gold[i] ? 1 : 0;
  return out;
}

/**
 * Iterate over the examples to count: all of them, or `indices` (a bootstrap resample, repeats allowed).
 */
function eachIndex(n: number, indices: ArrayLike<number> | undefined, f: (i: number) => void): void {
  if (indices === undefined) {
    for (let i = 0; i < n; i++) f(i);
  } else {
    for (let j = 0; j < indices.length; j++) f(indices[j]);
  }
}

/** Accuracy = #correct / #examples, over all examples or the given resample indices. */
export function accuracy(correct: ArrayLike<number>, indices?: ArrayLike<number>): Ratio {
  let num = 0;
  let den = 0;
  eachIndex(correct.length, indices, (i) => {
    num += correct[i] ? 1 : 0;
    den++;
  });
  return ratio(num, den);
}

/** Per-example correctness (0/1) of the three settings on the same test examples. */
export interface Correctness {
  zsl: ArrayLike<number>;
  icl: ArrayLike<number>;
  ft: ArrayLike<number>;
}

export interface Rec2ftpResult {
  /** The paper's Rec2FTP: P(ICL right | ZSL wrong, FT right). */
  rec2ftp: Ratio;
  /** Its independence baseline: P(ICL right | ZSL wrong). Rec2FTP means something only above this. */
  chance: Ratio;
  /** Reverse direction: share of ICL's corrections that FT also makes, P(FT right | ZSL wrong, ICL right). */
  reverse: Ratio;
  /** Baseline of the reverse direction: P(FT right | ZSL wrong). */
  reverseChance: Ratio;
}

/** Rec2FTP, its chance level and the reverse direction, from the paper's `count_f2t` counts. */
export function rec2ftp(c: Correctness, indices?: ArrayLike<number>): Rec2ftpResult {
  const n = c.zsl.length;
  if (c.icl.length !== n || c.ft.length !== n) {
    throw new Error(`rec2ftp: settings disagree on example count (zsl ${n}, icl ${c.icl.length}, ft ${c.ft.length})`);
  }
  let zslWrong = 0;
  let iclFixes = 0; // ZSL wrong, ICL right
  let ftFixes = 0; // ZSL wrong, FT right
  let bothFix = 0; // ZSL wrong, FT right, ICL right
  eachIndex(n, indices, (i) => {
    if (c.zsl[i]) return;
    zslWrong++;
    const icl = c.icl[i] ? 1 : 0;
    const ft = c.ft[i] ? 1 : 0;
    iclFixes += icl;
    ftFixes += ft;
    bothFix += icl & ft;
  });
  return {
    rec2ftp: ratio(bothFix, ftFixes),
    chance: ratio(iclFixes, zslWrong),
    reverse: ratio(bothFix, iclFixes),
    reverseChance: ratio(ftFixes, zslWrong),
  };
}
