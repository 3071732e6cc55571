// Whole tiny GPT-Neo models: the training graph's gradients (K/V weights, and all parameters) against central finite
// differences of the same graph's loss. Precision: float64 graphs and parameters, step 1e-5; tolerance 1e-7 of
// max(1, max|gradient|) over the sampled entries, as for the other families. Local layers use a window shorter than
// the batch's sequences, so the windowed mask is on the gradient path. gelu_new (tanh): ONNX Runtime's CPU Erf is
// float32 only.

import { describe, it, expect } from 'vitest';
import { gptNeoFamily } from '../../src/pipeline/models/gpt-neo.ts';
import type { ParamStore } from '../../src/pipeline/models/family.ts';
import { float64 } from '../../src/pipeline/engine/tensor.ts';
import type { TrainingBatch } from '../../src/pipeline/models/training.ts';
import { tinyNeo, tinyNeoEntries, type TinyNeoOptions } from '../helpers/tiny-neo.ts';
import { checkModelGradients } from '../helpers/model-gradcheck.ts';

const STEP = 1e-5;
const TOLERANCE = 1e-7;

function load(options: TinyNeoOptions) {
  const tiny = tinyNeo(options);
  const config = gptNeoFamily.parseConfig(tiny.config, 'config.json');
  const params: ParamStore = gptNeoFamily.loadParams(config, tinyNeoEntries(tiny), 'tiny');
  for (const [name, t] of params) params.set(name, float64(Float64Array.from(t.data as Float32Array), t.shape));
  return { family: gptNeoFamily, config, params };
}

const BATCH: TrainingBatch = { sequences: [[3, 17, 5, 9, 30, 1, 22, 8], [4, 4, 12, 7, 2]] };

async function checkModel(options: TinyNeoOptions, which: 'kv' | 'all', perParam: number, seed: number) {
  const model = load(options);
  const trainable = which === 'kv' ? gptNeoFamily.kvParamNames(model.config) : [...model.params.keys()];
  return checkModelGradients(model, trainable, BATCH, { perParam, seed, step: STEP });
}

describe('GPT-Neo whole-model gradients vs central finite differences (float64)', () => {
  it('global/local, window 3: K/V weights (no biases) of every layer', async () => {
    const { error, analytic, trainable } = await checkModel({ windowSize: 3 }, 'kv', 8, 1);
    expect(trainable).toEqual([0, 1].flatMap((l) => ['k', 'v'].map((p) => `blocks.${l}.attn.${p}.weight`)));
    expect(analytic.some((a) => Math.abs(a) > 1e-3)).toBe(true);
    expect(error).toBeLessThan(TOLERANCE);
  });

  it('local/global, window 2, untied, no prefix: all parameters', async () => {
    const options: TinyNeoOptions = { attentionTypes: [[['local', 'global'], 1]], windowSize: 2, tied: false, prefix: false, seed: 2 };
    const { error } = await checkModel(options, 'all', 3, 2);
    expect(error).toBeLessThan(TOLERANCE);
  });
});
