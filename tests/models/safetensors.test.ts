import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ModelFileError,
  type SafetensorsDtype,
  type TensorInput,
  bfloat16BitsToFloat32,
  encodeSafetensors,
  float16BitsToFloat32,
  float32ToBfloat16Bits,
  float32ToFloat16Bits,
  parseSafetensors,
  readSafetensors,
  tensorData,
  toBigInt64,
  toFloat32,
  writeSafetensors,
} from '../../src/pipeline/models/safetensors.ts';
import { Rng } from '../../src/pipeline/util/random.ts';

let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'icl-lab-st-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

/** A safetensors file from a header given as text or object, followed by `data`. */
function handMade(header: string | Uint8Array | object, data: Uint8Array | number = 0): Uint8Array {
  const json =
    header instanceof Uint8Array ? header : new TextEncoder().encode(typeof header === 'string' ? header : JSON.stringify(header));
  const body = typeof data === 'number' ? new Uint8Array(data) : data;
  const out = new Uint8Array(8 + json.length + body.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(body, 8 + json.length);
  return out;
}

/** Elements of any typed array as a plain list. */
function list(a: ArrayLike<number> | ArrayLike<bigint>): Array<number | bigint> {
  return Array.from(a as ArrayLike<number | bigint>);
}

function f16Bits(values: number[]): number[] {
  const bytes = encodeSafetensors([{ name: 'x', dtype: 'F16', shape: [values.length], data: Float32Array.from(values) }]);
  return Array.from(tensorData(parseSafetensors(bytes, 'mem').tensors.get('x')!) as Uint16Array);
}

describe('float16 conversion', () => {
  it('encodes special values, the largest half, subnormals and ties to even', () => {
    const cases: Array<[number, number]> = [
      [0, 0x0000],
      [-0, 0x8000],
      [1, 0x3c00],
      [-2, 0xc000],
      [65504, 0x7bff], // largest half
      [65519, 0x7bff], // below the midpoint to 65536
      [65520, 0x7c00], // the midpoint: ties to even overflows to infinity
      [1e9, 0x7c00],
      [Infinity, 0x7c00],
      [-Infinity, 0xfc00],
      [2 ** -24, 0x0001], // smallest subnormal
      [2 ** -25, 0x0000], // tie between 0 and 2^-24: even is 0
      [3 * 2 ** -25, 0x0002], // tie between 1 and 2 units: even is 2
      [1.4 * 2 ** -24, 0x0001],
      [1023 * 2 ** -24, 0x03ff], // largest subnormal
      [2 ** -14, 0x0400], // smallest normal
      [(1023.5 * 2 ** -24), 0x0400], // rounds up from the subnormals into the smallest normal
      [1 + 2 ** -11, 0x3c00], // tie: down to the even mantissa
      [1 + 3 * 2 ** -11, 0x3c02], // tie: up to the even mantissa
      [2049, 0x6800],
      [2051, 0x6802],
      [-2051, 0xe802],
      [0.1, 0x2e66], // numpy: np.float16(0.1).view(np.uint16)
      [Math.PI, 0x4248],
    ];
    for (const [x, bits] of cases) expect([x, float32ToFloat16Bits(x)]).toEqual([x, bits]);
    expect(float32ToFloat16Bits(NaN)).toBe(0x7e00);
    // The bulk path used for Float32Array data agrees (for these float32-exact values).
    expect(f16Bits(cases.map((c) => c[0]))).toEqual(cases.map((c) => c[1]));
    expect(f16Bits([NaN])).toEqual([0x7e00]);
  });

  it('decodes every half exactly: encode(decode(h)) == h for all 65536 bit patterns', () => {
    let nans = 0;
    for (let h = 0; h < 65536; h++) {
      const x = float16BitsToFloat32(h);
      if (Number.isNaN(x)) {
        nans++;
        continue;
      }
      if (float32ToFloat16Bits(x) !== h) throw new Error(`half ${h.toString(16)} -> ${x} -> ${float32ToFloat16Bits(x)}`);
    }
    expect(nans).toBe(2 * 1023);
    expect(float16BitsToFloat32(0x0001)).toBe(2 ** -24);
    expect(float16BitsToFloat32(0x7bff)).toBe(65504);
    expect(float16BitsToFloat32(0xfc00)).toBe(-Infinity);
    expect(Object.is(float16BitsToFloat32(0x8000), -0)).toBe(true);
  });

  it('matches numpy on awkward float32 values', () => {
    // [float32 bits, np.float32(...).astype(np.float16).view(np.uint16)], computed with numpy 2.4
    const golden: Array<[number, number]> = [
      [0x33000000, 0x0000], // 2^-25: tie between 0 and the smallest subnormal
      [0x33000001, 0x0001],
      [0x337fffff, 0x0001],
      [0x387fc000, 0x03ff], // largest subnormal
      [0x387fd000, 0x03ff],
      [0x387fdfff, 0x03ff],
      [0x387fe000, 0x0400], // tie: up into the smallest normal
      [0x387ff000, 0x0400],
      [0x38800000, 0x0400],
      [0x3f801000, 0x3c00],
      [0x3f801001, 0x3c01],
      [0x3f803000, 0x3c02],
      [0x477fefff, 0x7bff],
      [0x477ff000, 0x7c00],
      [0xc77ff000, 0xfc00],
      [0x7f7fffff, 0x7c00],
      [0x00000001, 0x0000],
      [0x80000001, 0x8000],
    ];
    const f = new Float32Array(new Uint32Array(golden.map((g) => g[0])).buffer);
    expect(f16Bits(Array.from(f))).toEqual(golden.map((g) => g[1]));
    expect(Array.from(f, (x) => float32ToFloat16Bits(x))).toEqual(golden.map((g) => g[1]));
  });

  it('the fast Float32Array path agrees with the scalar conversion on random float32 bit patterns', () => {
    const rng = new Rng(7);
    const bits = new Uint32Array(50_000);
    for (let i = 0; i < bits.length; i++) bits[i] = rng.nextUint32();
    // Also values near the half range, where rounding decisions happen.
    for (let i = 0; i < 10_000; i++) bits[i] = 0x33000000 + rng.int(0x14800000);
    const values = Array.from(new Float32Array(bits.buffer));
    const fast = f16Bits(values);
    for (let i = 0; i < values.length; i++) {
      const slow = Number.isNaN(values[i]) ? 0x7e00 : float32ToFloat16Bits(values[i]);
      if (fast[i] !== slow) throw new Error(`bits ${bits[i].toString(16)}: fast ${fast[i]} != scalar ${slow}`);
    }
  });

  it('rounds a float64 once (no double rounding through float32)', () => {
    const justAboveTie = 1 + 2 ** -11 + 2 ** -40; // as float32 this is exactly the tie 1 + 2^-11
    expect(float32ToFloat16Bits(justAboveTie)).toBe(0x3c01);
    const bytes = encodeSafetensors([{ name: 'x', dtype: 'F16', shape: [1], data: Float64Array.of(justAboveTie) }]);
    expect(list(tensorData(parseSafetensors(bytes, 'm').tensors.get('x')!))).toEqual([0x3c01]);
  });
});

describe('bfloat16 conversion', () => {
  it('encodes special values, subnormals and ties to even', () => {
    const cases: Array<[number, number]> = [
      [0, 0x0000],
      [-0, 0x8000],
      [1, 0x3f80],
      [-1.5, 0xbfc0],
      [Infinity, 0x7f80],
      [-Infinity, 0xff80],
      [1 + 2 ** -8, 0x3f80], // tie: down to even
      [1 + 3 * 2 ** -8, 0x3f82], // tie: up to even
      [3.4028234663852886e38, 0x7f80], // float32 max rounds up to infinity
      [3.3895313892515355e38, 0x7f7f], // largest bfloat16
      [2 ** -133, 0x0001], // smallest bfloat16 subnormal
      [2 ** -134, 0x0000], // tie with 0
      [2 ** -126, 0x0080], // smallest normal
      [2 ** -149, 0x0000], // smallest float32 subnormal
      [0.1, 0x3dcd],
    ];
    for (const [x, bits] of cases) expect([x, float32ToBfloat16Bits(x)]).toEqual([x, bits]);
    expect(float32ToBfloat16Bits(NaN)).toBe(0x7fc0);
    const bytes = encodeSafetensors([
      { name: 'x', dtype: 'BF16', shape: [cases.length + 1], data: Float32Array.from([...cases.map((c) => c[0]), NaN]) },
    ]);
    expect(list(tensorData(parseSafetensors(bytes, 'm').tensors.get('x')!))).toEqual([...cases.map((c) => c[1]), 0x7fc0]);
  });

  it('decodes every bfloat16 exactly and the fast path agrees with the scalar one', () => {
    for (let b = 0; b < 65536; b++) {
      const x = bfloat16BitsToFloat32(b);
      if (Number.isNaN(x)) continue;
      if (float32ToBfloat16Bits(x) !== b) throw new Error(`bf16 ${b.toString(16)} -> ${x} -> ${float32ToBfloat16Bits(x)}`);
    }
    expect(bfloat16BitsToFloat32(0x3f80)).toBe(1);
    expect(Object.is(bfloat16BitsToFloat32(0x8000), -0)).toBe(true);
    const rng = new Rng(11);
    const bits = new Uint32Array(50_000);
    for (let i = 0; i < bits.length; i++) bits[i] = rng.nextUint32();
    const values = new Float32Array(bits.buffer);
    const bytes = encodeSafetensors([{ name: 'x', dtype: 'BF16', shape: [values.length], data: values }]);
    const fast = tensorData(parseSafetensors(bytes, 'm').tensors.get('x')!);
    for (let i = 0; i < values.length; i++) {
      const slow = float32ToBfloat16Bits(values[i]);
      if (fast[i] !== slow) throw new Error(`bits ${bits[i].toString(16)}: fast ${fast[i]} != scalar ${slow}`);
    }
  });
});

describe('encode and parse round trip', () => {
  const specials = [0, -0, 1.5, -2.25, 1 / 3, 65504, 2 ** -24, Infinity, -Infinity, NaN];
  const inputs: TensorInput[] = [
    { name: 'f64', dtype: 'F64', shape: [2, 5], data: Float64Array.from([...specials.slice(0, 9), 1e300]) },
    { name: 'f32', dtype: 'F32', shape: [10], data: Float32Array.from(specials) },
    { name: 'f16', dtype: 'F16', shape: [10], data: Float32Array.from(specials) },
    { name: 'f16raw', dtype: 'F16', shape: [3], data: Uint16Array.of(0x7d01, 0xfc00, 0x0001) },
    { name: 'bf16', dtype: 'BF16', shape: [10], data: Float32Array.from(specials) },
    { name: 'i64', dtype: 'I64', shape: [3], data: BigInt64Array.of(-(2n ** 63n), 2n ** 63n - 1n, 50256n) },
    { name: 'i32', dtype: 'I32', shape: [1, 3], data: Int32Array.of(-(2 ** 31), 2 ** 31 - 1, 7) },
    { name: 'i16', dtype: 'I16', shape: [2], data: Int16Array.of(-32768, 32767) },
    { name: 'i8', dtype: 'I8', shape: [2], data: Int8Array.of(-128, 127) },
    { name: 'u8', dtype: 'U8', shape: [3], data: Uint8Array.of(0, 128, 255) },
    { name: 'bool', dtype: 'BOOL', shape: [3], data: Uint8Array.of(1, 0, 1) },
    { name: 'scalar', dtype: 'F32', shape: [], data: Float32Array.of(42) },
    { name: 'empty', dtype: 'F32', shape: [0, 3], data: new Float32Array(0) },
  ];

  it('gives back every dtype, shape and value', () => {
    const file = parseSafetensors(encodeSafetensors(inputs, { format: 'pt', note: 'hi' }), 'mem.safetensors');
    expect(file.metadata).toEqual({ format: 'pt', note: 'hi' });
    expect([...file.tensors.keys()].sort()).toEqual(inputs.map((t) => t.name).sort());
    for (const t of inputs) {
      const e = file.tensors.get(t.name)!;
      expect([t.name, e.dtype, e.shape]).toEqual([t.name, t.dtype, t.shape]);
    }
    const get = (n: string) => file.tensors.get(n)!;
    expect(Array.from(toFloat32(get('f64')))).toEqual(Array.from(Float32Array.from(inputs[0].data as Float64Array)));
    expect(list(tensorData(get('f64')))).toEqual(Array.from(inputs[0].data as Float64Array));
    expect(Object.is(toFloat32(get('f32'))[1], -0)).toBe(true);
    expect(Array.from(toFloat32(get('f32')))).toEqual(Array.from(inputs[1].data as Float32Array));
    // F16 and BF16: every special value survives exactly (1/3 is rounded).
    const f16 = Array.from(toFloat32(get('f16')));
    expect(f16).toEqual([0, -0, 1.5, -2.25, float16BitsToFloat32(0x3555), 65504, 2 ** -24, Infinity, -Infinity, NaN]);
    expect(Object.is(f16[1], -0)).toBe(true);
    const bf16 = Array.from(toFloat32(get('bf16')));
    expect(bf16).toEqual([0, -0, 1.5, -2.25, bfloat16BitsToFloat32(0x3eab), 65536, 2 ** -24, Infinity, -Infinity, NaN]);
    expect(list(tensorData(get('f16raw')))).toEqual([0x7d01, 0xfc00, 0x0001]);
    // A signalling NaN's payload survives widening to float32 (quietened, as hardware does).
    expect(new Uint32Array(toFloat32(get('f16raw')).buffer)[0]).toBe(0x7fe02000);
    expect(Array.from(toBigInt64(get('i64')))).toEqual([-(2n ** 63n), 2n ** 63n - 1n, 50256n]);
    expect(list(tensorData(get('i32')))).toEqual([-(2 ** 31), 2 ** 31 - 1, 7]);
    expect(list(tensorData(get('i16')))).toEqual([-32768, 32767]);
    expect(list(tensorData(get('i8')))).toEqual([-128, 127]);
    expect(list(tensorData(get('u8')))).toEqual([0, 128, 255]);
    expect(list(tensorData(get('bool')))).toEqual([1, 0, 1]);
    expect(Array.from(toFloat32(get('scalar')))).toEqual([42]);
    expect(toFloat32(get('empty')).length).toBe(0);
    expect(() => toFloat32(get('i64'))).toThrow(/i64.*I64.*toFloat32/);
    expect(() => toBigInt64(get('f32'))).toThrow(/f32.*needs I64/);
  });

  it('writes a padded header and aligned data, the same bytes whatever the input order', () => {
    const a = encodeSafetensors(inputs);
    const b = encodeSafetensors([...inputs].reverse());
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true);
    const n = Number(new DataView(a.buffer).getBigUint64(0, true));
    expect(n % 8).toBe(0);
    const headerText = new TextDecoder().decode(a.subarray(8, 8 + n));
    expect(headerText).toMatch(/} *$/);
    const header = JSON.parse(headerText) as Record<string, { dtype: SafetensorsDtype; data_offsets: [number, number] }>;
    const size: Record<string, number> = { F64: 8, I64: 8, F32: 4, I32: 4, F16: 2, BF16: 2, I16: 2, I8: 1, U8: 1, BOOL: 1 };
    for (const [name, info] of Object.entries(header)) {
      expect([name, info.data_offsets[0] % size[info.dtype]]).toEqual([name, 0]);
    }
  });

  it('writes exactly the bytes the format prescribes', () => {
    const bytes = encodeSafetensors([{ name: 'x', dtype: 'F32', shape: [2], data: Float32Array.of(1, -2) }], { format: 'pt' });
    const json = '{"__metadata__":{"format":"pt"},"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}';
    const padded = json + ' '.repeat(Math.ceil(json.length / 8) * 8 - json.length);
    const expected = [
      ...[padded.length, 0, 0, 0, 0, 0, 0, 0],
      ...new TextEncoder().encode(padded),
      ...[0x00, 0x00, 0x80, 0x3f], // 1.0f little-endian
      ...[0x00, 0x00, 0x00, 0xc0], // -2.0f
    ];
    expect(Array.from(bytes)).toEqual(expected);
  });

  it('copies a tensor given as a read entry bit for bit', () => {
    const src = parseSafetensors(encodeSafetensors(inputs), 'src');
    const entries = [...src.tensors.values()];
    const again = parseSafetensors(encodeSafetensors(entries), 'again');
    for (const e of entries) expect(Buffer.from(again.tensors.get(e.name)!.bytes).equals(Buffer.from(e.bytes))).toBe(true);
    // Mixed with new data under other names.
    const mixed = encodeSafetensors([src.tensors.get('f16raw')!, { name: 'new', dtype: 'F32', shape: [1], data: Float32Array.of(3) }]);
    expect(list(tensorData(parseSafetensors(mixed, 'm').tensors.get('f16raw')!))).toEqual([0x7d01, 0xfc00, 0x0001]);
  });

  it('rejects tensors that do not fit their dtype or shape', () => {
    const f32 = Float32Array.of(1, 2);
    expect(() => encodeSafetensors([{ name: 'w', dtype: 'F32', shape: [3], data: f32 }])).toThrow(/"w".*2 elements.*needs 3/);
    expect(() => encodeSafetensors([{ name: 'w', dtype: 'F32', shape: [-2], data: f32 }])).toThrow(/"w".*shape/);
    expect(() => encodeSafetensors([{ name: 'w', dtype: 'I32', shape: [2], data: f32 }])).toThrow(/"w".*Float32Array as I32/);
    expect(() => encodeSafetensors([{ name: 'w', dtype: 'BOOL', shape: [1], data: Uint8Array.of(2) }])).toThrow(/0 or 1/);
    expect(() =>
      encodeSafetensors([
        { name: 'w', dtype: 'F32', shape: [2], data: f32 },
        { name: 'w', dtype: 'F32', shape: [2], data: f32 },
      ]),
    ).toThrow(/"w" is given twice/);
    expect(() => encodeSafetensors([{ name: '__metadata__', dtype: 'F32', shape: [2], data: f32 }])).toThrow(/reserved/);
  });
});

