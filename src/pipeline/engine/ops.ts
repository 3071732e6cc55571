// The primitive ops the graph builder knows. For each: how its output dtype and symbolic shape follow from its
// inputs (`infer`), and its reverse-mode derivative rule (`vjp`), side by side. This is the one place an op is
// defined; autodiff.ts only walks the tape and calls these rules.

import type { Graph, Node, Value } from './graph.ts';
import { type DType, floatTensor } from './tensor.ts';
import {
  type Dim,
  type Shape,
  broadcastShapes,
  dimProduct,
  dimSum,
  formatShape,
  normaliseAxis,
} from './shape.ts';
import type { AttributeValue, TensorProto } from './onnx-proto.ts';

export type Attrs = Record<string, AttributeValue>;

export interface InferContext {
  graph: Graph;
  /** Op name and scope, for error messages. */
  context: string;
}

export interface OutputType {
  dtype: DType;
  shape: Shape;
  /** For small int64 shape vectors (Shape and what is built from it): their symbolic contents. */
  value?: Dim[];
}

/** Per input (or output) of a node: its gradient, or undefined for zero / not differentiable. */
export type Grads = Array<Value | undefined>;

export interface OpDef {
  /** Output dtypes and shapes; throws a clear error on inconsistent inputs. */
  infer(inputs: Value[], attrs: Attrs, ctx: InferContext): OutputType[];
  /**
   * Reverse-mode derivative rule: the gradients of the node's inputs given those of its outputs (undefined where
   * an output has none), emitted as ordinary ops into `g`. The autodiff drops whatever the result does not need.
   */
  vjp?(g: Graph, node: Node, outputGrads: Grads): Grads;
}

const ONNX_TO_DTYPE: Record<number, DType> = { 1: 'float32', 11: 'float64', 7: 'int64', 9: 'bool' };

function arity(inputs: Value[], n: number, ctx: InferContext): void {
  if (inputs.length !== n) throw new Error(`${ctx.context}: expects ${n} inputs, got ${inputs.length}`);
}

function sameFloat(inputs: Value[], ctx: InferContext): DType {
  const dtype = inputs[0].dtype;
  for (const v of inputs) {
    if (v.dtype !== dtype) {
      throw new Error(`${ctx.context}: mixed dtypes ${inputs.map((i) => `${i.name}:${i.dtype}`).join(', ')}`);
    }
  }
  return dtype;
}

function constantList(v: Value, ctx: InferContext, what: string): number[] {
  const values = ctx.graph.constantValue(v);
  if (!values) throw new Error(`${ctx.context}: ${what} must be a constant known at build time`);
  return values;
}

/** A shape vector's contents: a constant, or the tracked output of Shape (and Gather/Concat of it). */
function dimsList(v: Value, ctx: InferContext, what: string): Dim[] {
  const values = ctx.graph.dimsValue(v);
  if (!values) throw new Error(`${ctx.context}: ${what} must be a constant or computed from Shape`);
  return values;
}

// ---------------------------------------------------------------------------------------------------------------
// Helpers the derivative rules share

const isFloat = (dtype: DType): boolean => dtype === 'float32' || dtype === 'float64';
const isStatic = (shape: Shape): shape is number[] => shape.every((d) => typeof d === 'number');
const range = (from: number, to: number): number[] => Array.from({ length: Math.max(0, to - from) }, (_, i) => from + i);

/** A scalar constant of `like`'s float dtype. */
function scalar(g: Graph, like: Value, x: number): Value {
  return g.initializer(g.freshName('const'), floatTensor(like.dtype as 'float32' | 'float64', [x], []));
}

/** The shape of `v` as an int64 vector: a constant when every dimension is fixed, else a Shape op. */
function shapeOf(g: Graph, v: Value): Value {
  return isStatic(v.shape) ? g.constantInt(v.shape) : g.shape(v);
}

function zerosLike(g: Graph, v: Value): Value {
  return g.constantOfShape(shapeOf(g, v), v.dtype, 0);
}

/** `x` reshaped to `like`'s shape. */
function reshapeLike(g: Graph, x: Value, like: Value): Value {
  if (formatShape(x.shape) === formatShape(like.shape)) return x;
  return g.apply('Reshape', [x, shapeOf(g, like)], { allowzero: 1 })[0];
}

/** Sum a broadcast result's gradient back to the shape of the operand `to`: over added and stretched axes. */
function unbroadcast(g: Graph, grad: Value, to: Value): Value {
  const lead = grad.shape.length - to.shape.length;
  const axes = range(0, grad.shape.length).filter((i) => i < lead || (to.shape[i - lead] === 1 && grad.shape[i] !== 1));
  if (axes.length === 0) return grad;
  const summed = g.reduceSum(grad, axes, true);
  return lead > 0 ? g.squeeze(summed, range(0, lead)) : summed;
}

