// Every derivative rule in ops.ts against central finite differences, both run by ONNX Runtime.
// Precision: float64 graphs (step 1e-5, tolerance 1e-7 of max(1, max|gradient|)), except Erf and exact GELU, which
// ONNX Runtime's CPU provider runs in float32 only (step 1e-2, tolerance 2e-3). See FD in tests/helpers/gradcheck.ts.

import { describe, it, expect } from 'vitest';
import { Graph } from '../../src/pipeline/engine/graph.ts';
import { OPS } from '../../src/pipeline/engine/ops.ts';
import { addGradients } from '../../src/pipeline/engine/autodiff.ts';
import { type HostTensor, int64 } from '../../src/pipeline/engine/tensor.ts';
import { FD, type GradCase, gradCheck } from '../helpers/gradcheck.ts';

const bools = (values: number[], shape: number[]): HostTensor => ({ dtype: 'bool', shape, data: Uint8Array.from(values) });
const idx = (g: Graph, values: number[], shape: number[]) => g.initializer(g.freshName('idx'), int64(values, shape));

const CASES: GradCase[] = [
  { name: 'Identity', inputs: [{ shape: [2, 3] }], build: (g, [x]) => g.identity(x) },
  { name: 'Neg', inputs: [{ shape: [2, 3] }], build: (g, [x]) => g.neg(x) },
  { name: 'Exp', inputs: [{ shape: [2, 3] }], build: (g, [x]) => g.exp(x) },
  { name: 'Log', inputs: [{ shape: [2, 3], lo: 0.5, hi: 2 }], build: (g, [x]) => g.log(x) },
  { name: 'Tanh', inputs: [{ shape: [2, 3], lo: -2, hi: 2 }], build: (g, [x]) => g.tanh(x) },
  { name: 'Sqrt', inputs: [{ shape: [2, 3], lo: 0.5, hi: 2 }], build: (g, [x]) => g.sqrt(x) },
  { name: 'Sigmoid', inputs: [{ shape: [2, 3], lo: -3, hi: 3 }], build: (g, [x]) => g.sigmoid(x) },
  { name: 'Erf (float32)', floatType: 'float32', inputs: [{ shape: [2, 4], lo: -2, hi: 2 }], build: (g, [x]) => g.erf(x) },
  { name: 'Gelu tanh', inputs: [{ shape: [2, 5], lo: -3, hi: 3 }], build: (g, [x]) => g.gelu(x, 'tanh') },
  { name: 'Gelu exact (float32)', floatType: 'float32', inputs: [{ shape: [2, 5], lo: -3, hi: 3 }], build: (g, [x]) => g.gelu(x, 'none') },
  { name: 'Add, broadcast [2,3,4] + [3,1]', inputs: [{ shape: [2, 3, 4] }, { shape: [3, 1] }], build: (g, [a, b]) => g.add(a, b) },
  { name: 'Sub, broadcast [1,3,1] - [2,1,4]', inputs: [{ shape: [1, 3, 1] }, { shape: [2, 1, 4] }], build: (g, [a, b]) => g.sub(a, b) },
  { name: 'Mul, broadcast [2,3,4] * [4]', inputs: [{ shape: [2, 3, 4] }, { shape: [4] }], build: (g, [a, b]) => g.mul(a, b) },
  { name: 'Mul by a scalar', inputs: [{ shape: [2, 3] }, { shape: [] }], build: (g, [a, b]) => g.mul(a, b) },
  {
    name: 'Div, broadcast [2,3] / [2,1]',
    inputs: [{ shape: [2, 3] }, { shape: [2, 1], lo: 0.5, hi: 2 }],
    build: (g, [a, b]) => g.div(a, b),
  },
  {
    name: 'Pow, broadcast [2,3] ^ [3]',
    inputs: [{ shape: [2, 3], lo: 0.5, hi: 2 }, { shape: [3], lo: -1.5, hi: 2.5 }],
    build: (g, [a, b]) => g.pow(a, b),
  },
  { name: 'Softmax (last axis)', inputs: [{ shape: [2, 3, 4], lo: -2, hi: 2 }], build: (g, [x]) => g.softmax(x, -1) },
  { name: 'Softmax (axis 1)', inputs: [{ shape: [2, 3, 4], lo: -2, hi: 2 }], build: (g, [x]) => g.softmax(x, 1) },
  { name: 'LogSoftmax', inputs: [{ shape: [3, 5], lo: -2, hi: 2 }], build: (g, [x]) => g.logSoftmax(x, -1) },
  { name: 'ReduceSum, keepdims', inputs: [{ shape: [2, 3, 4] }], build: (g, [x]) => g.reduceSum(x, [1], true) },
  { name: 'ReduceSum, dropped axes', inputs: [{ shape: [2, 3, 4] }], build: (g, [x]) => g.reduceSum(x, [0, 2], false) },
  { name: 'ReduceMean', inputs: [{ shape: [2, 3, 4] }], build: (g, [x]) => g.reduceMean(x, [-1], false) },
  { name: 'Cast float64 -> float64', inputs: [{ shape: [2, 3] }], build: (g, [x]) => g.cast(x, 'float64') },
  {
    name: 'Where, broadcast condition and operands',
    inputs: [{ shape: [2, 3, 4] }, { shape: [3, 1] }],
    build: (g, [a, b]) => g.where(g.initializer('cond', bools([1, 0, 0, 1, 1, 1, 0, 0], [2, 1, 4])), a, b),
  },
  { name: 'MatMul [2,3,4] x weight [4,5]', inputs: [{ shape: [2, 3, 4] }, { shape: [4, 5] }], build: (g, [a, b]) => g.matmul(a, b) },
  { name: 'MatMul batched [2,3,4] x [2,4,5]', inputs: [{ shape: [2, 3, 4] }, { shape: [2, 4, 5] }], build: (g, [a, b]) => g.matmul(a, b) },
  { name: 'MatMul broadcast [3,4] x [2,4,5]', inputs: [{ shape: [3, 4] }, { shape: [2, 4, 5] }], build: (g, [a, b]) => g.matmul(a, b) },
  {
    name: 'MatMul broadcast [2,1,3,4] x [3,4,2]',
    inputs: [{ shape: [2, 1, 3, 4] }, { shape: [3, 4, 2] }],
    build: (g, [a, b]) => g.matmul(a, b),
  },
  {
    name: 'LayerNormalization',
    inputs: [{ shape: [2, 3, 5], lo: -2, hi: 2 }, { shape: [5], lo: 0.5, hi: 1.5 }, { shape: [5] }],
    build: (g, [x, s, b]) => g.layerNorm(x, s, b, 1e-5),
  },
  {
    name: 'Gather axis 0 (embedding rows, repeated ids)',
    inputs: [{ shape: [5, 3] }],
    build: (g, [d]) => g.gather(d, idx(g, [4, 1, 4, 0, 1, 4], [2, 3]), 0),
  },
  { name: 'Gather axis 1', inputs: [{ shape: [3, 5, 2] }], build: (g, [d]) => g.gather(d, idx(g, [3, 0, 3, 1], [4]), 1) },
  { name: 'GatherND batch_dims 0', inputs: [{ shape: [4, 3] }], build: (g, [d]) => g.gatherND(d, idx(g, [2, 0, 2], [3, 1]), 0) },
  {
    name: 'GatherND batch_dims 1 (rows at positions)',
    inputs: [{ shape: [2, 5, 3] }],
    build: (g, [d]) => g.gatherND(d, idx(g, [4, 4, 0, 2], [2, 2, 1]), 1),
  },
  {
    name: 'GatherElements',
    inputs: [{ shape: [3, 4] }],
    build: (g, [d]) => g.gatherElements(d, idx(g, [0, 3, 1, 1, 2, 0], [3, 2]), 1),
  },
  { name: 'Reshape', inputs: [{ shape: [2, 3, 4] }], build: (g, [x]) => g.reshape(x, [0, -1, 2]) },
  { name: 'Transpose', inputs: [{ shape: [2, 3, 4] }], build: (g, [x]) => g.transpose(x, [2, 0, 1]) },
  {
    name: 'Concat',
    inputs: [{ shape: [2, 1, 3] }, { shape: [2, 2, 3] }, { shape: [2, 3, 3] }],
    build: (g, [a, b, c]) => g.concat([a, b, c], 1),
  },
  { name: 'Split (all outputs used)', inputs: [{ shape: [2, 6] }], build: (g, [x]) => g.split(x, [1, 2, 3], 1) },
  { name: 'Split (one output used)', inputs: [{ shape: [2, 6] }], build: (g, [x]) => g.split(x, [1, 2, 3], 1)[1] },
  { name: 'Unsqueeze', inputs: [{ shape: [2, 3] }], build: (g, [x]) => g.unsqueeze(x, [0, -1]) },
  { name: 'Squeeze', inputs: [{ shape: [2, 1, 3, 1] }], build: (g, [x]) => g.squeeze(x, [1, 3]) },
  { name: 'Expand', inputs: [{ shape: [3, 1] }], build: (g, [x]) => g.expand(x, g.constantInt([2, 3, 4])) },
  {
    name: 'ScatterND add (repeated index)',
    inputs: [{ shape: [4, 3] }, { shape: [3, 3] }],
    build: (g, [d, u]) => g.scatterND(d, idx(g, [1, 3, 1], [3, 1]), u, 'add'),
  },
  {
    name: 'ScatterElements add',
    inputs: [{ shape: [3, 4] }, { shape: [3, 2] }],
    build: (g, [d, u]) => g.scatterElements(d, idx(g, [0, 3, 1, 1, 2, 0], [3, 2]), u, 1, 'add'),
  },
  // Symbolic shapes: the rules read sizes at run time (Shape, Size, ConstantOfShape, Expand).
  {
    name: 'symbolic: MatMul [n,t,4] x [4,3] and broadcast bias',
    sizes: { n: 2, t: 3 },
    inputs: [{ shape: ['n', 't', 4] }, { shape: [4, 3] }, { shape: [3] }],
    build: (g, [a, w, b]) => g.add(g.matmul(a, w), b),
  },
  {
    name: 'symbolic: Reshape, ReduceMean, Softmax',
    sizes: { n: 2, t: 3 },
    inputs: [{ shape: ['n', 't', 4] }],
    build: (g, [x]) => g.softmax(g.reduceMean(g.transpose(g.reshape(x, [0, 0, 2, 2]), [0, 2, 1, 3]), [2], true), -1),
  },
  {
    name: 'symbolic: Concat along symbolic axes, Gather of symbolic rows',
    sizes: { n: 2, m: 3 },
    inputs: [{ shape: [2, 'n', 3] }, { shape: [2, 'm', 3] }, { shape: ['n', 3, 2] }],
    build: (g, [a, b, table]) => [g.concat([a, b], 1), g.gather(table, idx(g, [2, 0, 2], [3]), 1)],
  },
];

