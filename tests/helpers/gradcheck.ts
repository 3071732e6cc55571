// Central finite differences against the gradients our autodiff emits, both evaluated by ONNX Runtime.

import { Graph, type Value } from '../../src/pipeline/engine/graph.ts';
import { addGradients } from '../../src/pipeline/engine/autodiff.ts';
import { Runner } from '../../src/pipeline/engine/runner.ts';
import type { Dim } from '../../src/pipeline/engine/shape.ts';
import { type HostTensor, floatTensor, sizeOf } from '../../src/pipeline/engine/tensor.ts';
import { Rng } from '../../src/pipeline/util/random.ts';

export interface GradInput {
  /** Declared shape (may be symbolic); `sizes` gives the run-time value of each symbol. */
  shape: Dim[];
  /** Values are drawn uniformly from [lo, hi). */
  lo?: number;
  hi?: number;
}

export interface GradCase {
  name: string;
  /** Differentiated inputs. */
  inputs: GradInput[];
  /** Run-time sizes of symbolic dimensions. */
  sizes?: Record<string, number>;
  /** The op(s) under test; every returned value enters the scalar as sum(out * fixed random weights). */
  build(g: Graph, xs: Value[]): Value | Value[];
  /** float64 by default; float32 where ONNX Runtime has no float64 kernel (Erf). */
  floatType?: 'float32' | 'float64';
}

export interface GradResult {
  /** max |analytic - numeric| / max(1, max |numeric|), over every entry of every input. */
  error: number;
  analytic: Float64Array[];
  numeric: Float64Array[];
}

export function evalDim(d: Dim, sizes: Record<string, number>): number {
  if (typeof d === 'number') return d;
  if (/^\d+$/.test(d)) return Number(d);
  if (d.includes('+')) return d.split('+').reduce((s, p) => s + evalDim(p, sizes), 0);
  if (d.includes('*')) return d.split('*').reduce((s, p) => s * evalDim(p, sizes), 1);
  const v = sizes[d];
  if (v === undefined) throw new Error(`no size for dimension ${d}`);
  return v;
}

/** Step and tolerance per precision: in float64 the central difference is good to ~1e-9 here; float32 to ~1e-4. */
export const FD = {
  float64: { step: 1e-5, tolerance: 1e-7 },
  float32: { step: 1e-2, tolerance: 2e-3 },
} as const;

export async function gradCheck(c: GradCase, seed = 1): Promise<GradResult> {
  const floatType = c.floatType ?? 'float64';
  const sizes = c.sizes ?? {};
  const rng = new Rng(seed);
  const g = new Graph(floatType);
  const xs = c.inputs.map((inp, i) => g.input(`x${i}`, floatType, inp.shape));
  const built = c.build(g, xs);
  const outs = Array.isArray(built) ? built : [built];
  // loss = sum_k sum(out_k * w_k), with w_k fed as inputs of the same (possibly symbolic) shape.
  const weightFeeds: Record<string, HostTensor> = {};
  let loss: Value | undefined;
  outs.forEach((o, k) => {
    const w = g.input(`w${k}`, o.dtype, o.shape);
    const shape = o.shape.map((d) => evalDim(d, sizes));
    weightFeeds[w.name] = floatTensor(floatType, Array.from({ length: sizeOf(shape) }, () => rng.uniform() * 2 - 1), shape);
    const axes = o.shape.map((_d, i) => i);
    const term = axes.length ? g.reduceSum(g.mul(o, w), axes, false) : g.mul(o, w);
    loss = loss ? g.add(loss, term) : term;
  });
  const grads = addGradients(g, loss!, xs);
  g.output(loss!, 'loss');
  xs.forEach((x) => g.output(grads.get(x.name)!, `grad.${x.name}`));
  const runner = await Runner.create(g.build(), { threads: 1 });
  try {
    const values = c.inputs.map((inp) => {
      const shape = inp.shape.map((d) => evalDim(d, sizes));
      const lo = inp.lo ?? -1;
      const hi = inp.hi ?? 1;
      return floatTensor(floatType, Array.from({ length: sizeOf(shape) }, () => lo + (hi - lo) * rng.uniform()), shape);
    });
    const feeds = () => ({ ...weightFeeds, ...Object.fromEntries(values.map((v, i) => [`x${i}`, v])) });
    const first = await runner.run(feeds(), ['loss', ...xs.map((x) => `grad.${x.name}`)]);
    const analytic = xs.map((x) => Float64Array.from(first[`grad.${x.name}`].data as Float64Array));
    const { step } = FD[floatType];
    const lossAt = async () => Number((await runner.run(feeds(), ['loss'])).loss.data[0]);
    const numeric: Float64Array[] = [];
    for (const v of values) {
      const data = v.data as Float64Array;
      const out = new Float64Array(data.length);
      for (let j = 0; j < data.length; j++) {
        const keep = data[j];
        data[j] = keep + step;
        const up = await lossAt();
        data[j] = keep - step;
        const down = await lossAt();
        data[j] = keep;
        out[j] = (up - down) / (2 * step);
      }
      numeric.push(out);
    }
    return { error: compare(analytic, numeric), analytic, numeric };
  } finally {
    await runner.release();
  }
}

/** max |a - n| / max(1, max |n|) over all entries. */
export function compare(analytic: ArrayLike<number>[], numeric: ArrayLike<number>[]): number {
  let scale = 1;
  let worst = 0;
  numeric.forEach((n) => Array.from(n).forEach((v) => (scale = Math.max(scale, Math.abs(v)))));
  analytic.forEach((a, i) => {
    for (let j = 0; j < a.length; j++) {
      const d = Math.abs(a[j] - numeric[i][j]);
      worst = Number.isNaN(d) ? Infinity : Math.max(worst, d);
    }
  });
  return worst / scale;
}
