// The graph builder: a typed, readable way to write ONNX graphs as code. Every op call records a node with
// inferred output dtype and symbolic shape (see ops.ts), so mistakes surface at build time with names and shapes,
// and the recorded node list doubles as the tape that the autodiff walks backwards.

import { OPS, type Attrs } from './ops.ts';
import { type Dim, type Shape, formatShape } from './shape.ts';
import { type DType, type HostTensor, int64, floatTensor, tensorBytes, sizeOf } from './tensor.ts';
import { OnnxDataType, encodeModel, type OnnxDataTypeCode, type TensorProto } from './onnx-proto.ts';

export interface Value {
  readonly name: string;
  readonly dtype: DType;
  readonly shape: Shape;
}

export interface Node {
  readonly op: string;
  readonly inputs: Value[];
  readonly outputs: Value[];
  readonly attrs: Attrs;
}

export const ONNX_OPSET = 21;
const ONNX_IR_VERSION = 10;

const ONNX_TYPE: Record<DType, OnnxDataTypeCode> = {
  float32: OnnxDataType.FLOAT,
  float64: OnnxDataType.DOUBLE,
  int64: OnnxDataType.INT64,
  bool: OnnxDataType.BOOL,
};

/** A serialised graph ready for ONNX Runtime: the model bytes plus its large weights as external data. */
export interface BuiltModel {
  bytes: Uint8Array;
  externalData: Array<{ path: string; data: Uint8Array }>;
  inputs: Array<{ name: string; dtype: DType; shape: Shape }>;
  outputs: Array<{ name: string; dtype: DType; shape: Shape }>;
  /** Names of weights baked into the model; feeding one is an error (ONNX Runtime would silently ignore it). */
  initializerNames: string[];
  nodes: Node[];
}

// Tensors at least this large go to external data: the protobuf stays small whatever the model size, and models
// over protobuf's 2 GB limit need no other code path.
const EXTERNAL_MIN_BYTES = 1024;
const EXTERNAL_SHARD_BYTES = 1 << 30;

export class Graph {
  readonly nodes: Node[] = [];
  readonly inputs: Value[] = [];
  readonly outputs: Value[] = [];
  /** Baked weights and constants, by value name. */
  readonly initializers = new Map<string, HostTensor>();
  private readonly usedNames = new Set<string>();
  /** Symbolic contents of small int64 shape vectors (outputs of Shape and what is built from them). */
  private readonly dimValues = new Map<string, Dim[]>();
  private counter = 0;
  private scopes: string[] = [];

  /** Float dtype of activations: float32 normally, float64 for gradient checks. */
  readonly floatType: 'float32' | 'float64';

  constructor(floatType: 'float32' | 'float64' = 'float32') {
    this.floatType = floatType;
  }

  private claim(name: string): string {
    if (this.usedNames.has(name)) throw new Error(`graph value name "${name}" is used twice`);
    this.usedNames.add(name);
    return name;
  }

  /** An unused name under the current scope, e.g. "blocks.3/attn/MatMul_17" (claimed when a value takes it). */
  freshName(hint: string): string {
    const prefix = this.scopes.length ? `${this.scopes.join('/')}/` : '';
    let name = `${prefix}${hint}_${this.counter++}`;
    while (this.usedNames.has(name)) name = `${prefix}${hint}_${this.counter++}`;
    return name;
  }

  /** Run `build` with names prefixed by `scope`, so the ONNX graph reads like the model code. */
  scope<T>(scope: string, build: () => T): T {
    this.scopes.push(scope);
    try {
      return build();
    } finally {
      this.scopes.pop();
    }
  }

  input(name: string, dtype: DType, shape: Shape): Value {
    const v: Value = { name: this.claim(name), dtype, shape };
    this.inputs.push(v);
    return v;
  }

  /** A baked tensor (weight or constant). Weights that change between runs must be inputs instead. */
  initializer(name: string, tensor: HostTensor): Value {
    const v: Value = { name: this.claim(name), dtype: tensor.dtype, shape: [...tensor.shape] };
    this.initializers.set(v.name, tensor);
    return v;
  }

  constantFloat(values: number[] | number, shape?: number[]): Value {
    const data = typeof values === 'number' ? [values] : values;
    return this.initializer(this.freshName('const'), floatTensor(this.floatType, data, shape ?? (typeof values === 'number' ? [] : [data.length])));
  }

