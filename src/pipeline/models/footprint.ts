// What a model will cost before its weights are read: the parameter count and stored size from config.json and the
// safetensors headers alone (never the tensor data), an estimate of peak memory in this project's engine for the
// command about to run, and a rough time. `lab run`, `lab inspect` and `lab finetune` print it as one line and
// refuse, before loading anything, a model whose estimate exceeds the memory available (MemoryLimitError). `lab
// models` shows the same estimate for the catalogue.
//
// The memory formula follows what the code holds (bytes; F = 4, float32):
//   P parameters (stored tensors, without buffers such as causal masks); S bytes as stored; W = F * P.
//   Pkv = 2 L kvDim (d + 1): the key/value projections (weights and biases) of L layers, kvDim = kv heads * head_dim.
//   base  = 0.15 GB: Node and ONNX Runtime's libraries (measured: 0.11-0.12 GB before any model is read).
//   load  = base + S + W: readHfModelFolder reads every weights file whole, loadParams converts each tensor to a
//           fresh float32 array (models/safetensors.ts toFloat32).
//   A session whose baked weights are Wb (every parameter not fed as an input) holds, beside the float32 store:
//     Wb  Graph.build() packs the baked tensors into <= 1 GiB external-data buffers (a copy), which the session keeps
//         (ModelSession.built, TrainingSession.built);
//     Wb  ONNX Runtime's own copy of its initializers (prepacked for its MatMul kernels; host memory on the CPU, GPU
//         memory with cuda/webgpu);
//     Wb  training graphs only: ONNX Runtime's constant folding of the weights' transposes the backward pass needs.
//   Measured on a GPT-2-small-shaped model (W = 0.50 GB, 2 threads, RSS after GC, sessions created from weight files
//   as engine/weights-cache.ts does for graphs of 64 MiB or more): a forward session +0.98 GB (formula 1.00), the
//   protocol's analysis session +0.87 GB (0.88), then its training session +1.34 GB (1.32); process peak 2.95 GB
//   (formula 2.85 + activations). Sessions created from in-memory buffers (small graphs, weightsCache: false) held
//   about 0.8 Wb more each (+1.39, +1.24, +1.54 GB). Whole commands on that model (max RSS): lab inspect 1.75-1.78 GB
//   (estimate 1.7), lab finetune of one line 2.69 GB (estimate 2.6).
//   Activations (inside ONNX Runtime: host on the CPU, GPU memory on a GPU; its CPU arena keeps its peak):
//     forward, batch B, T new tokens, C keys: F (B T 16 d + 3 B H T C + 4 B kvDim C): one layer's hidden states,
//       q/k/v, attention context and the MLP's 4d hidden before and after its activation (~16 d per token; ONNX
//       Runtime frees a layer's tensors before the next), the scores, biased scores and probabilities over C keys, and
//       the past keys/values broadcast to the batch and joined with the new ones;
//     training, batch 1, T tokens: F (L (T 16 d + 3 H T^2) + 3 T V): every layer's activations are kept for the
//       backward pass, plus logits, their softmax and gradient at every position.
//   Outputs copied to the host: inspect F (L (H T^2 + 3 T d) + T V), twice (fetched, then encoded into the file);
//     the protocol's analysis F (2 L kvDim C + L B (2 H C + 4 d) + B V): the reused prefix's keys/values, captures at
//     the two capture positions, the logits row; FT gradients 2 F Ptrained (ONNX Runtime's output and the host copy).
//   The run's captures (protocol.ts ProtocolResult, per model: ZSL, ICL and FT setting) are kept until the run is
//     written, then stacked into tensors and encoded into the cache's activations file: three copies,
//     3 (1 + nulls) F (n positions L (3 (d + H Tq) + C + d) + L C d)   (n test examples; ICL demo scores over C
//     keys, FT queries at p* and of every demonstration token).
//   lab run peak = base + W + W (null twin, drawn while the model stays loaded) + both sessions (analysis and FT live
//     together) + both arenas + outputs + gradients + captures. Examples are assumed to be 64 tokens (Tq; the ICL
//     prompt C = min(context, (k + 1) 64)), batch 16 (protocol.ts).
//   lab inspect peak = max(load, base + W + session + activations + outputs), batch 1, T = the text's UTF-8 bytes + 2
//     (byte-level BPE gives at most a token per byte; + BOS and a prefix-space token), at most the context.
//   lab finetune peak = the folder (S) stays read for writing the output: max(load, S + base + W + session +
//     activations + gradients + query record, S + base + 2 W + S + 2 record at the write: HF-layout tensors and the
//     encoded output); T = the longest line's bytes + 2.
// Without an architecture (catalogue entries without a config), only the weight terms are counted (a lower bound).
//
// Time: FLOPs ~ 2 P per token forward, 3x that with the backward pass (the bench counts 294 against 96.7 GFLOP),
// divided by a nominal rate: 25 GFLOP/s per CPU thread (the bench's 1024^3 MatMul ran at 53-120 GFLOP/s on this
// project's 2 cores) or 10 TFLOP/s on a GPU (nominal, not measured: no CUDA run has been verified here). Per test
// example, `lab run` runs ZSL, ICL and the FT model (3 forwards of the query) for the model and each null model.