describe('reading files written by hand', () => {
  it('reads an unpadded header with tensors listed out of offset order', () => {
    const data = Uint8Array.from([
      ...[0x00, 0x00, 0xc0, 0x3f], // a: F32 1.5
      ...[0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff], // b: I64 -2
      ...[0x80, 0x3f, 0x00, 0xc0], // c: BF16 [1, -2]
    ]);
    const header =
      '{"c":{"dtype":"BF16","shape":[2],"data_offsets":[12,16]},"__metadata__":{"k":"v"},' +
      '"a":{"dtype":"F32","shape":[1,1],"data_offsets":[0,4]},"b":{"dtype":"I64","shape":[],"data_offsets":[4,12]}}';
    expect(header.length % 8).not.toBe(0);
    const file = parseSafetensors(handMade(header, data), 'hand.safetensors');
    expect(file.metadata).toEqual({ k: 'v' });
    expect(Array.from(toFloat32(file.tensors.get('a')!))).toEqual([1.5]);
    expect(file.tensors.get('a')!.shape).toEqual([1, 1]);
    expect(Array.from(toBigInt64(file.tensors.get('b')!))).toEqual([-2n]); // unaligned in the file: copied
    expect(Array.from(toFloat32(file.tensors.get('c')!))).toEqual([1, -2]);
  });

  it('reads an empty file of tensors', () => {
    const file = parseSafetensors(handMade('{}'), 'empty.safetensors');
    expect(file.tensors.size).toBe(0);
  });
});

