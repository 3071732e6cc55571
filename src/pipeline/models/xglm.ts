// The XGLM family: Hugging Face `model_type` "xglm" folders -> parameters -> forward graph. This is how the paper's own
// models, fairseq's dense LMs (Artetxe et al. 2021; on the hub as KoboldAI/fairseq-dense-*), and Meta's XGLM models
// are stored for transformers (XGLMForCausalLM). A fairseq TransformerDecoder:
//   - token embeddings scaled by sqrt(d_model) when `scale_embedding` (the default);
//   - fixed sinusoidal positions (no learned table): row p of [sin(p f_0..f_{h-1}) | cos(p f_0..f_{h-1})] with
//     h = d_model / 2, f_i = exp(-i ln(10000) / (h - 1)) (a zero column when d_model is odd), the row of padding_idx =
//     pad_token_id all zeros, and the fairseq offset: a token's row is 2 + its position. Positions count only non-pad
//     tokens (fairseq's make_positions): the n-th non-pad token of a sequence is at position n - 1, and a pad token
//     takes the zero row padding_idx;
//   - pre-LayerNorm blocks (eps 1e-5, not configurable in HF): x + attn(self_attn_layer_norm(x)), then
//     x + fc2(act(fc1(final_layer_norm(x)))), with `activation_function`;
//   - q/k/v/out projections with biases, q scaled by head_dim^-0.5 (after its bias, as q_proj(x) * scaling);
//   - a final `layer_norm`, and lm_head (no bias) tied to embed_tokens (the unscaled table).
// HF stores nn.Linear weights as [out, in]; parameters keep our [in, out] layout (loadParams transposes, toHfTensors
// transposes back).
//
// The sinusoid table is computed the way torch computes it in float32 (fairseq's and HF's get_embedding): the
// frequencies and the products p * f_i are rounded to float32 before sin/cos, so long positions get the angles the
// models were trained with (a float64 angle differs from them by up to ~1e-4 at position 2048).
//
// Pad tokens (pad_token_id) inside a sequence are handled as fairseq does: they do not advance the positions of later
// tokens, take the zero position row, and are masked as attention keys. (transformers' current XGLM instead numbers
// positions 0, 1, ... whatever the ids and masks keys by attention_mask only; both agree on every sequence without pad
// tokens among its real tokens, which is all the experiments feed: forward.ts right-pads outside the real tokens and
// masks those keys itself.) Within one call this is exact; a prefix reused through past keys/values is assumed to hold
// no pad tokens (its length is taken as the position of the first new token, and its keys stay visible).
//
// Captures (same names and layouts as GPT-2, see family.ts):
//   attn.q       [batch, time, d]: q_proj output incl. its bias, before the head_dim^-0.5 scaling.
//   attn.scores  [batch, nHead, time, keys]: (q * head_dim^-0.5) . k, before the mask.
//   attn.out     out_proj output incl. its bias, before the residual add.
//   resid_post   the residual stream after the block.
//
// Tokenizer and token policy. The tokenizer is read by the shared loader (tokenizer.json through
// @huggingface/tokenizers). What is and is not supported:
//   - every sequence starts with </s> (eos_token_id), as fairseq's LM data and HF's XGLMTokenizer
//     (build_inputs_with_special_tokens puts </s> first) do; the text itself is tokenised without special tokens;
//   - fairseq's dense LMs were trained on lines that each end in </s>, and the paper's code separates demonstrations
//     by a newline mapped to </s>: the demonstration separator here is the </s> token itself. A newline INSIDE a text
//     is not mapped; it goes to the tokenizer as it is (what the tokenizer makes of it depends on its vocabulary);
//   - the fairseq-dense conversions ship GPT-2 BPE files (vocab.json + merges.txt): they need a tokenizer.json
//     (save the tokenizer once with transformers), the loader says so when it finds only the slow files;
//   - XGLM's own SentencePiece model (sentencepiece.bpe.model, XGLMTokenizer) is not read: icl-lab has no SentencePiece
//     implementation. A folder whose tokenizer.json holds the converted (Unigram/BPE) fast tokenizer loads only as far
//     as @huggingface/tokenizers supports that tokenizer type; the ids have not been checked against transformers here.

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