import { open, readFile, stat } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import type { ArchConfig } from './family.ts';
import { familyFor } from './registry.ts';
import { DTYPE_SIZE, isSafetensorsDtype, numel } from './safetensors.ts';

const F = 4;
const GB = 1e9;
/** Node and ONNX Runtime's libraries, before any model. */
export const BASE_BYTES = 0.15 * GB;
/** Tokens assumed per example (a test prompt, one demonstration) where the data is not known yet. */
export const EXAMPLE_TOKENS = 64;
/** protocol.ts's batch of test prompts. */
export const PROTOCOL_BATCH = 16;
export const CPU_FLOPS_PER_THREAD = 25e9;
export const GPU_FLOPS = 10e12;

export type ArchShape = Pick<ArchConfig, 'nLayer' | 'nHead' | 'nKvHead' | 'dModel' | 'headDim' | 'vocabSize' | 'maxPositions'>;

export interface ModelSize {
  parameters: number;
  /** Bytes of the weights as stored; undefined when unknown (catalogue entries). */
  storedBytes?: number;
  /** The dtype holding most of the stored bytes. */
  storedDtype?: string;
  /** Without it, only the weight terms are estimated (a lower bound). */
  arch?: ArchShape;
}

export interface RunWorkload {
  kind: 'run';
  testExamples: number;
  positions: number;
  nullModels: number;
  k: number;
  lrGrid: number;
  selectionExamples: number;
}
export interface InspectWorkload { kind: 'inspect'; tokens: number }
export interface FinetuneWorkload { kind: 'finetune'; tokens: number; lines: number; params: 'kv' | 'all'; recordQueries: boolean }
export type Workload = RunWorkload | InspectWorkload | FinetuneWorkload;

/** What `lab models` assumes: the default plan's settings with the paper's 32 demonstrations. */
export const DEFAULT_RUN_WORKLOAD: RunWorkload = {
  kind: 'run', testExamples: 500, positions: 2, nullModels: 2, k: 32, lrGrid: 8, selectionExamples: 64,
};

export interface Placement {
  device: 'cpu' | 'gpu';
  /** CPU threads (the time estimate's rate). */
  threads: number;
}

export interface Bytes {
  host: number;
  device: number;
}

export interface Footprint {
  parameters: number;
  storedBytes: number | undefined;
  storedDtype: string | undefined;
  float32Bytes: number;
  /** Activations, outputs and captures are included (false: weights only, a lower bound). */
  complete: boolean;
  /** Host peak while the weights are read. */
  load: number;
  /** One forward session (lab inspect) or the protocol's analysis session, with the float32 store. */
  forward: Bytes;
  /** One training session (K/V gradients; every parameter's with finetune --params all), with the store. */
  finetune: Bytes;
  /** The command's peak; `host` is what is checked against the memory available. */
  peak: Bytes;
  /** Every term, in bytes. */
  parts: Record<string, number>;
  time: { flopsPerSecond: number; perItem: number; item: string; total: number; totalItem: string };
}

