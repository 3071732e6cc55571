// Whole tiny GPT-NeoX models: the training graph's gradients (K/V parameters, and all parameters) against central
// finite differences of the same graph's loss. Precision: float64 graphs and parameters, step 1e-5; tolerance 1e-7
// of max(1, max|gradient|) over the sampled entries, as for GPT-2 and Llama. The models use the tanh GELU
// (gelu_new / gelu_fast): ONNX Runtime's CPU Erf, which the exact GELU's derivative uses, is float32 only, so a float64
// training graph with Pythia's exact "gelu" cannot load; the exact rule is checked in float32 in op-gradients.test.ts.

import { describe, it, expect } from 'vitest';
import { gptNeoxFamily } from '../../src/pipeline/models/gpt-neox.ts';
import type { ParamStore } from '../../src/pipeline/models/family.ts';
import { float64 } from '../../src/pipeline/engine/tensor.ts';
import type { TrainingBatch } from '../../src/pipeline/models/training.ts';
import { tinyNeox, tinyNeoxEntries, type TinyNeoxOptions } from '../helpers/tiny-neox.ts';
import { checkModelGradients } from '../helpers/model-gradcheck.ts';

const STEP = 1e-5;
const TOLERANCE = 1e-7;

function load(options: TinyNeoxOptions) {
  const tiny = tinyNeox(options);
  const config = gptNeoxFamily.parseConfig(tiny.config, 'config.json');
  const params: ParamStore = gptNeoxFamily.loadParams(config, tinyNeoxEntries(tiny), 'tiny');
  for (const [name, t] of params) params.set(name, float64(Float64Array.from(t.data as Float32Array), t.shape));
  return { family: gptNeoxFamily, config, params };
}

const BATCH: TrainingBatch = { sequences: [[3, 17, 5, 9, 30, 1, 22, 8], [4, 4, 12, 7, 2]] };

async function checkModel(options: TinyNeoxOptions, which: 'kv' | 'all', perParam: number, seed: number) {
  const model = load(options);
  const trainable = which === 'kv' ? gptNeoxFamily.kvParamNames(model.config) : [...model.params.keys()];
  return checkModelGradients(model, trainable, BATCH, { perParam, seed, step: STEP });
}

describe('GPT-NeoX whole-model gradients vs central finite differences (float64)', () => {
  it('parallel residual, rotary_pct 0.25, gelu_fast: K/V weights and biases of every layer', async () => {
    const { error, analytic, trainable } = await checkModel({ nLayer: 2, nHead: 2, dModel: 16, hiddenAct: 'gelu_fast' }, 'kv', 6, 1);
    expect(trainable).toEqual([0, 1].flatMap((l) => ['k', 'v'].flatMap((p) => [`blocks.${l}.attn.${p}.weight`, `blocks.${l}.attn.${p}.bias`])));
    expect(analytic.some((a) => Math.abs(a) > 1e-3)).toBe(true);
    expect(error).toBeLessThan(TOLERANCE);
  });

  it('parallel residual, rotary_pct 0.25, gelu_fast, untied: all parameters', async () => {
    const { error } = await checkModel({ nLayer: 2, nHead: 2, dModel: 16, hiddenAct: 'gelu_fast', seed: 2 }, 'all', 3, 2);
    expect(error).toBeLessThan(TOLERANCE);
  });

  it('sequential residual, rotary_pct 1.0, gelu_new, tied, linear rope scaling: all parameters', async () => {
    const options: TinyNeoxOptions = {
      nLayer: 2, nHead: 2, dModel: 16, parallel: false, rotaryPct: 1, hiddenAct: 'gelu_new', tied: true,
      ropeScaling: { type: 'linear', factor: 2 }, seed: 3,
    };
    const { error } = await checkModel(options, 'all', 2, 3);
    expect(error).toBeLessThan(TOLERANCE);
  });

  it('attention_bias false: the K/V parameters are the weights only', async () => {
    const { error, trainable } = await checkModel({ nLayer: 1, nHead: 2, dModel: 16, attentionBias: false, hiddenAct: 'gelu_new', seed: 4 }, 'kv', 6, 4);
    expect(trainable).toEqual(['blocks.0.attn.k.weight', 'blocks.0.attn.v.weight']);
    expect(error).toBeLessThan(TOLERANCE);
  });
});