const TANH_GELUS = ['gelu_new', 'gelu_pytorch_tanh', 'gelu_fast'];
const ACTIVATIONS = ['gelu', 'gelu_new', 'gelu_pytorch_tanh', 'gelu_fast'] as const;
const tokenId = z.number().int().nonnegative();

/** fairseq's positional offset: position p uses row p + 2 of the sinusoid table (rows 0 and 1 are never positions). */
export const XGLM_POSITION_OFFSET = 2;
/** nn.LayerNorm's default, which every XGLM LayerNorm uses. */
const LAYER_NORM_EPS = 1e-5;

// Defaults as HF's XGLMConfig has them, for keys a config.json leaves out (an explicit null means "none").
const XglmConfigSchema = z.object({
  model_type: z.literal('xglm'),
  vocab_size: z.number().int().positive(),
  max_position_embeddings: z.number().int().positive().default(2048),
  d_model: z.number().int().positive(),
  ffn_dim: z.number().int().positive(),
  num_layers: z.number().int().positive(),
  attention_heads: z.number().int().positive(),
  activation_function: z.enum(ACTIVATIONS).default('gelu'),
  scale_embedding: z.boolean().default(true),
  init_std: z.number().positive().default(0.02),
  tie_word_embeddings: z.boolean().default(true),
  pad_token_id: tokenId.nullable().default(1),
  bos_token_id: tokenId.nullable().default(0),
  eos_token_id: tokenId.nullable().default(2),
});

export interface XglmConfig extends ArchConfig {
  ffnDim: number;
  geluApproximate: 'none' | 'tanh';
  /** sqrt(d_model) with scale_embedding, else 1. */
  embedScale: number;
  /** padding_idx: pad tokens take this (zero) row of the sinusoid table and are masked as keys; undefined: none. */
  padTokenId: number | undefined;
  initStd: number;
  tieWordEmbeddings: boolean;
}

function parseConfig(raw: Record<string, unknown>, source: string): XglmConfig {
  const parsed = XglmConfigSchema.safeParse(raw);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    throw new ModelFileError(`${source}: not a valid XGLM (xglm) config (${issues})`, source);
  }
  const c = parsed.data;
  if (c.d_model % c.attention_heads !== 0) {
    throw new ModelFileError(`${source}: d_model ${c.d_model} is not divisible by attention_heads ${c.attention_heads}`, source);
  }
  if (c.d_model < 4) throw new ModelFileError(`${source}: d_model ${c.d_model} is too small for sinusoidal positions (at least 4)`, source);
  return {
    modelType: 'xglm',
    nLayer: c.num_layers,
    nHead: c.attention_heads,
    nKvHead: c.attention_heads,
    dModel: c.d_model,
    headDim: c.d_model / c.attention_heads,
    vocabSize: c.vocab_size,
    maxPositions: c.max_position_embeddings,
    bosTokenId: c.bos_token_id ?? undefined,
    eosTokenId: c.eos_token_id ?? undefined,
    ffnDim: c.ffn_dim,
    geluApproximate: TANH_GELUS.includes(c.activation_function) ? 'tanh' : 'none',
    embedScale: c.scale_embedding ? Math.sqrt(c.d_model) : 1,
    padTokenId: c.pad_token_id ?? undefined,
    initStd: c.init_std,
    tieWordEmbeddings: c.tie_word_embeddings,
  };
}

const asXglm = (config: ArchConfig): XglmConfig => config as XglmConfig;

