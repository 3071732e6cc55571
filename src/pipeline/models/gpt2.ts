// The GPT-2 family: Hugging Face `model_type: "gpt2"` folders -> parameters -> forward graph.
// Pre-LayerNorm blocks, learned positions, fused q/k/v projection (`c_attn`, Conv1D with weight [in, out]),
// GELU MLP, output embedding tied to the input embedding unless the config says otherwise.

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

const Gpt2ConfigSchema = z.object({
  model_type: z.literal('gpt2'),
  vocab_size: z.number().int().positive(),
  n_positions: z.number().int().positive(),
  n_embd: z.number().int().positive(),
  n_layer: z.number().int().positive(),
  n_head: z.number().int().positive(),
  n_inner: z.number().int().positive().nullish(),
  activation_function: z.enum(ACTIVATIONS).default('gelu_new'),
  layer_norm_epsilon: z.number().positive().default(1e-5),
  initializer_range: z.number().positive().default(0.02),
  scale_attn_weights: z.boolean().default(true),
  scale_attn_by_inverse_layer_idx: z.boolean().default(false),
  tie_word_embeddings: z.boolean().default(true),
  bos_token_id: z.number().int().nonnegative().nullish(),
  eos_token_id: z.number().int().nonnegative().nullish(),
});

export interface Gpt2Config extends ArchConfig {
  nInner: number;
  geluApproximate: 'none' | 'tanh';
  layerNormEpsilon: number;
  initializerRange: number;
  scaleAttnWeights: boolean;
  scaleAttnByInverseLayerIdx: boolean;
  tieWordEmbeddings: boolean;
}

function parseConfig(raw: Record<string, unknown>, source: string): Gpt2Config {
  const parsed = Gpt2ConfigSchema.safeParse(raw);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    throw new ModelFileError(`${source}: not a valid GPT-2 config (${issues})`, source);
  }
  const c = parsed.data;
  if (c.n_embd % c.n_head !== 0) {
    throw new ModelFileError(`${source}: n_embd ${c.n_embd} is not divisible by n_head ${c.n_head}`, source);
  }
  return {
    modelType: 'gpt2',
    nLayer: c.n_layer,
    nHead: c.n_head,
    nKvHead: c.n_head,
    dModel: c.n_embd,
    headDim: c.n_embd / c.n_head,
    vocabSize: c.vocab_size,
    maxPositions: c.n_positions,
    bosTokenId: c.bos_token_id ?? undefined,
    eosTokenId: c.eos_token_id ?? undefined,
    nInner: c.n_inner ?? 4 * c.n_embd,
    geluApproximate: TANH_GELUS.includes(c.activation_function) ? 'tanh' : 'none',
    layerNormEpsilon: c.layer_norm_epsilon,
    initializerRange: c.initializer_range,
    scaleAttnWeights: c.scale_attn_weights,
    scaleAttnByInverseLayerIdx: c.scale_attn_by_inverse_layer_idx,
    tieWordEmbeddings: c.tie_word_embeddings,
  };
}

const asGpt2 = (config: ArchConfig): Gpt2Config => config as Gpt2Config;

/** Every HF tensor a GPT-2 folder must hold, with its expected shape. */
function expectedHfShapes(c: Gpt2Config): Map<string, number[]> {
  const d = c.dModel;
  const shapes = new Map<string, number[]>([
    ['wte.weight', [c.vocabSize, d]],
    ['wpe.weight', [c.maxPositions, d]],
    ['ln_f.weight', [d]],
    ['ln_f.bias', [d]],
  ]);
  for (let l = 0; l < c.nLayer; l++) {
    const h = `h.${l}`;
    shapes.set(`${h}.ln_1.weight`, [d]).set(`${h}.ln_1.bias`, [d]);
    shapes.set(`${h}.attn.c_attn.weight`, [d, 3 * d]).set(`${h}.attn.c_attn.bias`, [3 * d]);
    shapes.set(`${h}.attn.c_proj.weight`, [d, d]).set(`${h}.attn.c_proj.bias`, [d]);
    shapes.set(`${h}.ln_2.weight`, [d]).set(`${h}.ln_2.bias`, [d]);
    shapes.set(`${h}.mlp.c_fc.weight`, [d, c.nInner]).set(`${h}.mlp.c_fc.bias`, [c.nInner]);
    shapes.set(`${h}.mlp.c_proj.weight`, [c.nInner, d]).set(`${h}.mlp.c_proj.bias`, [d]);
  }
  if (!c.tieWordEmbeddings) shapes.set('lm_head.weight', [c.vocabSize, d]);
  return shapes;
}

