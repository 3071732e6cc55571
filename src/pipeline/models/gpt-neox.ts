// The GPT-NeoX family: Hugging Face `model_type` "gpt_neox" folders (Pythia and its intermediate training checkpoints,
// which are hub revisions of the same repositories) -> parameters -> forward graph. Pre-LayerNorm blocks with biases,
// partial rotary position embeddings (the first rotary_ndims = int(head_size * rotary_pct) dimensions of each head are
// rotated with HF's rotate_half convention, the rest pass through), a fused q/k/v projection laid out PER HEAD, a GELU
// MLP, and either the parallel residual (x + attn(ln1(x)) + mlp(ln2(x)), Pythia) or the sequential one (as GPT-2).
// HF stores nn.Linear weights as [out, in]; parameters keep our [in, out] layout (loadParams transposes and splits
// `query_key_value` into q/k/v; toHfTensors re-fuses).
//
// Captures (same names and layouts as GPT-2 and Llama, see family.ts):
//   attn.q       [batch, time, nHead*headDim]: the query projection incl. bias AFTER the (partial) rotary embedding,
//                before the 1/sqrt(head_size) scaling, as in llama.ts: the query that attention actually uses
//                (q_rot . k_rot = the attention logit). The pass-through dimensions are the plain projection.
//   attn.scores  [batch, nHead, time, keys]: q_rot . k_rot / sqrt(head_size), before the mask.
//   attn.out     the `dense` output incl. its bias, before any residual add.
//   resid_post   the residual stream after the block.
// Past key/values hold keys already rotated (their positions are fixed once computed).

import { z } from 'zod';
import type { Graph, Value } from '../engine/graph.ts';
import { type HostTensor, float32 } from '../engine/tensor.ts';
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
import { type RopeScaling, ropeInverseFrequencies, ropeSettings, rotaryEmbedding } from './llama.ts';

const TANH_GELUS = ['gelu_new', 'gelu_fast', 'gelu_pytorch_tanh'];
const ACTIVATIONS = ['gelu', 'gelu_new', 'gelu_fast', 'gelu_pytorch_tanh'] as const;

const tokenId = z.number().int().nonnegative();

const NeoxConfigSchema = z.object({
  model_type: z.literal('gpt_neox'),
  vocab_size: z.number().int().positive(),
  hidden_size: z.number().int().positive(),
  num_hidden_layers: z.number().int().positive(),
  num_attention_heads: z.number().int().positive(),
  intermediate_size: z.number().int().positive(),
  rotary_pct: z.number().min(0).max(1).optional(),
  /** The name newer transformers versions give rotary_pct. */
  partial_rotary_factor: z.number().min(0).max(1).optional(),
  rotary_emb_base: z.number().positive().optional(),
  rope_theta: z.number().positive().optional(),
  rope_scaling: z.record(z.string(), z.unknown()).nullish(),
  /** transformers >= 5 writes the rotary settings here: {rope_type, rope_theta, partial_rotary_factor, ...}. */
  rope_parameters: z.record(z.string(), z.unknown()).nullish(),
  max_position_embeddings: z.number().int().positive().default(2048),
  layer_norm_eps: z.number().positive().default(1e-5),
  use_parallel_residual: z.boolean().default(true),
  hidden_act: z.enum(ACTIVATIONS).default('gelu'),
  attention_bias: z.boolean().default(true),
  initializer_range: z.number().positive().default(0.02),
  tie_word_embeddings: z.boolean().default(false),
  bos_token_id: tokenId.nullish(),
  eos_token_id: tokenId.nullish(),
  /** Not an HF config key: tokenizer_config.json's flag, when a caller merges it in (default false, as Pythia's). */
  add_bos_token: z.boolean().optional(),
});

export interface NeoxConfig extends ArchConfig {
  intermediateSize: number;
  /** Rotated dimensions of each head (even; 0 to headDim). */
  rotaryNdims: number;
  ropeTheta: number;
  ropeScaling: RopeScaling;
  layerNormEps: number;
  parallelResidual: boolean;
  geluApproximate: 'none' | 'tanh';
  /** query_key_value and dense carry biases. */
  attentionBias: boolean;
  initializerRange: number;
  tieWordEmbeddings: boolean;
  /** Whether the tokenizer puts BOS first (Pythia: no). */
  addBosToken: boolean;
}

