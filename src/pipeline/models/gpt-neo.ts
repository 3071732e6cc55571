// The GPT-Neo family: Hugging Face `model_type` "gpt_neo" folders (EleutherAI/gpt-neo-125m, 1.3B, 2.7B) -> parameters
// -> forward graph. GPT-2-like pre-LayerNorm blocks with learned positions and a tied output embedding, but: separate
// q/k/v projections WITHOUT biases (nn.Linear [out, in]), an out_proj with bias, an nn.Linear GELU MLP, attention
// scores NOT scaled by 1/sqrt(head_dim), and layers alternating between global attention and local attention (a key
// at position j is visible from the query at i iff i - window_size < j <= i), per `attention_types`.
// Parameters keep our [in, out] layout (loadParams transposes every nn.Linear weight; toHfTensors transposes back).
//
// Captures (same names and layouts as GPT-2, see family.ts):
//   attn.q       [batch, time, d]: the q projection output (GPT-Neo has no q bias).
//   attn.scores  [batch, nHead, time, keys]: q . k (unscaled), before the (global or local) mask.
//   attn.out     out_proj output incl. its bias, before the residual add.
//   resid_post   the residual stream after the block.
// HF computes attention in float32 even for half-precision weights; our graphs run in float32 (or float64 for
// gradient checks), which covers it.

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

const TANH_GELUS = ['gelu_new', 'gelu_pytorch_tanh', 'gelu_fast'];
const ACTIVATIONS = ['gelu_new', 'gelu_pytorch_tanh', 'gelu_fast', 'gelu'] as const;
const tokenId = z.number().int().nonnegative();

const AttentionType = z.enum(['global', 'local']);

const NeoConfigSchema = z.object({
  model_type: z.literal('gpt_neo'),
  vocab_size: z.number().int().positive(),
  max_position_embeddings: z.number().int().positive(),
  hidden_size: z.number().int().positive(),
  num_layers: z.number().int().positive(),
  num_heads: z.number().int().positive(),
  intermediate_size: z.number().int().positive().nullish(),
  window_size: z.number().int().positive().default(256),
  attention_types: z.array(z.tuple([z.array(AttentionType).min(1), z.number().int().nonnegative()])).min(1),
  activation_function: z.enum(ACTIVATIONS).default('gelu_new'),
  layer_norm_epsilon: z.number().positive().default(1e-5),
  initializer_range: z.number().positive().default(0.02),
  tie_word_embeddings: z.boolean().default(true),
  bos_token_id: tokenId.nullish(),
  eos_token_id: tokenId.nullish(),
});

export type NeoAttentionType = z.infer<typeof AttentionType>;

export interface NeoConfig extends ArchConfig {
  intermediateSize: number;
  windowSize: number;
  /** One entry per layer, expanded from attention_types. */
  attentionLayers: NeoAttentionType[];
  geluApproximate: 'none' | 'tanh';
  layerNormEpsilon: number;
  initializerRange: number;
  tieWordEmbeddings: boolean;
}

/** HF's GPTNeoConfig.expand_attention_types_params: [[["global", "local"], 12]] -> 24 alternating entries. */
export function expandAttentionTypes(spec: ReadonlyArray<readonly [readonly NeoAttentionType[], number]>): NeoAttentionType[] {
  const out: NeoAttentionType[] = [];
  for (const [types, repeat] of spec) for (let i = 0; i < repeat; i++) out.push(...types);
  return out;
}

function parseConfig(raw: Record<string, unknown>, source: string): NeoConfig {
  const parsed = NeoConfigSchema.safeParse(raw);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    throw new ModelFileError(`${source}: not a valid GPT-Neo (gpt_neo) config (${issues})`, source);
  }
  const c = parsed.data;
  if (c.hidden_size % c.num_heads !== 0) {
    throw new ModelFileError(`${source}: hidden_size ${c.hidden_size} is not divisible by num_heads ${c.num_heads}`, source);
  }
  const attentionLayers = expandAttentionTypes(c.attention_types);
  if (attentionLayers.length !== c.num_layers) {
    throw new ModelFileError(
      `${source}: attention_types ${JSON.stringify(c.attention_types)} expands to ${attentionLayers.length} layers ` +
        `but num_layers is ${c.num_layers}`,
      source,
    );
  }
  return {
    modelType: 'gpt_neo',
    nLayer: c.num_layers,
    nHead: c.num_heads,
    nKvHead: c.num_heads,
    dModel: c.hidden_size,
    headDim: c.hidden_size / c.num_heads,
    vocabSize: c.vocab_size,
    maxPositions: c.max_position_embeddings,
    bosTokenId: c.bos_token_id ?? undefined,
    eosTokenId: c.eos_token_id ?? undefined,
    intermediateSize: c.intermediate_size ?? 4 * c.hidden_size,
    windowSize: c.window_size,
    attentionLayers,
    geluApproximate: TANH_GELUS.includes(c.activation_function) ? 'tanh' : 'none',
    layerNormEpsilon: c.layer_norm_epsilon,
    initializerRange: c.initializer_range,
    tieWordEmbeddings: c.tie_word_embeddings,
  };
}

