import { describe, it, expect } from 'vitest';
import { gpt2Family } from '../../src/pipeline/models/gpt2.ts';
import { ModelSession } from '../../src/pipeline/models/forward.ts';
import { CAPTURE_KINDS, captureName } from '../../src/pipeline/models/family.ts';
import type { HostTensor } from '../../src/pipeline/engine/tensor.ts';
import { referenceForward, relativeError, type RefResult } from '../reference/gpt2-reference.ts';
import { tinyGpt2, tinyGpt2Entries, type TinyGpt2Options } from '../helpers/tiny-gpt2.ts';

const TOLERANCE = 1e-4; // max|a-b| / max|b| per tensor, float32 graph vs float64 reference

function load(options: TinyGpt2Options) {
  const tiny = tinyGpt2(options);
  const config = gpt2Family.parseConfig(tiny.config, 'config.json');
  const params = gpt2Family.loadParams(config, tinyGpt2Entries(tiny), 'tiny');
  return { tiny, model: { family: gpt2Family, config, params } };
}

/** Rows [from, to) of example `b` of a [batch, time, ...rest] tensor, flattened. */
function rows(t: HostTensor, b: number, from: number, to: number): Float32Array {
  const [, time, ...rest] = t.shape;
  const width = rest.reduce((a, c) => a * c, 1);
  const start = (b * time + from) * width;
  return (t.data as Float32Array).slice(start, start + (to - from) * width);
}

/** Scores [batch, heads, T, S] of example b, query rows [from, to), keys [0, keys). */
function scoreRows(t: HostTensor, b: number, from: number, to: number, keys: number): number[] {
  const [, heads, time, S] = t.shape;
  const out: number[] = [];
  for (let h = 0; h < heads; h++) {
    for (let i = from; i < to; i++) {
      for (let j = 0; j < keys; j++) out.push((t.data as Float32Array)[((b * heads + h) * time + i) * S + j]);
    }
  }
  return out;
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

  it('batched, right-padded inputs give the same logits and captures as one-by-one runs', async () => {
    const { model } = load({ nLayer: 2, nHead: 2, dModel: 16, seed: 5 });
    const session = await ModelSession.create(model, { captures: CAPTURE_KINDS, logits: 'all' });
    const batched = (await session.forward({ sequences })).outputs;
    for (let b = 0; b < sequences.length; b++) {
      const single = (await session.forward({ sequences: [sequences[b]] })).outputs;
      const n = sequences[b].length;
      expect(relativeError(rows(batched.logits, b, 0, n), single.logits.data as Float32Array)).toBeLessThan(1e-5);
      for (let l = 0; l < 2; l++) {
        for (const kind of ['attn.q', 'attn.out', 'resid_post'] as const) {
          const name = captureName(l, kind);
          expect(relativeError(rows(batched[name], b, 0, n), single[name].data as Float32Array), name).toBeLessThan(1e-5);
        }
        const name = captureName(l, 'attn.scores');
        expect(relativeError(scoreRows(batched[name], b, 0, n, n), scoreRows(single[name], 0, 0, n, n))).toBeLessThan(1e-5);
      }
    }
    await session.release();
  });

  it('a prefix computed once and reused through past keys/values matches the full sequence', async () => {
    const { model } = load({ nLayer: 2, nHead: 2, dModel: 16, seed: 6 });
    const full = await ModelSession.create(model, { captures: CAPTURE_KINDS, logits: 'all' });
    const cached = await ModelSession.create(model, { captures: CAPTURE_KINDS, logits: 'all', withPast: true });
    const prefix = [7, 8, 9, 10, 11];
    const { present } = await cached.forward({ sequences: [prefix] });
    expect(present?.length).toBe(prefix.length);
    // Every continuation reuses the batch-1 prefix, batched and padded.
    const continued = (await cached.forward({ sequences, past: present })).outputs;
    const P = prefix.length;
    for (let b = 0; b < sequences.length; b++) {
      const whole = (await full.forward({ sequences: [[...prefix, ...sequences[b]]] })).outputs;
      const n = sequences[b].length;
      expect(relativeError(rows(continued.logits, b, 0, n), rows(whole.logits, 0, P, P + n))).toBeLessThan(1e-5);
      for (let l = 0; l < 2; l++) {
        for (const kind of ['attn.q', 'attn.out', 'resid_post'] as const) {
          const name = captureName(l, kind);
          expect(relativeError(rows(continued[name], b, 0, n), rows(whole[name], 0, P, P + n)), name).toBeLessThan(1e-5);
        }
        const name = captureName(l, 'attn.scores');
        expect(relativeError(scoreRows(continued[name], b, 0, n, P + n), scoreRows(whole[name], 0, P, P + n, P + n))).toBeLessThan(1e-5);
      }
    }
    await full.release();
    await cached.release();
  });

  it('captures and logits gathered at chosen positions equal those rows of the full outputs', async () => {
    const { model } = load({ nLayer: 2, nHead: 2, dModel: 16, seed: 7 });
    const full = await ModelSession.create(model, { captures: CAPTURE_KINDS, logits: 'all' });
    const gathered = await ModelSession.create(model, { captures: CAPTURE_KINDS, logits: 'positions', capturePositions: true });
    const picks = [[6, 2], [2, 0], [4, 1]];
    const all = (await full.forward({ sequences })).outputs;
    const some = (await gathered.forward({ sequences, capturePositions: picks, logitPositions: picks })).outputs;
    expect(some.logits.shape).toEqual([3, 2, 40]);
    for (let b = 0; b < sequences.length; b++) {
      picks[b].forEach((p, i) => {
        expect(relativeError(rows(some.logits, b, i, i + 1), rows(all.logits, b, p, p + 1))).toBeLessThan(1e-5);
        const name = captureName(1, 'attn.out');
        expect(relativeError(rows(some[name], b, i, i + 1), rows(all[name], b, p, p + 1))).toBeLessThan(1e-5);
        const scores = captureName(0, 'attn.scores');
        expect(relativeError(scoreRows(some[scores], b, i, i + 1, 7), scoreRows(all[scores], b, p, p + 1, 7))).toBeLessThan(1e-5);
      });
    }
    await expect(gathered.forward({ sequences, capturePositions: [[7, 0], [0, 0], [0, 0]], logitPositions: picks }))
      .rejects.toThrow(/position 7 is outside example 0/);
    await full.release();
    await gathered.release();
  });
});