function parseRopeScaling(raw: Record<string, unknown> | null | undefined, source: string): RopeScaling {
  if (!raw) return { type: 'default' };
  const type = raw.rope_type ?? raw.type;
  if (type === undefined || type === 'default') return { type: 'default' };
  if (type === 'linear') {
    const factor = raw.factor;
    if (typeof factor !== 'number' || !Number.isFinite(factor) || factor <= 0) {
      throw new ModelFileError(`${source}: rope_scaling of type "linear" needs a positive number "factor", got ${JSON.stringify(factor)}`, source);
    }
    return { type: 'linear', factor };
  }
  throw new ModelFileError(
    `${source}: unsupported rope_scaling type ${JSON.stringify(type)} for gpt_neox; icl-lab supports none (null), "default" and "linear"`,
    source,
  );
}

function parseConfig(raw: Record<string, unknown>, source: string): NeoxConfig {
  const parsed = NeoxConfigSchema.safeParse(raw);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    throw new ModelFileError(`${source}: not a valid GPT-NeoX (gpt_neox) config (${issues})`, source);
  }
  const c = parsed.data;
  const H = c.num_attention_heads;
  if (c.hidden_size % H !== 0) {
    throw new ModelFileError(`${source}: hidden_size ${c.hidden_size} is not divisible by num_attention_heads ${H}`, source);
  }
  const headDim = c.hidden_size / H;
  if (c.rotary_pct != null && c.partial_rotary_factor != null && c.rotary_pct !== c.partial_rotary_factor) {
    throw new ModelFileError(`${source}: rotary_pct (${c.rotary_pct}) and partial_rotary_factor (${c.partial_rotary_factor}) disagree`, source);
  }
  if (c.rotary_emb_base != null && c.rope_theta != null && c.rotary_emb_base !== c.rope_theta) {
    throw new ModelFileError(`${source}: rotary_emb_base (${c.rotary_emb_base}) and rope_theta (${c.rope_theta}) disagree`, source);
  }
  // transformers 5 writes rope_parameters only (its partial_rotary_factor is the old rotary_pct); either form is read,
  // and where both are given they must agree.
  const rope = ropeSettings(
    { rope_theta: c.rotary_emb_base ?? c.rope_theta, rope_scaling: c.rope_scaling, rope_parameters: c.rope_parameters, partial_rotary_factor: c.rotary_pct ?? c.partial_rotary_factor },
    source,
  );
  const pct = rope.partialRotaryFactor ?? 0.25;
  if (pct < 0 || pct > 1) throw new ModelFileError(`${source}: partial_rotary_factor ${pct} must be between 0 and 1`, source);
  const rotaryNdims = Math.floor(headDim * pct);
  if (rotaryNdims % 2 !== 0) {
    throw new ModelFileError(
      `${source}: rotary dimensions int(head_size ${headDim} * rotary_pct ${pct}) = ${rotaryNdims} must be even`,
      source,
    );
  }
  return {
    modelType: 'gpt_neox',
    nLayer: c.num_hidden_layers,
    nHead: H,
    nKvHead: H,
    dModel: c.hidden_size,
    headDim,
    vocabSize: c.vocab_size,
    maxPositions: c.max_position_embeddings,
    bosTokenId: c.bos_token_id ?? undefined,
    eosTokenId: c.eos_token_id ?? undefined,
    intermediateSize: c.intermediate_size,
    rotaryNdims,
    ropeTheta: rope.theta ?? 10000,
    ropeScaling: parseRopeScaling(rope.scaling, source),
    layerNormEps: c.layer_norm_eps,
    parallelResidual: c.use_parallel_residual,
    geluApproximate: TANH_GELUS.includes(c.hidden_act) ? 'tanh' : 'none',
    attentionBias: c.attention_bias,
    initializerRange: c.initializer_range,
    tieWordEmbeddings: c.tie_word_embeddings,
    addBosToken: c.add_bos_token ?? false,
  };
}

const asNeox = (config: ArchConfig): NeoxConfig => config as NeoxConfig;

