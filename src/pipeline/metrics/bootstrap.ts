// Percentile bootstrap confidence intervals over test examples, and a paired bootstrap for the difference of a metric
// between two models or settings evaluated on the same examples (resampling the same indices for both keeps their
// per-example correlation, which an unpaired comparison would throw away). Seeded: same inputs + seed, same interval.

import { Rng } from '../util/random.ts';

export interface BootstrapOptions {
  /** Number of resamples (default 1000). */
  resamples?: number;
  /** Coverage of the interval (default 0.95). */
  level?: number;
  /** Seed of the resampling generator (default 0). */
  seed?: number;
}

export interface Interval {
  /** The statistic on the original sample; undefined if it is undefined there. */
  estimate: number | undefined;
  /** Percentile bounds; undefined when no resample gave a defined statistic. */
  lo: number | undefined;
  hi: number | undefined;
  level: number;
  resamples: number;
  /** Resamples whose statistic was defined (e.g. a ratio whose denominator was not empty). */
  validResamples: number;
}

export interface PairedInterval extends Interval {
  /** Two-sided bootstrap p-value for "no difference": 2 * min(share of resampled differences <= 0, share >= 0). */
  pValue: number | undefined;
}

/** A statistic of the examples selected by `indices` (a resample: repeats allowed). Undefined when not defined. */
export type Statistic = (indices: Uint32Array) => number | undefined;

/** Linear-interpolation quantile (numpy's default) of an ascending array. */
export function quantileSorted(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) throw new Error('quantileSorted: empty');
  const h = (sorted.length - 1) * p;
  const lo = Math.floor(h);
  const hi = Math.min(sorted.length - 1, lo + 1);
  return sorted[lo] + (h - lo) * (sorted[hi] - sorted[lo]);
}

function resolve(opts: BootstrapOptions): Required<BootstrapOptions> {
  const resamples = opts.resamples ?? 1000;
  const level = opts.level ?? 0.95;
  if (!(resamples > 0) || !Number.isInteger(resamples)) throw new Error(`bootstrap: resamples must be a positive integer, got ${resamples}`);
  if (!(level > 0 && level < 1)) throw new Error(`bootstrap: level must be in (0, 1), got ${level}`);
  return { resamples, level, seed: opts.seed ?? 0 };
}

function identity(n: number): Uint32Array {
  return Uint32Array.from({ length: n }, (_, i) => i);
}

/** Run `each` on `resamples` bootstrap index sets of size n. */
function resampleLoop(n: number, o: Required<BootstrapOptions>, each: (idx: Uint32Array) => void): void {
  const rng = new Rng(o.seed);
  const idx = new Uint32Array(n);
  for (let b = 0; b < o.resamples; b++) {
    for (let i = 0; i < n; i++) idx[i] = rng.int(n);
    each(idx);
  }
}

function percentile(estimate: number | undefined, draws: number[], o: Required<BootstrapOptions>): Interval {
  const sorted = Float64Array.from(draws).sort();
  const alpha = (1 - o.level) / 2;
  const ok = sorted.length > 0;
  return {
    estimate,
    lo: ok ? quantileSorted(sorted, alpha) : undefined,
    hi: ok ? quantileSorted(sorted, 1 - alpha) : undefined,
    level: o.level,
    resamples: o.resamples,
    validResamples: sorted.length,
  };
}

/** The statistic on the sample and its defined values on each resample. */
function collect(n: number, statistic: Statistic, o: Required<BootstrapOptions>): { estimate: number | undefined; draws: number[] } {
  const estimate = n === 0 ? undefined : statistic(identity(n));
  const draws: number[] = [];
  if (n > 0) {
    resampleLoop(n, o, (idx) => {
      const v = statistic(idx);
      if (v !== undefined && !Number.isNaN(v)) draws.push(v);
    });
  }
  return { estimate, draws };
}

/** Percentile bootstrap interval of any statistic over n examples. */
export function bootstrap(n: number, statistic: Statistic, opts: BootstrapOptions = {}): Interval {
  const o = resolve(opts);
  const { estimate, draws } = collect(n, statistic, o);
  return percentile(estimate, draws, o);
}

/** Mean of the selected entries, skipping NaN (undefined per-example values). */
function meanAt(values: ArrayLike<number>, idx: Uint32Array): number | undefined {
  let s = 0;
  let k = 0;
  for (let j = 0; j < idx.length; j++) {
    const v = values[idx[j]];
    if (!Number.isNaN(v)) {
      s += v;
      k++;
    }
  }
  return k === 0 ? undefined : s / k;
}

/** Bootstrap interval of the mean of per-example values (NaN entries are undefined values and are skipped). */
export function bootstrapMean(values: ArrayLike<number>, opts: BootstrapOptions = {}): Interval {
  return bootstrap(values.length, (idx) => meanAt(values, idx), opts);
}

/**
 * Paired bootstrap of statA - statB: both statistics are evaluated on the same resampled example indices, so the
 * examples must be the same, in the same order, for A and B.
 */
export function pairedBootstrap(n: number, statA: Statistic, statB: Statistic, opts: BootstrapOptions = {}): PairedInterval {
  const diff: Statistic = (idx) => {
    const a = statA(idx);
    const b = statB(idx);
    return a === undefined || b === undefined ? undefined : a - b;
  };
  const o = resolve(opts);
  const { estimate, draws } = collect(n, diff, o);
  let le = 0;
  let ge = 0;
  for (const d of draws) {
    if (d <= 0) le++;
    if (d >= 0) ge++;
  }
  const pValue = draws.length === 0 ? undefined : Math.min(1, (2 * Math.min(le, ge)) / draws.length);
  return { ...percentile(estimate, draws, o), pValue };
}

/**
 * Paired bootstrap of mean(a) - mean(b) for per-example values of two models/settings on the same examples
 * (a[i] and b[i] belong to example i). NaN entries are skipped in their own mean.
 */
export function pairedBootstrapMeanDiff(a: ArrayLike<number>, b: ArrayLike<number>, opts: BootstrapOptions = {}): PairedInterval {
  if (a.length !== b.length) throw new Error(`pairedBootstrapMeanDiff: ${a.length} vs ${b.length} examples; pairing needs the same examples`);
  return pairedBootstrap(a.length, (idx) => meanAt(a, idx), (idx) => meanAt(b, idx), opts);
}