/** Swap the last two axes. */
function swapLast(g: Graph, v: Value): Value {
  const r = v.shape.length;
  return g.transpose(v, [...range(0, r - 2), r - 1, r - 2]);
}

function inversePerm(perm: number[]): number[] {
  const inv = new Array<number>(perm.length);
  perm.forEach((p, i) => (inv[p] = i));
  return inv;
}

/**
 * zeros [rows, ...rest] plus, for every entry i of `indices` (any shape), the slice updates[i] [...rest] added at
 * row indices[i]. ScatterElements (add) along axis 0 with the index repeated over `rest`, not ScatterND: ONNX
 * Runtime's CPU ScatterND splits its updates over threads and loses additions to a repeated row (wrong, run-to-run
 * different embedding gradients with more than one thread; onnxruntime issues #18048, #23396).
 */
function scatterAddRows(g: Graph, zeros: Value, indices: Value, updates: Value): Value {
  const rest = zeros.shape.slice(1);
  const restShape = isStatic(rest) ? rest : undefined;
  const restDims = () => g.gather(g.shape(zeros), g.constantInt(range(1, zeros.shape.length)));
  const flatUpdates = restShape
    ? g.reshape(updates, [-1, ...restShape])
    : g.apply('Reshape', [updates, g.concat([g.constantInt([-1]), restDims()], 0)])[0];
  const flatIndices = g.reshape(indices, [-1, ...rest.map(() => 1)]);
  const spread = g.expand(flatIndices, shapeOf(g, flatUpdates));
  return g.scatterElements(zeros, spread, flatUpdates, 0, 'add');
}

/** Apply `f` to the gradient of the single output, when there is one. */
const unaryRule =
  (f: (g: Graph, gy: Value, x: Value, y: Value, node: Node) => Value) =>
  (g: Graph, node: Node, [gy]: Grads): Grads =>
    gy ? [f(g, gy, node.inputs[0], node.outputs[0], node)] : [undefined];

const binaryRule =
  (fa: (g: Graph, gy: Value, a: Value, b: Value, y: Value) => Value, fb: (g: Graph, gy: Value, a: Value, b: Value, y: Value) => Value) =>
  (g: Graph, node: Node, [gy]: Grads): Grads => {
    if (!gy) return [undefined, undefined];
    const [a, b] = node.inputs;
    const y = node.outputs[0];
    return [unbroadcast(g, fa(g, gy, a, b, y), a), unbroadcast(g, fb(g, gy, a, b, y), b)];
  };

/** For ops whose outputs carry no gradient (shapes, integer results). */
const noGradient = (_g: Graph, node: Node): Grads => node.inputs.map(() => undefined);

// ---------------------------------------------------------------------------------------------------------------
// Shared shape rules

const unaryInfer: OpDef['infer'] = (inputs, _attrs, ctx) => {
  arity(inputs, 1, ctx);
  return [{ dtype: inputs[0].dtype, shape: inputs[0].shape }];
};

const binaryInfer: OpDef['infer'] = (inputs, _attrs, ctx) => {
  arity(inputs, 2, ctx);
  return [{ dtype: sameFloat(inputs, ctx), shape: broadcastShapes(inputs[0].shape, inputs[1].shape, ctx.context) }];
};

/** Comparisons: two operands of one numeric dtype, broadcast, bool result. */
const comparisonInfer: OpDef['infer'] = (inputs, _attrs, ctx) => {
  arity(inputs, 2, ctx);
  const [a, b] = inputs;
  if (a.dtype !== b.dtype || a.dtype === 'bool') {
    throw new Error(`${ctx.context}: operands must share a numeric dtype, got ${a.dtype} and ${b.dtype}`);
  }
  return [{ dtype: 'bool', shape: broadcastShapes(a.shape, b.shape, ctx.context) }];
};

const axisInfer: OpDef['infer'] = (inputs, attrs, ctx) => {
  arity(inputs, 1, ctx);
  normaliseAxis(Number(attrs.axis ?? -1), inputs[0].shape.length, ctx.context);
  return [{ dtype: inputs[0].dtype, shape: inputs[0].shape }];
};

const reduceInfer: OpDef['infer'] = (inputs, attrs, ctx) => {
  arity(inputs, 2, ctx);
  const [x, axesValue] = inputs;
  const axes = constantList(axesValue, ctx, 'axes').map((a) => normaliseAxis(a, x.shape.length, ctx.context));
  const keep = attrs.keepdims === undefined || attrs.keepdims === 1;
  const shape: Shape = [];
  x.shape.forEach((d, i) => {
    if (!axes.includes(i)) shape.push(d);
    else if (keep) shape.push(1);
  });
  return [{ dtype: x.dtype, shape }];
};