/** Every HF tensor a folder of this config must hold, with its expected shape ([out, in] for nn.Linear). */
function expectedHfShapes(c: NeoxConfig): Map<string, number[]> {
  const d = c.dModel;
  const I = c.intermediateSize;
  const shapes = new Map<string, number[]>([
    ['gpt_neox.embed_in.weight', [c.vocabSize, d]],
    ['gpt_neox.final_layer_norm.weight', [d]],
    ['gpt_neox.final_layer_norm.bias', [d]],
  ]);
  for (let l = 0; l < c.nLayer; l++) {
    const h = `gpt_neox.layers.${l}`;
    for (const n of ['input_layernorm', 'post_attention_layernorm']) shapes.set(`${h}.${n}.weight`, [d]).set(`${h}.${n}.bias`, [d]);
    shapes.set(`${h}.attention.query_key_value.weight`, [3 * d, d]);
    shapes.set(`${h}.attention.dense.weight`, [d, d]);
    if (c.attentionBias) {
      shapes.set(`${h}.attention.query_key_value.bias`, [3 * d]);
      shapes.set(`${h}.attention.dense.bias`, [d]);
    }
    shapes.set(`${h}.mlp.dense_h_to_4h.weight`, [I, d]).set(`${h}.mlp.dense_h_to_4h.bias`, [I]);
    shapes.set(`${h}.mlp.dense_4h_to_h.weight`, [d, I]).set(`${h}.mlp.dense_4h_to_h.bias`, [d]);
  }
  if (!c.tieWordEmbeddings) shapes.set('embed_out.weight', [c.vocabSize, d]);
  return shapes;
}

/** Buffers and duplicates some exports carry; they hold no parameters we need. */
function isToleratedExtra(name: string, c: NeoxConfig): boolean {
  return (
    /^gpt_neox\.layers\.\d+\.attention\.(bias|masked_bias|rotary_emb\.inv_freq)$/.test(name) ||
    /^gpt_neox\.rotary_emb\.inv_freq$/.test(name) ||
    (c.tieWordEmbeddings && name === 'embed_out.weight')
  );
}

/** Transpose a row-major [rows, cols] matrix. */
function transpose(m: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(m.length);
  for (let r = 0; r < rows; r++) for (let k = 0; k < cols; k++) out[k * rows + r] = m[r * cols + k];
  return out;
}

const QKV = ['q', 'k', 'v'] as const;

/**
 * Row of the fused query_key_value output ([3d]) that holds element e of head h of part p (0 q, 1 k, 2 v): HF views
 * the output as [..., nHead, 3 * head_size] and splits the last axis into q, k, v, so head h owns rows
 * [3 h hd, 3 (h + 1) hd) as [q_h; k_h; v_h].
 */
const fusedRow = (hd: number, h: number, part: number, e: number): number => (3 * h + part) * hd + e;

/** Parameter name -> [HF tensor name, whether it is an nn.Linear weight (stored transposed)] (q/k/v: the fused one). */
function hfMapping(c: NeoxConfig, paramName: string): { hf: string; linear: boolean } | undefined {
  const fixed: Record<string, string> = {
    'embed.tokens': 'gpt_neox.embed_in.weight',
    'final_norm.weight': 'gpt_neox.final_layer_norm.weight',
    'final_norm.bias': 'gpt_neox.final_layer_norm.bias',
    'unembed.weight': 'embed_out.weight',
  };
  if (fixed[paramName]) return { hf: fixed[paramName], linear: false };
  const m = /^blocks\.(\d+)\.(.+)\.(weight|bias)$/.exec(paramName);
  if (!m || Number(m[1]) >= c.nLayer) return undefined;
  const norms: Record<string, string> = { ln1: 'input_layernorm', ln2: 'post_attention_layernorm' };
  const linears: Record<string, string> = {
    'attn.q': 'attention.query_key_value', 'attn.k': 'attention.query_key_value', 'attn.v': 'attention.query_key_value',
    'attn.o': 'attention.dense', 'mlp.fc': 'mlp.dense_h_to_4h', 'mlp.proj': 'mlp.dense_4h_to_h',
  };
  const h = `gpt_neox.layers.${m[1]}`;
  if (norms[m[2]]) return { hf: `${h}.${norms[m[2]]}.${m[3]}`, linear: false };
  if (linears[m[2]]) {
    if (m[3] === 'bias' && /^attn\./.test(m[2]) && !c.attentionBias) return undefined;
    return { hf: `${h}.${linears[m[2]]}.${m[3]}`, linear: m[3] === 'weight' };
  }
  return undefined;
}

/** Every parameter name of this config. */
function paramNames(c: NeoxConfig): string[] {
  const names = ['embed.tokens'];
  for (let l = 0; l < c.nLayer; l++) {
    const b = `blocks.${l}`;
    names.push(`${b}.ln1.weight`, `${b}.ln1.bias`);
    for (const p of [...QKV, 'o']) {
      names.push(`${b}.attn.${p}.weight`);
      if (c.attentionBias) names.push(`${b}.attn.${p}.bias`);
    }
    names.push(`${b}.ln2.weight`, `${b}.ln2.bias`);
    names.push(`${b}.mlp.fc.weight`, `${b}.mlp.fc.bias`, `${b}.mlp.proj.weight`, `${b}.mlp.proj.bias`);
  }
  names.push('final_norm.weight', 'final_norm.bias');
  if (!c.tieWordEmbeddings) names.push('unembed.weight');
  return names;
}

