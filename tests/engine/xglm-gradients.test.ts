// Whole tiny XGLM models: the training graph's gradients (K/V weights and biases, and all parameters) against central
// finite differences of the same graph's loss. Precision: float64 graphs and parameters, step 1e-5; tolerance 1e-7 of
// max(1, max|gradient|) over the sampled entries, as for the other families. The batch holds a pad token inside a
// sequence, so the pad-aware positions and key mask (integer and boolean ops, no gradient) sit in the graph.
// gelu_new (tanh): ONNX Runtime's CPU Erf is float32 only.

import { describe, it, expect } from 'vitest';
import { xglmFamily } from '../../src/pipeline/models/xglm.ts';
import type { ParamStore } from '../../src/pipeline/models/family.ts';
import { float64 } from '../../src/pipeline/engine/tensor.ts';
import type { TrainingBatch } from '../../src/pipeline/models/training.ts';
import { tinyXglm, tinyXglmEntries, type TinyXglmOptions } from '../helpers/tiny-xglm.ts';
import { checkModelGradients } from '../helpers/model-gradcheck.ts';

const STEP = 1e-5;
const TOLERANCE = 1e-7;

function load(options: TinyXglmOptions) {
  const tiny = tinyXglm(options);
  const config = xglmFamily.parseConfig(tiny.config, 'config.json');
  const params: ParamStore = xglmFamily.loadParams(config, tinyXglmEntries(tiny), 'tiny');
  for (const [name, t] of params) params.set(name, float64(Float64Array.from(t.data as Float32Array), t.shape));
  return { family: xglmFamily, config, params };
}

const BATCH: TrainingBatch = { sequences: [[2, 17, 5, 1, 30, 6, 22, 8], [2, 4, 12, 7, 3]] };

async function checkModel(options: TinyXglmOptions, which: 'kv' | 'all', perParam: number, seed: number) {
  const model = load(options);
  const trainable = which === 'kv' ? xglmFamily.kvParamNames(model.config) : [...model.params.keys()];
  return checkModelGradients(model, trainable, BATCH, { perParam, seed, step: STEP });
}

describe('XGLM whole-model gradients vs central finite differences (float64)', () => {
  it('K/V weights and biases of every layer', async () => {
    const { error, analytic, trainable } = await checkModel({}, 'kv', 6, 1);
    expect(trainable).toEqual([0, 1].flatMap((l) => ['k', 'v'].flatMap((p) => [`blocks.${l}.attn.${p}.weight`, `blocks.${l}.attn.${p}.bias`])));
    expect(analytic.some((a) => Math.abs(a) > 1e-3)).toBe(true);
    expect(error).toBeLessThan(TOLERANCE);
  });

  it('untied lm_head, no embedding scale: all parameters', async () => {
    const { error } = await checkModel({ tied: false, scaleEmbedding: false, seed: 2 }, 'all', 3, 2);
    expect(error).toBeLessThan(TOLERANCE);
  });
});
