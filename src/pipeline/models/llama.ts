// The Llama-style family: Hugging Face `model_type` "llama", "qwen2" and "mistral" folders (Llama 3.x, Qwen2.5,
// SmolLM2, Mistral) -> parameters -> forward graph. Pre-RMSNorm blocks, rotary position embeddings (HF's
// rotate_half convention: the first and second halves of each head), grouped-query attention (K/V heads shared by
// nHead / nKvHead query heads), SwiGLU MLP, no biases except Qwen2's q/k/v (and Llama's optional `attention_bias`),
// Mistral's sliding window (every layer: key j visible from query i iff i - sliding_window < j <= i). Rotary settings
// are read from transformers 4's rope_theta / rope_scaling or transformers 5's rope_parameters.
// HF stores nn.Linear weights as [out, in]; parameters keep our [in, out] layout (loadParams transposes).
//
// Captures (same names and layouts as GPT-2, see family.ts):
//   attn.q       [batch, time, nHead*headDim]: the query projection incl. bias AFTER rotary embedding, before the
//                1/sqrt(head_dim) scaling. The dual form of the paper reads the query vector that attention actually
//                uses; with RoPE that is the rotated one (q_rot . k_rot = the attention logit).
//   attn.scores  [batch, nHead, time, keys]: q_rot . k_rot / sqrt(head_dim) over the query heads, before the mask.
//   attn.out     o_proj output (incl. its bias if any), before the residual add.
//   resid_post   the residual stream after the block.
// Past key/values hold the nKvHead shared heads, keys already rotated (their positions are fixed once computed).

import { z } from 'zod';
import type { Graph, Value } from '../engine/graph.ts';
import { type HostTensor, float32, floatTensor } from '../engine/tensor.ts';
import { Rng } from '../util/random.ts';
import {
  type ArchConfig,
  type GraphOptions,
  type ModelFamily,
  type ParamSource,
  type ParamStore,
  captureName,
  pastKeyName,
  pastValueName,
  presentKeyName,
  presentValueName,
} from './family.ts';
import { type TensorEntry, ModelFileError, toFloat32 } from './safetensors.ts';
import { KEY_MASK, causalPaddingBias } from './attention-mask.ts';
import { atPositions, outputLogits, outputScores } from './transformer-parts.ts';

const MODEL_TYPES = ['llama', 'qwen2', 'mistral'] as const;
type LlamaModelType = (typeof MODEL_TYPES)[number];

/** max_position_embeddings when config.json leaves it out: the HF config classes' defaults. */
const DEFAULT_MAX_POSITIONS: Record<LlamaModelType, number> = { llama: 2048, qwen2: 32768, mistral: 4096 * 32 };

const tokenId = z.number().int().nonnegative();

const LlamaConfigSchema = z.object({
  model_type: z.enum(MODEL_TYPES),
  vocab_size: z.number().int().positive(),
  hidden_size: z.number().int().positive(),
  intermediate_size: z.number().int().positive(),
  num_hidden_layers: z.number().int().positive(),
  num_attention_heads: z.number().int().positive(),
  num_key_value_heads: z.number().int().positive().nullish(),
  head_dim: z.number().int().positive().nullish(),
  rms_norm_eps: z.number().positive().default(1e-6),
  rope_theta: z.number().positive().nullish(),
  rope_scaling: z.record(z.string(), z.unknown()).nullish(),
  /** transformers >= 5 writes rope_theta and the scaling here ({rope_type, rope_theta, factor, ...}). */
  rope_parameters: z.record(z.string(), z.unknown()).nullish(),
  max_position_embeddings: z.number().int().positive().optional(),
  initializer_range: z.number().positive().default(0.02),
  tie_word_embeddings: z.boolean().default(false),
  attention_bias: z.boolean().default(false),
  mlp_bias: z.boolean().default(false),
  hidden_act: z.literal('silu').default('silu'),
  bos_token_id: tokenId.nullish(),
  // Llama 3.1+ lists several end tokens; the first is the one we report.
  eos_token_id: z.union([tokenId, z.array(tokenId)]).nullish(),
  pad_token_id: tokenId.nullish(),
  sliding_window: z.number().int().positive().nullish(),
  use_sliding_window: z.boolean().default(false),
  /** Not an HF config key: tokenizer_config.json's flag, when a caller merges it in (default: per model_type). */
  add_bos_token: z.boolean().optional(),
});