function loadParams(config: ArchConfig, tensors: Map<string, TensorEntry>, source: string): ParamStore {
  const c = asNeox(config);
  const expected = expectedHfShapes(c);
  const unknown = [...tensors.keys()].filter((name) => !expected.has(name) && !isToleratedExtra(name, c));
  if (unknown.length > 0) {
    const shown = unknown.slice(0, 5).join(', ') + (unknown.length > 5 ? `, ... (${unknown.length} in all)` : '');
    throw new ModelFileError(
      `${source}: tensors not part of a gpt_neox model with this config: ${shown} ` +
        `(num_hidden_layers=${c.nLayer}, tie_word_embeddings=${c.tieWordEmbeddings}, attention_bias=${c.attentionBias})`,
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
          `intermediate_size=${c.intermediateSize}, vocab_size=${c.vocabSize})`,
        source,
      );
    }
  }
  const d = c.dModel;
  const hd = c.headDim;
  const params: ParamStore = new Map();
  for (const name of paramNames(c)) {
    const m = /\.attn\.([qkv])\.(weight|bias)$/.exec(name);
    const { hf, linear } = hfMapping(c, name)!;
    const entry = tensors.get(hf)!;
    const data = toFloat32(entry);
    if (m) {
      // Split the fused per-head [q_h; k_h; v_h] rows: our parameter column j = h hd + e is fused row fusedRow(h, p, e).
      const part = QKV.indexOf(m[1] as (typeof QKV)[number]);
      if (m[2] === 'weight') {
        const w = new Float32Array(d * d); // [in, out]
        for (let h = 0; h < c.nHead; h++) {
          for (let e = 0; e < hd; e++) {
            const row = fusedRow(hd, h, part, e);
            const col = h * hd + e;
            for (let i = 0; i < d; i++) w[i * d + col] = data[row * d + i];
          }
        }
        params.set(name, float32(w, [d, d]));
      } else {
        const b = new Float32Array(d);
        for (let h = 0; h < c.nHead; h++) for (let e = 0; e < hd; e++) b[h * hd + e] = data[fusedRow(hd, h, part, e)];
        params.set(name, float32(b, [d]));
      }
    } else if (linear) {
      const [out, inp] = entry.shape;
      params.set(name, float32(transpose(data, out, inp), [inp, out]));
    } else {
      params.set(name, float32(data, [...entry.shape]));
    }
  }
  return params;
}

function hfTensorOf(config: ArchConfig, paramName: string): string {
  const m = hfMapping(asNeox(config), paramName);
  if (!m) throw new Error(`not a gpt_neox parameter: ${paramName}`);
  return m.hf;
}

function toHfTensors(config: ArchConfig, params: ParamStore): Map<string, HostTensor> {
  const c = asNeox(config);
  const d = c.dModel;
  const hd = c.headDim;
  const out = new Map<string, HostTensor>();
  const get = (name: string) => {
    const t = params.get(name);
    if (!t) throw new Error(`parameter "${name}" missing`);
    return Float32Array.from(t.data as Float32Array);
  };
  for (const [name, t] of params) {
    const m = hfMapping(c, name);
    if (!m) throw new Error(`not a gpt_neox parameter: ${name}`);
    if (/\.attn\.[qkv]\./.test(name)) continue; // re-fused below
    if (m.linear) {
      const [inp, o] = t.shape;
      out.set(m.hf, float32(transpose(Float32Array.from(t.data as Float32Array), inp, o), [o, inp]));
    } else {
      out.set(m.hf, t);
    }
  }
  for (let l = 0; l < c.nLayer; l++) {
    const w = new Float32Array(3 * d * d); // [3d, d]
    const bias = new Float32Array(3 * d);
    QKV.forEach((p, part) => {
      const pw = get(`blocks.${l}.attn.${p}.weight`);
      const pb = c.attentionBias ? get(`blocks.${l}.attn.${p}.bias`) : undefined;
      for (let h = 0; h < c.nHead; h++) {
        for (let e = 0; e < hd; e++) {
          const row = fusedRow(hd, h, part, e);
          const col = h * hd + e;
          for (let i = 0; i < d; i++) w[row * d + i] = pw[i * d + col];
          if (pb) bias[row] = pb[col];
        }
      }
    });
    const h = `gpt_neox.layers.${l}.attention.query_key_value`;
    out.set(`${h}.weight`, float32(w, [3 * d, d]));
    if (c.attentionBias) out.set(`${h}.bias`, float32(bias, [3 * d]));
  }
  return out;
}

