// The integer/boolean ops that build attention masks inside graphs (Range, Less, LessOrEqual, And): shape inference
// and results against plain JS; the causal + padding bias they build against the bias the feeds used to carry; and
// the embedding-gradient scatter, which must add every repeated row exactly once whatever the thread count.

import { describe, it, expect } from 'vitest';
import { Graph } from '../../src/pipeline/engine/graph.ts';
import { Runner } from '../../src/pipeline/engine/runner.ts';
import { addGradients } from '../../src/pipeline/engine/autodiff.ts';
import { type HostTensor, float32, int64 } from '../../src/pipeline/engine/tensor.ts';
import { MASKED_BIAS, causalPaddingBias } from '../../src/pipeline/models/attention-mask.ts';
import { Rng } from '../../src/pipeline/util/random.ts';

const bools = (values: number[], shape: number[]): HostTensor => ({ dtype: 'bool', shape, data: Uint8Array.from(values) });
const dimOf = (g: Graph, v: ReturnType<Graph['input']>, axis: number) => g.gather(g.shape(v), g.constantInt([axis], []));

async function run(g: Graph, feeds: Record<string, HostTensor>, fetch: string[], threads = 1) {
  const runner = await Runner.create(g.build(), { threads });
  try {
    return await runner.run(feeds, fetch);
  } finally {
    await runner.release();
  }
}

describe('mask ops: shape inference', () => {
  it('Range takes its length from a tracked dimension, or from constants', () => {
    const g = new Graph();
    const x = g.input('x', 'float32', ['batch', 'past+time']);
    expect(g.range(dimOf(g, x, 1)).shape).toEqual(['past+time']);
    expect(g.range(dimOf(g, x, 1)).dtype).toBe('int64');
    expect(g.range(g.constantInt([7], []), 1, 2).shape).toEqual([3]);
    expect(() => g.range(g.constantInt([4]))).toThrow(/must be scalars/);
    expect(() => g.range(g.add(dimOf(g, x, 1), dimOf(g, x, 0)))).toThrow(/length must follow from the inputs/);
  });

  it('comparisons broadcast to bool, And needs bools', () => {
    const g = new Graph();
    const a = g.input('a', 'int64', ['time', 1]);
    const b = g.input('b', 'int64', [1, 'keys']);
    const le = g.lessOrEqual(b, a);
    expect(le).toMatchObject({ dtype: 'bool', shape: ['time', 'keys'] });
    expect(g.less(a, b)).toMatchObject({ dtype: 'bool', shape: ['time', 'keys'] });
    const m = g.input('m', 'bool', ['batch', 1, 1, 'keys']);
    expect(g.and(le, m)).toMatchObject({ dtype: 'bool', shape: ['batch', 1, 'time', 'keys'] });
    expect(() => g.less(a, g.input('f', 'float32', [1]))).toThrow(/share a numeric dtype/);
    expect(() => g.and(le, a)).toThrow(/must be bool/);
    expect(() => g.lessOrEqual(g.input('c', 'int64', [3]), g.input('d', 'int64', [4]))).toThrow(/cannot broadcast/);
  });
});

