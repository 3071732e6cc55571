// From computed per-example metrics to the JSON pieces of schema.ts: per-layer means, layer averages with bootstrap
// intervals, rates with counts and intervals. Undefined values become null here, at the JSON boundary, and nowhere else.

import { type Correctness, type Ratio, accuracy, rec2ftp } from './accuracy.ts';
import { type LayerExampleMatrix, layerMeans } from './aggregate.ts';
import { type BootstrapOptions, type Interval, type PairedInterval, bootstrap, pairedBootstrap } from './bootstrap.ts';
import type { BaselineName, ComparisonJson, IntervalJson, LayerCurveJson, RatioJson, SimilarityMetricJson } from './schema.ts';

/** undefined or NaN -> null; finite numbers unchanged. */
export function jsonNumber(v: number | undefined): number | null {
  return v === undefined || Number.isNaN(v) ? null : v;
}

export function intervalJson(i: Interval): IntervalJson {
  return {
    estimate: jsonNumber(i.estimate),
    lo: jsonNumber(i.lo),
    hi: jsonNumber(i.hi),
    level: i.level,
    resamples: i.resamples,
    validResamples: i.validResamples,
  };
}

export function ratioJson(r: Ratio, ci: Interval): RatioJson {
  return { numerator: r.numerator, denominator: r.denominator, value: jsonNumber(r.value), ci: intervalJson(ci) };
}

/**
 * The paper's layer average on a resample: per layer, the mean over the selected examples (NaN skipped), then the
 * mean over layers that have a defined value. With `indices` omitted, all examples.
 */
export function layerAverageAt(m: LayerExampleMatrix, indices?: ArrayLike<number>): number | undefined {
  let total = 0;
  let layers = 0;
  for (const row of m) {
    let s = 0;
    let k = 0;
    const n = indices ? indices.length : row.length;
    for (let j = 0; j < n; j++) {
      const v = row[indices ? indices[j] : j];
      if (!Number.isNaN(v)) {
        s += v;
        k++;
      }
    }
    if (k > 0) {
      total += s / k;
      layers++;
    }
  }
  return layers === 0 ? undefined : total / layers;
}

function numExamplesOf(m: LayerExampleMatrix): number {
  return m.length === 0 ? 0 : m[0].length;
}

/** Bootstrap interval of the layer-averaged value, resampling test examples (whole columns of the matrix). */
export function layerAverageInterval(m: LayerExampleMatrix, opts: BootstrapOptions = {}): Interval {
  return bootstrap(numExamplesOf(m), (idx) => layerAverageAt(m, idx), opts);
}

/** Per-layer means and the layer average with its interval. */
export function layerCurve(m: LayerExampleMatrix, opts: BootstrapOptions = {}): LayerCurveJson {
  return { perLayer: layerMeans(m).map(jsonNumber), mean: intervalJson(layerAverageInterval(m, opts)) };
}

/** A similarity metric with whichever baselines were computed (the others are null: not applicable or not run). */
export function similarityMetric(
  values: LayerExampleMatrix,
  baselines: Partial<Record<BaselineName, LayerExampleMatrix>>,
  opts: BootstrapOptions = {},
  perHead?: readonly ArrayLike<number>[],
): SimilarityMetricJson {
  const curve = (name: BaselineName): LayerCurveJson | null => {
    const b = baselines[name];
    return b ? layerCurve(b, opts) : null;
  };
  const out: SimilarityMetricJson = {
    numExamples: numExamplesOf(values),
    ...layerCurve(values, opts),
    baselines: { uniform: curve('uniform'), gaussian: curve('gaussian'), untrained: curve('untrained'), 'trained-embeddings': curve('trained-embeddings') },
  };
  if (perHead) out.perHead = perHead.map((row) => Array.from(row, (v) => jsonNumber(v)));
  return out;
}

/** Paired-bootstrap difference of the layer-averaged metric between A and B on the same examples. */
export function layerAverageComparison(metric: string, a: string, b: string, ma: LayerExampleMatrix, mb: LayerExampleMatrix, opts: BootstrapOptions = {}): ComparisonJson {
  if (numExamplesOf(ma) !== numExamplesOf(mb)) throw new Error(`layerAverageComparison: ${a} and ${b} have different example counts`);
  const d: PairedInterval = pairedBootstrap(numExamplesOf(ma), (idx) => layerAverageAt(ma, idx), (idx) => layerAverageAt(mb, idx), opts);
  return { metric, a, b, diff: intervalJson(d), pValue: jsonNumber(d.pValue) };
}

/** Accuracy of one setting with counts and a bootstrap interval. */
export function accuracyJson(correct: ArrayLike<number>, opts: BootstrapOptions = {}): RatioJson {
  return ratioJson(accuracy(correct), bootstrap(correct.length, (idx) => accuracy(correct, idx).value, opts));
}

/** Rec2FTP, chance, reverse and reverse chance with counts and bootstrap intervals (same resamples for all four). */
export function rec2ftpJson(c: Correctness, opts: BootstrapOptions = {}): Record<'rec2ftp' | 'chance' | 'reverse' | 'reverseChance', RatioJson> {
  const point = rec2ftp(c);
  const n = c.zsl.length;
  const ci = (key: keyof typeof point) => bootstrap(n, (idx) => rec2ftp(c, idx)[key].value, opts);
  return {
    rec2ftp: ratioJson(point.rec2ftp, ci('rec2ftp')),
    chance: ratioJson(point.chance, ci('chance')),
    reverse: ratioJson(point.reverse, ci('reverse')),
    reverseChance: ratioJson(point.reverseChance, ci('reverseChance')),
  };
}