/** Fresh weights as Hugging Face's GPTNeoXPreTrainedModel initialises them: normal(0, initializer_range) for linear
 * and embedding weights, zero biases, LayerNorm weights one and biases zero. */
function initParams(config: ArchConfig, seed: number): ParamStore {
  const c = asNeox(config);
  const rng = new Rng(seed);
  const params: ParamStore = new Map();
  const expected = expectedHfShapes(c);
  const d = c.dModel;
  for (const name of paramNames(c)) {
    const { hf, linear } = hfMapping(c, name)!;
    const hfShape = expected.get(hf)!;
    const isQkv = /\.attn\.[qkv]\./.test(name);
    const shape = isQkv ? (linear ? [d, d] : [d]) : linear ? [hfShape[1], hfShape[0]] : hfShape;
    const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
    if (/\.bias$/.test(name)) {
      // zeros (LayerNorm biases included)
    } else if (/(^final_norm|\.ln[12])\.weight$/.test(name)) {
      data.fill(1);
    } else {
      for (let i = 0; i < data.length; i++) data[i] = rng.normal() * c.initializerRange;
    }
    params.set(name, float32(data, shape));
  }
  return params;
}

function kvParamNames(config: ArchConfig): string[] {
  const c = asNeox(config);
  const names: string[] = [];
  for (let l = 0; l < c.nLayer; l++) {
    for (const p of ['k', 'v']) {
      names.push(`blocks.${l}.attn.${p}.weight`);
      if (c.attentionBias) names.push(`blocks.${l}.attn.${p}.bias`);
    }
  }
  return names;
}

function embeddingParamNames(config: ArchConfig): string[] {
  // The embedding, every LayerNorm and the unembedding stay trained; attention and MLP weights are redrawn.
  const c = asNeox(config);
  const names = ['embed.tokens', 'final_norm.weight', 'final_norm.bias'];
  if (!c.tieWordEmbeddings) names.push('unembed.weight');
  for (let l = 0; l < c.nLayer; l++) {
    for (const n of ['ln1', 'ln2']) names.push(`blocks.${l}.${n}.weight`, `blocks.${l}.${n}.bias`);
  }
  return names;
}

