// Tiny random XGLM models in the exact Hugging Face layout (XGLMForCausalLM tensor names, nn.Linear [out, in] weights
// with biases, config keys), built in memory, for tests.

import { Rng } from '../../src/pipeline/util/random.ts';
import { encodeSafetensors, parseSafetensors, type TensorInput } from '../../src/pipeline/models/safetensors.ts';
import type { RefTensor } from '../reference/gpt2-reference.ts';
import type { XglmRefConfig } from '../reference/xglm-reference.ts';

export interface TinyXglmOptions {
  nLayer?: number;
  nHead?: number;
  dModel?: number;
  ffn?: number;
  vocabSize?: number;
  positions?: number;
  activation?: 'gelu' | 'gelu_new';
  scaleEmbedding?: boolean;
  tied?: boolean;
  /** pad_token_id (HF's default 1); null: none. */
  padTokenId?: number | null;
  /** Add the buffers some exports carry (the sinusoid table) and a tied lm_head.weight copy. */
  buffers?: boolean;
  seed?: number;
}

export interface TinyXglm {
  config: Record<string, unknown>;
  tensors: TensorInput[];
  ref: Map<string, RefTensor>;
  refConfig: XglmRefConfig;
}

export function tinyXglm(options: TinyXglmOptions = {}): TinyXglm {
  const o = {
    nLayer: 2, nHead: 2, dModel: 16, vocabSize: 40, positions: 32, activation: 'gelu_new' as const,
    scaleEmbedding: true, tied: true, padTokenId: 1 as number | null, buffers: false, seed: 1, ...options,
  };
  const d = o.dModel;
  const F = o.ffn ?? 4 * d;
  const rng = new Rng(o.seed);
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
  // Token embeddings small enough that sqrt(d) scaling keeps them comparable to the sinusoids (as in trained models).
  add('model.embed_tokens.weight', [o.vocabSize, d], w(0.3));
  for (let l = 0; l < o.nLayer; l++) {
    const h = `model.layers.${l}`;
    add(`${h}.self_attn_layer_norm.weight`, [d], norm);
    add(`${h}.self_attn_layer_norm.bias`, [d], w(0.1));
    for (const p of ['q_proj', 'k_proj', 'v_proj', 'out_proj']) {
      add(`${h}.self_attn.${p}.weight`, [d, d], w(0.3));
      add(`${h}.self_attn.${p}.bias`, [d], w(0.1));
    }
    add(`${h}.final_layer_norm.weight`, [d], norm);
    add(`${h}.final_layer_norm.bias`, [d], w(0.1));
    add(`${h}.fc1.weight`, [F, d], w(0.4));
    add(`${h}.fc1.bias`, [F], w(0.2));
    add(`${h}.fc2.weight`, [d, F], w(0.2));
    add(`${h}.fc2.bias`, [d], w(0.1));
  }
  add('model.layer_norm.weight', [d], norm);
  add('model.layer_norm.bias', [d], w(0.1));
  if (!o.tied) add('lm_head.weight', [o.vocabSize, d], w(0.5));
  else if (o.buffers) {
    tensors.push({ name: 'lm_head.weight', dtype: 'F32', shape: [o.vocabSize, d], data: ref.get('model.embed_tokens.weight')!.data as Float32Array });
  }
  if (o.buffers) {
    tensors.push({ name: 'model.embed_positions.weights', dtype: 'F32', shape: [o.positions + 2, d], data: new Float32Array((o.positions + 2) * d) });
  }
  const config: Record<string, unknown> = {
    model_type: 'xglm',
    architectures: ['XGLMForCausalLM'],
    vocab_size: o.vocabSize,
    max_position_embeddings: o.positions,
    d_model: d,
    ffn_dim: F,
    num_layers: o.nLayer,
    attention_heads: o.nHead,
    activation_function: o.activation,
    scale_embedding: o.scaleEmbedding,
    dropout: 0.1,
    attention_dropout: 0.1,
    activation_dropout: 0,
    layerdrop: 0,
    init_std: 0.02,
    tie_word_embeddings: o.tied,
    pad_token_id: o.padTokenId,
    bos_token_id: 0,
    eos_token_id: 2,
    decoder_start_token_id: 2,
    use_cache: true,
  };
  const refConfig: XglmRefConfig = {
    nLayer: o.nLayer, nHead: o.nHead, dModel: d, vocabSize: o.vocabSize, gelu: o.activation === 'gelu' ? 'exact' : 'tanh',
    scaleEmbedding: o.scaleEmbedding, tied: o.tied, padTokenId: o.padTokenId ?? undefined,
  };
  return { config, tensors, ref, refConfig };
}

/** The tiny model's tensors as a parsed safetensors file would give them. */
export function tinyXglmEntries(model: TinyXglm) {
  return parseSafetensors(encodeSafetensors(model.tensors), 'memory.safetensors').tensors;
}