describe('derivative rules vs central finite differences', () => {
  for (const c of CASES) {
    it(c.name, async () => {
      const result = await gradCheck(c);
      expect(result.error).toBeLessThan(FD[c.floatType ?? 'float64'].tolerance);
    });
  }

  it('covers every op in OPS with a rule', () => {
    const missing = Object.entries(OPS).filter(([, def]) => !def.vjp).map(([name]) => name);
    expect(missing).toEqual([]);
  });

  it('sums the gradients of a value with several consumers, and gives zeros to an unused input', async () => {
    const result = await gradCheck({
      name: 'x*x + exp(x), y unused',
      inputs: [{ shape: [2, 3] }, { shape: [3] }],
      build: (g, [x, y]) => {
        void y;
        return g.add(g.mul(x, x), g.exp(x));
      },
    });
    expect(result.error).toBeLessThan(FD.float64.tolerance);
    expect(Array.from(result.analytic[1])).toEqual([0, 0, 0]);
  });

  it('a deliberately broken rule (Tanh without the 1 - y^2 factor) fails the same check', async () => {
    const saved = OPS.Tanh;
    OPS.Tanh = { ...saved, vjp: (_g, _node, [gy]) => [gy] };
    try {
      const result = await gradCheck({ name: 'Tanh (broken)', inputs: [{ shape: [2, 3], lo: -2, hi: 2 }], build: (g, [x]) => g.tanh(x) });
      expect(result.error).toBeGreaterThan(1e-2);
    } finally {
      OPS.Tanh = saved;
    }
  });

  it('emits only the nodes the requested gradients need', () => {
    const g = new Graph('float64');
    const x = g.input('x', 'float64', [4, 3]);
    const w = g.input('w', 'float64', [3, 5]);
    const loss = g.reduceSum(g.tanh(g.matmul(x, w)), [0, 1], false);
    const before = g.nodes.length;
    addGradients(g, loss, [w]);
    const added = g.nodes.slice(before);
    // Gradient for w only: no MatMul for dx, just dy = gy*(1-t^2) and dw = x^T dy.
    expect(added.filter((n) => n.op === 'MatMul')).toHaveLength(1);
    expect(() => addGradients(g, g.matmul(x, w), [w])).toThrow(/loss must be a float scalar/);
  });
});