export type RopeScaling =
  | { type: 'default' }
  | { type: 'linear'; factor: number }
  | { type: 'llama3'; factor: number; lowFreqFactor: number; highFreqFactor: number; originalMaxPositions: number };

export interface LlamaConfig extends ArchConfig {
  modelType: LlamaModelType;
  intermediateSize: number;
  rmsNormEps: number;
  ropeTheta: number;
  ropeScaling: RopeScaling;
  initializerRange: number;
  tieWordEmbeddings: boolean;
  /** q/k/v projections carry biases (Qwen2 always; Llama with attention_bias). */
  qkvBias: boolean;
  /** o projection carries a bias (Llama with attention_bias). */
  oBias: boolean;
  padTokenId: number | undefined;
  /** Mistral's sliding window: a key at position j is visible from the query at i iff i - slidingWindow < j <= i
   * (as HF's sliding-window mask); undefined: full causal attention. */
  slidingWindow: number | undefined;
  /** Whether the tokenizer puts BOS first (Llama, Mistral, SmolLM2: yes; Qwen2: no BOS). */
  addBosToken: boolean;
}

/**
 * The rotary settings of a config, from the keys of either transformers generation: `rope_theta` + `rope_scaling`
 * (transformers 4) or `rope_parameters` {rope_type, rope_theta, factor, ..., partial_rotary_factor} (transformers 5,
 * which writes only this form). Where both forms give a value they must agree. Shared with the GPT-NeoX family.
 */
export function ropeSettings(
  raw: {
    rope_theta?: number | null;
    rope_scaling?: Record<string, unknown> | null;
    rope_parameters?: Record<string, unknown> | null;
    partial_rotary_factor?: number | null;
  },
  source: string,
): { theta: number | undefined; scaling: Record<string, unknown> | undefined; partialRotaryFactor: number | undefined } {
  const params = raw.rope_parameters ?? undefined;
  if (params) {
    const nested = Object.keys(params).filter((k) => typeof params[k] === 'object' && params[k] !== null);
    if (nested.length) {
      throw new ModelFileError(
        `${source}: rope_parameters per attention type (${nested.join(', ')}) are not supported; icl-lab reads one ` +
          '{rope_type, rope_theta, ...} object',
        source,
      );
    }
  }
  const pick = (key: string, fromParams: unknown, legacy: number | null | undefined): number | undefined => {
    if (fromParams !== undefined && fromParams !== null && (typeof fromParams !== 'number' || !Number.isFinite(fromParams))) {
      throw new ModelFileError(`${source}: rope_parameters.${key} must be a number, got ${JSON.stringify(fromParams)}`, source);
    }
    const a = (fromParams ?? undefined) as number | undefined;
    const b = legacy ?? undefined;
    if (a !== undefined && b !== undefined && a !== b) {
      throw new ModelFileError(`${source}: rope_parameters.${key} (${a}) and ${key} (${b}) disagree`, source);
    }
    return a ?? b;
  };
  const theta = pick('rope_theta', params?.rope_theta, raw.rope_theta);
  const partialRotaryFactor = pick('partial_rotary_factor', params?.partial_rotary_factor, raw.partial_rotary_factor);
  const paramType = params?.rope_type ?? params?.type;
  const legacyType = raw.rope_scaling ? (raw.rope_scaling.rope_type ?? raw.rope_scaling.type) : undefined;
  let scaling: Record<string, unknown> | undefined = raw.rope_scaling ?? undefined;
  if (params && paramType !== undefined) {
    if (raw.rope_scaling && (legacyType ?? 'default') !== paramType) {
      throw new ModelFileError(
        `${source}: rope_parameters.rope_type ${JSON.stringify(paramType)} and rope_scaling's type ${JSON.stringify(legacyType)} disagree`,
        source,
      );
    }
    scaling = paramType === 'default' ? undefined : params;
  }
  return { theta, scaling, partialRotaryFactor };
}

