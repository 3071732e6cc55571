// Tiny random GPT-Neo models in the exact Hugging Face layout (tensor names with or without the `transformer.`
// prefix, nn.Linear [out, in] weights, bias-free q/k/v, config keys incl. attention_types), built in memory, for tests.

import { Rng } from '../../src/pipeline/util/random.ts';
import { encodeSafetensors, parseSafetensors, type TensorInput } from '../../src/pipeline/models/safetensors.ts';
import type { RefTensor } from '../reference/gpt2-reference.ts';
import type { NeoRefConfig } from '../reference/neo-reference.ts';

export interface TinyNeoOptions {
  nHead?: number;
  dModel?: number;
  intermediate?: number | null;
  vocabSize?: number;
  positions?: number;
  windowSize?: number;
  /** HF's attention_types; its expansion sets num_layers. */
  attentionTypes?: Array<[Array<'global' | 'local'>, number]>;
  activation?: 'gelu' | 'gelu_new';
  tied?: boolean;
  /** Tensor names with the `transformer.` prefix (as HF's GPTNeoForCausalLM saves them). */
  prefix?: boolean;
  /** Add the buffers some exports carry (attn.attention.bias, masked_bias) and a tied lm_head.weight copy. */
  buffers?: boolean;
  seed?: number;
}

export interface TinyNeo {
  config: Record<string, unknown>;
  tensors: TensorInput[];
  ref: Map<string, RefTensor>;
  refConfig: NeoRefConfig;
}

export function tinyNeo(options: TinyNeoOptions = {}): TinyNeo {
  const o = {
    nHead: 2, dModel: 16, vocabSize: 40, positions: 32, windowSize: 4,
    attentionTypes: [[['global', 'local'], 1]] as Array<[Array<'global' | 'local'>, number]>,
    activation: 'gelu_new' as const, tied: true, prefix: true, buffers: false, seed: 1, ...options,
  };
  const layers = o.attentionTypes.flatMap(([types, n]) => Array.from({ length: n }, () => types).flat());
  const nLayer = layers.length;
  const I = o.intermediate ?? 4 * o.dModel;
  const rng = new Rng(o.seed);
  const d = o.dModel;
  const pre = o.prefix ? 'transformer.' : '';
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
  add(`${pre}wte.weight`, [o.vocabSize, d], w(1));
  add(`${pre}wpe.weight`, [o.positions, d], w(0.3));
  for (let l = 0; l < nLayer; l++) {
    const h = `${pre}h.${l}`;
    add(`${h}.ln_1.weight`, [d], norm);
    add(`${h}.ln_1.bias`, [d], w(0.1));
    for (const p of ['q_proj', 'k_proj', 'v_proj']) add(`${h}.attn.attention.${p}.weight`, [d, d], w(0.3));
    add(`${h}.attn.attention.out_proj.weight`, [d, d], w(0.3));
    add(`${h}.attn.attention.out_proj.bias`, [d], w(0.1));
    add(`${h}.ln_2.weight`, [d], norm);
    add(`${h}.ln_2.bias`, [d], w(0.1));
    add(`${h}.mlp.c_fc.weight`, [I, d], w(0.4));
    add(`${h}.mlp.c_fc.bias`, [I], w(0.2));
    add(`${h}.mlp.c_proj.weight`, [d, I], w(0.2));
    add(`${h}.mlp.c_proj.bias`, [d], w(0.1));
    if (o.buffers) {
      tensors.push({ name: `${h}.attn.attention.bias`, dtype: 'F32', shape: [1, 1, 2, 2], data: new Float32Array([1, 0, 1, 1]) });
      tensors.push({ name: `${h}.attn.attention.masked_bias`, dtype: 'F32', shape: [], data: new Float32Array([-1e9]) });
    }
  }
  add(`${pre}ln_f.weight`, [d], norm);
  add(`${pre}ln_f.bias`, [d], w(0.1));
  if (!o.tied) add('lm_head.weight', [o.vocabSize, d], w(0.5));
  else if (o.buffers) {
    tensors.push({ name: 'lm_head.weight', dtype: 'F32', shape: [o.vocabSize, d], data: ref.get(`${pre}wte.weight`)!.data as Float32Array });
  }
  const config: Record<string, unknown> = {
    model_type: 'gpt_neo',
    architectures: ['GPTNeoForCausalLM'],
    vocab_size: o.vocabSize,
    hidden_size: d,
    intermediate_size: options.intermediate === undefined ? I : options.intermediate,
    num_layers: nLayer,
    num_heads: o.nHead,
    max_position_embeddings: o.positions,
    window_size: o.windowSize,
    attention_types: o.attentionTypes,
    attention_layers: layers,
    activation_function: o.activation,
    layer_norm_epsilon: 1e-5,
    initializer_range: 0.02,
    tie_word_embeddings: o.tied,
    bos_token_id: 0,
    eos_token_id: 0,
    use_cache: true,
    torch_dtype: 'float32',
  };
  const refConfig: NeoRefConfig = {
    nLayer, nHead: o.nHead, dModel: d, vocabSize: o.vocabSize, eps: 1e-5, windowSize: o.windowSize,
    attentionLayers: layers, gelu: o.activation === 'gelu' ? 'exact' : 'tanh', tied: o.tied, prefix: pre,
  };
  return { config, tensors, ref, refConfig };
}

/** The tiny model's tensors as a parsed safetensors file would give them. */
export function tinyNeoEntries(model: TinyNeo) {
  return parseSafetensors(encodeSafetensors(model.tensors), 'memory.safetensors').tensors;
}