/** ReduceSum / ReduceMean: the gradient is broadcast back over the reduced axes (and divided by their size). */
function reduceRule(mean: boolean) {
  return (g: Graph, node: Node, [gy]: Grads): Grads => {
    if (!gy) return [undefined, undefined];
    const [x, axesValue] = node.inputs;
    const y = node.outputs[0];
    const axes = (g.constantValue(axesValue) ?? []).map((a) => normaliseAxis(a, x.shape.length, 'ReduceSum'));
    const keep = node.attrs.keepdims === undefined || node.attrs.keepdims === 1;
    let dx = g.expand(keep ? gy : g.unsqueeze(gy, axes), shapeOf(g, x));
    if (mean) {
      const reduced = axes.map((a) => x.shape[a]);
      const count = isStatic(reduced)
        ? scalar(g, x, reduced.reduce((p, d) => p * d, 1))
        : g.div(g.cast(g.size(x), x.dtype), g.cast(g.size(y), x.dtype));
      dx = g.div(dx, count);
    }
    return [dx, undefined];
  };
}

// ---------------------------------------------------------------------------------------------------------------

export const OPS: Record<string, OpDef> = {
  // --- elementwise, one input ---
  Identity: { infer: unaryInfer, vjp: unaryRule((_g, gy) => gy) },
  Neg: { infer: unaryInfer, vjp: unaryRule((g, gy) => g.neg(gy)) },
  Exp: { infer: unaryInfer, vjp: unaryRule((g, gy, _x, y) => g.mul(gy, y)) },
  Log: { infer: unaryInfer, vjp: unaryRule((g, gy, x) => g.div(gy, x)) },
  Tanh: { infer: unaryInfer, vjp: unaryRule((g, gy, _x, y) => g.mul(gy, g.sub(scalar(g, y, 1), g.mul(y, y)))) },
  Sqrt: { infer: unaryInfer, vjp: unaryRule((g, gy, _x, y) => g.div(gy, g.mul(y, scalar(g, y, 2)))) },
  /** d sigmoid(x) = y (1 - y). */
  Sigmoid: { infer: unaryInfer, vjp: unaryRule((g, gy, _x, y) => g.mul(gy, g.mul(y, g.sub(scalar(g, y, 1), y)))) },
  /** d erf(x) = 2/sqrt(pi) exp(-x^2). (ONNX Runtime's CPU Erf is float32 only.) */
  Erf: {
    infer: unaryInfer,
    vjp: unaryRule((g, gy, x) => g.mul(gy, g.mul(scalar(g, x, 2 / Math.sqrt(Math.PI)), g.exp(g.neg(g.mul(x, x)))))),
  },
  /** GELU: x * Phi(x), exact, or with the tanh approximation 0.5 x (1 + tanh(c (x + 0.044715 x^3))). */
  Gelu: {
    infer: unaryInfer,
    vjp: unaryRule((g, gy, x, _y, node) => {
      const k = (v: number) => scalar(g, x, v);
      if (node.attrs.approximate === 'tanh') {
        // With t = tanh(u), u = c (x + a x^3): d = 0.5 (1 + t) + 0.5 x (1 - t^2) u', written as
        // (1 + t) (0.5 + (1 - t) h) with h = 0.5 x u' = x (0.5 c + 1.5 a c x^2): 14 elementwise passes over the
        // (wide) MLP activations instead of 19.
        const c = Math.sqrt(2 / Math.PI);
        const a = 0.044715;
        const x2 = g.mul(x, x);
        const t = g.tanh(g.mul(x, g.add(k(c), g.mul(k(a * c), x2))));
        const h = g.mul(x, g.add(k(0.5 * c), g.mul(k(1.5 * a * c), x2)));
        const d = g.mul(g.add(k(1), t), g.add(k(0.5), g.mul(g.sub(k(1), t), h)));
        return g.mul(gy, d);
      }
      const cdf = g.mul(k(0.5), g.add(k(1), g.erf(g.mul(x, k(Math.SQRT1_2)))));
      const pdf = g.mul(k(1 / Math.sqrt(2 * Math.PI)), g.exp(g.mul(k(-0.5), g.mul(x, x))));
      return g.mul(gy, g.add(cdf, g.mul(x, pdf)));
    }),
  },

  // --- elementwise, two inputs (numpy broadcasting: gradients are summed over broadcast axes) ---
  Add: { infer: binaryInfer, vjp: binaryRule((_g, gy) => gy, (_g, gy) => gy) },
  Sub: { infer: binaryInfer, vjp: binaryRule((_g, gy) => gy, (g, gy) => g.neg(gy)) },
  Mul: { infer: binaryInfer, vjp: binaryRule((g, gy, _a, b) => g.mul(gy, b), (g, gy, a) => g.mul(gy, a)) },
  Div: {
    infer: binaryInfer,
    vjp: binaryRule((g, gy, _a, b) => g.div(gy, b), (g, gy, _a, b, y) => g.neg(g.div(g.mul(gy, y), b))),
  },
  /** d a^b = b a^(b-1) da + a^b log(a) db (the second only where a > 0). */
  Pow: {
    infer: binaryInfer,
    vjp: binaryRule(
      (g, gy, a, b) => g.mul(gy, g.mul(b, g.pow(a, g.sub(b, scalar(g, b, 1))))),
      (g, gy, a, _b, y) => g.mul(gy, g.mul(y, g.log(a))),
    ),
  },

  /** dx = y * (gy - sum(gy * y)) along the axis. */
  Softmax: {
    infer: axisInfer,
    vjp: unaryRule((g, gy, _x, y, node) => {
      const axis = Number(node.attrs.axis ?? -1);
      return g.mul(y, g.sub(gy, g.reduceSum(g.mul(gy, y), [axis], true)));
    }),
  },
  /** dx = gy - softmax(x) * sum(gy) along the axis. */
  LogSoftmax: {
    infer: axisInfer,
    vjp: unaryRule((g, gy, _x, y, node) => {
      const axis = Number(node.attrs.axis ?? -1);
      return g.sub(gy, g.mul(g.exp(y), g.reduceSum(gy, [axis], true)));
    }),
  },

  ReduceSum: { infer: reduceInfer, vjp: reduceRule(false) },
  ReduceMean: { infer: reduceInfer, vjp: reduceRule(true) },

  Cast: {
    infer(inputs, attrs, ctx) {
      arity(inputs, 1, ctx);
      const dtype = ONNX_TO_DTYPE[Number(attrs.to)];
      if (!dtype) throw new Error(`${ctx.context}: unsupported cast target ${String(attrs.to)}`);
      return [{ dtype, shape: inputs[0].shape }];
    },
    vjp: (g, node, [gy]) => [gy && isFloat(node.inputs[0].dtype) ? g.cast(gy, node.inputs[0].dtype) : undefined],
  },

  Where: {
    infer(inputs, _attrs, ctx) {
      arity(inputs, 3, ctx);
      const [cond, a, b] = inputs;
      if (cond.dtype !== 'bool') throw new Error(`${ctx.context}: condition must be bool, got ${cond.dtype}`);
      const dtype = sameFloat([a, b], ctx);
      const ab = broadcastShapes(a.shape, b.shape, ctx.context);
      return [{ dtype, shape: broadcastShapes(cond.shape, ab, ctx.context) }];
    },
    vjp(g, node, [gy]) {
      if (!gy) return [undefined, undefined, undefined];
      const [cond, a, b] = node.inputs;
      const zero = scalar(g, gy, 0);
      return [undefined, unbroadcast(g, g.where(cond, gy, zero), a), unbroadcast(g, g.where(cond, zero, gy), b)];
    },
  },

  MatMul: {
    infer(inputs, _attrs, ctx) {
      arity(inputs, 2, ctx);
      const [a, b] = inputs;
      const dtype = sameFloat(inputs, ctx);
      if (a.shape.length < 2 || b.shape.length < 2) {
        throw new Error(`${ctx.context}: needs rank >= 2, got ${formatShape(a.shape)} x ${formatShape(b.shape)}`);
      }
      const k1 = a.shape[a.shape.length - 1];
      const k2 = b.shape[b.shape.length - 2];
      if (k1 !== k2) {
        throw new Error(`${ctx.context}: inner dimensions differ: ${formatShape(a.shape)} x ${formatShape(b.shape)}`);
      }
      const batch = broadcastShapes(a.shape.slice(0, -2), b.shape.slice(0, -2), ctx.context);
      return [{ dtype, shape: [...batch, a.shape[a.shape.length - 2], b.shape[b.shape.length - 1]] }];
    },
    /** dA = gy B^T, dB = A^T gy (summed over broadcast batch axes). A weight [K, N] applied to [..., K] activations
     * gets its gradient from one 2-D MatMul of the flattened activations. */
    vjp(g, node, [gy]) {
      if (!gy) return [undefined, undefined];
      const [a, b] = node.inputs;
      const da = unbroadcast(g, g.matmul(gy, swapLast(g, b)), a);
      if (b.shape.length === 2 && a.shape.length > 2) {
        const k = a.shape[a.shape.length - 1];
        const n = b.shape[1];
        const rows = (v: Value, width: Dim) => (typeof width === 'number' ? g.reshape(v, [-1, width]) : undefined);
        const a2 = rows(a, k);
        const g2 = rows(gy, n);
        if (a2 && g2) return [da, g.matmul(g.transpose(a2, [1, 0]), g2)];
      }
      return [da, unbroadcast(g, g.matmul(swapLast(g, a), gy), b)];
    },
  },

  LayerNormalization: {
    infer(inputs, attrs, ctx) {
      arity(inputs, 3, ctx);
      const [x, scale, bias] = inputs;
      const dtype = sameFloat(inputs, ctx);
      if (Number(attrs.axis ?? -1) !== -1) throw new Error(`${ctx.context}: only axis -1 is supported`);
      const last = x.shape[x.shape.length - 1];
      for (const p of [scale, bias]) {
        if (p.shape.length !== 1 || p.shape[0] !== last) {
          throw new Error(`${ctx.context}: ${p.name} has shape ${formatShape(p.shape)}, expected [${last}]`);
        }
      }
      return [{ dtype, shape: x.shape }];
    },
    /** With xhat = (x - mean) * rstd: dx = rstd * (d - mean(d) - xhat * mean(d * xhat)), d = gy * scale. The
     * statistics are recomputed (the forward node keeps only its normalised output). */
    vjp(g, node, [gy]) {
      if (!gy) return [undefined, undefined, undefined];
      const [x, scale, bias] = node.inputs;
      const eps = Math.fround((node.attrs.epsilon as { float: number } | undefined)?.float ?? 1e-5);
      const centred = g.sub(x, g.reduceMean(x, [-1], true));
      const variance = g.reduceMean(g.mul(centred, centred), [-1], true);
      const rstd = g.div(scalar(g, x, 1), g.sqrt(g.add(variance, scalar(g, x, eps))));
      const xhat = g.mul(centred, rstd);
      const d = g.mul(gy, scale);
      const inner = g.sub(g.sub(d, g.reduceMean(d, [-1], true)), g.mul(xhat, g.reduceMean(g.mul(d, xhat), [-1], true)));
      return [g.mul(rstd, inner), unbroadcast(g, g.mul(gy, xhat), scale), unbroadcast(g, gy, bias)];
    },
  },

  // --- indexing: gradients scatter-add back into zeros of the data's shape ---
  Gather: {
    infer(inputs, attrs, ctx) {
      arity(inputs, 2, ctx);
      const [data, indices] = inputs;
      if (indices.dtype !== 'int64') throw new Error(`${ctx.context}: indices must be int64`);
      const axis = normaliseAxis(Number(attrs.axis ?? 0), data.shape.length, ctx.context);
      const shape = [...data.shape.slice(0, axis), ...indices.shape, ...data.shape.slice(axis + 1)];
      // Picking dims out of a shape vector keeps them symbolic.
      const dims = data.shape.length === 1 ? ctx.graph.dimsValue(data) : undefined;
      const picks = dims ? ctx.graph.constantValue(indices) : undefined;
      const value = dims && picks ? picks.map((i) => dims[i < 0 ? i + dims.length : i]) : undefined;
      return [{ dtype: data.dtype, shape, value }];
    },
    /** An embedding lookup's gradient: each gathered row's gradient added into zeros at its index. */
    vjp(g, node, [gy]) {
      if (!gy) return [undefined, undefined];
      const [data, indices] = node.inputs;
      const r = data.shape.length;
      const q = indices.shape.length;
      const axis = normaliseAxis(Number(node.attrs.axis ?? 0), r, 'Gather');
      if (axis === 0) return [scatterAddRows(g, zerosLike(g, data), indices, gy), undefined];
      // Bring the gathered axis to the front, scatter there, and put it back.
      const front = [axis, ...range(0, axis), ...range(axis + 1, r)];
      const frontShape = front.map((i) => data.shape[i]);
      const zeros = g.constantOfShape(
        isStatic(frontShape) ? g.constantInt(frontShape) : g.shape(g.transpose(data, front)),
        data.dtype,
        0,
      );
      const updates = g.transpose(gy, [...range(axis, axis + q), ...range(0, axis), ...range(axis + q, gy.shape.length)]);
      return [g.transpose(scatterAddRows(g, zeros, indices, updates), inversePerm(front)), undefined];
    },
  },

  GatherND: {
    infer(inputs, attrs, ctx) {
      arity(inputs, 2, ctx);
      const [data, indices] = inputs;
      const b = Number(attrs.batch_dims ?? 0);
      const last = indices.shape[indices.shape.length - 1];
      if (typeof last !== 'number') throw new Error(`${ctx.context}: last index dimension must be fixed`);
      // Output: indices' leading dims (without the index tuple) then the data dims the tuple does not address.
      const shape = [...indices.shape.slice(0, -1), ...data.shape.slice(b + last)];
      return [{ dtype: data.dtype, shape }];
    },
    /** batch_dims 0: rows scatter-added back (ScatterND for multi-axis index tuples). Batched single-axis picks
     * (rows of [batch, time, ...] at [batch, n, 1]): ScatterElements add along the picked axis. */
    vjp(g, node, [gy]) {
      if (!gy) return [undefined, undefined];
      const [data, indices] = node.inputs;
      const b = Number(node.attrs.batch_dims ?? 0);
      if (b === 0 && indices.shape[indices.shape.length - 1] === 1) {
        return [scatterAddRows(g, zerosLike(g, data), g.squeeze(indices, [-1]), gy), undefined];
      }
      // Index tuples of several axes: ScatterND (not thread-safe on repeated indices, see scatterAddRows).
      if (b === 0) return [g.scatterND(zerosLike(g, data), indices, gy, 'add'), undefined];
      const q = indices.shape.length;
      if (indices.shape[q - 1] !== 1 || q !== b + 2) {
        throw new Error(`GatherND: no derivative rule for batch_dims ${b} with indices ${formatShape(indices.shape)}`);
      }
      // indices [B.., n, 1] -> [B.., n, 1, 1...] broadcast to gy [B.., n, rest...].
      const rest = data.shape.length - b - 1;
      const idx = rest === 0 ? g.squeeze(indices, [-1]) : rest === 1 ? indices : g.unsqueeze(indices, range(q, q + rest - 1));
      const spread = g.expand(idx, shapeOf(g, gy));
      return [g.scatterElements(zerosLike(g, data), spread, gy, b, 'add'), undefined];
    },
  },

  GatherElements: {
    infer(inputs, attrs, ctx) {
      arity(inputs, 2, ctx);
      normaliseAxis(Number(attrs.axis ?? 0), inputs[0].shape.length, ctx.context);
      return [{ dtype: inputs[0].dtype, shape: inputs[1].shape }];
    },
    vjp(g, node, [gy]) {
      if (!gy) return [undefined, undefined];
      const [data, indices] = node.inputs;
      return [g.scatterElements(zerosLike(g, data), indices, gy, Number(node.attrs.axis ?? 0), 'add'), undefined];
    },
  },

  // --- layout ---
  Reshape: {
    infer(inputs, attrs, ctx) {
      arity(inputs, 2, ctx);
      const [x, shapeValue] = inputs;
      const target = dimsList(shapeValue, ctx, 'target shape');
      const allowZero = attrs.allowzero === 1;
      const out: Dim[] = target.map((d, i) => (d === 0 && !allowZero ? x.shape[i] : d));
      const inferred = out.indexOf(-1);
      if (inferred >= 0) {
        // The -1 dimension is whatever the input's dimensions leave after the others are accounted for.
        const known = out.filter((d, i) => i !== inferred);
        const remaining = x.shape.filter((d) => {
          const at = known.indexOf(d);
          if (at >= 0) {
            known.splice(at, 1);
            return false;
          }
          return true;
        });
        const fixedKnown = known.filter((d): d is number => typeof d === 'number').reduce((a, b) => a * b, 1);
        if (known.some((d) => typeof d === 'string')) {
          throw new Error(`${ctx.context}: cannot infer -1 in ${formatShape(out)} from ${formatShape(x.shape)}`);
        }
        const rest = dimProduct(remaining);
        out[inferred] = typeof rest === 'number' ? rest / fixedKnown : fixedKnown === 1 ? rest : `${rest}/${fixedKnown}`;
      }
      return [{ dtype: x.dtype, shape: out }];
    },
    vjp: (g, node, [gy]) => [gy && reshapeLike(g, gy, node.inputs[0]), undefined],
  },

  Transpose: {
    infer(inputs, attrs, ctx) {
      arity(inputs, 1, ctx);
      const perm = attrs.perm as number[];
      if (!Array.isArray(perm) || perm.length !== inputs[0].shape.length) {
        throw new Error(`${ctx.context}: perm ${String(perm)} does not match rank ${inputs[0].shape.length}`);
      }
      return [{ dtype: inputs[0].dtype, shape: perm.map((p) => inputs[0].shape[p]) }];
    },
    vjp: (g, node, [gy]) => [gy && g.transpose(gy, inversePerm(node.attrs.perm as number[]))],
  },

  Concat: {
    infer(inputs, attrs, ctx) {
      if (inputs.length < 1) throw new Error(`${ctx.context}: needs inputs`);
      const rank = inputs[0].shape.length;
      const axis = normaliseAxis(Number(attrs.axis), rank, ctx.context);
      const dtype = sameFloat(inputs, ctx);
      const shape = [...inputs[0].shape];
      for (const v of inputs) {
        v.shape.forEach((d, i) => {
          if (i !== axis && d !== shape[i]) {
            throw new Error(`${ctx.context}: ${formatShape(v.shape)} does not match ${formatShape(inputs[0].shape)}`);
          }
        });
      }
      shape[axis] = dimSum(inputs.map((v) => v.shape[axis]));
      const parts = rank === 1 ? inputs.map((v) => ctx.graph.dimsValue(v)) : [];
      const value = rank === 1 && parts.every((p) => p) ? parts.flatMap((p) => p!) : undefined;
      return [{ dtype, shape, value }];
    },
    /** Split the gradient into the inputs' sizes along the axis (read at run time where they are symbolic). */
    vjp(g, node, [gy]) {
      if (!gy) return node.inputs.map(() => undefined);
      const axis = normaliseAxis(Number(node.attrs.axis), gy.shape.length, 'Concat');
      const sizes = node.inputs.map((v) => v.shape[axis]);
      if (isStatic(sizes)) return g.split(gy, sizes, axis);
      const sizesValue = g.concat(node.inputs.map((v) => g.gather(g.shape(v), g.constantInt([axis]))), 0);
      return g.apply('Split', [gy, sizesValue], { axis });
    },
  },

  Split: {
    infer(inputs, attrs, ctx) {
      arity(inputs, 2, ctx);
      const [x, sizesValue] = inputs;
      const axis = normaliseAxis(Number(attrs.axis ?? 0), x.shape.length, ctx.context);
      const sizes = dimsList(sizesValue, ctx, 'split sizes');
      const total = dimSum(sizes);
      if (typeof x.shape[axis] === 'number' && x.shape[axis] !== total) {
        throw new Error(`${ctx.context}: sizes ${sizes.join('+')} do not add up to dimension ${String(x.shape[axis])}`);
      }
      return sizes.map((s) => ({ dtype: x.dtype, shape: x.shape.map((d, i) => (i === axis ? s : d)) }));
    },
    vjp(g, node, outputGrads) {
      if (outputGrads.every((gr) => !gr)) return [undefined, undefined];
      const parts = outputGrads.map((gr, i) => gr ?? zerosLike(g, node.outputs[i]));
      return [g.concat(parts, Number(node.attrs.axis ?? 0)), undefined];
    },
  },

  Unsqueeze: {
    infer(inputs, _attrs, ctx) {
      arity(inputs, 2, ctx);
      const [x, axesValue] = inputs;
      const rank = x.shape.length + constantList(axesValue, ctx, 'axes').length;
      const axes = constantList(axesValue, ctx, 'axes').map((a) => normaliseAxis(a, rank, ctx.context));
      const rest = [...x.shape];
      const shape: Dim[] = [];
      for (let i = 0; i < rank; i++) shape.push(axes.includes(i) ? 1 : (rest.shift() as Dim));
      return [{ dtype: x.dtype, shape }];
    },
    vjp(g, node, [gy]) {
      if (!gy) return [undefined, undefined];
      const rank = gy.shape.length;
      return [g.squeeze(gy, g.constantValue(node.inputs[1])!.map((a) => normaliseAxis(a, rank, 'Unsqueeze'))), undefined];
    },
  },

  Squeeze: {
    infer(inputs, _attrs, ctx) {
      arity(inputs, 2, ctx);
      const [x, axesValue] = inputs;
      const axes = constantList(axesValue, ctx, 'axes').map((a) => normaliseAxis(a, x.shape.length, ctx.context));
      for (const a of axes) {
        if (x.shape[a] !== 1) throw new Error(`${ctx.context}: cannot squeeze axis ${a} of ${formatShape(x.shape)}`);
      }
      return [{ dtype: x.dtype, shape: x.shape.filter((_d, i) => !axes.includes(i)) }];
    },
    vjp(g, node, [gy]) {
      if (!gy) return [undefined, undefined];
      const rank = node.inputs[0].shape.length;
      return [g.unsqueeze(gy, g.constantValue(node.inputs[1])!.map((a) => normaliseAxis(a, rank, 'Squeeze'))), undefined];
    },
  },

  // --- shapes, broadcasting and scatters (the derivative rules above emit these) ---
  Shape: {
    infer(inputs, _attrs, ctx) {
      arity(inputs, 1, ctx);
      return [{ dtype: 'int64', shape: [inputs[0].shape.length], value: [...inputs[0].shape] }];
    },
    vjp: noGradient,
  },

  Size: {
    infer(inputs, _attrs, ctx) {
      arity(inputs, 1, ctx);
      return [{ dtype: 'int64', shape: [] }];
    },
    vjp: noGradient,
  },

  // --- integer and boolean ops for masks (their outputs carry no gradient) ---
  /** start, start + delta, ... below limit: all three are scalars of one dtype. With start 0 and delta 1 the length
   * is the limit's tracked dimension when it has one (e.g. `Range(0, Shape(x)[1])` has length x.shape[1]). */
  Range: {
    infer(inputs, _attrs, ctx) {
      arity(inputs, 3, ctx);
      const [start, limit, delta] = inputs;
      for (const v of inputs) {
        if (v.shape.length !== 0) throw new Error(`${ctx.context}: start, limit and delta must be scalars, ${v.name} is ${formatShape(v.shape)}`);
        if (v.dtype !== start.dtype) throw new Error(`${ctx.context}: mixed dtypes ${inputs.map((i) => i.dtype).join(', ')}`);
      }
      const from = ctx.graph.constantValue(start);
      const step = ctx.graph.constantValue(delta);
      const to = ctx.graph.dimsValue(limit);
      let length: Dim;
      if (from && step && to && from[0] === 0 && step[0] === 1) length = to[0];
      else if (from && step && to && typeof to[0] === 'number') length = Math.max(0, Math.ceil((to[0] - from[0]) / step[0]));
      else throw new Error(`${ctx.context}: the length must follow from the inputs (start 0, delta 1, or all constant)`);
      return [{ dtype: start.dtype, shape: [length] }];
    },
    vjp: noGradient,
  },

  Less: { infer: comparisonInfer, vjp: noGradient },
  LessOrEqual: { infer: comparisonInfer, vjp: noGradient },

  And: {
    infer(inputs, _attrs, ctx) {
      arity(inputs, 2, ctx);
      for (const v of inputs) if (v.dtype !== 'bool') throw new Error(`${ctx.context}: ${v.name} must be bool, got ${v.dtype}`);
      return [{ dtype: 'bool', shape: broadcastShapes(inputs[0].shape, inputs[1].shape, ctx.context) }];
    },
    vjp: noGradient,
  },

  ConstantOfShape: {
    infer(inputs, attrs, ctx) {
      arity(inputs, 1, ctx);
      const dtype = ONNX_TO_DTYPE[(attrs.value as TensorProto | undefined)?.dataType ?? 1];
      if (!dtype) throw new Error(`${ctx.context}: unsupported fill dtype`);
      return [{ dtype, shape: dimsList(inputs[0], ctx, 'shape') }];
    },
    vjp: noGradient,
  },

  Expand: {
    infer(inputs, _attrs, ctx) {
      arity(inputs, 2, ctx);
      const [x, shapeValue] = inputs;
      return [{ dtype: x.dtype, shape: broadcastShapes(x.shape, dimsList(shapeValue, ctx, 'shape'), ctx.context) }];
    },
    vjp: (g, node, [gy]) => [gy && unbroadcast(g, gy, node.inputs[0]), undefined],
  },

  ScatterND: {
    infer(inputs, attrs, ctx) {
      arity(inputs, 3, ctx);
      const [data, indices, updates] = inputs;
      sameFloat([data, updates], ctx);
      if (indices.dtype !== 'int64') throw new Error(`${ctx.context}: indices must be int64`);
      if (!['none', 'add', undefined].includes(attrs.reduction as string)) {
        throw new Error(`${ctx.context}: only reductions none and add are supported`);
      }
      return [{ dtype: data.dtype, shape: data.shape }];
    },
    /** With reduction add: data passes its gradient through, each update gets the gradient at its index. */
    vjp(g, node, [gy]) {
      if (!gy) return [undefined, undefined, undefined];
      if (node.attrs.reduction !== 'add') throw new Error('ScatterND: only reduction "add" has a derivative rule');
      return [gy, undefined, g.gatherND(gy, node.inputs[1], 0)];
    },
  },

  ScatterElements: {
    infer(inputs, attrs, ctx) {
      arity(inputs, 3, ctx);
      const [data, indices, updates] = inputs;
      sameFloat([data, updates], ctx);
      if (indices.dtype !== 'int64') throw new Error(`${ctx.context}: indices must be int64`);
      normaliseAxis(Number(attrs.axis ?? 0), data.shape.length, ctx.context);
      if (!['none', 'add', undefined].includes(attrs.reduction as string)) {
        throw new Error(`${ctx.context}: only reductions none and add are supported`);
      }
      return [{ dtype: data.dtype, shape: data.shape }];
    },
    vjp(g, node, [gy]) {
      if (!gy) return [undefined, undefined, undefined];
      if (node.attrs.reduction !== 'add') throw new Error('ScatterElements: only reduction "add" has a derivative rule');
      return [gy, undefined, g.gatherElements(gy, node.inputs[1], Number(node.attrs.axis ?? 0))];
    },
  },
};