function parseRopeScaling(raw: Record<string, unknown> | null | undefined, source: string): RopeScaling {
  if (!raw) return { type: 'default' };
  const type = raw.rope_type ?? raw.type;
  const num = (key: string): number => {
    const v = raw[key];
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) {
      throw new ModelFileError(`${source}: rope_scaling of type "${String(type)}" needs a positive number "${key}", got ${JSON.stringify(v)}`, source);
    }
    return v;
  };
  if (type === undefined || type === 'default') return { type: 'default' };
  if (type === 'linear') return { type: 'linear', factor: num('factor') };
  if (type === 'llama3') {
    const s: RopeScaling = {
      type: 'llama3',
      factor: num('factor'),
      lowFreqFactor: num('low_freq_factor'),
      highFreqFactor: num('high_freq_factor'),
      originalMaxPositions: num('original_max_position_embeddings'),
    };
    if (s.highFreqFactor <= s.lowFreqFactor) {
      throw new ModelFileError(`${source}: rope_scaling high_freq_factor must exceed low_freq_factor`, source);
    }
    return s;
  }
  throw new ModelFileError(
    `${source}: unsupported rope_scaling type ${JSON.stringify(type)}; icl-lab supports none (null), "default", "linear" and "llama3"`,
    source,
  );
}

function parseConfig(raw: Record<string, unknown>, source: string): LlamaConfig {
  const parsed = LlamaConfigSchema.safeParse(raw);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    throw new ModelFileError(`${source}: not a valid Llama-style (llama/qwen2/mistral) config (${issues})`, source);
  }
  const c = parsed.data;
  const H = c.num_attention_heads;
  const kv = c.num_key_value_heads ?? H;
  if (H % kv !== 0) {
    throw new ModelFileError(`${source}: num_attention_heads ${H} is not a multiple of num_key_value_heads ${kv}`, source);
  }
  if (c.head_dim == null && c.hidden_size % H !== 0) {
    throw new ModelFileError(`${source}: hidden_size ${c.hidden_size} is not divisible by num_attention_heads ${H} (and no head_dim is given)`, source);
  }
  const headDim = c.head_dim ?? c.hidden_size / H;
  if (headDim % 2 !== 0) throw new ModelFileError(`${source}: head_dim ${headDim} must be even for rotary embeddings`, source);
  if (c.mlp_bias) throw new ModelFileError(`${source}: mlp_bias true is not supported`, source);
  if (c.model_type === 'qwen2' && c.use_sliding_window) {
    throw new ModelFileError(`${source}: use_sliding_window true (Qwen2 sliding-window attention) is not supported`, source);
  }
  const maxPositions = c.max_position_embeddings ?? DEFAULT_MAX_POSITIONS[c.model_type];
  const rope = ropeSettings(c, source);
  if (rope.partialRotaryFactor !== undefined && rope.partialRotaryFactor !== 1) {
    throw new ModelFileError(`${source}: partial_rotary_factor ${rope.partialRotaryFactor} is not supported for ${c.model_type}`, source);
  }
  const eos = Array.isArray(c.eos_token_id) ? c.eos_token_id[0] : c.eos_token_id;
  return {
    modelType: c.model_type,
    nLayer: c.num_hidden_layers,
    nHead: H,
    nKvHead: kv,
    dModel: c.hidden_size,
    headDim,
    vocabSize: c.vocab_size,
    maxPositions,
    bosTokenId: c.bos_token_id ?? undefined,
    eosTokenId: eos ?? undefined,
    intermediateSize: c.intermediate_size,
    rmsNormEps: c.rms_norm_eps,
    ropeTheta: rope.theta ?? 10000,
    ropeScaling: parseRopeScaling(rope.scaling, source),
    initializerRange: c.initializer_range,
    tieWordEmbeddings: c.tie_word_embeddings,
    qkvBias: c.model_type === 'qwen2' || (c.model_type === 'llama' && c.attention_bias),
    oBias: c.model_type === 'llama' && c.attention_bias,
    padTokenId: c.pad_token_id ?? undefined,
    // Mistral attends to the last sliding_window keys (a band mask, in every layer); Qwen2's windows are refused above.
    slidingWindow: c.model_type === 'mistral' ? (c.sliding_window ?? undefined) : undefined,
    addBosToken: c.add_bos_token ?? c.model_type !== 'qwen2',
  };
}

