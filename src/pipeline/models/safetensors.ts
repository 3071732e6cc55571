// Reader and writer of the safetensors format (https://github.com/huggingface/safetensors).
//
// Layout of a file:
//   8 bytes   little-endian u64 N: the length of the header
//   N bytes   UTF-8 JSON header {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {str: str}}
//   rest      raw little-endian tensor data; offsets are relative to the start of this region
//
// A read verifies everything the reference implementation verifies (and says which file is wrong and what to do):
// the tensors must cover the data region exactly, without gaps, overlaps or trailing bytes.
//
// Writes lay the data out largest element size first, then by tensor name (UTF-16 code unit order), so each tensor
// starts at an offset aligned to its element size (the header is padded with spaces to a multiple of 8, as the
// reference writer does). The output depends only on the set of tensors, not on the order they were given in,
// so equal weights give byte-equal files (and equal content hashes).

import { open, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';

/**
 * An error about a model file or folder. The message names the file (it is prefixed with `file: ` when it does not
 * contain it) and says what is wrong and, where possible, what to do.
 */
export class ModelFileError extends Error {
  /** The file or folder the problem is in. */
  readonly file: string;

  constructor(message: string, file: string, options?: { cause?: unknown }) {
    super(message.includes(file) ? message : `${file}: ${message}`, options);
    this.name = 'ModelFileError';
    this.file = file;
  }
}

/** A ModelFileError whose message is `file: problem`. */
export function fileProblem(file: string, problem: string, options?: { cause?: unknown }): ModelFileError {
  return new ModelFileError(`${file}: ${problem}`, file, options);
}

/** Turns an error from node:fs into a ModelFileError that says in words what went wrong with `file`. */
export function fsError(err: unknown, file: string, action: string): ModelFileError {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  const reasons: Record<string, string> = {
    ENOENT: 'no such file or folder',
    EACCES: 'permission denied',
    EPERM: 'operation not permitted',
    EISDIR: 'it is a folder, not a file',
    ENOTDIR: 'a part of the path is a file, not a folder',
    EROFS: 'the file system is read-only',
    ENOSPC: 'no space left on the device',
    EEXIST: 'it already exists',
    ENOTEMPTY: 'the folder is not empty',
  };
  const reason = (code && reasons[code]) ?? (err instanceof Error ? err.message : String(err));
  return fileProblem(file, `cannot ${action}: ${reason}${code ? ` (${code})` : ''}`, { cause: err });
}

export type SafetensorsDtype = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';

/** Bytes per element of each dtype. */
export const DTYPE_SIZE: Readonly<Record<SafetensorsDtype, number>> = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U8: 1,
  BOOL: 1,
};

export function isSafetensorsDtype(x: unknown): x is SafetensorsDtype {
  return typeof x === 'string' && Object.hasOwn(DTYPE_SIZE, x);
}

/** One tensor of a file as stored: `bytes` is a view of the raw little-endian data (not necessarily aligned). */
export interface TensorEntry {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  bytes: Uint8Array;
}

export interface SafetensorsFile {
  path: string;
  metadata: Record<string, string>;
  tensors: Map<string, TensorEntry>;
}

/** Element count of a shape (1 for a scalar, shape []). */
export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

function isShape(x: unknown): x is number[] {
  return Array.isArray(x) && x.every((d) => Number.isSafeInteger(d) && d >= 0);
}

const SUPPORTED = Object.keys(DTYPE_SIZE).join(', ');
/** The reference reader's limit; a larger "header" means the file is not safetensors at all. */
const MAX_HEADER_BYTES = 100_000_000;

const HOST_IS_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
function assertLittleEndianHost(): void {
  if (!HOST_IS_LITTLE_ENDIAN) throw new Error('safetensors.ts assumes a little-endian machine (x86, ARM); this one is big-endian');
}

// ---------------------------------------------------------------------------------------------------------------
// Reading