const asNeo = (config: ArchConfig): NeoConfig => config as NeoConfig;

/** Parameter name -> HF tensor name (without the optional `transformer.` prefix) and whether it is an nn.Linear
 * weight (stored [out, in], transposed to our [in, out]). */
function hfMapping(c: NeoConfig, paramName: string): { hf: string; linear: boolean } | undefined {
  const fixed: Record<string, string> = {
    'embed.tokens': 'wte.weight',
    'embed.positions': 'wpe.weight',
    'final_norm.weight': 'ln_f.weight',
    'final_norm.bias': 'ln_f.bias',
  };
  if (fixed[paramName]) return { hf: fixed[paramName], linear: false };
  if (paramName === 'unembed.weight') return c.tieWordEmbeddings ? undefined : { hf: 'lm_head.weight', linear: false };
  const m = /^blocks\.(\d+)\.(.+)\.(weight|bias)$/.exec(paramName);
  if (!m || Number(m[1]) >= c.nLayer) return undefined;
  const h = `h.${m[1]}`;
  const norms: Record<string, string> = { ln1: 'ln_1', ln2: 'ln_2' };
  if (norms[m[2]]) return { hf: `${h}.${norms[m[2]]}.${m[3]}`, linear: false };
  const linears: Record<string, string> = {
    'attn.q': 'attn.attention.q_proj', 'attn.k': 'attn.attention.k_proj', 'attn.v': 'attn.attention.v_proj',
    'attn.o': 'attn.attention.out_proj', 'mlp.fc': 'mlp.c_fc', 'mlp.proj': 'mlp.c_proj',
  };
  if (!linears[m[2]]) return undefined;
  if (m[3] === 'bias' && /^attn\.[qkv]$/.test(m[2])) return undefined; // q/k/v have no biases
  return { hf: `${h}.${linears[m[2]]}.${m[3]}`, linear: m[3] === 'weight' };
}

/** Every parameter name of this config, with its shape in our layout. */
function paramShapes(c: NeoConfig): Map<string, number[]> {
  const d = c.dModel;
  const I = c.intermediateSize;
  const shapes = new Map<string, number[]>([
    ['embed.tokens', [c.vocabSize, d]],
    ['embed.positions', [c.maxPositions, d]],
  ]);
  for (let l = 0; l < c.nLayer; l++) {
    const b = `blocks.${l}`;
    shapes.set(`${b}.ln1.weight`, [d]).set(`${b}.ln1.bias`, [d]);
    for (const p of ['q', 'k', 'v']) shapes.set(`${b}.attn.${p}.weight`, [d, d]);
    shapes.set(`${b}.attn.o.weight`, [d, d]).set(`${b}.attn.o.bias`, [d]);
    shapes.set(`${b}.ln2.weight`, [d]).set(`${b}.ln2.bias`, [d]);
    shapes.set(`${b}.mlp.fc.weight`, [d, I]).set(`${b}.mlp.fc.bias`, [I]);
    shapes.set(`${b}.mlp.proj.weight`, [I, d]).set(`${b}.mlp.proj.bias`, [d]);
  }
  shapes.set('final_norm.weight', [d]).set('final_norm.bias', [d]);
  if (!c.tieWordEmbeddings) shapes.set('unembed.weight', [c.vocabSize, d]);
  return shapes;
}

/** HF shape of a parameter: nn.Linear weights are [out, in]. */
const hfShape = (shape: number[], linear: boolean): number[] => (linear ? [shape[1], shape[0]] : shape);

/** Buffers and duplicates some exports carry; they hold no parameters we need. */
function isToleratedExtra(name: string, c: NeoConfig): boolean {
  return /^h\.\d+\.attn\.attention\.(bias|masked_bias)$/.test(name) || (c.tieWordEmbeddings && name === 'lm_head.weight');
}

const stripPrefix = (name: string): string => name.replace(/^transformer\./, '');

/** Transpose a row-major [rows, cols] matrix. */
function transpose(m: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(m.length);
  for (let r = 0; r < rows; r++) for (let k = 0; k < cols; k++) out[k * rows + r] = m[r * cols + k];
  return out;
}

