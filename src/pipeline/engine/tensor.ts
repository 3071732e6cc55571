// Host tensors: a typed array plus its shape. The one currency between the pipeline, ONNX Runtime and files.

export type DType = 'float32' | 'float64' | 'int64' | 'bool';

export type TypedData = Float32Array | Float64Array | BigInt64Array | Uint8Array;

export interface HostTensor {
  dtype: DType;
  shape: number[];
  data: TypedData;
}

export function sizeOf(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

function check(t: HostTensor): HostTensor {
  const n = sizeOf(t.shape);
  if (t.data.length !== n) {
    throw new Error(`tensor data has ${t.data.length} elements but shape [${t.shape.join(', ')}] needs ${n}`);
  }
  return t;
}

export function float32(data: Float32Array | number[], shape: number[]): HostTensor {
  return check({ dtype: 'float32', shape, data: data instanceof Float32Array ? data : Float32Array.from(data) });
}

export function float64(data: Float64Array | number[], shape: number[]): HostTensor {
  return check({ dtype: 'float64', shape, data: data instanceof Float64Array ? data : Float64Array.from(data) });
}

export function int64(data: BigInt64Array | number[], shape: number[]): HostTensor {
  const typed = data instanceof BigInt64Array ? data : BigInt64Array.from(data, (v) => BigInt(v));
  return check({ dtype: 'int64', shape, data: typed });
}

/** A float tensor in the requested float dtype (weights are kept as float32 and widened for float64 checks). */
export function floatTensor(dtype: 'float32' | 'float64', data: ArrayLike<number>, shape: number[]): HostTensor {
  return dtype === 'float32'
    ? float32(Float32Array.from(data), shape)
    : float64(Float64Array.from(data), shape);
}

export function bytesPerElement(dtype: DType): number {
  return dtype === 'float64' || dtype === 'int64' ? 8 : dtype === 'float32' ? 4 : 1;
}

/** Little-endian bytes of a tensor's data (a view where possible). */
export function tensorBytes(t: HostTensor): Uint8Array {
  return new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
}
