// The captured activations of a run as one safetensors file (kept in the cache, out of git), with documented names,
// readable by any safetensors reader — and the way back: the metrics can be recomputed from this file alone.
//
// Names (n test examples, L layers, H heads, d width, N demonstration tokens, Q longest query-example span):
//   <who>.<setting>.<position>.blocks.{l}.attn.out     [n, d]     attention sub-layer output at p*
//   <who>.<setting>.<position>.blocks.{l}.attn.scores  [n, H, Q]  pre-softmax scores from p* to the query example's
//                                                                 tokens, zero-padded; lengths in ...query_lengths
//   <who>.<setting>.<position>.query_lengths           [n]  I64
//   <who>.icl.<position>.blocks.{l}.attn.demo_scores   [n, N]     head-summed scores from p* to every demo token
//   <who>.ft.<position>.blocks.{l}.attn.q              [n, d]     FT model's query at p* (before 1/sqrt(head_dim))
//   <who>.ft_train.blocks.{l}.attn.q                   [N, d]     each demo token's query at its FT step
//   <who>.<setting>.predictions                        [n]  I64
//   gold [n] I64, demo_lengths [k] I64
// <who> is `model`, `null-untrained` or `null-trained-embeddings`; <setting> is zsl, icl or ft.

import type { NullModelKind } from '../models/family.ts';
import { type TensorInput, toBigInt64, toFloat32, type SafetensorsFile } from '../models/safetensors.ts';
import type { AnalysisPosition } from '../metrics/schema.ts';
import type { PositionCapture, ProtocolResult, SettingResult } from './protocol.ts';

const SETTINGS = ['zsl', 'icl', 'ft'] as const;

export interface ActivationsMeta {
  modelId: string;
  taskId: string;
  seed: number;
  lr: number;
  positions: AnalysisPosition[];
  testIds: string[];
  numLayers: number;
  numHeads: number;
}

function i64(name: string, values: number[]): TensorInput {
  return { name, dtype: 'I64', shape: [values.length], data: BigInt64Array.from(values, (v) => BigInt(v)) };
}

function stack(name: string, rows: Float32Array[], width: number): TensorInput {
  const data = new Float32Array(rows.length * width);
  rows.forEach((r, i) => data.set(r.subarray(0, width), i * width));
  return { name, dtype: 'F32', shape: [rows.length, width], data };
}

function resultTensors(who: string, r: ProtocolResult, positions: readonly AnalysisPosition[], L: number, H: number): TensorInput[] {
  const out: TensorInput[] = [];
  const n = r.tests.length;
  for (const s of SETTINGS) {
    out.push(i64(`${who}.${s}.predictions`, r[s].predictions));
    for (const pos of positions) {
      const caps = r[s].captures.map((c) => c[pos]);
      const base = `${who}.${s}.${pos}`;
      const lengths = caps.map((c) => c.queryScores[0][0].length);
      const Q = Math.max(...lengths);
      out.push(i64(`${base}.query_lengths`, lengths));
      for (let l = 0; l < L; l++) {
        const d = caps[0].attnOut[l].length;
        out.push(stack(`${base}.blocks.${l}.attn.out`, caps.map((c) => c.attnOut[l]), d));
        const scores = new Float32Array(n * H * Q);
        caps.forEach((c, e) => c.queryScores[l].forEach((row, h) => scores.set(row, (e * H + h) * Q)));
        out.push({ name: `${base}.blocks.${l}.attn.scores`, dtype: 'F32', shape: [n, H, Q], data: scores });
        if (s === 'icl') out.push(stack(`${base}.blocks.${l}.attn.demo_scores`, caps.map((c) => c.demoScores![l]), caps[0].demoScores![l].length));
        if (s === 'ft') out.push(stack(`${base}.blocks.${l}.attn.q`, caps.map((c) => c.q![l]), d));
      }
    }
  }
  for (let l = 0; l < L; l++) {
    const q = r.trainQueries[l];
    out.push(stack(`${who}.ft_train.blocks.${l}.attn.q`, q, q[0].length));
  }
  return out;
}