/** Parameter name -> HF tensor name and whether it is an nn.Linear weight (stored [out, in], transposed to ours). */
function hfMapping(c: XglmConfig, paramName: string): { hf: string; linear: boolean } | undefined {
  const fixed: Record<string, string> = {
    'embed.tokens': 'model.embed_tokens.weight',
    'final_norm.weight': 'model.layer_norm.weight',
    'final_norm.bias': 'model.layer_norm.bias',
  };
  if (fixed[paramName]) return { hf: fixed[paramName], linear: false };
  if (paramName === 'unembed.weight') return c.tieWordEmbeddings ? undefined : { hf: 'lm_head.weight', linear: false };
  const m = /^blocks\.(\d+)\.(.+)\.(weight|bias)$/.exec(paramName);
  if (!m || Number(m[1]) >= c.nLayer) return undefined;
  const h = `model.layers.${m[1]}`;
  const norms: Record<string, string> = { ln1: 'self_attn_layer_norm', ln2: 'final_layer_norm' };
  if (norms[m[2]]) return { hf: `${h}.${norms[m[2]]}.${m[3]}`, linear: false };
  const linears: Record<string, string> = {
    'attn.q': 'self_attn.q_proj', 'attn.k': 'self_attn.k_proj', 'attn.v': 'self_attn.v_proj',
    'attn.o': 'self_attn.out_proj', 'mlp.fc': 'fc1', 'mlp.proj': 'fc2',
  };
  if (!linears[m[2]]) return undefined;
  return { hf: `${h}.${linears[m[2]]}.${m[3]}`, linear: m[3] === 'weight' };
}

/** Every parameter name of this config, with its shape in our layout. */
function paramShapes(c: XglmConfig): Map<string, number[]> {
  const d = c.dModel;
  const F = c.ffnDim;
  const shapes = new Map<string, number[]>([['embed.tokens', [c.vocabSize, d]]]);
  for (let l = 0; l < c.nLayer; l++) {
    const b = `blocks.${l}`;
    shapes.set(`${b}.ln1.weight`, [d]).set(`${b}.ln1.bias`, [d]);
    for (const p of ['q', 'k', 'v', 'o']) shapes.set(`${b}.attn.${p}.weight`, [d, d]).set(`${b}.attn.${p}.bias`, [d]);
    shapes.set(`${b}.ln2.weight`, [d]).set(`${b}.ln2.bias`, [d]);
    shapes.set(`${b}.mlp.fc.weight`, [d, F]).set(`${b}.mlp.fc.bias`, [F]);
    shapes.set(`${b}.mlp.proj.weight`, [F, d]).set(`${b}.mlp.proj.bias`, [d]);
  }
  shapes.set('final_norm.weight', [d]).set('final_norm.bias', [d]);
  if (!c.tieWordEmbeddings) shapes.set('unembed.weight', [c.vocabSize, d]);
  return shapes;
}

/** HF shape of a parameter: nn.Linear weights are [out, in]. */
const hfShape = (shape: number[], linear: boolean): number[] => (linear ? [shape[1], shape[0]] : shape);

/** Buffers and duplicates some exports carry: the sinusoid table (recomputed here) and a tied lm_head copy. */
function isToleratedExtra(name: string, c: XglmConfig): boolean {
  return /^model\.embed_positions\.(weights|_float_tensor)$/.test(name) || (c.tieWordEmbeddings && name === 'lm_head.weight');
}

/** Transpose a row-major [rows, cols] matrix. */
function transpose(m: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(m.length);
  for (let r = 0; r < rows; r++) for (let k = 0; k < cols; k++) out[k * rows + r] = m[r * cols + k];
  return out;
}

function loadParams(config: ArchConfig, tensors: Map<string, TensorEntry>, source: string): ParamStore {
  const c = asXglm(config);
  const expected = new Map<string, { param: string; shape: number[]; linear: boolean }>();
  for (const [param, shape] of paramShapes(c)) {
    const { hf, linear } = hfMapping(c, param)!;
    expected.set(hf, { param, shape: hfShape(shape, linear), linear });
  }
  const unknown = [...tensors.keys()].filter((name) => !expected.has(name) && !isToleratedExtra(name, c));
  if (unknown.length) {
    const shown = unknown.slice(0, 5).join(', ') + (unknown.length > 5 ? `, ... (${unknown.length} in all)` : '');
    throw new ModelFileError(
      `${source}: tensors not part of an xglm model with this config: ${shown} ` +
        `(num_layers=${c.nLayer}, tie_word_embeddings=${c.tieWordEmbeddings}). Is config.json from the same model?`,
      source,
    );
  }
  const params: ParamStore = new Map();
  for (const [hf, { param, shape, linear }] of expected) {
    const entry = tensors.get(hf);
    if (!entry) throw new ModelFileError(`${source}: missing tensor "${hf}" (expected shape [${shape}])`, source);
    if (entry.shape.length !== shape.length || entry.shape.some((s, i) => s !== shape[i])) {
      throw new ModelFileError(
        `${source}: tensor "${hf}" has shape [${entry.shape}] but config.json implies [${shape}] ` +
          `(num_layers=${c.nLayer}, d_model=${c.dModel}, attention_heads=${c.nHead}, ffn_dim=${c.ffnDim}, ` +
          `vocab_size=${c.vocabSize})`,
        source,
      );
    }
    const data = toFloat32(entry);
    params.set(param, linear ? float32(transpose(data, shape[0], shape[1]), [shape[1], shape[0]]) : float32(data, [...shape]));
  }
  return params;
}

