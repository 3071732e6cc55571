// Whole tiny GPT-2s: the training graph's loss and gradients (K/V parameters, and all parameters) against central
// finite differences of the same graph's loss. Precision: float64 graphs and parameters, step 1e-5; tolerance
// 1e-7 of max(1, max|gradient|) over the sampled entries (observed errors are ~1e-10).

import { describe, it, expect } from 'vitest';
import { gpt2Family } from '../../src/pipeline/models/gpt2.ts';
import { ModelSession } from '../../src/pipeline/models/forward.ts';
import type { ParamStore } from '../../src/pipeline/models/family.ts';
import { OPS } from '../../src/pipeline/engine/ops.ts';
import { float64, type HostTensor } from '../../src/pipeline/engine/tensor.ts';
import { TrainingSession, buildTrainingGraph, planLengthGroups, type TrainingBatch } from '../../src/pipeline/models/training.ts';
import { tinyGpt2, tinyGpt2Entries, type TinyGpt2Options } from '../helpers/tiny-gpt2.ts';
import { checkModelGradients } from '../helpers/model-gradcheck.ts';
import { compare } from '../helpers/gradcheck.ts';

const STEP = 1e-5;
const TOLERANCE = 1e-7;

function load(options: TinyGpt2Options, precision: 'float32' | 'float64' = 'float64') {
  const tiny = tinyGpt2(options);
  const config = gpt2Family.parseConfig(tiny.config, 'config.json');
  const params: ParamStore = gpt2Family.loadParams(config, tinyGpt2Entries(tiny), 'tiny');
  if (precision === 'float64') for (const [name, t] of params) params.set(name, float64(Float64Array.from(t.data as Float32Array), t.shape));
  return { family: gpt2Family, config, params };
}

// Two examples of different lengths: the right-padded batch exercises the mask as well.
const BATCH: TrainingBatch = { sequences: [[3, 17, 5, 9, 30, 1, 22, 8], [4, 4, 12, 7, 2]] };

/** Finite differences at `perParam` random entries of every trainable parameter; returns the relative error. */
async function checkModel(options: TinyGpt2Options, which: 'kv' | 'all', perParam: number, seed: number) {
  const model = load(options);
  const trainable = which === 'kv' ? gpt2Family.kvParamNames(model.config) : [...model.params.keys()];
  // Position rows past the longest example get no gradient: sample the rows in use.
  const sampleLimit = (name: string, t: HostTensor) => (name === 'embed.positions' ? 8 * t.shape[1] : t.data.length);
  return checkModelGradients(model, trainable, BATCH, { perParam, seed, step: STEP, sampleLimit });
}

describe('whole-model gradients vs central finite differences (float64)', () => {
  it('2 layers, 2 heads: K/V weights and biases of every layer', async () => {
    const { error, analytic } = await checkModel({ nLayer: 2, nHead: 2, dModel: 16 }, 'kv', 6, 1);
    expect(analytic.some((a) => Math.abs(a) > 1e-3)).toBe(true);
    expect(error).toBeLessThan(TOLERANCE);
  });

  it('2 layers, 2 heads: all parameters (tied embeddings)', async () => {
    const { error } = await checkModel({ nLayer: 2, nHead: 2, dModel: 16, seed: 2 }, 'all', 3, 2);
    expect(error).toBeLessThan(TOLERANCE);
  });

  it('3 layers, 4 heads, untied lm_head, inverse-layer-idx scaling: all parameters', async () => {
    const options = { nLayer: 3, nHead: 4, dModel: 16, untied: true, scaleByInverseLayerIdx: true, seed: 3 };
    const { error } = await checkModel(options, 'all', 2, 3);
    expect(error).toBeLessThan(TOLERANCE);
  });

  it('a deliberately broken rule (Softmax without the row-sum term) fails the same check', async () => {
    const saved = OPS.Softmax;
    OPS.Softmax = { ...saved, vjp: (g, node, [gy]) => [gy && g.mul(node.outputs[0], gy)] };
    try {
      const { error } = await checkModel({ nLayer: 2, nHead: 2, dModel: 16 }, 'kv', 4, 1);
      expect(error).toBeGreaterThan(1e-3);
    } finally {
      OPS.Softmax = saved;
    }
  });
});