describe('errors name the file and the problem', () => {
  const P = '/models/m/model.safetensors';
  const ok = { dtype: 'F32', shape: [2], data_offsets: [0, 8] };
  const cases: Array<[string, Uint8Array, RegExp]> = [
    ['shorter than 8 bytes', Uint8Array.of(1, 2, 3), /only 3 bytes.*truncated or empty/],
    ['header longer than the file', handMade({ w: ok }, 8).subarray(0, 30), /header length.*only 22 bytes follow.*truncated/],
    [
      'a Git LFS pointer',
      new TextEncoder().encode('version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 123\n'),
      /truncated.*Git LFS pointer.*git lfs pull/,
    ],
    ['header not JSON', handMade('{"w": {"dtype": "F32", ', 8), /not valid JSON.*garbled/],
    ['header not an object', handMade('[1, 2]'), /not an object/],
    ['header not UTF-8', handMade(Uint8Array.of(0x7b, 0xff, 0x7d)), /header is not valid UTF-8/],
    ['unknown dtype', handMade({ w: { ...ok, dtype: 'F8_E4M3' } }, 8), /"w" has dtype "F8_E4M3".*supported: F64/],
    ['negative shape', handMade({ w: { ...ok, shape: [-2] } }, 8), /"w": shape must be a list of non-negative integers/],
    ['fractional shape', handMade({ w: { ...ok, shape: [2.5] } }, 8), /"w": shape must be/],
    ['shape not a list', handMade({ w: { ...ok, shape: '2' } }, 8), /"w": shape must be/],
    ['offsets past the end', handMade({ w: { ...ok, data_offsets: [0, 8] } }, 4), /"w".*past the end.*truncated/],
    ['offsets reversed', handMade({ w: { ...ok, data_offsets: [8, 0] } }, 8), /"w": data_offsets must be/],
    ['size not matching the shape', handMade({ w: { ...ok, shape: [3] } }, 8), /"w".*8 bytes.*needs 12 bytes/],
    [
      'overlapping tensors',
      handMade({ a: ok, b: { ...ok, data_offsets: [4, 12] } }, 12),
      /"b" \(bytes 4..12\) overlaps tensor "a"/,
    ],
    ['a gap between tensors', handMade({ a: { ...ok, data_offsets: [4, 12] } }, 12), /bytes 0..4 .*belong to no tensor/],
    ['trailing bytes', handMade({ a: ok }, 10), /2 bytes after the last tensor/],
    ['metadata not strings', handMade({ __metadata__: { n: 1 }, a: ok }, 8), /"__metadata__" entry "n" must be a string/],
  ];
  for (const [what, bytes, message] of cases) {
    it(`reports ${what}`, () => {
      let error: unknown;
      try {
        parseSafetensors(bytes, P);
      } catch (err) {
        error = err;
      }
      expect(error).toBeInstanceOf(ModelFileError);
      expect((error as ModelFileError).file).toBe(P);
      expect((error as Error).message.startsWith(`${P}: `)).toBe(true);
      expect((error as Error).message).toMatch(message);
    });
  }

  it('reports a missing file and a folder given as a file', async () => {
    const missing = join(tmp, 'nope.safetensors');
    await expect(readSafetensors(missing)).rejects.toThrow(ModelFileError);
    await expect(readSafetensors(missing)).rejects.toThrow(`${missing}: cannot open the file: no such file or folder`);
    await expect(readSafetensors(tmp)).rejects.toThrow(new RegExp(`${tmp}.*folder, not a file`));
  });
});

