// The checks every family's forward tests share, on a loaded tiny model: a right-padded batch equals its examples
// run one by one; a prefix computed once and reused through past keys/values equals the whole sequence; captures
// and logits gathered at chosen positions equal those rows of the full outputs. Each compares logits and every
// capture kind of every layer (relative error < 1e-5: the same float32 graph, only batching differs).

import { expect } from 'vitest';
import { ModelSession, type ModelParts } from '../../src/pipeline/models/forward.ts';
import { CAPTURE_KINDS, captureName } from '../../src/pipeline/models/family.ts';
import type { HostTensor } from '../../src/pipeline/engine/tensor.ts';
import { relativeError } from '../reference/gpt2-reference.ts';

const SAME = 1e-5;
const PER_POSITION = ['attn.q', 'attn.out', 'resid_post'] as const;

/** Rows [from, to) of example `b` of a [batch, time, ...rest] tensor, flattened. */
export function rows(t: HostTensor, b: number, from: number, to: number): Float32Array {
  const [, time, ...rest] = t.shape;
  const width = rest.reduce((a, c) => a * c, 1);
  const start = (b * time + from) * width;
  return (t.data as Float32Array).slice(start, start + (to - from) * width);
}

/** Scores [batch, heads, T, S] of example b, query rows [from, to), keys [0, keys). */
export function scoreRows(t: HostTensor, b: number, from: number, to: number, keys: number): number[] {
  const [, heads, time, S] = t.shape;
  const out: number[] = [];
  for (let h = 0; h < heads; h++) {
    for (let i = from; i < to; i++) {
      for (let j = 0; j < keys; j++) out.push((t.data as Float32Array)[((b * heads + h) * time + i) * S + j]);
    }
  }
  return out;
}

type Outputs = Record<string, HostTensor>;

/** Logits and every capture of every layer agree: rows [aFrom, aFrom + n) of example a, [bFrom, ...) of example b. */
function expectSameRows(layers: number, x: Outputs, a: number, aFrom: number, y: Outputs, b: number, bFrom: number, n: number, keys: number): void {
  expect(relativeError(rows(x.logits, a, aFrom, aFrom + n), rows(y.logits, b, bFrom, bFrom + n)), 'logits').toBeLessThan(SAME);
  for (let l = 0; l < layers; l++) {
    for (const kind of PER_POSITION) {
      const name = captureName(l, kind);
      expect(relativeError(rows(x[name], a, aFrom, aFrom + n), rows(y[name], b, bFrom, bFrom + n)), name).toBeLessThan(SAME);
    }
    const name = captureName(l, 'attn.scores');
    expect(relativeError(scoreRows(x[name], a, aFrom, aFrom + n, keys), scoreRows(y[name], b, bFrom, bFrom + n, keys)), name).toBeLessThan(SAME);
  }
}

export async function expectBatchedEqualsOneByOne(model: ModelParts, sequences: number[][]): Promise<void> {
  const session = await ModelSession.create(model, { captures: CAPTURE_KINDS, logits: 'all' });
  const batched = (await session.forward({ sequences })).outputs;
  for (let b = 0; b < sequences.length; b++) {
    const single = (await session.forward({ sequences: [sequences[b]] })).outputs;
    const n = sequences[b].length;
    expectSameRows(model.config.nLayer, batched, b, 0, single, 0, 0, n, n);
  }
  await session.release();
}

/**
 * A batch-1 prefix run once, its present keys/values reused by every (batched, padded) continuation, equals each
 * whole sequence run from scratch. `presentKeyShape`: the expected shape of layer 0's present keys;
 * `alsoCheck(ids, logits)`: a further check of each continuation's logits (e.g. against a float64 reference).
 */
export async function expectPrefixReuseMatches(
  model: ModelParts,
  prefix: number[],
  sequences: number[][],
  extra: { presentKeyShape?: number[]; alsoCheck?: (ids: number[], continuedLogits: Float32Array) => void } = {},
): Promise<void> {
  const full = await ModelSession.create(model, { captures: CAPTURE_KINDS, logits: 'all' });
  const cached = await ModelSession.create(model, { captures: CAPTURE_KINDS, logits: 'all', withPast: true });
  const { present } = await cached.forward({ sequences: [prefix] });
  const P = prefix.length;
  expect(present?.length).toBe(P);
  if (extra.presentKeyShape) expect(present?.keys[0].shape).toEqual(extra.presentKeyShape);
  const continued = (await cached.forward({ sequences, past: present })).outputs;
  for (let b = 0; b < sequences.length; b++) {
    const ids = [...prefix, ...sequences[b]];
    const whole = (await full.forward({ sequences: [ids] })).outputs;
    const n = sequences[b].length;
    // The continuation's attention spans the prefix and its own tokens: P + n keys, as rows P.. of the whole.
    expectSameRows(model.config.nLayer, continued, b, 0, whole, 0, P, n, P + n);
    extra.alsoCheck?.(ids, rows(continued.logits, b, 0, n));
  }
  await full.release();
  await cached.release();
}

/**
 * Captures and logits gathered at `picks` (per example, positions in its own sequence) equal those rows of the full
 * outputs, and a position past an example's end is refused naming it.
 */
export async function expectGatheredRowsMatch(model: ModelParts, sequences: number[][], picks: number[][]): Promise<void> {
  const full = await ModelSession.create(model, { captures: CAPTURE_KINDS, logits: 'all' });
  const gathered = await ModelSession.create(model, { captures: CAPTURE_KINDS, logits: 'positions', capturePositions: true });
  const all = (await full.forward({ sequences })).outputs;
  const some = (await gathered.forward({ sequences, capturePositions: picks, logitPositions: picks })).outputs;
  expect(some.logits.shape).toEqual([sequences.length, picks[0].length, model.config.vocabSize]);
  const keys = Math.max(...sequences.map((s) => s.length));
  for (let b = 0; b < sequences.length; b++) {
    picks[b].forEach((p, i) => expectSameRows(model.config.nLayer, some, b, i, all, b, p, 1, keys));
  }
  const outside = picks.map((p, b) => (b === 0 ? [sequences[0].length, ...p.slice(1)] : p));
  await expect(gathered.forward({ sequences, capturePositions: outside, logitPositions: picks }))
    .rejects.toThrow(new RegExp(`position ${sequences[0].length} is outside example 0`));
  await full.release();
  await gathered.release();
}