const asLlama = (config: ArchConfig): LlamaConfig => config as LlamaConfig;

/** Rotary inverse frequencies [headDim/2], with HF's rope_scaling applied (computed in float64). */
export function ropeInverseFrequencies(c: Pick<LlamaConfig, 'headDim' | 'ropeTheta' | 'ropeScaling'>): Float64Array {
  const half = c.headDim / 2;
  const inv = Float64Array.from({ length: half }, (_, i) => 1 / c.ropeTheta ** ((2 * i) / c.headDim));
  const s = c.ropeScaling;
  if (s.type === 'linear') return inv.map((f) => f / s.factor);
  if (s.type === 'llama3') {
    const lowWavelen = s.originalMaxPositions / s.lowFreqFactor;
    const highWavelen = s.originalMaxPositions / s.highFreqFactor;
    return inv.map((f) => {
      const wavelen = (2 * Math.PI) / f;
      if (wavelen < highWavelen) return f;
      if (wavelen > lowWavelen) return f / s.factor;
      const smooth = (s.originalMaxPositions / wavelen - s.lowFreqFactor) / (s.highFreqFactor - s.lowFreqFactor);
      return (1 - smooth) * (f / s.factor) + smooth * f;
    });
  }
  return inv;
}

/**
 * Rotary position embedding as HF applies it, for the last axis of width 2 * inv.length: cos/sin(position * inv_freq)
 * tables [maxPositions, inv.length], computed here in float64 and gathered at `positionIds` ([batch, 1, time, n/2],
 * shared by every layer and head), and apply_rotary_pos_emb: x * cos + rotate_half(x) * sin with
 * rotate_half(x) = [-x2, x1] over the halves x1 = x[..., :n/2], x2 = x[..., n/2:] (cos/sin repeated over both halves).
 * Returns the rotation, for [batch, heads, time, n] values. Shared by the Llama-style and GPT-NeoX families.
 */
export function rotaryEmbedding(g: Graph, inv: Float64Array, maxPositions: number, positionIds: Value): (x: Value) => Value {
  const half = inv.length;
  const { cos, sin } = g.scope('rotary', () => {
    const n = maxPositions;
    const cosData = new Float64Array(n * half);
    const sinData = new Float64Array(n * half);
    for (let p = 0; p < n; p++) {
      for (let i = 0; i < half; i++) {
        const angle = p * inv[i];
        cosData[p * half + i] = Math.cos(angle);
        sinData[p * half + i] = Math.sin(angle);
      }
    }
    const table = (name: string, data: Float64Array) =>
      g.unsqueeze(g.gather(g.initializer(g.freshName(name), floatTensor(g.floatType, data, [n, half])), positionIds), [1]);
    return { cos: table('rope_cos', cosData), sin: table('rope_sin', sinData) };
  });
  return (x: Value): Value => {
    const [x1, x2] = g.split(x, [half, half], -1);
    return g.concat([g.sub(g.mul(x1, cos), g.mul(x2, sin)), g.add(g.mul(x2, cos), g.mul(x1, sin))], -1);
  };
}

