// The GPT-Neo family (gpt_neo) against an independent float64 reference written from HF's modeling_gpt_neo.py: logits
// and every capture (max|a-b|/max|b| <= 1e-4, float32 graph), with local layers whose window is shorter than the
// sequence, global-only models, with and without the `transformer.` prefix, tied and untied heads, exact and tanh GELU;
// deliberately wrong references (scores scaled by 1/sqrt(head_dim), no window) fail. Then batching with padding,
// prefix reuse across the window edge and gathered positions equal full runs (1e-5).

import { describe, it, expect } from 'vitest';
import { gptNeoFamily } from '../../src/pipeline/models/gpt-neo.ts';
import { ModelSession } from '../../src/pipeline/models/forward.ts';
import { expectBatchedEqualsOneByOne, expectGatheredRowsMatch, expectPrefixReuseMatches } from '../helpers/session-checks.ts';
import { CAPTURE_KINDS, captureName } from '../../src/pipeline/models/family.ts';
import { relativeError } from '../reference/gpt2-reference.ts';
import { neoReferenceForward, type NeoRefResult } from '../reference/neo-reference.ts';
import { tinyNeo, tinyNeoEntries, type TinyNeoOptions } from '../helpers/tiny-neo.ts';

const TOLERANCE = 1e-4;

function load(options: TinyNeoOptions) {
  const tiny = tinyNeo(options);
  const config = gptNeoFamily.parseConfig(tiny.config, 'config.json');
  const params = gptNeoFamily.loadParams(config, tinyNeoEntries(tiny), 'tiny');
  return { tiny, model: { family: gptNeoFamily, config, params } };
}

function referenceTensors(ref: NeoRefResult, layer: number) {
  const L = ref.layers[layer];
  return { 'attn.q': L.q.flat(), 'attn.out': L.attnOut.flat(), resid_post: L.residPost.flat(), 'attn.scores': L.scores.flat(2) };
}

const IDS = [3, 17, 5, 9, 30, 1, 22, 8, 11, 2, 19, 25];

const SHAPES: Array<[string, TinyNeoOptions]> = [
  ['global/local alternating, window 4 < 12 tokens, prefix, tied, gelu_new', {}],
  ['local/global x2, window 3, no prefix, untied, exact gelu, 4 heads', { attentionTypes: [[['local', 'global'], 2]], windowSize: 3, prefix: false, tied: false, activation: 'gelu', nHead: 4, seed: 2 }],
  ['global only, 2 layers, intermediate_size null', { attentionTypes: [[['global'], 2]], intermediate: null, seed: 3 }],
  ['local only, window 1 (each token sees itself)', { attentionTypes: [[['local'], 2]], windowSize: 1, seed: 4 }],
  ['window larger than the sequence: local equals global', { attentionTypes: [[['global', 'local'], 1]], windowSize: 20, seed: 5 }],
];

describe('GPT-Neo forward pass and captures vs an independent float64 reference', () => {
  for (const [label, options] of SHAPES) {
    it(label, async () => {
      const { tiny, model } = load(options);
      const session = await ModelSession.create(model, { captures: CAPTURE_KINDS, logits: 'all' });
      const { outputs } = await session.forward({ sequences: [IDS] });
      const ref = neoReferenceForward(tiny.ref, tiny.refConfig, IDS);
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

  for (const bug of ['scaled', 'no-window'] as const) {
    it(`a deliberately wrong reference (${bug}) fails the same check`, async () => {
      const { tiny, model } = load({});
      const session = await ModelSession.create(model, { captures: ['attn.scores', 'resid_post'], logits: 'all' });
      const { outputs } = await session.forward({ sequences: [IDS] });
      const wrong = neoReferenceForward(tiny.ref, { ...tiny.refConfig, bug }, IDS);
      expect(relativeError(outputs.logits.data as Float32Array, wrong.logits.flat())).toBeGreaterThan(1e-2);
      // The local layer (1) differs from a windowless one; scaling shows already in layer 0's scores.
      expect(relativeError(outputs[captureName(1, 'resid_post')].data as Float32Array, wrong.layers[1].residPost.flat())).toBeGreaterThan(1e-2);
      if (bug === 'scaled') {
        expect(relativeError(outputs[captureName(0, 'attn.scores')].data as Float32Array, wrong.layers[0].scores.flat(2))).toBeGreaterThan(1e-2);
      }
      await session.release();
    });
  }
});

describe('GPT-Neo batching, padding and prefix reuse (window 4)', () => {
  const sequences = [
    [3, 17, 5, 9, 30, 1, 22],
    [4, 4, 12],
    [39, 0, 2, 5, 5],
  ];
  const PICKS = [[6, 2], [2, 0], [4, 1]];

  const options: TinyNeoOptions = { attentionTypes: [[['local', 'global'], 1]], windowSize: 4, seed: 8 };

  it('batched, right-padded inputs give the same logits and captures as one-by-one runs', async () => {
    await expectBatchedEqualsOneByOne(load(options).model, sequences);
  });

  // Prefixes of 2, 3 and 5 tokens: continuation queries sit just inside, at and past the window edge of the prefix.
  for (const P of [2, 3, 5]) {
    it(`a ${P}-token prefix reused through past keys/values matches the full sequence (window edge)`, async () => {
      const { tiny, model } = load(options);
      await expectPrefixReuseMatches(model, [7, 8, 9, 10, 11].slice(0, P), sequences, {
        presentKeyShape: [1, 2, P, 8],
        alsoCheck: (ids, logits) => {
          const ref = neoReferenceForward(tiny.ref, tiny.refConfig, ids);
          expect(relativeError(logits, ref.logits.slice(P).flat())).toBeLessThan(TOLERANCE);
        },
      });
    });
  }

  it('captures and logits gathered at chosen positions equal those rows of the full outputs', async () => {
    await expectGatheredRowsMatch(load(options).model, sequences, PICKS);
  });
});
