import { describe, it, expect } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Graph, countMatMulFlops } from '../../src/pipeline/engine/graph.ts';
import { Runner, FeedError, cudaProviderInstalled } from '../../src/pipeline/engine/runner.ts';
import { float32, float64, int64 } from '../../src/pipeline/engine/tensor.ts';

/** y = x @ w + b with w baked (2 KB: stored as external data) and b a small inline constant. */
function affineGraph(floatType: 'float32' | 'float64' = 'float32') {
  const g = new Graph(floatType);
  const x = g.input('x', floatType, ['batch', 4]);
  const w = Array.from({ length: 4 * 128 }, (_, i) => ((i % 7) - 3) / 10);
  const wv = g.initializer('w', floatType === 'float32' ? float32(w, [4, 128]) : float64(w, [4, 128]));
  g.output(g.add(g.matmul(x, wv), g.constantFloat(0.5)), 'y');
  return { g, w };
}

describe('graph builder', () => {
  it('runs a built graph and matches a hand computation, large weights travelling as external data', async () => {
    const { g, w } = affineGraph();
    const built = g.build();
    expect(built.externalData.length).toBe(1);
    expect(built.bytes.length).toBeLessThan(1024); // the 2 KB weight is not inside the protobuf
    const runner = await Runner.create(built);
    const x = [1, 2, 3, 4];
    const { y } = await runner.run({ x: float32(x, [1, 4]) }, ['y']);
    expect(y.shape).toEqual([1, 128]);
    for (const j of [0, 5, 127]) {
      const expected = x.reduce((s, xi, i) => s + xi * w[i * 128 + j], 0) + 0.5;
      expect(y.data[j]).toBeCloseTo(expected, 5);
    }
    await runner.release();
  });

  it('infers symbolic shapes and reports wiring mistakes with names and shapes', () => {
    const g = new Graph();
    const a = g.input('a', 'float32', ['batch', 'time', 8]);
    const b = g.input('b', 'float32', [6, 3]);
    expect(() => g.matmul(a, b)).toThrow(/inner dimensions differ: \[batch, time, 8\] x \[6, 3\]/);
    const heads = g.transpose(g.reshape(a, [0, 0, 2, 4]), [0, 2, 1, 3]);
    expect(heads.shape).toEqual(['batch', 2, 'time', 4]);
    const c = g.concat([heads, g.input('p', 'float32', ['batch', 2, 'past', 4])], 2);
    expect(c.shape).toEqual(['batch', 2, 'time+past', 4]);
    expect(() => g.input('a', 'float32', [1])).toThrow(/"a" is used twice/);
    expect(() => g.apply('NoSuchOp', [a])).toThrow(/no op "NoSuchOp"/);
  });

  it('counts MatMul FLOPs from the graph shapes', () => {
    const g = new Graph();
    const x = g.input('x', 'float32', ['batch', 'time', 8]);
    const w = g.initializer('w', float32(new Float32Array(8 * 16), [8, 16]));
    const h = g.matmul(x, w); // 2 * B*T*8*16
    g.output(g.matmul(h, g.transpose(h, [0, 2, 1])), 'gram'); // 2 * B*T*T*16
    const flops = countMatMulFlops(g.nodes, { batch: 3, time: 5 });
    expect(flops).toBe(2 * 3 * 5 * 8 * 16 + 2 * 3 * 5 * 5 * 16);
  });

  it('loads a graph over 2 GB through external data', async () => {
    // Two 1.1 GB weights: far beyond protobuf's 2 GB limit if they were inline.
    const n = 275_000_000;
    const g = new Graph();
    const idx = g.input('idx', 'int64', [2]);
    const big1 = new Float32Array(n);
    const big2 = new Float32Array(n);
    big1[n - 1] = 3;
    big2[n - 2] = 4;
    const w1 = g.initializer('w1', float32(big1, [n]));
    const w2 = g.initializer('w2', float32(big2, [n]));
    g.output(g.add(g.gather(w1, idx), g.gather(w2, idx)), 'y');
    const built = g.build();
    const external = built.externalData.reduce((s, e) => s + e.data.length, 0);
    expect(external).toBeGreaterThan(2 ** 31);
    expect(built.externalData.length).toBe(2); // one shard per 1.1 GB weight
    // From buffers, and from weight files written into a store (the default at this size; see weights-cache.ts).
    const root = mkdtempSync(join(tmpdir(), 'icl-runner-2gb-'));
    try {
      for (const weightsCache of [false, root] as const) {
        const runner = await Runner.create(built, { threads: 1, weightsCache });
        expect(runner.weights.kind).toBe(weightsCache === false ? 'memory' : 'files');
        const { y } = await runner.run({ idx: int64([n - 1, n - 2], [2]) }, ['y']);
        expect(Array.from(y.data as Float32Array)).toEqual([3, 4]);
        await runner.release();
      }
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  }, 480_000); // ~60 s on an idle 2-core machine; writing and mapping 2.2 GB twice is slow when the disk is shared
});

describe('runner feed and fetch validation', () => {
  it('rejects unknown feeds, feeds named after baked weights, missing feeds, wrong dtype/rank and unknown fetches', async () => {
    const runner = await Runner.create(affineGraph().g.build());
    const x = float32([1, 2, 3, 4], [1, 4]);
    await expect(runner.run({ x, bogus: x }, ['y'])).rejects.toThrow(/unknown feed "bogus"; this graph's inputs are: x/);
    await expect(runner.run({ x, w: x }, ['y'])).rejects.toThrow(/"w" names a weight baked into the graph/);
    await expect(runner.run({}, ['y'])).rejects.toThrow(/missing feeds: x/);
    await expect(runner.run({ x: float64([1, 2, 3, 4], [1, 4]) }, ['y'])).rejects.toThrow(/"x" is float64, the graph expects float32/);
    await expect(runner.run({ x: float32([1, 2, 3, 4], [4]) }, ['y'])).rejects.toThrow(/expects rank 2/);
    await expect(runner.run({ x }, ['z'])).rejects.toThrow(/unknown output "z"; this graph outputs: y/);
    await expect(runner.run({ x }, ['z'])).rejects.toBeInstanceOf(FeedError);
    await runner.release();
  });

  it('float64 graphs run (used by the gradient checks)', async () => {
    const runner = await Runner.create(affineGraph('float64').g.build());
    const { y } = await runner.run({ x: float64([1, 0, 0, 0], [1, 4]) }, ['y']);
    expect(y.dtype).toBe('float64');
    expect(y.data[0]).toBeCloseTo(-0.3 + 0.5, 12);
    await runner.release();
  });
});

describe('execution providers', () => {
  it('rejects an unknown device and a bad thread count', async () => {
    const built = affineGraph().g.build();
    await expect(Runner.create(built, { device: 'tpu' as never })).rejects.toThrow(/unknown device "tpu": choose one of cpu, cuda, webgpu, auto/);
    await expect(Runner.create(built, { threads: 0 })).rejects.toThrow(/threads must be a positive integer/);
  });

  it('--device cuda without the CUDA provider fails with what to install', async (ctx) => {
    if (cudaProviderInstalled()) ctx.skip(); // a machine with the provider exercises the real path instead
    await expect(Runner.create(affineGraph().g.build(), { device: 'cuda' })).rejects.toThrow(/npm run setup:cuda/);
  });

  it('--device auto falls back to CPU only when no GPU provider starts, and says so', async () => {
    const messages: string[] = [];
    const runner = await Runner.create(affineGraph().g.build(), { device: 'auto', log: (m) => messages.push(m) });
    if (runner.device === 'cpu') {
      expect(messages.join('\n')).toMatch(/--device auto: no GPU provider could start, running on CPU/);
      expect(messages.join('\n')).toMatch(/cuda: /);
    } else {
      expect(messages).toEqual([]);
    }
    await runner.release();
  });
});