describe('writeSafetensors', () => {
  const w = (v: number): TensorInput[] => [{ name: 'w', dtype: 'F32', shape: [2], data: Float32Array.of(v, v) }];

  it('writes a file that reads back, replacing an old one, leaving no temporary files', async () => {
    const dir = await mkdtemp(join(tmp, 'w-'));
    const path = join(dir, 'model.safetensors');
    await writeSafetensors(path, w(1), { format: 'pt' });
    await writeSafetensors(path, w(2));
    const file = await readSafetensors(path);
    expect(Array.from(toFloat32(file.tensors.get('w')!))).toEqual([2, 2]);
    expect(file.metadata).toEqual({});
    expect(await readdir(dir)).toEqual(['model.safetensors']);
  });

  it('leaves the old file untouched when the new data is bad', async () => {
    const dir = await mkdtemp(join(tmp, 'w-'));
    const path = join(dir, 'model.safetensors');
    await writeSafetensors(path, w(1));
    const before = await readFile(path);
    await expect(
      writeSafetensors(path, [{ name: 'w', dtype: 'F32', shape: [3], data: Float32Array.of(1, 2) }]),
    ).rejects.toThrow(/"w"/);
    expect((await readFile(path)).equals(before)).toBe(true);
    expect(await readdir(dir)).toEqual(['model.safetensors']);
  });

  it('names the destination when it cannot be written', async () => {
    const path = join(tmp, 'no-such-folder', 'model.safetensors');
    await expect(writeSafetensors(path, w(1))).rejects.toThrow(ModelFileError);
    await expect(writeSafetensors(path, w(1))).rejects.toThrow(new RegExp(`^${path}: could not write it.*no such file`));
    const blocker = join(tmp, 'a-file');
    await writeFile(blocker, 'x');
    await expect(writeSafetensors(join(blocker, 'm.safetensors'), w(1))).rejects.toThrow(/a-file\/m.safetensors: could not write/);
  });
});
