// The XGLM family (xglm: fairseq dense LMs, XGLM) against an independent float64 reference written from fairseq's
// TransformerDecoder / HF's modeling_xglm.py: logits and every capture (max|a-b|/max|b| <= 1e-4 per tensor, float32
// graph), for several shapes (odd d_model with its zero sinusoid column, tied and untied heads, exact and tanh GELU,
// without embedding scale, without a pad id), and with pad tokens inside a sequence (fairseq: they do not advance
// positions, take the zero position row and are masked as keys). Deliberately wrong references (no sqrt(d) scale, no
// offset of 2, positions that count pads, interleaved sin/cos) fail the same check. Then batching with right padding,
// prefix reuse through past keys/values and gathered positions equal full runs (1e-5).

import { describe, it, expect } from 'vitest';
import { xglmFamily, xglmSinusoidTable } from '../../src/pipeline/models/xglm.ts';
import { ModelSession } from '../../src/pipeline/models/forward.ts';
import { expectBatchedEqualsOneByOne, expectGatheredRowsMatch, expectPrefixReuseMatches } from '../helpers/session-checks.ts';
import { CAPTURE_KINDS, captureName } from '../../src/pipeline/models/family.ts';
import { relativeError } from '../reference/gpt2-reference.ts';
import { xglmReferenceForward, type XglmRefConfig, type XglmRefResult } from '../reference/xglm-reference.ts';
import { tinyXglm, tinyXglmEntries, type TinyXglmOptions } from '../helpers/tiny-xglm.ts';

const TOLERANCE = 1e-4;

function load(options: TinyXglmOptions) {
  const tiny = tinyXglm(options);
  const config = xglmFamily.parseConfig(tiny.config, 'config.json');
  const params = xglmFamily.loadParams(config, tinyXglmEntries(tiny), 'tiny');
  return { tiny, model: { family: xglmFamily, config, params } };
}

function referenceTensors(ref: XglmRefResult, layer: number) {
  const L = ref.layers[layer];
  return { 'attn.q': L.q.flat(), 'attn.out': L.attnOut.flat(), resid_post: L.residPost.flat(), 'attn.scores': L.scores.flat(2) };
}

/** Ids without the pad token (1). */
const IDS = [3, 17, 5, 9, 30, 2, 22, 8, 11, 0, 19, 25];
/** Pad tokens (1) inside the sequence, never first. */
const IDS_WITH_PADS = [3, 17, 1, 9, 30, 1, 1, 22, 8, 11];

const SHAPES: Array<[string, TinyXglmOptions, number[]]> = [
  ['2 layers, 2 heads, d 16, gelu_new, tied, scaled embeddings', {}, IDS],
  ['exact gelu, untied lm_head, 4 heads', { activation: 'gelu', tied: false, nHead: 4, seed: 2 }, IDS],
  ['scale_embedding false, 3 layers, ffn 24', { scaleEmbedding: false, nLayer: 3, ffn: 24, seed: 3 }, IDS],
  ['odd d_model 15 (zero sinusoid column), 3 heads of 5', { dModel: 15, nHead: 3, seed: 4 }, IDS],
  ['no pad_token_id: id 1 is an ordinary token', { padTokenId: null, seed: 5 }, IDS_WITH_PADS],
  ['pad tokens inside the sequence (fairseq positions and key mask)', { seed: 6 }, IDS_WITH_PADS],
];

describe('XGLM forward pass and captures vs an independent float64 reference', () => {
  for (const [label, options, ids] of SHAPES) {
    it(label, async () => {
      const { tiny, model } = load(options);
      const session = await ModelSession.create(model, { captures: CAPTURE_KINDS, logits: 'all' });
      const { outputs } = await session.forward({ sequences: [ids] });
      const ref = xglmReferenceForward(tiny.ref, tiny.refConfig, ids);
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

  const bugs: Array<[XglmRefConfig['bug'], number[]]> = [
    ['no-scale', IDS],
    ['no-offset', IDS],
    ['interleaved', IDS],
    ['arange-positions', IDS_WITH_PADS],
  ];
  for (const [bug, ids] of bugs) {
    it(`a deliberately wrong reference (${bug}) fails the same check`, async () => {
      const { tiny, model } = load({ seed: 6 });
      const session = await ModelSession.create(model, { captures: ['resid_post'], logits: 'all' });
      const { outputs } = await session.forward({ sequences: [ids] });
      const right = xglmReferenceForward(tiny.ref, tiny.refConfig, ids);
      const wrong = xglmReferenceForward(tiny.ref, { ...tiny.refConfig, bug }, ids);
      expect(relativeError(outputs.logits.data as Float32Array, right.logits.flat())).toBeLessThan(TOLERANCE);
      expect(relativeError(outputs.logits.data as Float32Array, wrong.logits.flat())).toBeGreaterThan(1e-2);
      expect(relativeError(outputs[captureName(0, 'resid_post')].data as Float32Array, wrong.layers[0].residPost.flat())).toBeGreaterThan(1e-2);
      await session.release();
    });
  }

  it('the sinusoid table: [sin | cos] halves, row padding_idx zero, angles rounded as torch float32 does', () => {
    const d = 8;
    const table = xglmSinusoidTable(40, d, 1);
    expect(Array.from(table.subarray(d, 2 * d))).toEqual(new Array(d).fill(0));
    expect(Array.from(table.subarray(0, d))).toEqual([0, 0, 0, 0, 1, 1, 1, 1]);
    // f_0 = 1, f_3 = exp(-ln 10000) = 1e-4: row 7 holds sin(7), ..., cos(7e-4) (to float32 rounding of the angle).
    expect(table[7 * d]).toBeCloseTo(Math.sin(7), 6);
    expect(table[7 * d + 4 + 3]).toBeCloseTo(Math.cos(7e-4), 6);
    expect(table[7 * d + 2]).toBeCloseTo(Math.sin(7 * 10000 ** (-2 / 3)), 6);
    // Odd d: the last column is zero.
    const odd = xglmSinusoidTable(5, 7, undefined);
    for (let r = 0; r < 5; r++) expect(odd[r * 7 + 6]).toBe(0);
  });
});

describe('XGLM batching, padding and prefix reuse', () => {
  const sequences = [
    [3, 17, 5, 9, 30, 1, 22],
    [4, 4, 12],
    [39, 0, 2, 5, 5],
  ];
  const PICKS = [[6, 2], [2, 0], [4, 1]];

  const options: TinyXglmOptions = { seed: 8 };

  it('batched, right-padded inputs give the same logits and captures as one-by-one runs', async () => {
    await expectBatchedEqualsOneByOne(load(options).model, sequences);
  });

  for (const P of [1, 4]) {
    it(`a ${P}-token prefix reused through past keys/values matches the full sequence`, async () => {
      const { tiny, model } = load(options);
      await expectPrefixReuseMatches(model, [2, 7, 8, 9].slice(0, P), sequences, {
        presentKeyShape: [1, 2, P, 8],
        alsoCheck: (ids, logits) => {
          const ref = xglmReferenceForward(tiny.ref, tiny.refConfig, ids);
          expect(relativeError(logits, ref.logits.slice(P).flat())).toBeLessThan(TOLERANCE);
        },
      });
    });
  }

  it('captures and logits gathered at chosen positions equal those rows of the full outputs', async () => {
    await expectGatheredRowsMatch(load(options).model, sequences, PICKS);
  });
});