function sessionBytes(baked: number, training: boolean, where: Placement): Bytes {
  const ort = (training ? 2 : 1) * baked;
  return where.device === 'cpu' ? { host: baked + ort, device: 0 } : { host: baked, device: ort };
}

export function estimateFootprint(model: ModelSize, work: Workload, where: Placement): Footprint {
  const P = model.parameters;
  const W = F * P;
  const S = model.storedBytes;
  const a = model.arch;
  const L = a?.nLayer ?? 0;
  const H = a?.nHead ?? 0;
  const d = a?.dModel ?? 0;
  const V = a?.vocabSize ?? 0;
  const ctx = a?.maxPositions ?? Infinity;
  const kvDim = a ? a.nKvHead * a.headDim : 0;
  const Pkv = 2 * L * kvDim * (d + 1);
  const cpu = where.device === 'cpu';
  const onHost = (bytes: number) => (cpu ? bytes : 0);
  const onDevice = (bytes: number) => (cpu ? 0 : bytes);
  const load = BASE_BYTES + (S ?? 0) + W;
  const fwdWork = (B: number, T: number, C: number) => F * (B * T * 16 * d + 3 * B * H * T * C + 4 * B * kvDim * C);
  const trainWork = (T: number) => F * (L * (T * 16 * d + 3 * H * T * T) + 3 * T * V);
  const rate = cpu ? CPU_FLOPS_PER_THREAD * where.threads : GPU_FLOPS;
  const parts: Record<string, number> = { base: BASE_BYTES, stored: S ?? 0, float32: W };
  let forward: Bytes;
  let finetune: Bytes;
  let peak: Bytes;
  let time: Footprint['time'];

  if (work.kind === 'inspect') {
    const T = Math.min(ctx, work.tokens);
    const s = sessionBytes(W, false, where);
    const act = fwdWork(1, T, T);
    const outputs = F * (L * (H * T * T + 3 * T * d) + T * V);
    Object.assign(parts, { session: s.host + s.device, activations: act, outputs: 2 * outputs });
    forward = { host: BASE_BYTES + W + s.host + onHost(act) + 2 * outputs, device: s.device + onDevice(act) };
    finetune = { host: 0, device: 0 };
    peak = { host: Math.max(load, forward.host), device: forward.device };
    const t = (2 * P * T) / rate;
    time = { flopsPerSecond: rate, perItem: t, item: 'text', total: t, totalItem: 'text' };
  } else if (work.kind === 'finetune') {
    const T = Math.min(ctx, work.tokens);
    const trained = work.params === 'kv' ? Pkv : P;
    const s = sessionBytes(W - F * trained, true, where);
    const act = trainWork(T);
    const grads = 2 * F * trained;
    const record = work.recordQueries ? F * work.lines * L * T * d : 0;
    Object.assign(parts, { session: s.host + s.device, activations: act, gradients: grads, queryRecord: record });
    forward = { host: 0, device: 0 };
    finetune = { host: BASE_BYTES + W + s.host + onHost(act) + grads, device: s.device + onDevice(act) };
    const write = BASE_BYTES + 2 * (S ?? 0) + 2 * W + 2 * record;
    peak = { host: Math.max(load, (S ?? 0) + finetune.host + record, write), device: finetune.device };
    const t = (3 * 2 * P * T) / rate;
    time = { flopsPerSecond: rate, perItem: t, item: 'line', total: work.lines * t, totalItem: `${work.lines} lines` };
  } else {
    const Tq = Math.min(ctx, EXAMPLE_TOKENS);
    const C = Math.min(ctx, (work.k + 1) * EXAMPLE_TOKENS);
    const B = PROTOCOL_BATCH;
    const baked = W - F * Pkv;
    const an = sessionBytes(baked, false, where);
    const ft = sessionBytes(baked, true, where);
    const anWork = fwdWork(B, Tq, C);
    const anOut = F * (2 * L * kvDim * C + L * B * (2 * H * C + 4 * d) + B * V);
    const ftWork = trainWork(Tq);
    const grads = 2 * F * Pkv;
    const models = 1 + work.nullModels;
    const captures = 3 * models * F * (work.testExamples * work.positions * L * (3 * (d + H * Tq) + C + d) + L * C * d);
    const twin = work.nullModels > 0 ? W : 0;
    Object.assign(parts, {
      nullTwin: twin, analysisSession: an.host + an.device, ftSession: ft.host + ft.device, analysisActivations: anWork,
      analysisOutputs: anOut, ftActivations: ftWork, gradients: grads, captures,
    });
    forward = { host: BASE_BYTES + W + an.host + onHost(anWork) + anOut, device: an.device + onDevice(anWork) };
    finetune = { host: BASE_BYTES + W + ft.host + onHost(ftWork) + grads, device: ft.device + onDevice(ftWork) };
    const run = BASE_BYTES + W + twin + an.host + ft.host + onHost(anWork + ftWork) + anOut + grads + captures;
    peak = { host: Math.max(load, run), device: an.device + ft.device + onDevice(anWork + ftWork) };
    const perExample = (models * 3 * 2 * P * Tq) / rate;
    const demos = Math.min(work.k, Math.max(1, Math.floor(C / EXAMPLE_TOKENS) - 1));
    const ftFlops = demos * 3 * 2 * P * Tq;
    const fixed = work.lrGrid * (ftFlops + work.selectionExamples * 2 * P * Tq) + models * (ftFlops + 2 * P * C);
    time = {
      flopsPerSecond: rate, perItem: perExample, item: 'test example',
      total: work.testExamples * perExample + fixed / rate, totalItem: 'task and seed',
    };
  }
  return {
    parameters: P, storedBytes: S, storedDtype: model.storedDtype, float32Bytes: W, complete: a !== undefined,
    load, forward, finetune, peak, parts, time,
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Formatting

/** 124M, 1.3B, 11.7k. */
export function formatCount(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(n >= 1e10 ? 0 : 1)}B`;
  if (n >= 1e6) return `${Math.round(n / 1e6)}M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)}k`;
  return String(n);
}

/** Decimal units: 45 GB, 5.2 GB, 300 MB. */
export function formatBytes(b: number): string {
  if (b === 0) return '0 GB';
  if (b >= 1e9) return `${(b / 1e9).toFixed(b >= 1e10 ? 0 : 1)} GB`;
  if (b >= 1e6) return `${Math.round(b / 1e6)} MB`;
  return `${Math.max(1, Math.round(b / 1e3))} kB`;
}

export function formatSeconds(s: number): string {
  if (s < 1) return `${s < 0.01 ? s.toExponential(0) : s.toFixed(2)} s`;
  if (s < 120) return `${s.toFixed(s < 10 ? 1 : 0)} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  return `${(s / 3600).toFixed(s < 36000 ? 1 : 0)} h`;
}