interface Shapes {
  q: number;
  kv: number;
}
const projectionWidths = (c: LlamaConfig): Shapes => ({ q: c.nHead * c.headDim, kv: c.nKvHead * c.headDim });

/** Every HF tensor a folder of this config must hold, with its expected shape ([out, in] for nn.Linear). */
function expectedHfShapes(c: LlamaConfig): Map<string, number[]> {
  const d = c.dModel;
  const I = c.intermediateSize;
  const w = projectionWidths(c);
  const shapes = new Map<string, number[]>([
    ['model.embed_tokens.weight', [c.vocabSize, d]],
    ['model.norm.weight', [d]],
  ]);
  for (let l = 0; l < c.nLayer; l++) {
    const h = `model.layers.${l}`;
    shapes.set(`${h}.input_layernorm.weight`, [d]);
    shapes.set(`${h}.self_attn.q_proj.weight`, [w.q, d]);
    shapes.set(`${h}.self_attn.k_proj.weight`, [w.kv, d]);
    shapes.set(`${h}.self_attn.v_proj.weight`, [w.kv, d]);
    shapes.set(`${h}.self_attn.o_proj.weight`, [d, w.q]);
    if (c.qkvBias) {
      shapes.set(`${h}.self_attn.q_proj.bias`, [w.q]);
      shapes.set(`${h}.self_attn.k_proj.bias`, [w.kv]);
      shapes.set(`${h}.self_attn.v_proj.bias`, [w.kv]);
    }
    if (c.oBias) shapes.set(`${h}.self_attn.o_proj.bias`, [d]);
    shapes.set(`${h}.post_attention_layernorm.weight`, [d]);
    shapes.set(`${h}.mlp.gate_proj.weight`, [I, d]);
    shapes.set(`${h}.mlp.up_proj.weight`, [I, d]);
    shapes.set(`${h}.mlp.down_proj.weight`, [d, I]);
  }
  if (!c.tieWordEmbeddings) shapes.set('lm_head.weight', [c.vocabSize, d]);
  return shapes;
}

/** Buffers and duplicates some exports carry; they hold no parameters we need. */
function isToleratedExtra(name: string, c: LlamaConfig): boolean {
  return /^model\.layers\.\d+\.self_attn\.rotary_emb\.inv_freq$/.test(name) || (c.tieWordEmbeddings && name === 'lm_head.weight');
}

/** Transpose a row-major [rows, cols] matrix. */
function transpose(m: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(m.length);
  for (let r = 0; r < rows; r++) for (let k = 0; k < cols; k++) out[k * rows + r] = m[r * cols + k];
  return out;
}

/** Parameter name -> [HF tensor name, whether it is an nn.Linear weight (stored transposed)]. */
function hfMapping(c: LlamaConfig, paramName: string): { hf: string; linear: boolean } | undefined {
  const fixed: Record<string, string> = {
    'embed.tokens': 'model.embed_tokens.weight',
    'final_norm.weight': 'model.norm.weight',
    'unembed.weight': 'lm_head.weight',
  };
  if (fixed[paramName]) return { hf: fixed[paramName], linear: false };
  const m = /^blocks\.(\d+)\.(.+)\.(weight|bias)$/.exec(paramName);
  if (!m || Number(m[1]) >= c.nLayer) return undefined;
  const norms: Record<string, string> = { ln1: 'input_layernorm', ln2: 'post_attention_layernorm' };
  const linears: Record<string, string> = {
    'attn.q': 'self_attn.q_proj', 'attn.k': 'self_attn.k_proj', 'attn.v': 'self_attn.v_proj', 'attn.o': 'self_attn.o_proj',
    'mlp.gate': 'mlp.gate_proj', 'mlp.up': 'mlp.up_proj', 'mlp.down': 'mlp.down_proj',
  };
  const h = `model.layers.${m[1]}`;
  if (norms[m[2]] && m[3] === 'weight') return { hf: `${h}.${norms[m[2]]}.weight`, linear: false };
  if (linears[m[2]]) return { hf: `${h}.${linears[m[2]]}.${m[3]}`, linear: m[3] === 'weight' };
  return undefined;
}