describe('the training loss', () => {
  it('equals the mean next-token NLL computed from the logits, which match a forward-only session', async () => {
    const model = load({ nLayer: 2, nHead: 2, dModel: 16, seed: 4 });
    const session = await TrainingSession.create(model, { trainable: gpt2Family.kvParamNames(model.config), floatType: 'float64' });
    const result = await session.run(BATCH, { logits: true });
    await session.release();
    const logits = result.logits!;
    const [, time, vocab] = logits.shape;
    const data = logits.data as Float64Array;
    let sum = 0;
    let count = 0;
    BATCH.sequences.forEach((seq, b) => {
      for (let t = 0; t + 1 < seq.length; t++) {
        const row = data.subarray((b * time + t) * vocab, (b * time + t + 1) * vocab);
        const max = Math.max(...row);
        const logZ = max + Math.log(row.reduce((s, v) => s + Math.exp(v - max), 0));
        sum += logZ - row[seq[t + 1]];
        count++;
      }
    });
    expect(result.targets).toBe(count);
    expect(Math.abs(result.loss - sum / count)).toBeLessThan(1e-12);
    // The forward-only graph gives the same logits up to ONNX Runtime's kernel choices (its float64 GELU uses
    // float32 constants: ~1e-8 against a pure float64 reference).
    const forward = await ModelSession.create(model, { logits: 'all', floatType: 'float64' });
    const plain = (await forward.forward({ sequences: BATCH.sequences })).outputs.logits;
    await forward.release();
    expect(compare([data], [plain.data as Float64Array])).toBeLessThan(1e-7);
  });

  it('on a padded batch is the target-weighted mean of the examples run alone, gradients too; masks select targets', async () => {
    const model = load({ nLayer: 2, nHead: 2, dModel: 16, seed: 5 });
    const trainable = gpt2Family.kvParamNames(model.config);
    const session = await TrainingSession.create(model, { trainable, floatType: 'float64' });
    const both = await session.run(BATCH);
    const [a, b] = await Promise.all(BATCH.sequences.map((s) => session.run({ sequences: [s] })));
    const n = a.targets + b.targets;
    expect(Math.abs(both.loss - (a.loss * a.targets + b.loss * b.targets) / n)).toBeLessThan(1e-12);
    for (const name of trainable) {
      const [gb, ga, gc] = [both, a, b].map((r) => r.grads.get(name)!.data as Float64Array);
      const mixed = ga.map((v, i) => (v * a.targets + gc[i] * b.targets) / n);
      expect(compare([gb], [mixed]), name).toBeLessThan(1e-12);
    }
    // Only the last target of the first example: the same as a sequence whose other targets are masked.
    const flags = BATCH.sequences[0].slice(1).map((_t, i, all) => i === all.length - 1);
    const last = await session.run({ sequences: [BATCH.sequences[0]], targetMask: [flags] });
    expect(last.targets).toBe(1);
    await expect(session.run({ sequences: [[5]] })).rejects.toThrow(/no next-token targets/);
    await session.release();
  });

  it('emits backward MatMuls only for what K/V gradients need', () => {
    const model = load({ nLayer: 2, nHead: 2, dModel: 16 }, 'float32');
    const g = buildTrainingGraph(model, { trainable: gpt2Family.kvParamNames(model.config) });
    // Forward: 8 per layer (q, k, v, scores, context, o, fc, proj) + logits = 17. Backward: 1 through the logits;
    // top layer 12 (dx through proj, fc, o; d probs, dV, dQ, dK; dWk, dWv; dh through q, k, v); bottom layer 8 (its
    // query and input do not depend on any K/V, so no dQ and no dh).
    expect(g.nodes.filter((n) => n.op === 'MatMul')).toHaveLength(17 + 1 + 12 + 8);
    expect(g.nodes.some((n) => n.op === 'ScatterND')).toBe(false); // no embedding gradient for K/V training
  });
});