function hfTensorOf(config: ArchConfig, paramName: string): string {
  const m = hfMapping(asXglm(config), paramName);
  if (!m) throw new Error(`not an xglm parameter: ${paramName}`);
  return m.hf;
}

function toHfTensors(config: ArchConfig, params: ParamStore): Map<string, HostTensor> {
  const c = asXglm(config);
  const out = new Map<string, HostTensor>();
  for (const [name, t] of params) {
    const m = hfMapping(c, name);
    if (!m) throw new Error(`not an xglm parameter: ${name}`);
    if (m.linear) {
      const [inp, o] = t.shape;
      out.set(m.hf, float32(transpose(Float32Array.from(t.data as Float32Array), inp, o), [o, inp]));
    } else {
      out.set(m.hf, t);
    }
  }
  return out;
}

/** Fresh weights as HF's XGLMPreTrainedModel._init_weights: normal(0, init_std) for linear and embedding weights
 * (the padding_idx row of the embedding zeroed), zero biases, LayerNorm weights one and biases zero. */
function initParams(config: ArchConfig, seed: number): ParamStore {
  const c = asXglm(config);
  const rng = new Rng(seed);
  const params: ParamStore = new Map();
  for (const [name, shape] of paramShapes(c)) {
    const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
    if (/\.bias$/.test(name)) {
      // zeros
    } else if (/(^final_norm|\.ln[12])\.weight$/.test(name)) {
      data.fill(1);
    } else {
      for (let i = 0; i < data.length; i++) data[i] = rng.normal() * c.initStd;
      if (name === 'embed.tokens' && c.padTokenId !== undefined && c.padTokenId < c.vocabSize) {
        data.fill(0, c.padTokenId * c.dModel, (c.padTokenId + 1) * c.dModel);
      }
    }
    params.set(name, float32(data, shape));
  }
  return params;
}

function kvParamNames(config: ArchConfig): string[] {
  const names: string[] = [];
  for (let l = 0; l < config.nLayer; l++) {
    for (const p of ['k', 'v']) names.push(`blocks.${l}.attn.${p}.weight`, `blocks.${l}.attn.${p}.bias`);
  }
  return names;
}

function embeddingParamNames(config: ArchConfig): string[] {
  // The token embedding, every LayerNorm and the unembedding stay trained; attention and MLP weights are redrawn.
  // (The sinusoidal positions are not parameters: both twins have them.)
  const names = ['embed.tokens', 'final_norm.weight', 'final_norm.bias'];
  if (!asXglm(config).tieWordEmbeddings) names.push('unembed.weight');
  for (let l = 0; l < config.nLayer; l++) {
    for (const n of ['ln1', 'ln2']) names.push(`blocks.${l}.${n}.weight`, `blocks.${l}.${n}.bias`);
  }
  return names;
}

/**
 * The sinusoid table [rows, d] as fairseq's / HF's get_embedding builds it in float32: f_i = exp(i * -(ln 10000 /
 * (h - 1))), angles p * f_i, [sin | cos] halves, a zero column for odd d, and the row `paddingIdx` zeroed.
 */
export function xglmSinusoidTable(rows: number, d: number, paddingIdx: number | undefined): Float64Array {
  const half = Math.floor(d / 2);
  const step = Math.fround(-Math.log(10000) / (half - 1));
  const freq = Array.from({ length: half }, (_, i) => Math.fround(Math.exp(Math.fround(i * step))));
  const table = new Float64Array(rows * d);
  for (let p = 0; p < rows; p++) {
    for (let i = 0; i < half; i++) {
      const angle = Math.fround(p * freq[i]);
      table[p * d + i] = Math.sin(angle);
      table[p * d + half + i] = Math.cos(angle);
    }
  }
  if (paddingIdx !== undefined && paddingIdx < rows) table.fill(0, paddingIdx * d, (paddingIdx + 1) * d);
  return table;
}