/** Guesses what a file that is not safetensors is, to say what to do about it. */
function sniffWrongFile(buf: Uint8Array): string {
  const head = new TextDecoder('utf-8', { fatal: false }).decode(buf.subarray(0, 64));
  if (head.startsWith('version https://git-lfs')) {
    return ' It is a Git LFS pointer, not the weights: fetch the real file (git lfs pull) or download it again.';
  }
  if (/^\s*<(!doctype|html)/i.test(head)) return ' It is an HTML page (a failed download?): download it again.';
  return '';
}

/**
 * Parses a whole safetensors file held in memory. The returned entries' `bytes` are views into `buf`.
 * `path` is only used in error messages and in the result.
 */
export function parseSafetensors(buf: Uint8Array, path: string): SafetensorsFile {
  const fail = (problem: string): never => {
    throw fileProblem(path, problem);
  };
  if (buf.byteLength < 8) {
    fail(
      `only ${buf.byteLength} bytes long; a safetensors file starts with an 8-byte header length. ` +
        'The file is truncated or empty: download or export it again.',
    );
  }
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const headerLength = view.getBigUint64(0, true);
  const available = BigInt(buf.byteLength - 8);
  if (headerLength > available) {
    fail(
      `the header length field says ${headerLength} bytes but only ${available} bytes follow it. ` +
        `The file is truncated (an interrupted download?) or is not a safetensors file.${sniffWrongFile(buf)}`,
    );
  }
  if (headerLength > BigInt(MAX_HEADER_BYTES)) {
    fail(`the header length field says ${headerLength} bytes, more than any real header; this is not a safetensors file.`);
  }
  const n = Number(headerLength);
  const headerBytes = buf.subarray(8, 8 + n);
  let headerText: string;
  try {
    headerText = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(headerBytes);
  } catch {
    return fail(`the header is not valid UTF-8; the file is garbled or not a safetensors file.${sniffWrongFile(buf)}`);
  }
  let header: unknown;
  try {
    header = JSON.parse(headerText);
  } catch (err) {
    return fail(
      `the header is not valid JSON (${(err as Error).message}); the file is garbled or not a safetensors file: ` +
        `download or export it again.${sniffWrongFile(buf)}`,
    );
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) {
    return fail('the header is JSON but not an object of tensors; the file is garbled or not a safetensors file.');
  }

  const dataStart = 8 + n;
  const dataLength = buf.byteLength - dataStart;
  const metadata: Record<string, string> = {};
  const tensors = new Map<string, TensorEntry>();
  const spans: Array<{ name: string; begin: number; end: number }> = [];

  for (const [name, info] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (typeof info !== 'object' || info === null || Array.isArray(info)) {
        fail('"__metadata__" in the header must be an object of string values.');
      }
      for (const [k, v] of Object.entries(info as Record<string, unknown>)) {
        if (typeof v !== 'string') fail(`"__metadata__" entry "${k}" must be a string, got ${JSON.stringify(v)}.`);
        metadata[k] = v as string;
      }
      continue;
    }
    const where = `tensor "${name}"`;
    if (typeof info !== 'object' || info === null || Array.isArray(info)) {
      fail(`${where}: its header entry must be an object {dtype, shape, data_offsets}, got ${JSON.stringify(info)}.`);
    }
    const { dtype, shape, data_offsets: offsets } = info as Record<string, unknown>;
    if (!isSafetensorsDtype(dtype)) {
      fail(`${where} has dtype ${JSON.stringify(dtype)}, which this reader does not support (supported: ${SUPPORTED}).`);
    }
    const dt = dtype as SafetensorsDtype;
    if (!isShape(shape)) {
      fail(`${where}: shape must be a list of non-negative integers, got ${JSON.stringify(shape)}.`);
    }
    const sh = shape as number[];
    if (
      !Array.isArray(offsets) ||
      offsets.length !== 2 ||
      !offsets.every((o) => Number.isSafeInteger(o) && o >= 0) ||
      offsets[0] > offsets[1]
    ) {
      fail(`${where}: data_offsets must be [begin, end] with 0 <= begin <= end, got ${JSON.stringify(offsets)}.`);
    }
    const [begin, end] = offsets as [number, number];
    if (end > dataLength) {
      fail(
        `${where}: data_offsets [${begin}, ${end}] go past the end of the data region (${dataLength} bytes). ` +
          'The file is truncated: download or export it again.',
      );
    }
    const expected = numel(sh) * DTYPE_SIZE[dt];
    if (end - begin !== expected) {
      fail(
        `${where}: data_offsets [${begin}, ${end}] hold ${end - begin} bytes, but shape [${sh.join(', ')}] of ${dt} ` +
          `needs ${expected} bytes. The header is inconsistent: the file is garbled.`,
      );
    }
    tensors.set(name, { name, dtype: dt, shape: sh, bytes: buf.subarray(dataStart + begin, dataStart + end) });
    spans.push({ name, begin, end });
  }

  // The tensors must tile the data region: sorted by offset, each starts where the previous one ended.
  spans.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let covered = 0;
  let previous = '';
  for (const s of spans) {
    if (s.begin < covered) {
      fail(
        `tensor "${s.name}" (bytes ${s.begin}..${s.end}) overlaps tensor "${previous}" (ends at ${covered}); ` +
          'the header is garbled.',
      );
    }
    if (s.begin > covered) {
      fail(`bytes ${covered}..${s.begin} of the data region belong to no tensor; the header is garbled.`);
    }
    covered = s.end;
    previous = s.name;
  }
  if (covered !== dataLength) {
    fail(
      `${dataLength - covered} bytes after the last tensor belong to no tensor (the tensors end at ${covered} of ` +
        `${dataLength} data bytes); the file is garbled or has data appended.`,
    );
  }
  return { path, metadata, tensors };
}

