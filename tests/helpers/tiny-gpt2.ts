// Tiny random GPT-2s in the exact Hugging Face layout (tensor names, Conv1D [in, out] weights, config keys),
// built in memory or written as model folders, for tests.

import { Rng } from '../../src/pipeline/util/random.ts';
import { encodeSafetensors, parseSafetensors, type TensorInput } from '../../src/pipeline/models/safetensors.ts';
import type { RefConfig, RefTensor } from '../reference/gpt2-reference.ts';

export interface TinyGpt2Options {
  nLayer?: number;
  nHead?: number;
  dModel?: number;
  nInner?: number;
  vocabSize?: number;
  positions?: number;
  /** Store names as `transformer.h.0...` like GPT2LMHeadModel checkpoints. */
  prefix?: boolean;
  /** Untied output embedding (`lm_head.weight`). */
  untied?: boolean;
  activation?: 'gelu_new' | 'gelu';
  scaleByInverseLayerIdx?: boolean;
  /** Add the `attn.bias` / `attn.masked_bias` buffers some exports carry. */
  withBuffers?: boolean;
  seed?: number;
}

export interface TinyGpt2 {
  config: Record<string, unknown>;
  tensors: TensorInput[];
  /** The same weights by HF name, for the reference implementation. */
  ref: Map<string, RefTensor>;
  refConfig: RefConfig;
}

export function tinyGpt2(options: TinyGpt2Options = {}): TinyGpt2 {
  const o = {
    nLayer: 2, nHead: 2, dModel: 16, vocabSize: 40, positions: 32, prefix: false, untied: false,
    activation: 'gelu_new' as const, scaleByInverseLayerIdx: false, withBuffers: false, seed: 1, ...options,
  };
  const nInner = o.nInner ?? 4 * o.dModel;
  const rng = new Rng(o.seed);
  const d = o.dModel;
  const tensors: TensorInput[] = [];
  const ref = new Map<string, RefTensor>();
  const add = (name: string, shape: number[], make: () => number) => {
    const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
    for (let i = 0; i < data.length; i++) data[i] = make();
    const stored = o.prefix && name !== 'lm_head.weight' ? `transformer.${name}` : name;
    tensors.push({ name: stored, dtype: 'F32', shape, data });
    ref.set(name, { shape, data });
  };
  // Large enough weights that attention is far from uniform and every nonlinearity matters.
  const w = (std: number) => () => rng.normal() * std;
  add('wte.weight', [o.vocabSize, d], w(0.5));
  add('wpe.weight', [o.positions, d], w(0.3));
  for (let l = 0; l < o.nLayer; l++) {
    const h = `h.${l}`;
    add(`${h}.ln_1.weight`, [d], () => 1 + rng.normal() * 0.2);
    add(`${h}.ln_1.bias`, [d], w(0.1));
    add(`${h}.attn.c_attn.weight`, [d, 3 * d], w(0.4));
    add(`${h}.attn.c_attn.bias`, [3 * d], w(0.2));
    add(`${h}.attn.c_proj.weight`, [d, d], w(0.3));
    add(`${h}.attn.c_proj.bias`, [d], w(0.1));
    add(`${h}.ln_2.weight`, [d], () => 1 + rng.normal() * 0.2);
    add(`${h}.ln_2.bias`, [d], w(0.1));
    add(`${h}.mlp.c_fc.weight`, [d, nInner], w(0.3));
    add(`${h}.mlp.c_fc.bias`, [nInner], w(0.1));
    add(`${h}.mlp.c_proj.weight`, [nInner, d], w(0.2));
    add(`${h}.mlp.c_proj.bias`, [d], w(0.1));
    if (o.withBuffers) {
      const stored = (n: string) => (o.prefix ? `transformer.${n}` : n);
      const mask = new Float32Array(o.positions * o.positions);
      tensors.push({ name: stored(`${h}.attn.bias`), dtype: 'F32', shape: [1, 1, o.positions, o.positions], data: mask });
      tensors.push({ name: stored(`${h}.attn.masked_bias`), dtype: 'F32', shape: [], data: new Float32Array([-1e4]) });
    }
  }
  add('ln_f.weight', [d], () => 1 + rng.normal() * 0.2);
  add('ln_f.bias', [d], w(0.1));
  if (o.untied) add('lm_head.weight', [o.vocabSize, d], w(0.5));
  const config = {
    model_type: 'gpt2',
    architectures: ['GPT2LMHeadModel'],
    vocab_size: o.vocabSize,
    n_positions: o.positions,
    n_ctx: o.positions,
    n_embd: d,
    n_layer: o.nLayer,
    n_head: o.nHead,
    n_inner: o.nInner ?? null,
    activation_function: o.activation,
    layer_norm_epsilon: 1e-5,
    initializer_range: 0.02,
    scale_attn_weights: true,
    scale_attn_by_inverse_layer_idx: o.scaleByInverseLayerIdx,
    tie_word_embeddings: !o.untied,
    bos_token_id: 0,
    eos_token_id: 0,
  };
  const refConfig: RefConfig = {
    nLayer: o.nLayer, nHead: o.nHead, dModel: d, nInner, vocabSize: o.vocabSize, eps: 1e-5,
    gelu: o.activation === 'gelu' ? 'exact' : 'tanh', scaleByInverseLayerIdx: o.scaleByInverseLayerIdx, tied: !o.untied,
  };
  return { config, tensors, ref, refConfig };
}

/** The tiny model's tensors as a parsed safetensors file would give them. */
export function tinyGpt2Entries(model: TinyGpt2) {
  return parseSafetensors(encodeSafetensors(model.tensors), 'memory.safetensors').tensors;
}