describe('cheaper training steps, same numbers', () => {
  // Lengths that make runGrouped split the batch; label-only targets as in pretraining (one example has none).
  const sequences = [
    [3, 17, 5, 9, 30, 1, 22, 8, 11, 2, 6, 7, 19, 21, 4, 33, 2, 8, 5],
    [4, 4, 12],
    [39, 0, 2, 5, 5, 7, 1, 1, 3, 2, 6, 9, 12, 30, 31, 32, 2, 3],
    [7, 8],
    [9, 1, 1, 2, 3, 4, 5, 6],
  ];
  const targetMask = sequences.map((s, b) => s.slice(1).map((_t, i) => b !== 3 && (i % 3 === 2 || i === s.length - 2)));
  const batch: TrainingBatch = { sequences, targetMask };

  // Costs that make these short examples worth splitting.
  const cost = { attentionTokens: 8, runTokens: 4 };

  async function stepOf(options: { logits?: 'all' | 'targets' }, grouped: boolean, b: TrainingBatch = batch) {
    const model = load({ nLayer: 2, nHead: 2, dModel: 16, seed: 8 });
    const trainable = [...model.params.keys()];
    const session = await TrainingSession.create(model, { trainable, floatType: 'float64', ...options }, { threads: 1 });
    try {
      return grouped ? await session.runGrouped(b, cost) : await session.run(b);
    } finally {
      await session.release();
    }
  }

  function expectSame(a: Awaited<ReturnType<typeof stepOf>>, b: Awaited<ReturnType<typeof stepOf>>, tolerance: number) {
    expect(b.targets).toBe(a.targets);
    expect(Math.abs(a.loss - b.loss)).toBeLessThan(tolerance);
    for (const [name, g] of a.grads) expect(compare([g.data as Float64Array], [b.grads.get(name)!.data as Float64Array]), name).toBeLessThan(tolerance);
  }

  it('logits at the counted targets only give the loss and gradients of logits everywhere', async () => {
    const all = await stepOf({ logits: 'all' }, false);
    const targets = await stepOf({ logits: 'targets' }, false);
    expect(all.targets).toBe(targetMask.flat().filter(Boolean).length);
    expectSame(all, targets, 1e-12);
    // Without a mask every next-token target counts: the rows are every position but the last.
    const plain = { sequences: BATCH.sequences };
    expectSame(await stepOf({ logits: 'all' }, false, plain), await stepOf({ logits: 'targets' }, false, plain), 1e-12);
  });

  it('the training graph with logits at targets has no full-vocabulary rows', () => {
    const model = load({ nLayer: 1, nHead: 2, dModel: 16 }, 'float32');
    const g = buildTrainingGraph(model, { trainable: [...model.params.keys()], logits: 'targets' });
    expect(g.outputs.find((o) => o.name === 'logits')!.shape).toEqual(['batch', 'n_logit', 40]);
    expect(g.inputs.find((v) => v.name === 'targets')!.shape).toEqual(['batch', 'n_logit']);
  });

  it('runGrouped (examples run in groups of similar length) gives the loss and gradients of one run', async () => {
    const groups = planLengthGroups(sequences.map((s) => s.length), cost);
    expect(groups.length).toBeGreaterThan(1);
    const single = await stepOf({ logits: 'targets' }, false);
    const grouped = await stepOf({ logits: 'targets' }, true);
    expectSame(single, grouped, 1e-12);
    expectSame(single, await stepOf({ logits: 'all' }, true), 1e-12);
    await expect(stepOf({}, true, { sequences: [[5], [6]] })).rejects.toThrow(/no next-token targets/);
  });

  it('plans length groups deterministically: longest first, every example once, cuts only where they pay', () => {
    const lengths = [250, 30, 120, 255, 31, 118, 64, 240, 33, 121];
    const groups = planLengthGroups(lengths, { attentionTokens: 400 });
    expect(groups.flat().sort((a, b) => a - b)).toEqual(lengths.map((_, i) => i));
    const flat = groups.flat();
    for (let i = 1; i < flat.length; i++) expect(lengths[flat[i]]).toBeLessThanOrEqual(lengths[flat[i - 1]]);
    expect(groups.length).toBeGreaterThan(1);
    expect(planLengthGroups(lengths, { attentionTokens: 400 })).toEqual(groups);
    // Equal lengths, or a run cost that dwarfs the padding: one group.
    expect(planLengthGroups([100, 100, 100], { attentionTokens: 400 })).toEqual([[0, 1, 2]]);
    expect(planLengthGroups(lengths, { attentionTokens: 400, runTokens: 1e9 })).toHaveLength(1);
  });
});