/** Buffers and duplicates some exports carry; they hold no parameters we need. */
function isToleratedExtra(name: string, c: Gpt2Config): boolean {
  return /^h\.\d+\.attn\.(bias|masked_bias)$/.test(name) || (c.tieWordEmbeddings && name === 'lm_head.weight');
}

const stripPrefix = (name: string): string => name.replace(/^transformer\./, '');

/** Columns [from, from + width) of a row-major [rows, cols] matrix. */
function columns(m: Float32Array, rows: number, cols: number, from: number, width: number): Float32Array {
  const out = new Float32Array(rows * width);
  for (let r = 0; r < rows; r++) out.set(m.subarray(r * cols + from, r * cols + from + width), r * width);
  return out;
}

function loadParams(config: ArchConfig, tensors: Map<string, TensorEntry>, source: string): ParamStore {
  const c = asGpt2(config);
  const expected = expectedHfShapes(c);
  const byName = new Map<string, TensorEntry>();
  const unknown: string[] = [];
  for (const [rawName, entry] of tensors) {
    const name = stripPrefix(rawName);
    if (expected.has(name)) byName.set(name, entry);
    else if (!isToleratedExtra(name, c)) unknown.push(rawName);
  }
  if (unknown.length) {
    throw new ModelFileError(
      `${source}: tensors not part of a GPT-2 model with this config: ${unknown.slice(0, 8).join(', ')}` +
        `${unknown.length > 8 ? ` (+${unknown.length - 8} more)` : ''}. Is config.json from the same model?`,
      source,
    );
  }
  for (const [name, shape] of expected) {
    const entry = byName.get(name);
    if (!entry) throw new ModelFileError(`${source}: missing tensor "${name}" (expected shape [${shape}])`, source);
    if (entry.shape.length !== shape.length || entry.shape.some((s, i) => s !== shape[i])) {
      throw new ModelFileError(
        `${source}: tensor "${name}" has shape [${entry.shape}] but config.json implies [${shape}] ` +
          `(n_layer=${c.nLayer}, n_embd=${c.dModel}, n_head=${c.nHead}, vocab_size=${c.vocabSize}, ` +
          `n_positions=${c.maxPositions}, n_inner=${c.nInner})`,
        source,
      );
    }
  }
  const f = (name: string) => toFloat32(byName.get(name)!);
  const d = c.dModel;
  const params: ParamStore = new Map();
  const put = (name: string, data: Float32Array, shape: number[]) => params.set(name, float32(data, shape));
  put('embed.tokens', f('wte.weight'), [c.vocabSize, d]);
  put('embed.positions', f('wpe.weight'), [c.maxPositions, d]);
  for (let l = 0; l < c.nLayer; l++) {
    const h = `h.${l}`;
    const b = `blocks.${l}`;
    put(`${b}.ln1.weight`, f(`${h}.ln_1.weight`), [d]);
    put(`${b}.ln1.bias`, f(`${h}.ln_1.bias`), [d]);
    const qkvW = f(`${h}.attn.c_attn.weight`);
    const qkvB = f(`${h}.attn.c_attn.bias`);
    ['q', 'k', 'v'].forEach((p, i) => {
      put(`${b}.attn.${p}.weight`, columns(qkvW, d, 3 * d, i * d, d), [d, d]);
      put(`${b}.attn.${p}.bias`, qkvB.slice(i * d, (i + 1) * d), [d]);
    });
    put(`${b}.attn.o.weight`, f(`${h}.attn.c_proj.weight`), [d, d]);
    put(`${b}.attn.o.bias`, f(`${h}.attn.c_proj.bias`), [d]);
    put(`${b}.ln2.weight`, f(`${h}.ln_2.weight`), [d]);
    put(`${b}.ln2.bias`, f(`${h}.ln_2.bias`), [d]);
    put(`${b}.mlp.fc.weight`, f(`${h}.mlp.c_fc.weight`), [d, c.nInner]);
    put(`${b}.mlp.fc.bias`, f(`${h}.mlp.c_fc.bias`), [c.nInner]);
    put(`${b}.mlp.proj.weight`, f(`${h}.mlp.c_proj.weight`), [c.nInner, d]);
    put(`${b}.mlp.proj.bias`, f(`${h}.mlp.c_proj.bias`), [d]);
  }
  put('final_norm.weight', f('ln_f.weight'), [d]);
  put('final_norm.bias', f('ln_f.bias'), [d]);
  if (!c.tieWordEmbeddings) put('unembed.weight', f('lm_head.weight'), [c.vocabSize, d]);
  return params;
}