function loadParams(config: ArchConfig, tensors: Map<string, TensorEntry>, source: string): ParamStore {
  const c = asNeo(config);
  const shapes = paramShapes(c);
  const expected = new Map<string, { param: string; shape: number[]; linear: boolean }>();
  for (const [param, shape] of shapes) {
    const { hf, linear } = hfMapping(c, param)!;
    expected.set(hf, { param, shape: hfShape(shape, linear), linear });
  }
  const byName = new Map<string, TensorEntry>();
  const unknown: string[] = [];
  for (const [rawName, entry] of tensors) {
    const name = stripPrefix(rawName);
    if (expected.has(name)) byName.set(name, entry);
    else if (!isToleratedExtra(name, c)) unknown.push(rawName);
  }
  if (unknown.length) {
    throw new ModelFileError(
      `${source}: tensors not part of a gpt_neo model with this config: ${unknown.slice(0, 8).join(', ')}` +
        `${unknown.length > 8 ? ` (+${unknown.length - 8} more)` : ''} ` +
        `(num_layers=${c.nLayer}, tie_word_embeddings=${c.tieWordEmbeddings}). Is config.json from the same model?`,
      source,
    );
  }
  const params: ParamStore = new Map();
  for (const [hf, { param, shape, linear }] of expected) {
    const entry = byName.get(hf);
    if (!entry) throw new ModelFileError(`${source}: missing tensor "${hf}" (expected shape [${shape}])`, source);
    if (entry.shape.length !== shape.length || entry.shape.some((s, i) => s !== shape[i])) {
      throw new ModelFileError(
        `${source}: tensor "${hf}" has shape [${entry.shape}] but config.json implies [${shape}] ` +
          `(num_layers=${c.nLayer}, hidden_size=${c.dModel}, num_heads=${c.nHead}, vocab_size=${c.vocabSize}, ` +
          `max_position_embeddings=${c.maxPositions}, intermediate_size=${c.intermediateSize})`,
        source,
      );
    }
    const data = toFloat32(entry);
    params.set(param, linear ? float32(transpose(data, shape[0], shape[1]), [shape[1], shape[0]]) : float32(data, [...shape]));
  }
  return params;
}

function hfTensorOf(config: ArchConfig, paramName: string): string {
  const c = asNeo(config);
  if (paramName === 'unembed.weight') return 'lm_head.weight';
  const m = hfMapping(c, paramName);
  if (!m) throw new Error(`not a gpt_neo parameter: ${paramName}`);
  return m.hf;
}

function toHfTensors(config: ArchConfig, params: ParamStore): Map<string, HostTensor> {
  const c = asNeo(config);
  const out = new Map<string, HostTensor>();
  for (const [name, t] of params) {
    const m = hfMapping(c, name);
    if (!m) throw new Error(`not a gpt_neo parameter: ${name}`);
    if (m.linear) {
      const [inp, o] = t.shape;
      out.set(m.hf, float32(transpose(Float32Array.from(t.data as Float32Array), inp, o), [o, inp]));
    } else {
      out.set(m.hf, t);
    }
  }
  return out;
}

/** Fresh weights as HF's GPTNeoPreTrainedModel._init_weights: normal(0, initializer_range) for linear and embedding
 * weights, zero biases, LayerNorm weights one and biases zero. */