/**
 * fairseq's pad handling for the tokens of this call: the sinusoid row of every token ([batch, time] int64) and the
 * key mask with pad tokens of this call masked. Without a pad id: rows position_ids + 2 and the key mask unchanged.
 * Arithmetic on positions runs in the float type (Where takes float branches); counts stay exact below 2^24.
 */
function padAwarePositions(
  g: Graph,
  c: XglmConfig,
  inputIds: Value,
  positionIds: Value,
  keyMask: Value,
): { rows: Value; keyMask: Value } {
  const offset = g.constantInt([XGLM_POSITION_OFFSET], []);
  if (c.padTokenId === undefined) return { rows: g.add(positionIds, offset), keyMask };
  return g.scope('positions', () => {
    const dim = (v: Value, axis: number) => g.gather(g.shape(v), g.constantInt([axis], []));
    const pad = g.constantInt([c.padTokenId!], []);
    const time = dim(inputIds, 1);
    const steps = g.range(time); // [time]
    // 1 where the token is not the pad token (ids < pad or pad < ids), else 0.
    const notPad = g.add(g.cast(g.less(inputIds, pad), g.floatType), g.cast(g.less(pad, inputIds), g.floatType)); // [batch, time]
    const isReal = g.less(g.constantFloat(0.5), notPad);
    // count[b, t] = non-pad tokens among 0..t: notPad @ upper-triangular ones (s <= t).
    const triangle = g.cast(g.lessOrEqual(g.unsqueeze(steps, [1]), g.unsqueeze(steps, [0])), g.floatType); // [time, time]
    const count = g.matmul(notPad, triangle);
    // The call's first position (the reused prefix's length) + count - 1, then the offset; pad tokens: padding_idx.
    const start = g.cast(g.sub(positionIds, steps), g.floatType);
    const position = g.add(start, g.add(count, g.constantFloat(XGLM_POSITION_OFFSET - 1)));
    const rows = g.cast(g.where(isReal, position, g.constantFloat(c.padTokenId!)), 'int64');
    // Keys: the call's tokens are the last `time` of `keys`; mask those that are pad tokens.
    const keys = dim(keyMask, 1);
    const past = g.sub(keys, time);
    const keyIdx = g.range(keys); // [keys]
    const inCall = g.lessOrEqual(past, keyIdx); // [keys]
    const local = g.cast(g.where(inCall, g.cast(g.sub(keyIdx, past), g.floatType), g.constantFloat(0)), 'int64');
    const keyNotPad = g.where(inCall, g.gather(notPad, local, 1), g.constantFloat(1)); // [batch, keys]
    return { rows, keyMask: g.and(keyMask, g.less(g.constantFloat(0.5), keyNotPad)) };
  });
}

