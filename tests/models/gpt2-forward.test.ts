import { describe, it, expect } from 'vitest';
import { gpt2Family } from '../../src/pipeline/models/gpt2.ts';
import { ModelSession } from '../../src/pipeline/models/forward.ts';
import { expectBatchedEqualsOneByOne, expectGatheredRowsMatch, expectPrefixReuseMatches } from '../helpers/session-checks.ts';
import { CAPTURE_KINDS, captureName } from '../../src/pipeline/models/family.ts';
import { referenceForward, relativeError, type RefResult } from '../reference/gpt2-reference.ts';
import { tinyGpt2, tinyGpt2Entries, type TinyGpt2Options } from '../helpers/tiny-gpt2.ts';

const TOLERANCE = 1e-4; // max|a-b| / max|b| per tensor, float32 graph vs float64 reference

function load(options: TinyGpt2Options) {
  const tiny = tinyGpt2(options);
  const config = gpt2Family.parseConfig(tiny.config, 'config.json');
  const params = gpt2Family.loadParams(config, tinyGpt2Entries(tiny), 'tiny');
  return { tiny, model: { family: gpt2Family, config, params } };
}

function referenceTensors(ref: RefResult, layer: number) {
  const L = ref.layers[layer];
  return {
    'attn.q': L.q.flat(),
    'attn.out': L.attnOut.flat(),
    resid_post: L.residPost.flat(),
    'attn.scores': L.scores.flat(2),
  };
}

const SHAPES: Array<[string, TinyGpt2Options]> = [
  ['2 layers, 2 heads, d=16', { nLayer: 2, nHead: 2, dModel: 16 }],
  ['3 layers, 4 heads, d=32, transformer. prefix, buffers', { nLayer: 3, nHead: 4, dModel: 32, prefix: true, withBuffers: true, seed: 2 }],
  ['1 layer, 1 head, untied lm_head, exact gelu, n_inner=24', { nLayer: 1, nHead: 1, dModel: 8, nInner: 24, untied: true, activation: 'gelu', seed: 3 }],
  ['2 layers, 4 heads, inverse-layer-idx scaling', { nLayer: 2, nHead: 4, dModel: 16, scaleByInverseLayerIdx: true, seed: 4 }],
];

describe('GPT-2 forward pass and captures vs an independent float64 reference', () => {
  for (const [label, options] of SHAPES) {
    it(label, async () => {
      const { tiny, model } = load(options);
      const session = await ModelSession.create(model, { captures: CAPTURE_KINDS, logits: 'all' });
      const ids = [3, 17, 5, 9, 30, 1, 22, 8, 11];
      const { outputs } = await session.forward({ sequences: [ids] });
      const ref = referenceForward(tiny.ref, tiny.refConfig, ids);
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

  it('a deliberately wrong reference (q/k split order swapped) fails the same check', async () => {
    const { tiny, model } = load({ nLayer: 2, nHead: 2, dModel: 16 });
    const session = await ModelSession.create(model, { captures: ['attn.scores'], logits: 'all' });
    const ids = [3, 17, 5, 9, 30, 1];
    const { outputs } = await session.forward({ sequences: [ids] });
    const wrong = referenceForward(tiny.ref, { ...tiny.refConfig, bug: 'swap-qk-split' }, ids);
    expect(relativeError(outputs.logits.data as Float32Array, wrong.logits.flat())).toBeGreaterThan(1e-2);
    expect(relativeError(outputs[captureName(0, 'attn.scores')].data as Float32Array, wrong.layers[0].scores.flat(2))).toBeGreaterThan(1e-2);
    await session.release();
  });
});

describe('batching, padding and prefix reuse', () => {
  const sequences = [
    [3, 17, 5, 9, 30, 1, 22],
    [4, 4, 12],
    [39, 0, 2, 5, 5],
  ];
  const PICKS = [[6, 2], [2, 0], [4, 1]];

  it('batched, right-padded inputs give the same logits and captures as one-by-one runs', async () => {
    await expectBatchedEqualsOneByOne(load({ nLayer: 2, nHead: 2, dModel: 16, seed: 5 }).model, sequences);
  });

  it('a prefix computed once and reused through past keys/values matches the full sequence', async () => {
    // Every continuation reuses the batch-1 prefix, batched and padded.
    await expectPrefixReuseMatches(load({ nLayer: 2, nHead: 2, dModel: 16, seed: 6 }).model, [7, 8, 9, 10, 11], sequences);
  });

  it('captures and logits gathered at chosen positions equal those rows of the full outputs', async () => {
    await expectGatheredRowsMatch(load({ nLayer: 2, nHead: 2, dModel: 16, seed: 7 }).model, sequences, PICKS);
  });
});
