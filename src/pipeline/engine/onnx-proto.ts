// A minimal ONNX protobuf encoder: just the messages this project emits (model, graph, node, attribute, tensor,
// value info). Writing it ourselves keeps large weights out of the protobuf (they travel as external data) and
// avoids a dependency on a lightly maintained generated-code package. Field numbers follow onnx/onnx.proto.

export const OnnxDataType = {
  FLOAT: 1,
  UINT8: 2,
  INT8: 3,
  INT32: 6,
  INT64: 7,
  BOOL: 9,
  FLOAT16: 10,
  DOUBLE: 11,
  BFLOAT16: 16,
} as const;
export type OnnxDataTypeCode = (typeof OnnxDataType)[keyof typeof OnnxDataType];

const AttributeType = { FLOAT: 1, INT: 2, STRING: 3, TENSOR: 4, FLOATS: 6, INTS: 7, STRINGS: 8 } as const;

export type AttributeValue = number | string | number[] | string[] | TensorProto | { float: number };

export interface TensorProto {
  name: string;
  dataType: OnnxDataTypeCode;
  dims: number[];
  /** Little-endian raw bytes, stored inside the model. */
  rawData?: Uint8Array;
  /** Or: where the bytes live outside the model (ONNX external data). */
  external?: { location: string; offset: number; length: number };
}

export interface NodeProto {
  opType: string;
  inputs: string[];
  outputs: string[];
  name?: string;
  domain?: string;
  attributes?: Record<string, AttributeValue>;
}

export interface ValueInfoProto {
  name: string;
  elemType: OnnxDataTypeCode;
  /** Fixed sizes as numbers, symbolic ones (batch, time) as strings. */
  shape: Array<number | string>;
}

export interface GraphProto {
  name: string;
  nodes: NodeProto[];
  initializers: TensorProto[];
  inputs: ValueInfoProto[];
  outputs: ValueInfoProto[];
}

export interface ModelProto {
  irVersion: number;
  opsetVersion: number;
  producerName: string;
  graph: GraphProto;
}

/** Growable byte sink with protobuf wire-format primitives. */
class Writer {
  private buf = new Uint8Array(256);
  private len = 0;

  private ensure(extra: number): void {
    if (this.len + extra <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.len + extra) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
  }

  varint(value: number | bigint): void {
    // Negative int64 values are encoded as their 64-bit two's complement (10 bytes).
    let v = BigInt.asUintN(64, BigInt(value));
    this.ensure(10);
    while (v >= 0x80n) {
      this.buf[this.len++] = Number(v & 0x7fn) | 0x80;
      v >>= 7n;
    }
    this.buf[this.len++] = Number(v);
  }

  tag(field: number, wireType: 0 | 1 | 2 | 5): void {
    this.varint((field << 3) | wireType);
  }

  bytes(field: number, data: Uint8Array): void {
    this.tag(field, 2);
    this.varint(data.length);
    this.ensure(data.length);
    this.buf.set(data, this.len);
    this.len += data.length;
  }

  string(field: number, s: string): void {
    this.bytes(field, new TextEncoder().encode(s));
  }

  int(field: number, value: number | bigint): void {
    this.tag(field, 0);
    this.varint(value);
  }

  float(field: number, value: number): void {
    this.tag(field, 5);
    this.ensure(4);
    new DataView(this.buf.buffer, this.buf.byteOffset + this.len, 4).setFloat32(0, value, true);
    this.len += 4;
  }

  message(field: number, write: (w: Writer) => void): void {
    const inner = new Writer();
    write(inner);
    this.bytes(field, inner.finish());
  }

  finish(): Uint8Array {
    return this.buf.subarray(0, this.len);
  }
}

function writeTensor(w: Writer, t: TensorProto): void {
  for (const d of t.dims) w.int(1, d);
  w.int(2, t.dataType);
  w.string(8, t.name);
  if (t.rawData) w.bytes(9, t.rawData);
  if (t.external) {
    const entries: Array<[string, string]> = [
      ['location', t.external.location],
      ['offset', String(t.external.offset)],
      ['length', String(t.external.length)],
    ];
    for (const [key, value] of entries) {
      w.message(13, (e) => {
        e.string(1, key);
        e.string(2, value);
      });
    }
    w.int(14, 1); // data_location = EXTERNAL
  }
}

function writeAttribute(w: Writer, name: string, value: AttributeValue): void {
  w.string(1, name);
  if (typeof value === 'number') {
    if (!Number.isInteger(value)) throw new Error(`attribute ${name}: use { float: x } for float values`);
    w.int(3, value);
    w.int(20, AttributeType.INT);
  } else if (typeof value === 'string') {
    w.string(4, value);
    w.int(20, AttributeType.STRING);
  } else if (Array.isArray(value)) {
    if (value.every((v) => typeof v === 'number')) {
      for (const v of value as number[]) w.int(8, v);
      w.int(20, AttributeType.INTS);
    } else {
      for (const v of value as string[]) w.string(9, v);
      w.int(20, AttributeType.STRINGS);
    }
  } else if ('float' in value) {
    w.float(2, value.float);
    w.int(20, AttributeType.FLOAT);
  } else {
    w.message(5, (t) => writeTensor(t, value));
    w.int(20, AttributeType.TENSOR);
  }
}

function writeValueInfo(w: Writer, v: ValueInfoProto): void {
  w.string(1, v.name);
  w.message(2, (type) =>
    type.message(1, (tensorType) => {
      tensorType.int(1, v.elemType);
      tensorType.message(2, (shape) => {
        for (const d of v.shape) {
          shape.message(1, (dim) => (typeof d === 'number' ? dim.int(1, d) : dim.string(2, d)));
        }
      });
    }),
  );
}

function writeNode(w: Writer, n: NodeProto): void {
  for (const i of n.inputs) w.string(1, i);
  for (const o of n.outputs) w.string(2, o);
  if (n.name) w.string(3, n.name);
  w.string(4, n.opType);
  for (const [key, value] of Object.entries(n.attributes ?? {})) w.message(5, (a) => writeAttribute(a, key, value));
  if (n.domain) w.string(7, n.domain);
}

/** Serialise a model to ONNX protobuf bytes. */
export function encodeModel(model: ModelProto): Uint8Array {
  const w = new Writer();
  w.int(1, model.irVersion);
  w.string(2, model.producerName);
  w.message(7, (g) => {
    for (const n of model.graph.nodes) g.message(1, (x) => writeNode(x, n));
    g.string(2, model.graph.name);
    for (const t of model.graph.initializers) g.message(5, (x) => writeTensor(x, t));
    for (const v of model.graph.inputs) g.message(11, (x) => writeValueInfo(x, v));
    for (const v of model.graph.outputs) g.message(12, (x) => writeValueInfo(x, v));
  });
  w.message(8, (o) => {
    o.string(1, '');
    o.int(2, model.opsetVersion);
  });
  return w.finish();
}