describe('mask ops: results', () => {
  it('Range, Less, LessOrEqual and And match plain JS', async () => {
    const g = new Graph();
    const x = g.input('x', 'float32', ['batch', 'n']);
    const a = g.input('a', 'int64', ['k']);
    const b = g.input('b', 'int64', ['k']);
    const p = g.input('p', 'bool', ['k']);
    g.output(g.range(dimOf(g, x, 1)), 'r');
    g.output(g.range(g.constantInt([9], []), 2, 3), 'r2');
    g.output(g.less(a, b), 'lt');
    g.output(g.lessOrEqual(g.unsqueeze(a, [1]), g.unsqueeze(b, [0])), 'le');
    g.output(g.and(g.less(a, b), p), 'and');
    const av = [3, -1, 5, 5];
    const bv = [4, -1, 2, 5];
    const pv = [1, 1, 0, 1];
    const out = await run(g, { x: float32(new Float32Array(10), [2, 5]), a: int64(av, [4]), b: int64(bv, [4]), p: bools(pv, [4]) }, ['r', 'r2', 'lt', 'le', 'and']);
    expect(Array.from(out.r.data as BigInt64Array, Number)).toEqual([0, 1, 2, 3, 4]);
    expect(Array.from(out.r2.data as BigInt64Array, Number)).toEqual([2, 5, 8]);
    expect(Array.from(out.lt.data as Uint8Array)).toEqual(av.map((v, i) => (v < bv[i] ? 1 : 0)));
    expect(out.le.shape).toEqual([4, 4]);
    expect(Array.from(out.le.data as Uint8Array)).toEqual(av.flatMap((x1) => bv.map((y) => (x1 <= y ? 1 : 0))));
    expect(Array.from(out.and.data as Uint8Array)).toEqual(av.map((v, i) => (v < bv[i] && pv[i] ? 1 : 0)));
  });

  it('the in-graph causal + padding bias equals the bias the feeds used to build (with and without a prefix)', async () => {
    for (const past of [0, 3]) {
      const g = new Graph();
      const ids = g.input('ids', 'int64', ['batch', 'time']);
      const keyMask = g.input('key_mask', 'bool', ['batch', past ? 'past+time' : 'time']);
      const bias = causalPaddingBias(g, ids, keyMask);
      expect(bias.shape).toEqual(['batch', 1, 'time', past ? 'past+time' : 'time']);
      g.output(bias, 'bias');
      const lengths = [5, 2, 4];
      const time = 5;
      const keys = past + time;
      const mask = lengths.flatMap((n) => Array.from({ length: keys }, (_, s) => (s < past + n ? 1 : 0)));
      const out = await run(g, { ids: int64(new Array(3 * time).fill(0), [3, time]), key_mask: bools(mask, [3, keys]) }, ['bias']);
      // The former forwardFeeds construction, verbatim.
      const expected = new Float32Array(3 * time * keys);
      for (let b = 0; b < 3; b++) {
        for (let t = 0; t < time; t++) {
          for (let s = 0; s < keys; s++) {
            const inChunk = s - past;
            const visible = s <= past + t && (inChunk < 0 || inChunk < lengths[b]);
            if (!visible) expected[(b * time + t) * keys + s] = MASKED_BIAS;
          }
        }
      }
      expect(out.bias.shape).toEqual([3, 1, time, keys]);
      expect(Array.from(out.bias.data as Float32Array)).toEqual(Array.from(expected));
    }
  });
});

describe('embedding gradients (Gather rule)', () => {
  it('adds every repeated row exactly once with 2 threads, run after run (threaded ScatterND can lose additions)', async () => {
    const V = 50;
    const D = 64;
    const N = 6000;
    const rng = new Rng(4);
    // Heavily repeated ids, like padding and template tokens in a training batch.
    const ids = Array.from({ length: N }, () => (rng.uniform() < 0.5 ? 0 : rng.int(V)));
    const upstream = Float32Array.from({ length: N * D }, () => rng.uniform() - 0.5);
    const g = new Graph();
    const table = g.input('table', 'float32', [V, D]);
    const w = g.input('w', 'float32', ['n', D]);
    const rows = g.gather(table, g.input('ids', 'int64', ['n']));
    const loss = g.reduceSum(g.mul(rows, w), [0, 1], false);
    g.output(addGradients(g, loss, [table]).get('table')!, 'grad');
    expect(g.nodes.some((n) => n.op === 'ScatterND')).toBe(false);
    const runner = await Runner.create(g.build(), { threads: 2 });
    const feeds = { table: float32(new Float32Array(V * D), [V, D]), w: float32(upstream, [N, D]), ids: int64(ids, [N]) };
    const expected = new Float64Array(V * D);
    ids.forEach((id, n) => {
      for (let j = 0; j < D; j++) expected[id * D + j] += upstream[n * D + j];
    });
    const first = (await runner.run(feeds, ['grad'])).grad.data as Float32Array;
    let worst = 0;
    for (let i = 0; i < expected.length; i++) worst = Math.max(worst, Math.abs(first[i] - expected[i]));
    expect(worst).toBeLessThan(1e-2); // float32 sums of ~3000 terms of size 0.5
    for (let k = 0; k < 4; k++) expect((await runner.run(feeds, ['grad'])).grad.data).toEqual(first);
    await runner.release();
  });
});