/** Every tensor the metrics of a run (and its null models) are computed from, with the metadata to read them back. */
export function activationTensors(
  meta: ActivationsMeta,
  result: ProtocolResult,
  nulls: ReadonlyMap<NullModelKind, ProtocolResult>,
): { tensors: TensorInput[]; metadata: Record<string, string> } {
  const { positions, numLayers: L, numHeads: H } = meta;
  const tensors = [
    i64('gold', result.gold),
    i64('demo_lengths', result.demoLengths),
    ...resultTensors('model', result, positions, L, H),
  ];
  for (const [kind, r] of nulls) tensors.push(...resultTensors(`null-${kind}`, r, positions, L, H));
  return { tensors, metadata: { format: 'icl-lab activations v1', meta: JSON.stringify({ ...meta, nulls: [...nulls.keys()] }) } };
}

/** The parts of a protocol result the metrics read, rebuilt from an activations file. */
export function resultFromActivations(file: SafetensorsFile, who: string): ProtocolResult {
  const meta = JSON.parse(file.metadata.meta ?? '{}') as ActivationsMeta;
  const get = (name: string) => {
    const t = file.tensors.get(name);
    if (!t) throw new Error(`${file.path}: missing tensor ${name}`);
    return t;
  };
  const ints = (name: string) => Array.from(toBigInt64(get(name)), Number);
  const rows = (name: string) => {
    const t = get(name);
    const data = toFloat32(t);
    return Array.from({ length: t.shape[0] }, (_, i) => data.subarray(i * t.shape[1], (i + 1) * t.shape[1]));
  };
  const gold = ints('gold');
  const demoLengths = ints('demo_lengths');
  const n = gold.length;
  const L = meta.numLayers;
  const setting = (s: (typeof SETTINGS)[number]): SettingResult => {
    const captures: Array<Record<string, PositionCapture>> = Array.from({ length: n }, () => ({}));
    for (const pos of meta.positions) {
      const base = `${who}.${s}.${pos}`;
      const lengths = ints(`${base}.query_lengths`);
      const perLayer = Array.from({ length: L }, (_, l) => {
        const scores = get(`${base}.blocks.${l}.attn.scores`);
        const [, H, Q] = scores.shape;
        const data = toFloat32(scores);
        return {
          out: rows(`${base}.blocks.${l}.attn.out`),
          scores: (e: number) => Array.from({ length: H }, (_, h) => data.subarray((e * H + h) * Q, (e * H + h) * Q + lengths[e])),
          demo: s === 'icl' ? rows(`${base}.blocks.${l}.attn.demo_scores`) : undefined,
          q: s === 'ft' ? rows(`${base}.blocks.${l}.attn.q`) : undefined,
        };
      });
      for (let e = 0; e < n; e++) {
        captures[e][pos] = {
          attnOut: perLayer.map((p) => p.out[e]),
          queryScores: perLayer.map((p) => p.scores(e)),
          ...(s === 'icl' ? { demoScores: perLayer.map((p) => p.demo![e]) } : {}),
          ...(s === 'ft' ? { q: perLayer.map((p) => p.q![e]) } : {}),
        };
      }
    }
    return { predictions: ints(`${who}.${s}.predictions`), captures };
  };
  return {
    demos: demoLengths.map(() => ({ input: '', label: '' })),
    demoLengths,
    demoTokens: [],
    tests: meta.testIds.map((id, e) => ({ id, fields: {}, label: gold[e] })),
    gold,
    lr: meta.lr,
    lrSelection: [],
    zsl: setting('zsl'),
    icl: setting('icl'),
    ft: setting('ft'),
    trainQueries: Array.from({ length: L }, (_, l) => rows(`${who}.ft_train.blocks.${l}.attn.q`)),
    ftLosses: [],
    timings: { selection: 0, zsl: 0, icl: 0, ft: 0, ftZsl: 0 },
  };
}

export function readActivationsMeta(file: SafetensorsFile): ActivationsMeta & { nulls: NullModelKind[] } {
  return JSON.parse(file.metadata.meta ?? '{}');
}