  constantInt(values: number[], shape?: number[]): Value {
    return this.initializer(this.freshName('const_i64'), int64(values, shape ?? [values.length]));
  }

  /** The numeric value of a constant, for ops whose output shape depends on it (Reshape, Split, axes...). */
  constantValue(v: Value): number[] | undefined {
    const t = this.initializers.get(v.name);
    if (!t) return undefined;
    return Array.from(t.data as ArrayLike<number | bigint>, (x) => Number(x));
  }

  /** The contents of an int64 shape vector: a constant's numbers, or the symbolic dims a Shape op returns. */
  dimsValue(v: Value): Dim[] | undefined {
    if (v.dtype !== 'int64' || v.shape.length > 1 || typeof v.shape[0] === 'string' || Number(v.shape[0] ?? 1) > 64) {
      return undefined;
    }
    return this.constantValue(v) ?? this.dimValues.get(v.name);
  }

  /** Record one node. Prefer the named helpers below; this is the escape hatch they share. */
  apply(op: string, inputs: Value[], attrs: Attrs = {}, outputNames?: string[]): Value[] {
    const def = OPS[op];
    if (!def) throw new Error(`graph builder has no op "${op}" (known: ${Object.keys(OPS).join(', ')})`);
    const context = `${op} (${this.scopes.join('/') || 'top'})`;
    const types = def.infer(inputs, attrs, { graph: this, context });
    const outputs = types.map((t, i) => ({
      name: this.claim(outputNames?.[i] ?? this.freshName(op)),
      dtype: t.dtype,
      shape: t.shape,
    }));
    types.forEach((t, i) => t.value && this.dimValues.set(outputs[i].name, t.value));
    this.nodes.push({ op, inputs, outputs, attrs });
    return outputs;
  }

  /**
   * Drop the nodes recorded since `start` that nothing in `keep` (or any graph output) depends on, and the
   * constants only they used: the autodiff emits every rule's gradients and keeps the ones the result needs.
   */
  pruneSince(start: number, keep: Value[]): void {
    const live = new Set([...keep, ...this.outputs].map((v) => v.name));
    const kept: Node[] = [];
    for (let i = this.nodes.length - 1; i >= start; i--) {
      const n = this.nodes[i];
      if (!n.outputs.some((o) => live.has(o.name))) continue;
      kept.push(n);
      for (const v of n.inputs) live.add(v.name);
    }
    const used = new Set(this.nodes.flatMap((n, i) => (i < start ? n.inputs.map((v) => v.name) : [])));
    for (const n of kept) for (const v of n.inputs) used.add(v.name);
    const keptSet = new Set(kept);
    const removed = this.nodes.splice(start).filter((n) => !keptSet.has(n));
    this.nodes.push(...kept.reverse());
    for (const n of removed) {
      for (const v of n.inputs) if (this.initializers.has(v.name) && !used.has(v.name)) this.initializers.delete(v.name);
    }
  }

  private one(op: string, inputs: Value[], attrs: Attrs = {}): Value {
    return this.apply(op, inputs, attrs)[0];
  }

  /** Expose `v` as a graph output called `name` (an Identity node keeps the name stable). */
  output(v: Value, name: string): Value {
    const [out] = this.apply('Identity', [v], {}, [name]);
    this.outputs.push(out);
    return out;
  }

  // --- elementwise ---
  add(a: Value, b: Value): Value { return this.one('Add', [a, b]); }
  sub(a: Value, b: Value): Value { return this.one('Sub', [a, b]); }
  mul(a: Value, b: Value): Value { return this.one('Mul', [a, b]); }
  div(a: Value, b: Value): Value { return this.one('Div', [a, b]); }
  pow(a: Value, b: Value): Value { return this.one('Pow', [a, b]); }
  neg(a: Value): Value { return this.one('Neg', [a]); }
  exp(a: Value): Value { return this.one('Exp', [a]); }
  log(a: Value): Value { return this.one('Log', [a]); }
  tanh(a: Value): Value { return this.one('Tanh', [a]); }
  sqrt(a: Value): Value { return this.one('Sqrt', [a]); }
  sigmoid(a: Value): Value { return this.one('Sigmoid', [a]); }
  where(cond: Value, a: Value, b: Value): Value { return this.one('Where', [cond, a, b]); }
  cast(a: Value, to: DType): Value { return this.one('Cast', [a], { to: ONNX_TYPE[to] }); }
  identity(a: Value): Value { return this.one('Identity', [a]); }
  erf(a: Value): Value { return this.one('Erf', [a]); }

