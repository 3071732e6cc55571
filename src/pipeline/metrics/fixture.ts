// A small, valid metrics record computed from synthetic activations, deterministic from a seed, so the report can
// be built (and its tests run) before real results exist. It goes through the real metric functions, so it also
// serves as an end-to-end check that their output fits the schema.

import { Rng } from '../util/random.ts';
import { relativeDepth } from './aggregate.ts';
import { gaussianVector } from './baselines.ts';
import { kendall, type KendallExample } from './kendall.ts';
import { METRICS_SCHEMA_VERSION, type MetricsRecord } from './schema.ts';
import { simam, type SimamExample } from './simam.ts';
import { simaou, type SimaouExample } from './simaou.ts';
import { accuracyJson, layerAverageComparison, rec2ftpJson, similarityMetric } from './summarize.ts';

export interface FixtureOptions {
  numLayers?: number;
  numHeads?: number;
  numTestExamples?: number;
  /** Tokens per demonstration; k = its length. */
  demoLengths?: number[];
  /** Bootstrap resamples (default 200: a fixture needs valid intervals, not precise ones). */
  resamples?: number;
}

function mix(a: Float64Array, b: Float64Array, wb: number): Float64Array {
  return a.map((v, i) => v + wb * b[i]);
}

/** A valid MetricsRecord for model 'fixture-model', task 'fixture-task', derived only from `seed` and the options. */
export function makeMetricsFixture(seed = 1, opts: FixtureOptions = {}): MetricsRecord {
  const L = opts.numLayers ?? 4;
  const H = opts.numHeads ?? 2;
  const n = opts.numTestExamples ?? 24;
  const demoLengths = opts.demoLengths ?? [3, 4, 2, 3];
  const boot = { resamples: opts.resamples ?? 200, seed };
  const d = 16; // hidden size
  const q = 5; // query-example length for SimAM
  const N = demoLengths.reduce((s, x) => s + x, 0);
  const rng = new Rng(seed);
  const g = (len: number) => gaussianVector(rng, len);

  // ICL and FT share part of their update (so the similarities are positive), the "untrained" null model does not.
  const aou: SimaouExample[] = [];
  const aouUntrained: SimaouExample[] = [];
  const maps: SimamExample[] = [];
  const ranks: KendallExample[] = [];
  for (let e = 0; e < n; e++) {
    const ex: SimaouExample = { zsl: [], icl: [], ft: [] };
    const nul: SimaouExample = { zsl: [], icl: [], ft: [] };
    const m: SimamExample = { zsl: [], icl: [], ft: [] };
    const k: KendallExample = { icl: [], ft: [] };
    for (let l = 0; l < L; l++) {
      const z = g(d);
      const shared = g(d);
      (ex.zsl as Float64Array[]).push(z);
      (ex.icl as Float64Array[]).push(mix(mix(z, shared, 0.5), g(d), 0.4));
      (ex.ft as Float64Array[]).push(mix(mix(z, shared, 0.3), g(d), 0.4));
      (nul.zsl as Float64Array[]).push(z);
      (nul.icl as Float64Array[]).push(mix(z, g(d), 0.5));
      (nul.ft as Float64Array[]).push(mix(z, g(d), 0.5));
      const heads = { zsl: [] as Float64Array[], icl: [] as Float64Array[], ft: [] as Float64Array[] };
      for (let h = 0; h < H; h++) {
        const base = g(q);
        const delta = g(q);
        heads.zsl.push(base);
        heads.icl.push(mix(base, delta, 0.6));
        heads.ft.push(mix(mix(base, delta, 0.3), g(q), 0.3));
      }
      (m.zsl as Float64Array[][]).push(heads.zsl);
      (m.icl as Float64Array[][]).push(heads.icl);
      (m.ft as Float64Array[][]).push(heads.ft);
      const icl = g(N);
      (k.icl as Float64Array[]).push(icl);
      (k.ft as Float64Array[]).push(mix(icl, g(N), 1.5));
    }
    aou.push(ex);
    aouUntrained.push(nul);
    maps.push(m);
    ranks.push(k);
  }
  const correct = (p: number) => Uint8Array.from({ length: n }, () => (rng.uniform() < p ? 1 : 0));
  const c = { zsl: correct(0.55), icl: correct(0.8), ft: correct(0.65) };

  const so = simaou(aou, { seed });
  const soNull = simaou(aouUntrained, { seed });
  const sm = simam(maps);
  const kd = kendall(ranks, { seed, demoLengths });
  const kdExample = kd.kendall_example;
  if (!kdExample) throw new Error('fixture: example-level Kendall missing');

  return {
    schemaVersion: METRICS_SCHEMA_VERSION,
    id: { model: 'fixture-model', task: 'fixture-task', seed, position: 'label_token', learningRate: 0.001 },
    k: demoLengths.length,
    numTestExamples: n,
    numLayers: L,
    numHeads: H,
    relativeDepth: Array.from(relativeDepth(L)),
    accuracy: { zsl: accuracyJson(c.zsl, boot), icl: accuracyJson(c.icl, boot), ft: accuracyJson(c.ft, boot) },
    rec2ftp: rec2ftpJson(c, boot),
    metrics: {
      simaou_norm: similarityMetric(so.simaou_norm.values, { ...so.simaou_norm.baselines, untrained: soNull.simaou_norm.values }, boot),
      simaou_raw: similarityMetric(so.simaou_raw.values, { ...so.simaou_raw.baselines, untrained: soNull.simaou_raw.values }, boot),
      simam_before: similarityMetric(sm.values.simam_before, {}, boot, sm.perHead.simam_before),
      simam_after: similarityMetric(sm.values.simam_after, {}, boot, sm.perHead.simam_after),
      simam_delta: similarityMetric(sm.values.simam_delta, {}, boot, sm.perHead.simam_delta),
      kendall: similarityMetric(kd.kendall.values, kd.kendall.baselines, boot),
      kendall_example: similarityMetric(kdExample.values, kdExample.baselines, boot),
    },
    comparisons: [
      layerAverageComparison('simaou_norm', 'pretrained', 'untrained', so.simaou_norm.values, soNull.simaou_norm.values, boot),
      layerAverageComparison('simaou_norm', 'simaou_norm', 'baseline:uniform', so.simaou_norm.values, so.simaou_norm.baselines.uniform, boot),
    ],
  };
}