/** Every parameter name of this config. */
function paramNames(c: LlamaConfig): string[] {
  const names = ['embed.tokens'];
  for (let l = 0; l < c.nLayer; l++) {
    const b = `blocks.${l}`;
    names.push(`${b}.ln1.weight`);
    for (const p of ['q', 'k', 'v']) {
      names.push(`${b}.attn.${p}.weight`);
      if (c.qkvBias) names.push(`${b}.attn.${p}.bias`);
    }
    names.push(`${b}.attn.o.weight`);
    if (c.oBias) names.push(`${b}.attn.o.bias`);
    names.push(`${b}.ln2.weight`, `${b}.mlp.gate.weight`, `${b}.mlp.up.weight`, `${b}.mlp.down.weight`);
  }
  names.push('final_norm.weight');
  if (!c.tieWordEmbeddings) names.push('unembed.weight');
  return names;
}

function loadParams(config: ArchConfig, tensors: Map<string, TensorEntry>, source: string): ParamStore {
  const c = asLlama(config);
  const expected = expectedHfShapes(c);
  const unknown = [...tensors.keys()].filter((name) => !expected.has(name) && !isToleratedExtra(name, c));
  if (unknown.length > 0) {
    const shown = unknown.slice(0, 5).join(', ') + (unknown.length > 5 ? `, ... (${unknown.length} in all)` : '');
    throw new ModelFileError(
      `${source}: tensors not part of a ${c.modelType} model with this config: ${shown} ` +
        `(num_hidden_layers=${c.nLayer}, tie_word_embeddings=${c.tieWordEmbeddings}, q/k/v biases=${c.qkvBias}, o bias=${c.oBias})`,
      source,
    );
  }
  for (const [name, shape] of expected) {
    const entry = tensors.get(name);
    if (!entry) throw new ModelFileError(`${source}: missing tensor "${name}" (expected shape [${shape}])`, source);
    if (entry.shape.length !== shape.length || entry.shape.some((s, i) => s !== shape[i])) {
      throw new ModelFileError(
        `${source}: tensor "${name}" has shape [${entry.shape}] but config.json implies [${shape}] ` +
          `(num_hidden_layers=${c.nLayer}, hidden_size=${c.dModel}, num_attention_heads=${c.nHead}, ` +
          `num_key_value_heads=${c.nKvHead}, head_dim=${c.headDim}, intermediate_size=${c.intermediateSize}, ` +
          `vocab_size=${c.vocabSize})`,
        source,
      );
    }
  }
  const params: ParamStore = new Map();
  for (const name of paramNames(c)) {
    const { hf, linear } = hfMapping(c, name)!;
    const entry = tensors.get(hf)!;
    const data = toFloat32(entry);
    if (linear) {
      const [out, inp] = entry.shape;
      params.set(name, float32(transpose(data, out, inp), [inp, out]));
    } else {
      params.set(name, float32(data, [...entry.shape]));
    }
  }
  return params;
}

function hfTensorOf(config: ArchConfig, paramName: string): string {
  const m = hfMapping(asLlama(config), paramName);
  if (!m) throw new Error(`not a ${config.modelType} parameter: ${paramName}`);
  return m.hf;
}

function toHfTensors(config: ArchConfig, params: ParamStore): Map<string, HostTensor> {
  const c = asLlama(config);
  const out = new Map<string, HostTensor>();
  for (const [name, t] of params) {
    const m = hfMapping(c, name);
    if (!m) throw new Error(`not a ${c.modelType} parameter: ${name}`);
    if (m.linear) {
      const [inp, o] = t.shape;
      out.set(m.hf, float32(transpose(Float32Array.from(t.data as Float32Array), inp, o), [o, inp]));
    } else {
      out.set(m.hf, t);
    }
  }
  return out;
}