/** Parameter name -> HF tensor name (without any `transformer.` prefix). */
function hfTensorOf(config: ArchConfig, paramName: string): string {
  const fixed: Record<string, string> = {
    'embed.tokens': 'wte.weight',
    'embed.positions': 'wpe.weight',
    'final_norm.weight': 'ln_f.weight',
    'final_norm.bias': 'ln_f.bias',
    'unembed.weight': 'lm_head.weight',
  };
  if (fixed[paramName]) return fixed[paramName];
  const m = /^blocks\.(\d+)\.(.+)\.(weight|bias)$/.exec(paramName);
  const part: Record<string, string> = {
    ln1: 'ln_1', ln2: 'ln_2', 'attn.q': 'attn.c_attn', 'attn.k': 'attn.c_attn', 'attn.v': 'attn.c_attn',
    'attn.o': 'attn.c_proj', 'mlp.fc': 'mlp.c_fc', 'mlp.proj': 'mlp.c_proj',
  };
  if (!m || !part[m[2]] || Number(m[1]) >= config.nLayer) throw new Error(`not a GPT-2 parameter: ${paramName}`);
  return `h.${m[1]}.${part[m[2]]}.${m[3]}`;
}

function toHfTensors(config: ArchConfig, params: ParamStore): Map<string, HostTensor> {
  const c = asGpt2(config);
  const d = c.dModel;
  const out = new Map<string, HostTensor>();
  const get = (name: string) => {
    const t = params.get(name);
    if (!t) throw new Error(`parameter "${name}" missing`);
    return t.data as Float32Array;
  };
  for (const [name, t] of params) {
    if (/\.attn\.[qkv]\./.test(name)) continue; // re-fused below
    out.set(hfTensorOf(c, name), t);
  }
  for (let l = 0; l < c.nLayer; l++) {
    const w = new Float32Array(d * 3 * d);
    const bias = new Float32Array(3 * d);
    ['q', 'k', 'v'].forEach((p, i) => {
      const pw = get(`blocks.${l}.attn.${p}.weight`);
      for (let r = 0; r < d; r++) w.set(pw.subarray(r * d, (r + 1) * d), r * 3 * d + i * d);
      bias.set(get(`blocks.${l}.attn.${p}.bias`), i * d);
    });
    out.set(`h.${l}.attn.c_attn.weight`, float32(w, [d, 3 * d]));
    out.set(`h.${l}.attn.c_attn.bias`, float32(bias, [3 * d]));
  }
  return out;
}

/** Fresh weights as Hugging Face's GPT-2 initialises them (normal(0, initializer_range); residual projections
 * scaled by 1/sqrt(2 n_layer); zero biases; unit LayerNorm gains). */
