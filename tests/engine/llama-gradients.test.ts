// Whole tiny Llama-style models: the training graph's gradients (K/V parameters, and all parameters) against central
// finite differences of the same graph's loss. Precision: float64 graphs and parameters, step 1e-5; tolerance 1e-7
// of max(1, max|gradient|) over the sampled entries, as for GPT-2 (tests/engine/gpt2-gradients.test.ts).

import { describe, it, expect } from 'vitest';
import { llamaFamily } from '../../src/pipeline/models/llama.ts';
import type { ParamStore } from '../../src/pipeline/models/family.ts';
import { OPS } from '../../src/pipeline/engine/ops.ts';
import { float64 } from '../../src/pipeline/engine/tensor.ts';
import type { TrainingBatch } from '../../src/pipeline/models/training.ts';
import { tinyLlama, tinyLlamaEntries, type TinyLlamaOptions } from '../helpers/tiny-llama.ts';
import { checkModelGradients } from '../helpers/model-gradcheck.ts';

const STEP = 1e-5;
const TOLERANCE = 1e-7;

function load(options: TinyLlamaOptions) {
  const tiny = tinyLlama(options);
  const config = llamaFamily.parseConfig(tiny.config, 'config.json');
  const params: ParamStore = llamaFamily.loadParams(config, tinyLlamaEntries(tiny), 'tiny');
  for (const [name, t] of params) params.set(name, float64(Float64Array.from(t.data as Float32Array), t.shape));
  return { family: llamaFamily, config, params };
}

const BATCH: TrainingBatch = { sequences: [[3, 17, 5, 9, 30, 1, 22, 8], [4, 4, 12, 7, 2]] };

async function checkModel(options: TinyLlamaOptions, which: 'kv' | 'all', perParam: number, seed: number) {
  const model = load(options);
  const trainable = which === 'kv' ? llamaFamily.kvParamNames(model.config) : [...model.params.keys()];
  return checkModelGradients(model, trainable, BATCH, { perParam, seed, step: STEP });
}

describe('Llama-style whole-model gradients vs central finite differences (float64)', () => {
  it('GQA 4/2 heads, qwen2 biases: K/V weights and biases of every layer', async () => {
    const { error, analytic, trainable } = await checkModel({ modelType: 'qwen2', nLayer: 2, nHead: 4, nKvHead: 2, dModel: 16 }, 'kv', 6, 1);
    expect(trainable).toEqual([0, 1].flatMap((l) => ['k', 'v'].flatMap((p) => [`blocks.${l}.attn.${p}.weight`, `blocks.${l}.attn.${p}.bias`])));
    expect(analytic.some((a) => Math.abs(a) > 1e-3)).toBe(true);
    expect(error).toBeLessThan(TOLERANCE);
  });

  it('GQA 4/2, llama (no biases), tied: all parameters', async () => {
    const { error } = await checkModel({ nLayer: 2, nHead: 4, nKvHead: 2, dModel: 16, seed: 2 }, 'all', 3, 2);
    expect(error).toBeLessThan(TOLERANCE);
  });

  it('MQA 4/1, attention_bias, untied, llama3 rope scaling, explicit head_dim 6: all parameters', async () => {
    const options: TinyLlamaOptions = {
      nLayer: 2, nHead: 4, nKvHead: 1, dModel: 16, headDim: 6, attentionBias: true, untied: true, seed: 3,
      ropeScaling: { rope_type: 'llama3', factor: 4, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 32 },
    };
    const { error } = await checkModel(options, 'all', 2, 3);
    expect(error).toBeLessThan(TOLERANCE);
  });

  it('a deliberately broken rule (Sigmoid without the 1 - y factor) fails the same check', async () => {
    const saved = OPS.Sigmoid;
    OPS.Sigmoid = { ...saved, vjp: (g, node, [gy]) => [gy && g.mul(gy, node.outputs[0])] };
    try {
      const { error } = await checkModel({ nLayer: 2, nHead: 4, nKvHead: 2, dModel: 16, seed: 2 }, 'all', 3, 2);
      expect(error).toBeGreaterThan(1e-3);
    } finally {
      OPS.Sigmoid = saved;
    }
  });
});