function initParams(config: ArchConfig, seed: number): ParamStore {
  const c = asNeo(config);
  const rng = new Rng(seed);
  const params: ParamStore = new Map();
  for (const [name, shape] of paramShapes(c)) {
    const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
    if (/\.bias$/.test(name)) {
      // zeros
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
  const names: string[] = [];
  for (let l = 0; l < config.nLayer; l++) names.push(`blocks.${l}.attn.k.weight`, `blocks.${l}.attn.v.weight`);
  return names;
}

function embeddingParamNames(config: ArchConfig): string[] {
  // As GPT-2: embeddings, positions, every LayerNorm and the unembedding stay trained; attention and MLP are redrawn.
  const names = ['embed.tokens', 'embed.positions', 'final_norm.weight', 'final_norm.bias'];
  if (!asNeo(config).tieWordEmbeddings) names.push('unembed.weight');
  for (let l = 0; l < config.nLayer; l++) {
    for (const n of ['ln1', 'ln2']) names.push(`blocks.${l}.${n}.weight`, `blocks.${l}.${n}.bias`);
  }
  return names;
}

function buildForward(g: Graph, config: ArchConfig, param: ParamSource, options: GraphOptions): void {
  const c = asNeo(config);
  const { nHead: H, headDim: hd, dModel: d } = c;
  const captures = new Set(options.captures ?? []);
  const inputIds = g.input('input_ids', 'int64', ['batch', 'time']);
  const positionIds = g.input('position_ids', 'int64', ['batch', 'time']);
  const keyLength = options.withPast ? 'past+time' : 'time';
  const keyMask = g.input(KEY_MASK, 'bool', ['batch', keyLength]);
  // Two biases, built once per graph and shared by the layers of each kind.
  const biases: Partial<Record<NeoAttentionType, Value>> = {};
  if (c.attentionLayers.includes('global')) biases.global = causalPaddingBias(g, inputIds, keyMask);
  if (c.attentionLayers.includes('local')) biases.local = causalPaddingBias(g, inputIds, keyMask, c.windowSize);
  const capturePositions = options.capturePositions ? g.input('capture_positions', 'int64', ['batch', 'n_capture', 1]) : undefined;
  const capture = (layer: number, kind: 'attn.q' | 'attn.out' | 'resid_post', v: Value) => {
    if (captures.has(kind)) g.output(capturePositions ? atPositions(g, v, capturePositions) : v, captureName(layer, kind));
  };

  const batchZeros = options.withPast
    ? g.unsqueeze(g.mul(g.reduceSum(g.cast(inputIds, g.floatType), [1], true), g.constantFloat(0)), [2, 3])
    : undefined;
  const pastInput = (name: string) => g.add(g.input(name, g.floatType, ['batch', H, 'past', hd]), batchZeros!);

  let x = g.add(g.gather(param('embed.tokens'), inputIds), g.gather(param('embed.positions'), positionIds));
  for (let l = 0; l < c.nLayer; l++) {
    x = g.scope(`blocks.${l}`, () => {
      const p = (name: string) => param(`blocks.${l}.${name}`);
      const h = g.layerNorm(x, p('ln1.weight'), p('ln1.bias'), c.layerNormEpsilon);
      const q = g.matmul(h, p('attn.q.weight'));
      capture(l, 'attn.q', q);
      // [batch, time, d] -> [batch, heads, time, head_dim]
      const heads = (v: Value) => g.transpose(g.reshape(v, [0, 0, H, hd]), [0, 2, 1, 3]);
      let k = heads(g.matmul(h, p('attn.k.weight')));
      let v = heads(g.matmul(h, p('attn.v.weight')));
      if (options.withPast) {
        k = g.concat([pastInput(pastKeyName(l)), k], 2);
        v = g.concat([pastInput(pastValueName(l)), v], 2);
        g.output(k, presentKeyName(l));
        g.output(v, presentValueName(l));
      }
      // GPT-Neo does not scale the scores by 1/sqrt(head_dim).
      const scores = g.matmul(heads(q), g.transpose(k, [0, 1, 3, 2]));
      if (captures.has('attn.scores')) outputScores(g, scores, l, capturePositions);
      const probs = g.softmax(g.add(scores, biases[c.attentionLayers[l]]!));
      const context = g.reshape(g.transpose(g.matmul(probs, v), [0, 2, 1, 3]), [0, 0, d]);
      const attnOut = g.add(g.matmul(context, p('attn.o.weight')), p('attn.o.bias'));
      capture(l, 'attn.out', attnOut);
      const afterAttn = g.add(x, attnOut);
      const m = g.layerNorm(afterAttn, p('ln2.weight'), p('ln2.bias'), c.layerNormEpsilon);
      const hidden = g.gelu(g.add(g.matmul(m, p('mlp.fc.weight')), p('mlp.fc.bias')), c.geluApproximate);
      const mlpOut = g.add(g.matmul(hidden, p('mlp.proj.weight')), p('mlp.proj.bias'));
      const out = g.add(afterAttn, mlpOut);
      capture(l, 'resid_post', out);
      return out;
    });
  }
  outputLogits(g, x, options, param, (t) => g.layerNorm(t, param('final_norm.weight'), param('final_norm.bias'), c.layerNormEpsilon), c.tieWordEmbeddings);
}

export const gptNeoFamily: ModelFamily = {
  name: 'GPT-Neo',
  modelTypes: ['gpt_neo'],
  parseConfig,
  loadParams,
  toHfTensors,
  hfTensorOf,
  buildForward,
  tokenPolicy: (config) => ({
    bosTokenId: config.bosTokenId,
    demoSeparator: { kind: 'text', text: '\n' },
    description:
      'GPT-Neo: bos_token_id is put before every sequence; text is tokenised without special tokens; ' +
      'demonstrations are separated by a newline.',
  }),
  initParams,
  kvParamNames,
  embeddingParamNames,
};