/** Fresh weights as Hugging Face's LlamaPreTrainedModel initialises them: normal(0, initializer_range) for linear
 * and embedding weights (the pad_token_id row of the embedding zeroed), zero biases, unit RMSNorm weights. */
function initParams(config: ArchConfig, seed: number): ParamStore {
  const c = asLlama(config);
  const rng = new Rng(seed);
  const params: ParamStore = new Map();
  const expected = expectedHfShapes(c);
  for (const name of paramNames(c)) {
    const { hf, linear } = hfMapping(c, name)!;
    const hfShape = expected.get(hf)!;
    const shape = linear ? [hfShape[1], hfShape[0]] : hfShape;
    const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
    if (/\.bias$/.test(name)) {
      // zeros
    } else if (/(^final_norm|\.ln[12])\.weight$/.test(name)) {
      data.fill(1);
    } else {
      for (let i = 0; i < data.length; i++) data[i] = rng.normal() * c.initializerRange;
      if (name === 'embed.tokens' && c.padTokenId !== undefined && c.padTokenId < c.vocabSize) {
        data.fill(0, c.padTokenId * c.dModel, (c.padTokenId + 1) * c.dModel);
      }
    }
    params.set(name, float32(data, shape));
  }
  return params;
}

function kvParamNames(config: ArchConfig): string[] {
  const c = asLlama(config);
  const names: string[] = [];
  for (let l = 0; l < c.nLayer; l++) {
    for (const p of ['k', 'v']) {
      names.push(`blocks.${l}.attn.${p}.weight`);
      if (c.qkvBias) names.push(`blocks.${l}.attn.${p}.bias`);
    }
  }
  return names;
}

function embeddingParamNames(config: ArchConfig): string[] {
  // The embedding, every RMSNorm and the unembedding stay trained; attention and MLP weights are redrawn.
  const c = asLlama(config);
  const names = ['embed.tokens', 'final_norm.weight'];
  if (!c.tieWordEmbeddings) names.push('unembed.weight');
  for (let l = 0; l < c.nLayer; l++) names.push(`blocks.${l}.ln1.weight`, `blocks.${l}.ln2.weight`);
  return names;
}

/** RMSNorm as HF writes it: x * rsqrt(mean(x^2) + eps) * w, over the last axis. */
function rmsNorm(g: Graph, x: Value, weight: Value, eps: number): Value {
  const meanSquare = g.reduceMean(g.mul(x, x), [-1], true);
  return g.mul(g.div(x, g.sqrt(g.add(meanSquare, g.constantFloat(eps)))), weight);
}

