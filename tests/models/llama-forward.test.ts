// The Llama-style family (llama / qwen2 / mistral) against an independent float64 reference written from HF's
// modeling_llama.py: logits and every capture (max|a-b|/max|b| <= 1e-4, float32 graph), over GQA, MHA, MQA,
// Qwen2 q/k/v biases, Llama attention_bias, tied and untied heads, llama3 and linear rope scaling and an explicit
// head_dim; deliberately wrong references (interleaved rotary, K/V heads repeated in the wrong order) fail. Then
// batching with padding, prefix reuse and gathered positions equal full runs (1e-5).

import { describe, it, expect } from 'vitest';
import { llamaFamily } from '../../src/pipeline/models/llama.ts';
import { ModelSession } from '../../src/pipeline/models/forward.ts';
import { expectBatchedEqualsOneByOne, expectGatheredRowsMatch, expectPrefixReuseMatches } from '../helpers/session-checks.ts';
import { CAPTURE_KINDS, captureName } from '../../src/pipeline/models/family.ts';
import { relativeError } from '../reference/gpt2-reference.ts';
import { llamaReferenceForward, type LlamaRefResult } from '../reference/llama-reference.ts';
import { tinyLlama, tinyLlamaEntries, type TinyLlamaOptions } from '../helpers/tiny-llama.ts';

const TOLERANCE = 1e-4; // max|a-b| / max|b| per tensor, float32 graph vs float64 reference

function load(options: TinyLlamaOptions) {
  const tiny = tinyLlama(options);
  const config = llamaFamily.parseConfig(tiny.config, 'config.json');
  const params = llamaFamily.loadParams(config, tinyLlamaEntries(tiny), 'tiny');
  return { tiny, model: { family: llamaFamily, config, params } };
}

function referenceTensors(ref: LlamaRefResult, layer: number) {
  const L = ref.layers[layer];
  return { 'attn.q': L.q.flat(), 'attn.out': L.attnOut.flat(), resid_post: L.residPost.flat(), 'attn.scores': L.scores.flat(2) };
}

const LLAMA3 = { rope_type: 'llama3', factor: 4, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 32 };

const SHAPES: Array<[string, TinyLlamaOptions]> = [
  ['llama, GQA: 4 query heads sharing 2 K/V heads, tied', { nLayer: 2, nHead: 4, nKvHead: 2, dModel: 16 }],
  ['llama, MHA: 2 heads, untied lm_head', { nLayer: 2, nHead: 2, nKvHead: 2, dModel: 16, untied: true, seed: 2 }],
  ['qwen2: q/k/v biases, GQA 4/2, tied', { modelType: 'qwen2', nLayer: 2, nHead: 4, nKvHead: 2, dModel: 16, seed: 3 }],
  ['llama attention_bias (q/k/v/o), MQA 4/1, untied', { nLayer: 2, nHead: 4, nKvHead: 1, dModel: 16, attentionBias: true, untied: true, seed: 4 }],
  ['llama3 rope scaling, head_dim 8 (all three frequency bands)', { nLayer: 2, nHead: 2, nKvHead: 1, dModel: 16, ropeScaling: LLAMA3, seed: 5 }],
  ['linear rope scaling ("type" key)', { nLayer: 1, nHead: 2, nKvHead: 2, dModel: 16, ropeScaling: { type: 'linear', factor: 2 }, seed: 6 }],
  ['mistral, explicit head_dim 6 (q width 24 != hidden 16), GQA 4/2', { modelType: 'mistral', nLayer: 2, nHead: 4, nKvHead: 2, dModel: 16, headDim: 6, seed: 7 }],
];

describe('Llama-style forward pass and captures vs an independent float64 reference', () => {
  for (const [label, options] of SHAPES) {
    it(label, async () => {
      const { tiny, model } = load(options);
      const session = await ModelSession.create(model, { captures: CAPTURE_KINDS, logits: 'all' });
      const ids = [3, 17, 5, 9, 30, 1, 22, 8, 11, 2, 19, 25];
      const { outputs } = await session.forward({ sequences: [ids] });
      const ref = llamaReferenceForward(tiny.ref, tiny.refConfig, ids);
      expect(relativeError(outputs.logits.data as Float32Array, ref.logits.flat())).toBeLessThan(TOLERANCE);
      for (let l = 0; l < model.config.nLayer; l++) {
        const expected = referenceTensors(ref, l);
        for (const kind of CAPTURE_KINDS) {
          const err = relativeError(outputs[captureName(l, kind)].data as Float32Array, expected[kind]);
          expect(err, `${captureName(l, kind)}`).toBeLessThan(TOLERANCE);
        }
      }
      await session.release();
    });
  }

  it('rope scaling changes the result (the scaled models are not accidentally unscaled)', async () => {
    const { tiny, model } = load({ nLayer: 2, nHead: 2, nKvHead: 1, dModel: 16, ropeScaling: LLAMA3, seed: 5 });
    const session = await ModelSession.create(model, { logits: 'all' });
    const ids = [3, 17, 5, 9, 30, 1, 22, 8, 11, 2, 19, 25];
    const { outputs } = await session.forward({ sequences: [ids] });
    const unscaled = llamaReferenceForward(tiny.ref, { ...tiny.refConfig, ropeScaling: null }, ids);
    expect(relativeError(outputs.logits.data as Float32Array, unscaled.logits.flat())).toBeGreaterThan(1e-3);
    await session.release();
  });

  for (const bug of ['interleaved-rope', 'kv-repeat-order'] as const) {
    it(`a deliberately wrong reference (${bug}) fails the same check`, async () => {
      const { tiny, model } = load({ nLayer: 2, nHead: 4, nKvHead: 2, dModel: 16 });
      const session = await ModelSession.create(model, { captures: ['attn.scores'], logits: 'all' });
      const ids = [3, 17, 5, 9, 30, 1, 22, 8];
      const { outputs } = await session.forward({ sequences: [ids] });
      const wrong = llamaReferenceForward(tiny.ref, { ...tiny.refConfig, bug }, ids);
      expect(relativeError(outputs.logits.data as Float32Array, wrong.logits.flat())).toBeGreaterThan(1e-2);
      expect(relativeError(outputs[captureName(0, 'attn.scores')].data as Float32Array, wrong.layers[0].scores.flat(2))).toBeGreaterThan(1e-2);
      await session.release();
    });
  }
});

describe('Llama batching, padding and prefix reuse', () => {
  const sequences = [
    [3, 17, 5, 9, 30, 1, 22],
    [4, 4, 12],
    [39, 0, 2, 5, 5],
  ];
  const PICKS = [[6, 2], [2, 0], [4, 1]];

  // Qwen2-style biases and GQA: every part of the attention path.
  const options: TinyLlamaOptions = { modelType: 'qwen2', nLayer: 2, nHead: 4, nKvHead: 2, dModel: 16, seed: 8 };

  it('batched, right-padded inputs give the same logits and captures as one-by-one runs', async () => {
    await expectBatchedEqualsOneByOne(load(options).model, sequences);
  });

  it('a prefix computed once and reused through past keys/values (nKvHead heads, rotated keys) matches the full sequence', async () => {
    await expectPrefixReuseMatches(load(options).model, [7, 8, 9, 10, 11], sequences, { presentKeyShape: [1, 2, 5, 4] });
  });

  it('captures and logits gathered at chosen positions equal those rows of the full outputs', async () => {
    await expectGatheredRowsMatch(load(options).model, sequences, PICKS);
  });
});