  // --- linear algebra and normalisation ---
  matmul(a: Value, b: Value): Value { return this.one('MatMul', [a, b]); }
  softmax(a: Value, axis = -1): Value { return this.one('Softmax', [a], { axis }); }
  logSoftmax(a: Value, axis = -1): Value { return this.one('LogSoftmax', [a], { axis }); }
  layerNorm(x: Value, scale: Value, bias: Value, epsilon: number): Value {
    return this.one('LayerNormalization', [x, scale, bias], { axis: -1, epsilon: { float: epsilon } });
  }
  /** GELU, exact ('none') or with the tanh approximation (GPT-2's "gelu_new"). */
  gelu(x: Value, approximate: 'none' | 'tanh'): Value { return this.one('Gelu', [x], { approximate }); }

  // --- indexing and layout ---
  gather(data: Value, indices: Value, axis = 0): Value { return this.one('Gather', [data, indices], { axis }); }
  gatherND(data: Value, indices: Value, batchDims: number): Value {
    return this.one('GatherND', [data, indices], { batch_dims: batchDims });
  }
  gatherElements(data: Value, indices: Value, axis: number): Value {
    return this.one('GatherElements', [data, indices], { axis });
  }
  /** Reshape to `dims` (0 copies the input dimension, -1 is inferred), as in ONNX. */
  reshape(x: Value, dims: number[]): Value { return this.one('Reshape', [x, this.constantInt(dims)]); }
  transpose(x: Value, perm: number[]): Value { return this.one('Transpose', [x], { perm }); }
  concat(values: Value[], axis: number): Value { return this.one('Concat', values, { axis }); }
  split(x: Value, sizes: number[], axis: number): Value[] {
    return this.apply('Split', [x, this.constantInt(sizes)], { axis });
  }
  unsqueeze(x: Value, axes: number[]): Value { return this.one('Unsqueeze', [x, this.constantInt(axes)]); }
  squeeze(x: Value, axes: number[]): Value { return this.one('Squeeze', [x, this.constantInt(axes)]); }
  reduceSum(x: Value, axes: number[], keepDims: boolean): Value {
    return this.one('ReduceSum', [x, this.constantInt(axes)], { keepdims: keepDims ? 1 : 0 });
  }
  reduceMean(x: Value, axes: number[], keepDims: boolean): Value {
    return this.one('ReduceMean', [x, this.constantInt(axes)], { keepdims: keepDims ? 1 : 0 });
  }

  // --- shapes and scatters (mostly emitted by derivative rules) ---
  /** The runtime shape of `x` as an int64 vector (its symbolic dims are tracked, see dimsValue). */
  shape(x: Value): Value { return this.one('Shape', [x]); }
  /** Element count of `x` as an int64 scalar. */
  size(x: Value): Value { return this.one('Size', [x]); }
  /** A tensor of the given shape (an int64 vector) filled with `value`. */
  constantOfShape(shape: Value, dtype: DType, value: number): Value {
    const fill = dtype === 'int64' ? int64([value], [1]) : floatTensor(dtype as 'float32' | 'float64', [value], [1]);
    return this.one('ConstantOfShape', [shape], {
      value: { name: 'value', dataType: ONNX_TYPE[dtype], dims: [1], rawData: tensorBytes(fill) },
    });
  }
  /** 0, 1, ... up to `limit` (exclusive) as an int64 vector; `limit` is an int64 scalar (e.g. a dim of Shape). */
  range(limit: Value, start = 0, delta = 1): Value {
    return this.one('Range', [this.constantInt([start], []), limit, this.constantInt([delta], [])]);
  }
  /** Elementwise a <= b (numpy broadcasting), as bool. */
  lessOrEqual(a: Value, b: Value): Value { return this.one('LessOrEqual', [a, b]); }
  /** Elementwise a < b (numpy broadcasting), as bool. */
  less(a: Value, b: Value): Value { return this.one('Less', [a, b]); }
  /** Elementwise logical and of two bool tensors (numpy broadcasting). */
  and(a: Value, b: Value): Value { return this.one('And', [a, b]); }
  /** Broadcast `x` to `shape` (an int64 vector). */
  expand(x: Value, shape: Value): Value { return this.one('Expand', [x, shape]); }
  scatterND(data: Value, indices: Value, updates: Value, reduction: 'none' | 'add'): Value {
    return this.one('ScatterND', [data, indices, updates], { reduction });
  }
  scatterElements(data: Value, indices: Value, updates: Value, axis: number, reduction: 'none' | 'add'): Value {
    return this.one('ScatterElements', [data, indices, updates], { axis, reduction });
  }