function buildForward(g: Graph, config: ArchConfig, param: ParamSource, options: GraphOptions): void {
  const c = asXglm(config);
  const { nHead: H, headDim: hd, dModel: d } = c;
  const captures = new Set(options.captures ?? []);
  const inputIds = g.input('input_ids', 'int64', ['batch', 'time']);
  const positionIds = g.input('position_ids', 'int64', ['batch', 'time']);
  const keyLength = options.withPast ? 'past+time' : 'time';
  const positions = padAwarePositions(g, c, inputIds, positionIds, g.input(KEY_MASK, 'bool', ['batch', keyLength]));
  const attentionBias = causalPaddingBias(g, inputIds, positions.keyMask);
  const capturePositions = options.capturePositions ? g.input('capture_positions', 'int64', ['batch', 'n_capture', 1]) : undefined;
  const capture = (layer: number, kind: 'attn.q' | 'attn.out' | 'resid_post', v: Value) => {
    if (captures.has(kind)) g.output(capturePositions ? atPositions(g, v, capturePositions) : v, captureName(layer, kind));
  };

  const batchZeros = options.withPast
    ? g.unsqueeze(g.mul(g.reduceSum(g.cast(inputIds, g.floatType), [1], true), g.constantFloat(0)), [2, 3])
    : undefined;
  const pastInput = (name: string) => g.add(g.input(name, g.floatType, ['batch', H, 'past', hd]), batchZeros!);

  const tableRows = c.maxPositions + XGLM_POSITION_OFFSET;
  const table = g.initializer(
    g.freshName('sinusoid_positions'),
    floatTensor(g.floatType, xglmSinusoidTable(tableRows, d, c.padTokenId), [tableRows, d]),
  );
  const tokens = g.gather(param('embed.tokens'), inputIds);
  let x = g.add(c.embedScale === 1 ? tokens : g.mul(tokens, g.constantFloat(c.embedScale)), g.gather(table, positions.rows));
  const scale = 1 / Math.sqrt(hd);
  for (let l = 0; l < c.nLayer; l++) {
    x = g.scope(`blocks.${l}`, () => {
      const p = (name: string) => param(`blocks.${l}.${name}`);
      const h = g.layerNorm(x, p('ln1.weight'), p('ln1.bias'), LAYER_NORM_EPS);
      const project = (name: string) => g.add(g.matmul(h, p(`attn.${name}.weight`)), p(`attn.${name}.bias`));
      const q = project('q');
      capture(l, 'attn.q', q);
      // [batch, time, d] -> [batch, heads, time, head_dim]
      const heads = (v: Value) => g.transpose(g.reshape(v, [0, 0, H, hd]), [0, 2, 1, 3]);
      let k = heads(project('k'));
      let v = heads(project('v'));
      if (options.withPast) {
        k = g.concat([pastInput(pastKeyName(l)), k], 2);
        v = g.concat([pastInput(pastValueName(l)), v], 2);
        g.output(k, presentKeyName(l));
        g.output(v, presentValueName(l));
      }
      const scores = g.matmul(g.mul(heads(q), g.constantFloat(scale)), g.transpose(k, [0, 1, 3, 2]));
      if (captures.has('attn.scores')) outputScores(g, scores, l, capturePositions);
      const probs = g.softmax(g.add(scores, attentionBias));
      const context = g.reshape(g.transpose(g.matmul(probs, v), [0, 2, 1, 3]), [0, 0, d]);
      const attnOut = g.add(g.matmul(context, p('attn.o.weight')), p('attn.o.bias'));
      capture(l, 'attn.out', attnOut);
      const afterAttn = g.add(x, attnOut);
      const m = g.layerNorm(afterAttn, p('ln2.weight'), p('ln2.bias'), LAYER_NORM_EPS);
      const hidden = g.gelu(g.add(g.matmul(m, p('mlp.fc.weight')), p('mlp.fc.bias')), c.geluApproximate);
      const mlpOut = g.add(g.matmul(hidden, p('mlp.proj.weight')), p('mlp.proj.bias'));
      const out = g.add(afterAttn, mlpOut);
      capture(l, 'resid_post', out);
      return out;
    });
  }
  outputLogits(g, x, options, param, (t) => g.layerNorm(t, param('final_norm.weight'), param('final_norm.bias'), LAYER_NORM_EPS), c.tieWordEmbeddings);
}

export const xglmFamily: ModelFamily = {
  name: 'XGLM',
  modelTypes: ['xglm'],
  parseConfig,
  loadParams,
  toHfTensors,
  hfTensorOf,
  buildForward,
  tokenPolicy: (config) => {
    const eos = config.eosTokenId;
    return {
      bosTokenId: eos,
      demoSeparator: eos === undefined ? { kind: 'text', text: '\n' } : { kind: 'token', tokenId: eos },
      description:
        'xglm (fairseq dense LM): ' +
        (eos === undefined
          ? 'no eos_token_id, so no sequence-start token; demonstrations are separated by a newline'
          : `</s> (eos_token_id ${eos}) is put before every sequence, as fairseq and XGLMTokenizer do, and separates ` +
            'demonstrations (fairseq maps each newline between lines to </s>)') +
        '; text is tokenised without special tokens; newlines inside a text are left to the tokenizer.',
    };
  },
  initParams,
  kvParamNames,
  embeddingParamNames,
};