function formatRate(flops: number): string {
  return flops >= 1e12 ? `${flops / 1e12} TFLOP/s` : `${flops / 1e9} GFLOP/s`;
}

const both = (b: Bytes, gpu: boolean) => (gpu ? `${formatBytes(b.host)} + ${formatBytes(b.device)} GPU` : formatBytes(b.host));

/** The one line printed before a model is loaded. */
export function describeFootprint(label: string, command: string, f: Footprint, where: Placement): string {
  const gpu = where.device === 'gpu';
  const stored = f.storedBytes === undefined ? '' : `${formatBytes(f.storedBytes)} as stored${f.storedDtype ? ` (${f.storedDtype})` : ''}, `;
  const memory = command === 'run'
    ? `forward/analysis ${both(f.forward, gpu)}, FT (K/V gradients) ${both(f.finetune, gpu)}, whole run ${both(f.peak, gpu)}`
    : command === 'finetune'
      ? `FT ${both(f.peak, gpu)}`
      : `forward ${both(f.peak, gpu)}`;
  const t = f.time;
  const total = t.total === t.perItem ? '' : `, ~${formatSeconds(t.total)} per ${t.totalItem}`;
  const assumption = command === 'run' ? `; assumes ${EXAMPLE_TOKENS}-token examples` : '';
  return (
    `estimate for ${label}: ${formatCount(f.parameters)} parameters, weights ${stored}${formatBytes(f.float32Bytes)} as float32; ` +
    `peak memory (this engine, ${gpu ? 'host + GPU' : 'CPU'}): ${memory}; ~${formatSeconds(t.perItem)} per ${t.item}${total} ` +
    `(2 x params x tokens FLOPs at a nominal ${formatRate(t.flopsPerSecond)}${assumption})`
  );
}

