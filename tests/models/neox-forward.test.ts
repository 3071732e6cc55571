// The GPT-NeoX family (gpt_neox, Pythia) against an independent float64 reference written from HF's
// modeling_gpt_neox.py: logits and every capture (max|a-b|/max|b| <= 1e-4, float32 graph), over parallel and
// sequential residuals, rotary_pct 0.25 / 0.5 / 1.0, tied and untied heads, exact and tanh GELU, no attention biases
// and linear rope scaling; deliberately wrong references (fused q/k/v split as [all q; all k; all v] instead of per
// head, rotary over the whole head) fail. Then batching with padding, prefix reuse and gathered positions equal full
// runs (1e-5).

import { describe, it, expect } from 'vitest';
import { gptNeoxFamily } from '../../src/pipeline/models/gpt-neox.ts';
import { ModelSession } from '../../src/pipeline/models/forward.ts';
import { expectBatchedEqualsOneByOne, expectGatheredRowsMatch, expectPrefixReuseMatches } from '../helpers/session-checks.ts';
import { CAPTURE_KINDS, captureName } from '../../src/pipeline/models/family.ts';
import { relativeError } from '../reference/gpt2-reference.ts';
import { neoxReferenceForward, type NeoxRefResult } from '../reference/neox-reference.ts';
import { tinyNeox, tinyNeoxEntries, type TinyNeoxOptions } from '../helpers/tiny-neox.ts';

const TOLERANCE = 1e-4; // max|a-b| / max|b| per tensor, float32 graph vs float64 reference

function load(options: TinyNeoxOptions) {
  const tiny = tinyNeox(options);
  const config = gptNeoxFamily.parseConfig(tiny.config, 'config.json');
  const params = gptNeoxFamily.loadParams(config, tinyNeoxEntries(tiny), 'tiny');
  return { tiny, model: { family: gptNeoxFamily, config, params } };
}

function referenceTensors(ref: NeoxRefResult, layer: number) {
  const L = ref.layers[layer];
  return { 'attn.q': L.q.flat(), 'attn.out': L.attnOut.flat(), resid_post: L.residPost.flat(), 'attn.scores': L.scores.flat(2) };
}

const SHAPES: Array<[string, TinyNeoxOptions]> = [
  ['Pythia-like: parallel residual, rotary_pct 0.25, exact gelu, untied', { nLayer: 2, nHead: 2, dModel: 16 }],
  ['sequential residual, rotary_pct 1.0, gelu_new, tied', { nLayer: 2, nHead: 2, dModel: 16, parallel: false, rotaryPct: 1, hiddenAct: 'gelu_new', tied: true, seed: 2 }],
  ['parallel, rotary_pct 1.0, gelu_fast, 4 heads of 4', { nLayer: 2, nHead: 4, dModel: 16, rotaryPct: 1, hiddenAct: 'gelu_fast', seed: 3 }],
  ['sequential, rotary_pct 0.25 of head 16 (4 dims), exact gelu, untied', { nLayer: 2, nHead: 2, dModel: 32, parallel: false, seed: 4 }],
  ['attention_bias false, rotary_pct 0.5, tied', { nLayer: 1, nHead: 2, dModel: 16, rotaryPct: 0.5, attentionBias: false, tied: true, seed: 5 }],
  ['linear rope scaling, rotary_pct 0.5', { nLayer: 1, nHead: 2, dModel: 16, rotaryPct: 0.5, ropeScaling: { type: 'linear', factor: 2 }, seed: 6 }],
];

describe('GPT-NeoX forward pass and captures vs an independent float64 reference', () => {
  for (const [label, options] of SHAPES) {
    it(label, async () => {
      const { tiny, model } = load(options);
      const session = await ModelSession.create(model, { captures: CAPTURE_KINDS, logits: 'all' });
      const ids = [3, 17, 5, 9, 30, 1, 22, 8, 11, 2, 19, 25];
      const { outputs } = await session.forward({ sequences: [ids] });
      const ref = neoxReferenceForward(tiny.ref, tiny.refConfig, ids);
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

  it('the residual layout and rope scaling matter (the variants are not accidentally the same model)', async () => {
    const ids = [3, 17, 5, 9, 30, 1, 22, 8, 11, 2, 19, 25];
    const { tiny, model } = load({ nLayer: 2, nHead: 2, dModel: 16, rotaryPct: 0.5, ropeScaling: { type: 'linear', factor: 2 } });
    const session = await ModelSession.create(model, { logits: 'all' });
    const logits = (await session.forward({ sequences: [ids] })).outputs.logits.data as Float32Array;
    const sequential = neoxReferenceForward(tiny.ref, { ...tiny.refConfig, parallelResidual: false }, ids);
    const unscaled = neoxReferenceForward(tiny.ref, { ...tiny.refConfig, ropeScaling: null }, ids);
    expect(relativeError(logits, sequential.logits.flat())).toBeGreaterThan(1e-2);
    expect(relativeError(logits, unscaled.logits.flat())).toBeGreaterThan(1e-3);
    await session.release();
  });

  for (const bug of ['qkv-blocked', 'full-rotary'] as const) {
    it(`a deliberately wrong reference (${bug}) fails the same check`, async () => {
      const { tiny, model } = load({ nLayer: 2, nHead: 2, dModel: 16 });
      const session = await ModelSession.create(model, { captures: ['attn.scores'], logits: 'all' });
      const ids = [3, 17, 5, 9, 30, 1, 22, 8];
      const { outputs } = await session.forward({ sequences: [ids] });
      const wrong = neoxReferenceForward(tiny.ref, { ...tiny.refConfig, bug }, ids);
      expect(relativeError(outputs.logits.data as Float32Array, wrong.logits.flat())).toBeGreaterThan(1e-2);
      expect(relativeError(outputs[captureName(0, 'attn.scores')].data as Float32Array, wrong.layers[0].scores.flat(2))).toBeGreaterThan(1e-2);
      await session.release();
    });
  }
});

describe('GPT-NeoX batching, padding and prefix reuse', () => {
  const sequences = [
    [3, 17, 5, 9, 30, 1, 22],
    [4, 4, 12],
    [39, 0, 2, 5, 5],
  ];
  const PICKS = [[6, 2], [2, 0], [4, 1]];

  const options: TinyNeoxOptions = { nLayer: 2, nHead: 2, dModel: 16, rotaryPct: 0.5, seed: 8 };

  it('batched, right-padded inputs give the same logits and captures as one-by-one runs', async () => {
    await expectBatchedEqualsOneByOne(load(options).model, sequences);
  });

  it('a prefix computed once and reused through past keys/values (rotated keys) matches the full sequence', async () => {
    await expectPrefixReuseMatches(load(options).model, [7, 8, 9, 10, 11], sequences, { presentKeyShape: [1, 2, 5, 8] });
  });

  it('captures and logits gathered at chosen positions equal those rows of the full outputs', async () => {
    await expectGatheredRowsMatch(load(options).model, sequences, PICKS);
  });
});
