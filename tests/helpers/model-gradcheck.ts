// Whole-model gradient checks shared by the families' tests: the training graph's gradients at sampled entries of
// every trainable parameter against central finite differences of the same graph's loss, in float64.

import type { ModelParts } from '../../src/pipeline/models/forward.ts';
import type { HostTensor } from '../../src/pipeline/engine/tensor.ts';
import { TrainingSession, type TrainingBatch } from '../../src/pipeline/models/training.ts';
import { Rng } from '../../src/pipeline/util/random.ts';
import { compare } from './gradcheck.ts';

export interface ModelGradCheck {
  /** Relative error (see compare in gradcheck.ts). */
  error: number;
  analytic: number[];
  numeric: number[];
  trainable: string[];
}

/**
 * Finite differences (step `step`) at `perParam` random entries of each trainable parameter, drawn by `seed`.
 * `sampleLimit` narrows where a parameter is sampled (e.g. position rows a short batch never reaches get no gradient).
 */
export async function checkModelGradients(
  model: ModelParts,
  trainable: string[],
  batch: TrainingBatch,
  options: { perParam: number; seed: number; step: number; sampleLimit?: (name: string, t: HostTensor) => number },
): Promise<ModelGradCheck> {
  const session = await TrainingSession.create(model, { trainable, floatType: 'float64' }, { threads: 1 });
  try {
    const { grads } = await session.run(batch);
    const rng = new Rng(options.seed);
    const analytic: number[] = [];
    const numeric: number[] = [];
    for (const name of trainable) {
      const p = model.params.get(name)!;
      const data = p.data as Float64Array;
      const limit = options.sampleLimit?.(name, p) ?? data.length;
      for (let k = 0; k < options.perParam; k++) {
        const j = rng.int(limit);
        const keep = data[j];
        data[j] = keep + options.step;
        const up = await session.loss(batch);
        data[j] = keep - options.step;
        const down = await session.loss(batch);
        data[j] = keep;
        numeric.push((up - down) / (2 * options.step));
        analytic.push((grads.get(name)!.data as Float64Array)[j]);
      }
    }
    return { error: compare([analytic], [numeric]), analytic, numeric, trainable };
  } finally {
    await session.release();
  }
}