// ---------------------------------------------------------------------------------------------------------------
// Reading the size without the weights

/** Tensors that are buffers, not parameters: causal masks (rank 4 `.bias`), `masked_bias`, rotary `inv_freq`. */
function isBuffer(name: string, shape: readonly number[]): boolean {
  return /\.(masked_bias|inv_freq)$/.test(name) || (name.endsWith('.bias') && shape.length === 4);
}

interface HeaderTensor {
  name: string;
  dtype: string;
  shape: number[];
}

/** The tensors a safetensors header lists, reading only the header; undefined if it cannot be read as one. */
async function readHeader(path: string): Promise<HeaderTensor[] | undefined> {
  let handle;
  try {
    handle = await open(path, 'r');
  } catch {
    return undefined;
  }
  try {
    const { size } = await handle.stat();
    if (size < 8) return undefined;
    const head = new Uint8Array(8);
    await handle.read(head, 0, 8, 0);
    const n = Number(new DataView(head.buffer).getBigUint64(0, true));
    if (n > 100_000_000 || n > size - 8) return undefined;
    const text = new Uint8Array(n);
    let at = 0;
    while (at < n) {
      const { bytesRead } = await handle.read(text, at, n - at, 8 + at);
      if (bytesRead === 0) return undefined;
      at += bytesRead;
    }
    const header = JSON.parse(new TextDecoder().decode(text)) as Record<string, { dtype?: unknown; shape?: unknown }>;
    const out: HeaderTensor[] = [];
    for (const [name, info] of Object.entries(header)) {
      if (name === '__metadata__') continue;
      const { dtype, shape } = info ?? {};
      if (!isSafetensorsDtype(dtype) || !Array.isArray(shape) || !shape.every((x) => Number.isSafeInteger(x) && x >= 0)) return undefined;
      out.push({ name, dtype, shape: shape as number[] });
    }
    return out;
  } catch {
    return undefined;
  } finally {
    await handle.close();
  }
}

/**
 * Parameter count and stored size of a model folder's weights from the safetensors headers (model.safetensors, or
 * the shards model.safetensors.index.json lists), without reading any tensor data. Undefined when the folder has no
 * readable safetensors weights (the loader then says what is wrong).
 */
export async function readWeightsSize(dir: string): Promise<{ parameters: number; storedBytes: number; storedDtype: string } | undefined> {
  let files: string[];
  const single = join(dir, 'model.safetensors');
  if (await stat(single).then((s) => s.isFile(), () => false)) {
    files = [single];
  } else {
    try {
      const index = JSON.parse(await readFile(join(dir, 'model.safetensors.index.json'), 'utf8')) as { weight_map?: Record<string, unknown> };
      files = [...new Set(Object.values(index.weight_map ?? {}))].filter((f): f is string => typeof f === 'string').map((f) => join(dir, f));
    } catch {
      return undefined;
    }
    if (files.length === 0) return undefined;
  }
  let parameters = 0;
  let storedBytes = 0;
  const byDtype = new Map<string, number>();
  for (const file of files) {
    const tensors = await readHeader(file);
    if (!tensors) return undefined;
    for (const t of tensors) {
      const bytes = numel(t.shape) * DTYPE_SIZE[t.dtype as keyof typeof DTYPE_SIZE];
      storedBytes += bytes;
      byDtype.set(t.dtype, (byDtype.get(t.dtype) ?? 0) + bytes);
      if (!isBuffer(t.name, t.shape)) parameters += numel(t.shape);
    }
  }
  const storedDtype = [...byDtype].sort((x, y) => y[1] - x[1])[0]?.[0] ?? 'F32';
  return { parameters, storedBytes, storedDtype };
}