function initParams(config: ArchConfig, seed: number): ParamStore {
  const c = asGpt2(config);
  const rng = new Rng(seed);
  const d = c.dModel;
  const params: ParamStore = new Map();
  const normal = (name: string, shape: number[], std: number) => {
    const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
    for (let i = 0; i < data.length; i++) data[i] = rng.normal() * std;
    params.set(name, float32(data, shape));
  };
  const fill = (name: string, shape: number[], value: number) =>
    params.set(name, float32(new Float32Array(shape.reduce((a, b) => a * b, 1)).fill(value), shape));
  const std = c.initializerRange;
  const residualStd = std / Math.sqrt(2 * c.nLayer);
  normal('embed.tokens', [c.vocabSize, d], std);
  normal('embed.positions', [c.maxPositions, d], std);
  for (let l = 0; l < c.nLayer; l++) {
    const b = `blocks.${l}`;
    fill(`${b}.ln1.weight`, [d], 1);
    fill(`${b}.ln1.bias`, [d], 0);
    for (const p of ['q', 'k', 'v']) {
      normal(`${b}.attn.${p}.weight`, [d, d], std);
      fill(`${b}.attn.${p}.bias`, [d], 0);
    }
    normal(`${b}.attn.o.weight`, [d, d], residualStd);
    fill(`${b}.attn.o.bias`, [d], 0);
    fill(`${b}.ln2.weight`, [d], 1);
    fill(`${b}.ln2.bias`, [d], 0);
    normal(`${b}.mlp.fc.weight`, [d, c.nInner], std);
    fill(`${b}.mlp.fc.bias`, [c.nInner], 0);
    normal(`${b}.mlp.proj.weight`, [c.nInner, d], residualStd);
    fill(`${b}.mlp.proj.bias`, [d], 0);
  }
  fill('final_norm.weight', [d], 1);
  fill('final_norm.bias', [d], 0);
  if (!c.tieWordEmbeddings) normal('unembed.weight', [c.vocabSize, d], std);
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
  // Embeddings, positions, every LayerNorm and the unembedding stay trained; attention and MLP weights are redrawn.
  const names = ['embed.tokens', 'embed.positions', 'final_norm.weight', 'final_norm.bias'];
  if (!asGpt2(config).tieWordEmbeddings) names.push('unembed.weight');
  for (let l = 0; l < config.nLayer; l++) {
    for (const n of ['ln1', 'ln2']) names.push(`blocks.${l}.${n}.weight`, `blocks.${l}.${n}.bias`);
  }
  return names;
}

function buildForward(g: Graph, config: ArchConfig, param: ParamSource, options: GraphOptions): void {
  const c = asGpt2(config);
  const { nHead: H, headDim: hd, dModel: d } = c;
  const captures = new Set(options.captures ?? []);
  const inputIds = g.input('input_ids', 'int64', ['batch', 'time']);
  const positionIds = g.input('position_ids', 'int64', ['batch', 'time']);
  const keyLength = options.withPast ? 'past+time' : 'time';
  const attentionBias = causalPaddingBias(g, inputIds, g.input(KEY_MASK, 'bool', ['batch', keyLength]));
  const capturePositions = options.capturePositions ? g.input('capture_positions', 'int64', ['batch', 'n_capture', 1]) : undefined;
  const capture = (layer: number, kind: 'attn.q' | 'attn.out' | 'resid_post', v: Value) => {
    if (captures.has(kind)) g.output(capturePositions ? atPositions(g, v, capturePositions) : v, captureName(layer, kind));
  };

  // A shared prefix may be fed with batch 1: adding zeros of shape [batch, 1, 1, 1] broadcasts it to the batch
  // inside ONNX Runtime, instead of copying it batch times into every call's feeds.
  const batchZeros = options.withPast
    ? g.unsqueeze(g.mul(g.reduceSum(g.cast(inputIds, g.floatType), [1], true), g.constantFloat(0)), [2, 3])
    : undefined;
  const pastInput = (name: string) => g.add(g.input(name, g.floatType, ['batch', H, 'past', hd]), batchZeros!);

  let x = g.add(g.gather(param('embed.tokens'), inputIds), g.gather(param('embed.positions'), positionIds));
  for (let l = 0; l < c.nLayer; l++) {
    x = g.scope(`blocks.${l}`, () => {
      const p = (name: string) => param(`blocks.${l}.${name}`);
      const h = g.layerNorm(x, p('ln1.weight'), p('ln1.bias'), c.layerNormEpsilon);
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
      let scale = c.scaleAttnWeights ? 1 / Math.sqrt(hd) : 1;
      if (c.scaleAttnByInverseLayerIdx) scale /= l + 1;
      const scores = g.matmul(g.mul(heads(q), g.constantFloat(scale)), g.transpose(k, [0, 1, 3, 2]));
      if (captures.has('attn.scores')) outputScores(g, scores, l, capturePositions);
      const probs = g.softmax(g.add(scores, attentionBias));
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

export const gpt2Family: ModelFamily = {
  name: 'GPT-2',
  modelTypes: ['gpt2'],
  parseConfig,
  loadParams,
  toHfTensors,
  hfTensorOf,
  buildForward,
  tokenPolicy: (config) => ({
    bosTokenId: config.bosTokenId,
    demoSeparator: { kind: 'text', text: '\n' },
    description:
      'GPT-2: bos_token_id is put before every sequence; text is tokenised without special tokens; ' +
      'demonstrations are separated by a newline.',
  }),
  initParams,
  kvParamNames,
  embeddingParamNames,
};
