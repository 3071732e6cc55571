// Tiny random GPT-NeoX (Pythia-style) models in the exact Hugging Face layout (tensor names, nn.Linear [out, in]
// weights, the per-head fused query_key_value, config keys), built in memory, for tests.

import { Rng } from '../../src/pipeline/util/random.ts';
import { encodeSafetensors, parseSafetensors, type TensorInput } from '../../src/pipeline/models/safetensors.ts';
import type { RefTensor } from '../reference/gpt2-reference.ts';
import type { NeoxRefConfig } from '../reference/neox-reference.ts';

export interface TinyNeoxOptions {
  nLayer?: number;
  nHead?: number;
  dModel?: number;
  intermediate?: number;
  vocabSize?: number;
  positions?: number;
  rotaryPct?: number;
  rotaryBase?: number;
  ropeScaling?: Record<string, number | string> | null;
  parallel?: boolean;
  hiddenAct?: 'gelu' | 'gelu_new' | 'gelu_fast';
  attentionBias?: boolean;
  tied?: boolean;
  /** Add the buffers some exports carry (attention.bias, masked_bias, rotary_emb.inv_freq). */
  buffers?: boolean;
  seed?: number;
}

export interface TinyNeox {
  config: Record<string, unknown>;
  tensors: TensorInput[];
  ref: Map<string, RefTensor>;
  refConfig: NeoxRefConfig;
}

export function tinyNeox(options: TinyNeoxOptions = {}): TinyNeox {
  const o = {
    nLayer: 2, nHead: 2, dModel: 16, vocabSize: 40, positions: 32, rotaryPct: 0.25, rotaryBase: 500, ropeScaling: null,
    parallel: true, hiddenAct: 'gelu' as const, attentionBias: true, tied: false, buffers: false, seed: 1, ...options,
  };
  const I = o.intermediate ?? 4 * o.dModel;
  const rng = new Rng(o.seed);
  const d = o.dModel;
  const tensors: TensorInput[] = [];
  const ref = new Map<string, RefTensor>();
  const add = (name: string, shape: number[], make: () => number) => {
    const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
    for (let i = 0; i < data.length; i++) data[i] = make();
    tensors.push({ name, dtype: 'F32', shape, data });
    ref.set(name, { shape, data });
  };
  const w = (std: number) => () => rng.normal() * std;
  const norm = () => 1 + rng.normal() * 0.2;
  add('gpt_neox.embed_in.weight', [o.vocabSize, d], w(1));
  for (let l = 0; l < o.nLayer; l++) {
    const h = `gpt_neox.layers.${l}`;
    add(`${h}.input_layernorm.weight`, [d], norm);
    add(`${h}.input_layernorm.bias`, [d], w(0.1));
    add(`${h}.post_attention_layernorm.weight`, [d], norm);
    add(`${h}.post_attention_layernorm.bias`, [d], w(0.1));
    add(`${h}.attention.query_key_value.weight`, [3 * d, d], w(0.5));
    if (o.attentionBias) add(`${h}.attention.query_key_value.bias`, [3 * d], w(0.3));
    add(`${h}.attention.dense.weight`, [d, d], w(0.3));
    if (o.attentionBias) add(`${h}.attention.dense.bias`, [d], w(0.1));
    add(`${h}.mlp.dense_h_to_4h.weight`, [I, d], w(0.4));
    add(`${h}.mlp.dense_h_to_4h.bias`, [I], w(0.2));
    add(`${h}.mlp.dense_4h_to_h.weight`, [d, I], w(0.2));
    add(`${h}.mlp.dense_4h_to_h.bias`, [d], w(0.1));
    if (o.buffers) {
      tensors.push({ name: `${h}.attention.bias`, dtype: 'F32', shape: [1, 1, 2, 2], data: new Float32Array([1, 0, 1, 1]) });
      tensors.push({ name: `${h}.attention.masked_bias`, dtype: 'F32', shape: [], data: new Float32Array([-1e9]) });
      tensors.push({ name: `${h}.attention.rotary_emb.inv_freq`, dtype: 'F32', shape: [1], data: new Float32Array([1]) });
    }
  }
  add('gpt_neox.final_layer_norm.weight', [d], norm);
  add('gpt_neox.final_layer_norm.bias', [d], w(0.1));
  if (!o.tied) add('embed_out.weight', [o.vocabSize, d], w(0.5));
  const config: Record<string, unknown> = {
    model_type: 'gpt_neox',
    architectures: ['GPTNeoXForCausalLM'],
    vocab_size: o.vocabSize,
    hidden_size: d,
    intermediate_size: I,
    num_hidden_layers: o.nLayer,
    num_attention_heads: o.nHead,
    max_position_embeddings: o.positions,
    rotary_pct: o.rotaryPct,
    rotary_emb_base: o.rotaryBase,
    rope_scaling: o.ropeScaling,
    layer_norm_eps: 1e-5,
    use_parallel_residual: o.parallel,
    hidden_act: o.hiddenAct,
    attention_bias: o.attentionBias,
    initializer_range: 0.02,
    tie_word_embeddings: o.tied,
    bos_token_id: 0,
    eos_token_id: 0,
    use_cache: true,
    torch_dtype: 'float32',
  };
  const refConfig: NeoxRefConfig = {
    nLayer: o.nLayer, nHead: o.nHead, dModel: d, vocabSize: o.vocabSize, eps: 1e-5, rotaryPct: o.rotaryPct,
    rotaryBase: o.rotaryBase, ropeScaling: o.ropeScaling, parallelResidual: o.parallel,
    gelu: o.hiddenAct === 'gelu' ? 'exact' : 'tanh', attentionBias: o.attentionBias, tied: o.tied,
  };
  return { config, tensors, ref, refConfig };
}

/** The tiny model's tensors as a parsed safetensors file would give them. */
export function tinyNeoxEntries(model: TinyNeox) {
  return parseSafetensors(encodeSafetensors(model.tensors), 'memory.safetensors').tensors;
}