/** Size and architecture of a model folder from config.json and the headers; undefined if either cannot be read. */
export async function readModelSize(dir: string): Promise<ModelSize | undefined> {
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  let arch: ArchConfig;
  try {
    arch = familyFor(String(raw.model_type), 'config.json').parseConfig(raw, 'config.json');
  } catch {
    return undefined; // the loader names the problem
  }
  const size = await readWeightsSize(dir);
  return size && { ...size, arch };
}

// ---------------------------------------------------------------------------------------------------------------
// The check before loading

/** A model refused before loading: its estimated peak memory exceeds what is available. */
export class MemoryLimitError extends Error {}

export const MAX_MEMORY_ENV = 'ICL_LAB_MAX_MEMORY_GB';

export interface MemoryLimit {
  bytes: number;
  /** How the limit was set, for messages. */
  source: string;
}

/** The limit a check uses: --max-memory (bytes) when given, else the memory available now. */
export function memoryLimit(maxMemoryBytes: number | undefined): MemoryLimit {
  if (maxMemoryBytes !== undefined) return { bytes: maxMemoryBytes, source: 'set by --max-memory / ICL_LAB_MAX_MEMORY_GB' };
  const available = (process as { availableMemory?: () => number }).availableMemory?.() ?? os.freemem();
  return { bytes: available, source: `available now (of ${formatBytes(os.totalmem())} in this machine)` };
}

export interface MemoryCheck {
  /** How messages name the model (a plan id, a folder). */
  label: string;
  command: 'run' | 'inspect' | 'finetune';
  workload: Workload;
  /** 'auto' is checked as the CPU, its fallback. */
  device?: string;
  threads?: number;
  maxMemoryBytes?: number;
  log: (line: string) => void;
}

/**
 * Before a model folder's weights are read: estimates the command's footprint from config.json and the safetensors
 * headers, logs it as one line, and throws MemoryLimitError when the host peak exceeds the limit. Returns undefined
 * (and checks nothing) when config or headers cannot be read: the loader then reports the problem.
 */
export async function checkMemoryBeforeLoading(dir: string, check: MemoryCheck): Promise<Footprint | undefined> {
  const size = await readModelSize(dir);
  if (!size) return undefined;
  const threads = check.threads ?? os.availableParallelism();
  const where: Placement = { device: check.device === 'cuda' || check.device === 'webgpu' ? 'gpu' : 'cpu', threads };
  const f = estimateFootprint(size, check.workload, where);
  check.log(describeFootprint(check.label, check.command, f, where));
  const limit = memoryLimit(check.maxMemoryBytes);
  if (f.peak.host <= limit.bytes) return f;
  const fixes = ['a smaller model (`npm run lab -- models` lists sizes and estimates)'];
  if (where.device === 'cpu') {
    const g = estimateFootprint(size, check.workload, { device: 'gpu', threads });
    fixes.push(
      `--device cuda on a machine with an NVIDIA GPU (ONNX Runtime's weight copies and activations move to the GPU: ` +
        `about ${formatBytes(g.peak.host)} here and ${formatBytes(g.peak.device)} on the GPU)`,
    );
  }
  fixes.push('a machine with more memory');
  if (check.workload.kind === 'run') {
    fixes.push(`fewer test examples (--limit N, or the plan's testExamples: the run's captures are ${formatBytes(f.parts.captures)} of it)`);
  }
  fixes.push(`--max-memory GB (or ${MAX_MEMORY_ENV}) to set the limit yourself if you know the estimate is too high for your data`);
  throw new MemoryLimitError(
    `${check.label}: not loaded: \`lab ${check.command}\` with this model would need about ${formatBytes(f.peak.host)} of ` +
      `memory (estimate: ${formatCount(f.parameters)} parameters, ${formatBytes(f.float32Bytes)} as float32, plus this ` +
      `engine's copies of them, activations${check.workload.kind === 'run' ? ' and the run\'s captures' : ''}), more than ` +
      `the ${formatBytes(limit.bytes)} ${limit.source}. Nothing but config.json and the weights' headers was read. ` +
      `Options: ${fixes.join('; ')}.`,
  );
}
