// Tiny random Llama / Qwen2 / Mistral models in the exact Hugging Face layout (tensor names, nn.Linear [out, in]
// weights, config keys), built in memory, for tests.

import { Rng } from '../../src/pipeline/util/random.ts';
import { encodeSafetensors, parseSafetensors, type TensorInput } from '../../src/pipeline/models/safetensors.ts';
import type { RefTensor } from '../reference/gpt2-reference.ts';
import type { LlamaRefConfig } from '../reference/llama-reference.ts';

export interface TinyLlamaOptions {
  modelType?: 'llama' | 'qwen2' | 'mistral';
  nLayer?: number;
  nHead?: number;
  nKvHead?: number;
  dModel?: number;
  /** Explicit `head_dim` (else hidden_size / num_attention_heads, and the key is left out). */
  headDim?: number;
  intermediate?: number;
  vocabSize?: number;
  positions?: number;
  untied?: boolean;
  /** Llama's attention_bias: q/k/v/o biases. (Qwen2 always has q/k/v biases.) */
  attentionBias?: boolean;
  ropeTheta?: number;
  ropeScaling?: Record<string, number | string> | null;
  seed?: number;
}

export interface TinyLlama {
  config: Record<string, unknown>;
  tensors: TensorInput[];
  ref: Map<string, RefTensor>;
  refConfig: LlamaRefConfig;
}

export function tinyLlama(options: TinyLlamaOptions = {}): TinyLlama {
  const o = {
    modelType: 'llama' as const, nLayer: 2, nHead: 4, nKvHead: 2, dModel: 16, vocabSize: 40, positions: 32,
    untied: false, attentionBias: false, ropeTheta: 500, ropeScaling: null, seed: 1, ...options,
  };
  const hd = o.headDim ?? o.dModel / o.nHead;
  const I = o.intermediate ?? 3 * o.dModel;
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
  const qkvBias = o.modelType === 'qwen2' || (o.modelType === 'llama' && o.attentionBias);
  const oBias = o.modelType === 'llama' && o.attentionBias;
  add('model.embed_tokens.weight', [o.vocabSize, d], w(1));
  for (let l = 0; l < o.nLayer; l++) {
    const h = `model.layers.${l}`;
    add(`${h}.input_layernorm.weight`, [d], norm);
    add(`${h}.self_attn.q_proj.weight`, [o.nHead * hd, d], w(0.5));
    add(`${h}.self_attn.k_proj.weight`, [o.nKvHead * hd, d], w(0.5));
    add(`${h}.self_attn.v_proj.weight`, [o.nKvHead * hd, d], w(0.4));
    if (qkvBias) {
      add(`${h}.self_attn.q_proj.bias`, [o.nHead * hd], w(0.3));
      add(`${h}.self_attn.k_proj.bias`, [o.nKvHead * hd], w(0.3));
      add(`${h}.self_attn.v_proj.bias`, [o.nKvHead * hd], w(0.2));
    }
    add(`${h}.self_attn.o_proj.weight`, [d, o.nHead * hd], w(0.3));
    if (oBias) add(`${h}.self_attn.o_proj.bias`, [d], w(0.1));
    add(`${h}.post_attention_layernorm.weight`, [d], norm);
    add(`${h}.mlp.gate_proj.weight`, [I, d], w(0.4));
    add(`${h}.mlp.up_proj.weight`, [I, d], w(0.4));
    add(`${h}.mlp.down_proj.weight`, [d, I], w(0.2));
  }
  add('model.norm.weight', [d], norm);
  if (o.untied) add('lm_head.weight', [o.vocabSize, d], w(0.5));
  const config: Record<string, unknown> = {
    model_type: o.modelType,
    architectures: [o.modelType === 'qwen2' ? 'Qwen2ForCausalLM' : o.modelType === 'mistral' ? 'MistralForCausalLM' : 'LlamaForCausalLM'],
    vocab_size: o.vocabSize,
    hidden_size: d,
    intermediate_size: I,
    num_hidden_layers: o.nLayer,
    num_attention_heads: o.nHead,
    num_key_value_heads: o.nKvHead,
    max_position_embeddings: o.positions,
    rms_norm_eps: 1e-6,
    rope_theta: o.ropeTheta,
    rope_scaling: o.ropeScaling,
    hidden_act: 'silu',
    initializer_range: 0.02,
    tie_word_embeddings: !o.untied,
    bos_token_id: 1,
    eos_token_id: 2,
    torch_dtype: 'float32',
    attention_dropout: 0.0,
  };
  if (o.modelType === 'llama') Object.assign(config, { attention_bias: o.attentionBias, mlp_bias: false, pretraining_tp: 1 });
  if (o.modelType === 'qwen2') Object.assign(config, { use_sliding_window: false, sliding_window: 4096, max_window_layers: o.nLayer });
  if (o.modelType === 'mistral') Object.assign(config, { sliding_window: null });
  if (o.headDim !== undefined) config.head_dim = o.headDim;
  const refConfig: LlamaRefConfig = {
    nLayer: o.nLayer, nHead: o.nHead, nKvHead: o.nKvHead, headDim: hd, dModel: d, vocabSize: o.vocabSize, eps: 1e-6,
    ropeTheta: o.ropeTheta, ropeScaling: o.ropeScaling, tied: !o.untied,
  };
  return { config, tensors, ref, refConfig };
}

/** The tiny model's tensors as a parsed safetensors file would give them. */
export function tinyLlamaEntries(model: TinyLlama) {
  return parseSafetensors(encodeSafetensors(model.tensors), 'memory.safetensors').tensors;
}
