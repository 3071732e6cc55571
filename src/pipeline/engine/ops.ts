// The primitive ops the graph builder knows: for each, how its output dtype and symbolic shape follow from its
// inputs. This is the one place an op is defined; its derivative rule (autodiff) belongs next to it here.

import type { Graph, Value } from './graph.ts';
import type { DType } from './tensor.ts';
import {
  type Dim,
  type Shape,
  broadcastShapes,
  dimProduct,
  dimSum,
  formatShape,
  normaliseAxis,
} from './shape.ts';
import type { AttributeValue } from './onnx-proto.ts';

export type Attrs = Record<string, AttributeValue>;

export interface InferContext {
  graph: Graph;
  /** Op name and scope, for error messages. */
  context: string;
}

export interface OutputType {
  dtype: DType;
  shape: Shape;
}

export interface OpDef {
  /** Output dtypes and shapes; throws a clear error on inconsistent inputs. */
  infer(inputs: Value[], attrs: Attrs, ctx: InferContext): OutputType[];
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

const unary: OpDef = {
  infer(inputs, _attrs, ctx) {
    arity(inputs, 1, ctx);
    return [{ dtype: inputs[0].dtype, shape: inputs[0].shape }];
  },
};

const binary: OpDef = {
  infer(inputs, _attrs, ctx) {
    arity(inputs, 2, ctx);
    return [{ dtype: sameFloat(inputs, ctx), shape: broadcastShapes(inputs[0].shape, inputs[1].shape, ctx.context) }];
  },
};

const sameShapeAxisOp: OpDef = {
  infer(inputs, attrs, ctx) {
    arity(inputs, 1, ctx);
    normaliseAxis(Number(attrs.axis ?? -1), inputs[0].shape.length, ctx.context);
    return [{ dtype: inputs[0].dtype, shape: inputs[0].shape }];
  },
};

const reduce: OpDef = {
  infer(inputs, attrs, ctx) {
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
  },
};

export const OPS: Record<string, OpDef> = {
  Identity: unary,
  Neg: unary,
  Exp: unary,
  Log: unary,
  Tanh: unary,
  Sqrt: unary,
  Add: binary,
  Sub: binary,
  Mul: binary,
  Div: binary,
  Pow: binary,
  Softmax: sameShapeAxisOp,
  LogSoftmax: sameShapeAxisOp,
  Gelu: unary,
  ReduceSum: reduce,
  ReduceMean: reduce,

  Cast: {
    infer(inputs, attrs, ctx) {
      arity(inputs, 1, ctx);
      const dtype = ONNX_TO_DTYPE[Number(attrs.to)];
      if (!dtype) throw new Error(`${ctx.context}: unsupported cast target ${String(attrs.to)}`);
      return [{ dtype, shape: inputs[0].shape }];
    },
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
  },

  Gather: {
    infer(inputs, attrs, ctx) {
      arity(inputs, 2, ctx);
      const [data, indices] = inputs;
      if (indices.dtype !== 'int64') throw new Error(`${ctx.context}: indices must be int64`);
      const axis = normaliseAxis(Number(attrs.axis ?? 0), data.shape.length, ctx.context);
      return [{ dtype: data.dtype, shape: [...data.shape.slice(0, axis), ...indices.shape, ...data.shape.slice(axis + 1)] }];
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
  },

  GatherElements: {
    infer(inputs, attrs, ctx) {
      arity(inputs, 2, ctx);
      normaliseAxis(Number(attrs.axis ?? 0), inputs[0].shape.length, ctx.context);
      return [{ dtype: inputs[0].dtype, shape: inputs[1].shape }];
    },
  },

  Reshape: {
    infer(inputs, _attrs, ctx) {
      arity(inputs, 2, ctx);
      const [x, shapeValue] = inputs;
      const target = constantList(shapeValue, ctx, 'target shape');
      const out: Dim[] = target.map((d, i) => (d === 0 ? x.shape[i] : d));
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
      return [{ dtype, shape }];
    },
  },

  Split: {
    infer(inputs, attrs, ctx) {
      arity(inputs, 2, ctx);
      const [x, sizesValue] = inputs;
      const axis = normaliseAxis(Number(attrs.axis ?? 0), x.shape.length, ctx.context);
      const sizes = constantList(sizesValue, ctx, 'split sizes');
      const total = sizes.reduce((a, b) => a + b, 0);
      if (typeof x.shape[axis] === 'number' && x.shape[axis] !== total) {
        throw new Error(`${ctx.context}: sizes ${sizes.join('+')} do not add up to dimension ${String(x.shape[axis])}`);
      }
      return sizes.map((s) => ({ dtype: x.dtype, shape: x.shape.map((d, i) => (i === axis ? s : d)) }));
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
  },
};