/** Largest file read into one buffer (the Buffer limit); bigger models must be sharded. */
const MAX_FILE_BYTES = 2 ** 32 - 1;

/** Reads a whole file into memory (not limited to 2 GiB like fs.readFile). */
export async function readWholeFile(path: string): Promise<Uint8Array> {
  let handle;
  try {
    handle = await open(path, 'r');
  } catch (err) {
    throw fsError(err, path, 'open the file');
  }
  try {
    const { size } = await handle.stat();
    if (size > MAX_FILE_BYTES) {
      throw fileProblem(path, `${size} bytes is too large to read at once; split the weights into shards.`);
    }
    const buf = new Uint8Array(size);
    let offset = 0;
    while (offset < size) {
      const { bytesRead } = await handle.read(buf, offset, Math.min(size - offset, 1 << 30), offset);
      if (bytesRead === 0) break;
      offset += bytesRead;
    }
    if (offset !== size) throw fileProblem(path, `the file shrank while being read (${offset} of ${size} bytes).`);
    return buf;
  } catch (err) {
    if (err instanceof ModelFileError) throw err;
    throw fsError(err, path, 'read the file');
  } finally {
    await handle.close();
  }
}

export async function readSafetensors(path: string): Promise<SafetensorsFile> {
  return parseSafetensors(await readWholeFile(path), path);
}

// ---------------------------------------------------------------------------------------------------------------
// Half-precision conversions (round to nearest, ties to even; NaN, infinities and subnormals exact)