  /** Serialise: graph inputs, outputs, nodes and initializers (large ones as external data). */
  build(): BuiltModel {
    if (this.outputs.length === 0) throw new Error('graph has no outputs: call graph.output(...) first');
    const initializers: TensorProto[] = [];
    const externalData: Array<{ path: string; data: Uint8Array }> = [];
    let shard: { path: string; parts: Uint8Array[]; size: number } | null = null;
    const flush = () => {
      if (!shard) return;
      if (shard.parts.length === 1) {
        // A tensor alone in its shard travels as it is: no copy of a gigabyte-sized weight.
        externalData.push({ path: shard.path, data: shard.parts[0] });
        shard = null;
        return;
      }
      const data = new Uint8Array(shard.size);
      let at = 0;
      for (const p of shard.parts) {
        data.set(p, at);
        at += p.length;
      }
      externalData.push({ path: shard.path, data });
      shard = null;
    };
    for (const [name, tensor] of this.initializers) {
      const bytes = tensorBytes(tensor);
      const proto: TensorProto = { name, dataType: ONNX_TYPE[tensor.dtype], dims: tensor.shape };
      if (bytes.length < EXTERNAL_MIN_BYTES) {
        proto.rawData = bytes;
      } else {
        if (shard && shard.size + bytes.length > EXTERNAL_SHARD_BYTES) flush();
        if (!shard) shard = { path: `weights-${externalData.length}.bin`, parts: [], size: 0 };
        const offset = shard.size;
        const padded = Math.ceil(bytes.length / 64) * 64; // keep every tensor 64-byte aligned
        shard.parts.push(bytes);
        if (padded > bytes.length) shard.parts.push(new Uint8Array(padded - bytes.length));
        shard.size += padded;
        proto.external = { location: shard.path, offset, length: bytes.length };
      }
      initializers.push(proto);
    }
    flush();
    const info = (v: Value) => ({ name: v.name, elemType: ONNX_TYPE[v.dtype], shape: v.shape });
    const bytes = encodeModel({
      irVersion: ONNX_IR_VERSION,
      opsetVersion: ONNX_OPSET,
      producerName: 'icl-lab',
      graph: {
        name: 'icl-lab',
        nodes: this.nodes.map((n) => ({
          opType: n.op,
          inputs: n.inputs.map((v) => v.name),
          outputs: n.outputs.map((v) => v.name),
          attributes: n.attrs,
        })),
        initializers,
        inputs: this.inputs.map(info),
        outputs: this.outputs.map(info),
      },
    });
    return {
      bytes,
      externalData,
      inputs: this.inputs.map((v) => ({ name: v.name, dtype: v.dtype, shape: v.shape })),
      outputs: this.outputs.map((v) => ({ name: v.name, dtype: v.dtype, shape: v.shape })),
      initializerNames: [...this.initializers.keys()],
      nodes: [...this.nodes],
    };
  }
}

/** Multiply-accumulate FLOPs (2 per MAC) of every MatMul in a node list, for given symbolic dimension sizes. */
export function countMatMulFlops(nodes: Node[], dims: Record<string, number>): number {
  const size = (d: Dim): number => {
    if (typeof d === 'number') return d;
    // Symbolic products and sums ("batch*time", "past+time") evaluate from their parts.
    if (d.includes('+')) return d.split('+').reduce((s, p) => s + size(/^\d+$/.test(p) ? Number(p) : p), 0);
    if (d.includes('*')) return d.split('*').reduce((s, p) => s * size(/^\d+$/.test(p) ? Number(p) : p), 1);
    const v = dims[d];
    if (v === undefined) throw new Error(`countMatMulFlops: no size given for dimension "${d}"`);
    return v;
  };
  let flops = 0;
  for (const n of nodes) {
    if (n.op !== 'MatMul') continue;
    const [a, b] = n.inputs;
    const out = n.outputs[0].shape.map(size);
    const k = size(a.shape[a.shape.length - 1]);
    if (b.shape.length < 2) throw new Error(`MatMul with rank-${b.shape.length} right operand ${formatShape(b.shape)}`);
    flops += 2 * sizeOf(out) * k;
  }
  return flops;
}