function buildForward(g: Graph, config: ArchConfig, param: ParamSource, options: GraphOptions): void {
  const c = asLlama(config);
  const { nHead: H, nKvHead: KV, headDim: hd } = c;
  const captures = new Set(options.captures ?? []);
  const inputIds = g.input('input_ids', 'int64', ['batch', 'time']);
  const positionIds = g.input('position_ids', 'int64', ['batch', 'time']);
  const keyLength = options.withPast ? 'past+time' : 'time';
  const attentionBias = causalPaddingBias(g, inputIds, g.input(KEY_MASK, 'bool', ['batch', keyLength]), c.slidingWindow);
  const capturePositions = options.capturePositions ? g.input('capture_positions', 'int64', ['batch', 'n_capture', 1]) : undefined;
  const capture = (layer: number, kind: 'attn.q' | 'attn.out' | 'resid_post', v: Value) => {
    if (captures.has(kind)) g.output(capturePositions ? atPositions(g, v, capturePositions) : v, captureName(layer, kind));
  };

  const batchZeros = options.withPast
    ? g.unsqueeze(g.mul(g.reduceSum(g.cast(inputIds, g.floatType), [1], true), g.constantFloat(0)), [2, 3])
    : undefined;
  const pastInput = (name: string) => g.add(g.input(name, g.floatType, ['batch', KV, 'past', hd]), batchZeros!);

  const rotate = rotaryEmbedding(g, ropeInverseFrequencies(c), c.maxPositions, positionIds);
  // Query head h reads K/V head floor(h / (nHead / nKvHead)), as HF's repeat_kv lays them out.
  const repeatKv = KV === H ? undefined : Array.from({ length: H }, (_, h) => Math.floor(h / (H / KV)));

  let x = g.gather(param('embed.tokens'), inputIds);
  for (let l = 0; l < c.nLayer; l++) {
    x = g.scope(`blocks.${l}`, () => {
      const p = (name: string) => param(`blocks.${l}.${name}`);
      const h = rmsNorm(g, x, p('ln1.weight'), c.rmsNormEps);
      const project = (name: string, bias: boolean) => {
        const y = g.matmul(h, p(`attn.${name}.weight`));
        return bias ? g.add(y, p(`attn.${name}.bias`)) : y;
      };
      // [batch, time, n*hd] -> [batch, n, time, hd]
      const heads = (v: Value, n: number) => g.transpose(g.reshape(v, [0, 0, n, hd]), [0, 2, 1, 3]);
      const q = rotate(heads(project('q', c.qkvBias), H));
      capture(l, 'attn.q', g.reshape(g.transpose(q, [0, 2, 1, 3]), [0, 0, H * hd]));
      let k = rotate(heads(project('k', c.qkvBias), KV));
      let v = heads(project('v', c.qkvBias), KV);
      if (options.withPast) {
        k = g.concat([pastInput(pastKeyName(l)), k], 2);
        v = g.concat([pastInput(pastValueName(l)), v], 2);
        g.output(k, presentKeyName(l));
        g.output(v, presentValueName(l));
      }
      if (repeatKv) {
        const index = g.constantInt(repeatKv);
        k = g.gather(k, index, 1);
        v = g.gather(v, index, 1);
      }
      const scores = g.matmul(g.mul(q, g.constantFloat(1 / Math.sqrt(hd))), g.transpose(k, [0, 1, 3, 2]));
      if (captures.has('attn.scores')) outputScores(g, scores, l, capturePositions);
      const probs = g.softmax(g.add(scores, attentionBias));
      const context = g.reshape(g.transpose(g.matmul(probs, v), [0, 2, 1, 3]), [0, 0, H * hd]);
      let attnOut = g.matmul(context, p('attn.o.weight'));
      if (c.oBias) attnOut = g.add(attnOut, p('attn.o.bias'));
      capture(l, 'attn.out', attnOut);
      const afterAttn = g.add(x, attnOut);
      const m = rmsNorm(g, afterAttn, p('ln2.weight'), c.rmsNormEps);
      const gate = g.matmul(m, p('mlp.gate.weight'));
      const up = g.matmul(m, p('mlp.up.weight'));
      const mlpOut = g.matmul(g.mul(g.mul(gate, g.sigmoid(gate)), up), p('mlp.down.weight'));
      const out = g.add(afterAttn, mlpOut);
      capture(l, 'resid_post', out);
      return out;
    });
  }
  outputLogits(g, x, options, param, (t) => rmsNorm(g, t, param('final_norm.weight'), c.rmsNormEps), c.tieWordEmbeddings);
}

export const llamaFamily: ModelFamily = {
  name: 'Llama',
  modelTypes: MODEL_TYPES,
  parseConfig,
  loadParams,
  toHfTensors,
  hfTensorOf,
  buildForward,
  tokenPolicy: (config) => {
    const c = asLlama(config);
    const bos = c.addBosToken ? c.bosTokenId : undefined;
    return {
      bosTokenId: bos,
      demoSeparator: { kind: 'text', text: '\n' },
      description:
        `${c.modelType}: ` +
        (bos === undefined ? 'no BOS token' : `bos_token_id ${bos} is put before every sequence`) +
        '; text is tokenised without special tokens; demonstrations are separated by a newline.',
    };
  },
  initParams,
  kvParamNames,
  embeddingParamNames,
};