function roundHalfEven(v: number): number {
  const f = Math.floor(v);
  const d = v - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/**
 * Bits of the binary float with `expBits` exponent and `mantBits` mantissa bits nearest to x (ties to even),
 * rounding x directly (no intermediate float32 rounding, so a float64 is not rounded twice).
 */
function toNarrowFloatBits(x: number, expBits: number, mantBits: number): number {
  const signBit = 1 << (expBits + mantBits);
  const expAllOnes = (1 << expBits) - 1;
  const infBits = expAllOnes << mantBits;
  if (Number.isNaN(x)) return infBits | (1 << (mantBits - 1)); // the canonical quiet NaN
  const sign = x < 0 || Object.is(x, -0) ? signBit : 0;
  const a = Math.abs(x);
  if (a === Infinity) return sign | infBits;
  const bias = (1 << (expBits - 1)) - 1;
  const minNormalExp = 1 - bias;
  if (a < 2 ** minNormalExp) {
    // Subnormal: count units of the smallest subnormal. Rounding up to 2^mantBits units gives exactly the bits of the
    // smallest normal number.
    return sign | roundHalfEven(a * 2 ** (mantBits - minNormalExp));
  }
  let e = Math.floor(Math.log2(a));
  if (2 ** e > a) e -= 1;
  else if (2 ** (e + 1) <= a) e += 1;
  let m = roundHalfEven((a / 2 ** e - 1) * 2 ** mantBits); // all steps exact: scaling by powers of two
  if (m === 2 ** mantBits) {
    m = 0;
    e += 1;
  }
  const biased = e + bias;
  if (biased >= expAllOnes) return sign | infBits;
  return sign | (biased << mantBits) | m;
}

/** IEEE binary16 bits (as an integer 0..65535) nearest to x. NaN becomes the quiet NaN 0x7e00. */
export function float32ToFloat16Bits(x: number): number {
  return toNarrowFloatBits(x, 5, 10);
}

/** bfloat16 bits (the top half of a float32) nearest to x. NaN becomes the quiet NaN 0x7fc0. */
export function float32ToBfloat16Bits(x: number): number {
  return toNarrowFloatBits(x, 8, 7);
}

/** The value of IEEE binary16 bits `h` (0..65535). */
export function float16BitsToFloat32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant === 0 ? sign * Infinity : NaN;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

const scratchU32 = new Uint32Array(1);
const scratchF32 = new Float32Array(scratchU32.buffer);

/** The value of bfloat16 bits `b` (0..65535). */
export function bfloat16BitsToFloat32(b: number): number {
  scratchU32[0] = (b & 0xffff) << 16;
  return scratchF32[0];
}

let f16Table: Uint32Array | undefined;
/** The float32 bits of all 65536 binary16 values (256 KiB, built on first use). */
function float16Table(): Uint32Array {
  if (!f16Table) {
    const table = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) table[h] = float16BitsToFloat32(h);
    f16Table = new Uint32Array(table.buffer);
    // NaNs keep their sign and payload, with the quiet bit set (as hardware widening does).
    for (let h = 0; h < 65536; h++) {
      if ((h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0) {
        f16Table[h] = (((h & 0x8000) << 16) | 0x7fc00000 | ((h & 0x3ff) << 13)) >>> 0;
      }
    }
  }
  return f16Table;
}

/** Float32 array to binary16 bits, working on the float32 bit patterns (fast path of float32ToFloat16Bits). */
function float32ArrayToFloat16(src: Float32Array): Uint16Array {
  const bits = new Uint32Array(src.buffer, src.byteOffset, src.length);
  const out = new Uint16Array(src.length);
  for (let i = 0; i < src.length; i++) {
    const f = bits[i];
    const sign = (f >>> 16) & 0x8000;
    const a = f & 0x7fffffff;
    let h: number;
    if (a > 0x7f800000) {
      out[i] = 0x7e00; // NaN: the canonical quiet NaN, as float32ToFloat16Bits gives
      continue;
    } else if (a >= 0x477ff000) {
      h = 0x7c00; // >= 65520 rounds past the largest half (65504) to infinity
    } else if (a < 0x38800000) {
      // below 2^-14: subnormal half (or zero); the float value times 2^24 counts units of 2^-24
      h = roundHalfEven(Math.abs(src[i]) * 16777216);
    } else {
      // normal: rebias the exponent, then round the 13 dropped mantissa bits to nearest even
      h = (a - 0x38000000 + 0xfff + ((a >>> 13) & 1)) >>> 13;
    }
    out[i] = sign | h;
  }
  return out;
}

/** Float32 array to bfloat16 bits (fast path of float32ToBfloat16Bits). */
function float32ArrayToBfloat16(src: Float32Array): Uint16Array {
  const bits = new Uint32Array(src.buffer, src.byteOffset, src.length);
  const out = new Uint16Array(src.length);
  for (let i = 0; i < src.length; i++) {
    const f = bits[i];
    if ((f & 0x7fffffff) > 0x7f800000) out[i] = 0x7fc0; // NaN: the canonical quiet NaN
    else out[i] = (f + 0x7fff + ((f >>> 16) & 1)) >>> 16;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Typed views of entries

/** A fresh, aligned copy of an entry's bytes. */
function alignedCopy(entry: TensorEntry): ArrayBuffer {
  const copy = new Uint8Array(entry.bytes.byteLength);
  copy.set(entry.bytes);
  return copy.buffer;
}

/** The tensor as float32 (always a fresh copy): F32 copied, F16 and BF16 widened exactly, F64 rounded to nearest. */
export function toFloat32(entry: TensorEntry): Float32Array {
  assertLittleEndianHost();
  const n = numel(entry.shape);
  switch (entry.dtype) {
    case 'F32':
      return new Float32Array(alignedCopy(entry), 0, n);
    case 'F64':
      return Float32Array.from(new Float64Array(alignedCopy(entry), 0, n));
    case 'F16': {
      const bits = new Uint16Array(alignedCopy(entry), 0, n);
      const table = float16Table();
      const out = new Uint32Array(n); // copy bit patterns, so NaN payloads survive
      for (let i = 0; i < n; i++) out[i] = table[bits[i]];
      return new Float32Array(out.buffer);
    }
    case 'BF16': {
      const bits = new Uint16Array(alignedCopy(entry), 0, n);
      const out = new Uint32Array(n);
      for (let i = 0; i < n; i++) out[i] = bits[i] << 16;
      return new Float32Array(out.buffer);
    }
    default:
      throw new Error(`tensor "${entry.name}" has dtype ${entry.dtype}; toFloat32 converts only F64, F32, F16 and BF16`);
  }
}

/** An I64 tensor as a fresh BigInt64Array. */
export function toBigInt64(entry: TensorEntry): BigInt64Array {
  assertLittleEndianHost();
  if (entry.dtype !== 'I64') throw new Error(`tensor "${entry.name}" has dtype ${entry.dtype}; toBigInt64 needs I64`);
  return new BigInt64Array(alignedCopy(entry), 0, numel(entry.shape));
}

/** Typed arrays a tensor can be given as; Uint16Array holds raw F16/BF16 bits. */
export type TensorData =
  | Float64Array
  | Float32Array
  | Uint16Array
  | BigInt64Array
  | Int32Array
  | Int16Array
  | Int8Array
  | Uint8Array;

/**
 * The tensor in its natural typed array (a fresh copy): F16/BF16 as Uint16Array bits, BOOL and U8 as Uint8Array.
 * `{...entry, data: tensorData(entry)}` writes back the same bytes.
 */
export function tensorData(entry: TensorEntry): TensorData {
  assertLittleEndianHost();
  const buf = alignedCopy(entry);
  const n = numel(entry.shape);
  switch (entry.dtype) {
    case 'F64':
      return new Float64Array(buf, 0, n);
    case 'F32':
      return new Float32Array(buf, 0, n);
    case 'F16':
    case 'BF16':
      return new Uint16Array(buf, 0, n);
    case 'I64':
      return new BigInt64Array(buf, 0, n);
    case 'I32':
      return new Int32Array(buf, 0, n);
    case 'I16':
      return new Int16Array(buf, 0, n);
    case 'I8':
      return new Int8Array(buf, 0, n);
    case 'U8':
    case 'BOOL':
      return new Uint8Array(buf, 0, n);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Writing

/** A tensor to write from a typed array, converted to `dtype` where needed (see encodeSafetensors). */
export interface TensorInput {
  name: string;
  dtype: SafetensorsDtype;
  shape: readonly number[];
  data: TensorData;
}

/** What encodeSafetensors accepts: new data, or an entry read from a file (its bytes are copied unchanged). */
export type TensorToWrite = TensorInput | TensorEntry;

function arrayKind(data: TensorData): string {
  return data.constructor.name;
}

/** The little-endian bytes of one tensor in its dtype. Throws (naming the tensor) when data and dtype do not fit. */
function tensorBytes(t: TensorToWrite): Uint8Array {
  const where = `tensor "${t.name}"`;
  if (!isSafetensorsDtype(t.dtype)) throw new Error(`${where}: unknown dtype ${JSON.stringify(t.dtype)} (supported: ${SUPPORTED})`);
  if (!isShape(t.shape)) {
    throw new Error(`${where}: shape must be a list of non-negative integers, got ${JSON.stringify(t.shape)}`);
  }
  const n = numel(t.shape);
  if ('bytes' in t) {
    const expected = n * DTYPE_SIZE[t.dtype];
    if (t.bytes.byteLength !== expected) {
      throw new Error(`${where}: has ${t.bytes.byteLength} bytes but shape [${t.shape}] of ${t.dtype} needs ${expected}`);
    }
    return t.bytes;
  }
  const data = t.data;
  if (data.length !== n) {
    throw new Error(`${where}: data has ${data.length} elements but shape [${t.shape.join(', ')}] needs ${n}`);
  }
  const raw = (a: TensorData): Uint8Array => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  const mismatch = (): never => {
    throw new Error(`${where}: cannot write a ${arrayKind(data)} as ${t.dtype}`);
  };
  const isFloatArray = data instanceof Float32Array || data instanceof Float64Array;
  switch (t.dtype) {
    case 'F64':
      if (!isFloatArray) mismatch();
      return raw(data instanceof Float64Array ? data : Float64Array.from(data as Float32Array));
    case 'F32':
      if (!isFloatArray) mismatch();
      return raw(data instanceof Float32Array ? data : Float32Array.from(data as Float64Array));
    case 'F16':
    case 'BF16': {
      if (data instanceof Uint16Array) return raw(data);
      if (data instanceof Float32Array) {
        return raw(t.dtype === 'F16' ? float32ArrayToFloat16(data) : float32ArrayToBfloat16(data));
      }
      if (!(data instanceof Float64Array)) mismatch();
      const convert = t.dtype === 'F16' ? float32ToFloat16Bits : float32ToBfloat16Bits;
      const out = new Uint16Array(n);
      for (let i = 0; i < n; i++) out[i] = convert((data as Float64Array)[i]);
      return raw(out);
    }
    case 'I64':
      if (!(data instanceof BigInt64Array)) mismatch();
      return raw(data);
    case 'I32':
      if (!(data instanceof Int32Array)) mismatch();
      return raw(data);
    case 'I16':
      if (!(data instanceof Int16Array)) mismatch();
      return raw(data);
    case 'I8':
      if (!(data instanceof Int8Array)) mismatch();
      return raw(data);
    case 'U8':
      if (!(data instanceof Uint8Array)) mismatch();
      return raw(data);
    case 'BOOL': {
      if (!(data instanceof Uint8Array)) mismatch();
      const bad = (data as Uint8Array).findIndex((v) => v > 1);
      if (bad >= 0) throw new Error(`${where}: BOOL values must be 0 or 1, element ${bad} is ${data[bad]}`);
      return raw(data);
    }
  }
}

/**
 * The bytes of a safetensors file holding `tensors` (and `metadata`, written as "__metadata__" when non-empty).
 * F32/F64 data is converted when `dtype` asks for another float type (F16/BF16 rounded to nearest even). Data is
 * laid out largest element size first, then by name; see the top of this file.
 */
export function encodeSafetensors(tensors: readonly TensorToWrite[], metadata?: Record<string, string>): Uint8Array {
  assertLittleEndianHost();
  const seen = new Set<string>();
  for (const t of tensors) {
    if (typeof t.name !== 'string' || t.name === '') throw new Error(`tensor names must be non-empty strings, got ${JSON.stringify(t.name)}`);
    if (t.name === '__metadata__') throw new Error('"__metadata__" is reserved and cannot name a tensor');
    if (seen.has(t.name)) throw new Error(`tensor "${t.name}" is given twice`);
    seen.add(t.name);
  }
  for (const [k, v] of Object.entries(metadata ?? {})) {
    if (typeof v !== 'string') throw new Error(`metadata "${k}" must be a string, got ${JSON.stringify(v)}`);
  }
  const prepared = tensors.map((t) => ({ name: t.name, dtype: t.dtype, shape: [...t.shape], bytes: tensorBytes(t) }));
  prepared.sort((a, b) => DTYPE_SIZE[b.dtype] - DTYPE_SIZE[a.dtype] || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));

  const header: Record<string, unknown> = Object.create(null); // a tensor may be called "__proto__"
  if (metadata && Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  let offset = 0;
  for (const t of prepared) {
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + t.bytes.byteLength] };
    offset += t.bytes.byteLength;
  }
  const headerBytes = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(headerBytes.byteLength / 8) * 8;
  const out = new Uint8Array(8 + padded + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(padded), true);
  out.fill(0x20, 8, 8 + padded);
  out.set(headerBytes, 8);
  let at = 8 + padded;
  for (const t of prepared) {
    out.set(t.bytes, at);
    at += t.bytes.byteLength;
  }
  return out;
}

/** Writes `data` to a new file and flushes it to disk (fails if the file exists). */
export async function writeFileDurably(path: string, data: Uint8Array | string): Promise<void> {
  let handle;
  try {
    handle = await open(path, 'wx');
  } catch (err) {
    throw fsError(err, path, 'create the file');
  }
  try {
    await handle.writeFile(data);
    await handle.sync();
  } catch (err) {
    throw fsError(err, path, 'write the file');
  } finally {
    await handle.close();
  }
}

/** Flushes a folder's entry list to disk (so a rename in it survives a crash); best effort. */
export async function syncFolder(dir: string): Promise<void> {
  try {
    const handle = await open(dir, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch {
    // Some platforms cannot open or sync a folder; the rename is still atomic there, only less durable.
  }
}

/** A name for a temporary sibling of `path` (same folder, so a rename onto `path` is atomic). */
export function tempSibling(path: string, tag: string): string {
  return join(dirname(path), `.${basename(path)}.${tag}-${process.pid}-${randomBytes(4).toString('hex')}`);
}

/**
 * Writes `data` to `path` atomically: a durable temporary sibling renamed into place, removed again on failure. A
 * crash leaves the old file or the new one, never a partial one.
 */
export async function writeFileAtomically(path: string, data: Uint8Array | string): Promise<void> {
  const temp = tempSibling(path, 'tmp');
  try {
    await writeFileDurably(temp, data);
    await rename(temp, path);
  } catch (err) {
    await unlink(temp).catch(() => {});
    throw err;
  }
}

/**
 * Writes a safetensors file atomically: into a temporary file in the same folder, flushed to disk, then renamed onto
 * `path`. A crash leaves either the old file or the new one, never a partial file.
 */
export async function writeSafetensors(
  path: string,
  tensors: readonly TensorToWrite[],
  metadata?: Record<string, string>,
): Promise<void> {
  const bytes = encodeSafetensors(tensors, metadata); // validate everything before touching the disk
  const temp = tempSibling(path, 'tmp');
  try {
    await writeFileDurably(temp, bytes);
    try {
      await rename(temp, path);
    } catch (err) {
      throw fsError(err, path, 'move the finished file into place');
    }
  } catch (err) {
    await unlink(temp).catch(() => {});
    if (err instanceof ModelFileError && err.file === temp) {
      throw fileProblem(path, `could not write it (through ${err.message})`, { cause: err });
    }
    throw err;
  }
  await syncFolder(dirname(path));
}