function buildForward(g: Graph, config: ArchConfig, param: ParamSource, options: GraphOptions): void {
  const c = asNeox(config);
  const { nHead: H, headDim: hd, dModel: d, rotaryNdims: R } = c;
  const captures = new Set(options.captures ?? []);
  const inputIds = g.input('input_ids', 'int64', ['batch', 'time']);
  const positionIds = g.input('position_ids', 'int64', ['batch', 'time']);
  const keyLength = options.withPast ? 'past+time' : 'time';
  const attentionBias = causalPaddingBias(g, inputIds, g.input(KEY_MASK, 'bool', ['batch', keyLength]));
  const capturePositions = options.capturePositions ? g.input('capture_positions', 'int64', ['batch', 'n_capture', 1]) : undefined;
  const capture = (layer: number, kind: 'attn.q' | 'attn.out' | 'resid_post', v: Value) => {
    if (captures.has(kind)) g.output(capturePositions ? atPositions(g, v, capturePositions) : v, captureName(layer, kind));
  };

  const batchZeros = options.withPast
    ? g.unsqueeze(g.mul(g.reduceSum(g.cast(inputIds, g.floatType), [1], true), g.constantFloat(0)), [2, 3])
    : undefined;
  const pastInput = (name: string) => g.add(g.input(name, g.floatType, ['batch', H, 'past', hd]), batchZeros!);

  // Partial rotary: the first R dimensions of each head rotate (inverse frequencies over R, as HF's
  // GPTNeoXRotaryEmbedding with dim = rotary_ndims), the remaining headDim - R pass through unchanged.
  const rotateR = R > 0
    ? rotaryEmbedding(g, ropeInverseFrequencies({ headDim: R, ropeTheta: c.ropeTheta, ropeScaling: c.ropeScaling }), c.maxPositions, positionIds)
    : undefined;
  const rotate = (x: Value): Value => {
    if (!rotateR) return x;
    if (R === hd) return rotateR(x);
    const [rot, pass] = g.split(x, [R, hd - R], -1);
    return g.concat([rotateR(rot), pass], -1);
  };

  const linear = (x: Value, w: Value, b: Value | undefined) => {
    const y = g.matmul(x, w);
    return b ? g.add(y, b) : y;
  };

  let x = g.gather(param('embed.tokens'), inputIds);
  for (let l = 0; l < c.nLayer; l++) {
    x = g.scope(`blocks.${l}`, () => {
      const p = (name: string) => param(`blocks.${l}.${name}`);
      const attnBias = (name: string) => (c.attentionBias ? p(`attn.${name}.bias`) : undefined);
      const h = g.layerNorm(x, p('ln1.weight'), p('ln1.bias'), c.layerNormEps);
      // [batch, time, d] -> [batch, heads, time, hd]
      const heads = (v: Value) => g.transpose(g.reshape(v, [0, 0, H, hd]), [0, 2, 1, 3]);
      const project = (name: string) => heads(linear(h, p(`attn.${name}.weight`), attnBias(name)));
      const q = rotate(project('q'));
      capture(l, 'attn.q', g.reshape(g.transpose(q, [0, 2, 1, 3]), [0, 0, d]));
      let k = rotate(project('k'));
      let v = project('v');
      if (options.withPast) {
        k = g.concat([pastInput(pastKeyName(l)), k], 2);
        v = g.concat([pastInput(pastValueName(l)), v], 2);
        g.output(k, presentKeyName(l));
        g.output(v, presentValueName(l));
      }
      const scores = g.matmul(g.mul(q, g.constantFloat(1 / Math.sqrt(hd))), g.transpose(k, [0, 1, 3, 2]));
      if (captures.has('attn.scores')) outputScores(g, scores, l, capturePositions);
      const probs = g.softmax(g.add(scores, attentionBias));
      const context = g.reshape(g.transpose(g.matmul(probs, v), [0, 2, 1, 3]), [0, 0, d]);
      const attnOut = linear(context, p('attn.o.weight'), attnBias('o'));
      capture(l, 'attn.out', attnOut);
      const mlp = (y: Value) => {
        const m = g.layerNorm(y, p('ln2.weight'), p('ln2.bias'), c.layerNormEps);
        const hidden = g.gelu(g.add(g.matmul(m, p('mlp.fc.weight')), p('mlp.fc.bias')), c.geluApproximate);
        return g.add(g.matmul(hidden, p('mlp.proj.weight')), p('mlp.proj.bias'));
      };
      let out: Value;
      if (c.parallelResidual) {
        out = g.add(g.add(x, attnOut), mlp(x));
      } else {
        const afterAttn = g.add(x, attnOut);
        out = g.add(afterAttn, mlp(afterAttn));
      }
      capture(l, 'resid_post', out);
      return out;
    });
  }
  outputLogits(g, x, options, param, (t) => g.layerNorm(t, param('final_norm.weight'), param('final_norm.bias'), c.layerNormEps), c.tieWordEmbeddings);
}

/** The token every sequence starts with: BOS when the tokenizer adds one, else end-of-text (GPT-NeoX style). */
function sequenceStart(c: NeoxConfig): { id: number | undefined; what: string } {
  if (c.addBosToken && c.bosTokenId !== undefined) return { id: c.bosTokenId, what: `bos_token_id ${c.bosTokenId}` };
  if (c.eosTokenId !== undefined) return { id: c.eosTokenId, what: `eos_token_id ${c.eosTokenId} (<|endoftext|>)` };
  return { id: c.bosTokenId, what: c.bosTokenId === undefined ? 'none' : `bos_token_id ${c.bosTokenId}` };
}

export const gptNeoxFamily: ModelFamily = {
  name: 'GPT-NeoX',
  modelTypes: ['gpt_neox'],
  parseConfig,
  loadParams,
  toHfTensors,
  hfTensorOf,
  buildForward,
  tokenPolicy: (config) => {
    const c = asNeox(config);
    const start = sequenceStart(c);
    return {
      bosTokenId: start.id,
      demoSeparator: { kind: 'text', text: '\n' },
      description:
        'gpt_neox: ' +
        (start.id === undefined
          ? 'no sequence-start token'
          : c.addBosToken
            ? `${start.what} is put before every sequence`
            : `the tokenizer adds no BOS; ${start.what} is put before every sequence as its start token, as GPT-NeoX-style code does`) +
        '; text is tokenised without special tokens; demonstrations are separated by a newline.',
    };
  },
  initParams,
  kvParamNames,
  embeddingParamNames,
};
