// An independent plain-TypeScript GPT-NeoX (Pythia) forward pass in float64, written from the Hugging Face
// modeling_gpt_neox.py definition directly over HF tensor names and nn.Linear [out, in] layouts (no ONNX, no shared
// code with the pipeline's graph), to check the ONNX graph and every capture against.

import type { RefTensor } from './gpt2-reference.ts';

export interface NeoxRefConfig {
  nLayer: number;
  nHead: number;
  dModel: number;
  vocabSize: number;
  eps: number;
  rotaryPct: number;
  rotaryBase: number;
  /** HF's rope_scaling dict as in config.json, or null. */
  ropeScaling: Record<string, number | string> | null;
  parallelResidual: boolean;
  gelu: 'exact' | 'tanh';
  /** query_key_value and dense have biases. */
  attentionBias: boolean;
  tied: boolean;
  /** Deliberately wrong variants, to show the comparison can fail. */
  bug?: 'qkv-blocked' | 'full-rotary';
}

export interface NeoxRefLayer {
  q: number[][]; // [T][H*hd], projection incl. bias, after rotary, before scaling
  scores: number[][][]; // [H][T][T], before mask and softmax (future entries included)
  attnOut: number[][]; // [T][d], dense output incl. bias
  residPost: number[][]; // [T][d]
}

export interface NeoxRefResult {
  layers: NeoxRefLayer[];
  logits: number[][]; // [T][V]
}

function erf(x: number): number {
  const t = Math.abs(x);
  if (t < 3) {
    let sum = t;
    let term = t;
    for (let n = 1; n < 60; n++) {
      term *= (-t * t) / n;
      sum += term / (2 * n + 1);
    }
    return Math.sign(x) * (2 / Math.sqrt(Math.PI)) * sum;
  }
  return Math.sign(x) * (1 - (Math.exp(-t * t) / (t * Math.sqrt(Math.PI))) * (1 - 1 / (2 * t * t)));
}

/** ACT2FN: "gelu" is exact (erf); "gelu_new" / "gelu_fast" are the tanh approximation. */
function gelu(x: number, kind: 'exact' | 'tanh'): number {
  if (kind === 'exact') return 0.5 * x * (1 + erf(x / Math.SQRT2));
  return 0.5 * x * (1 + Math.tanh(0.7978845608028654 * x * (1 + 0.044715 * x * x)));
}

function layerNorm(x: number[], w: ArrayLike<number>, b: ArrayLike<number>, eps: number): number[] {
  const n = x.length;
  const mean = x.reduce((a, v) => a + v, 0) / n;
  const variance = x.reduce((a, v) => a + (v - mean) * (v - mean), 0) / n;
  const inv = 1 / Math.sqrt(variance + eps);
  return x.map((v, i) => (v - mean) * inv * w[i] + b[i]);
}

/** nn.Linear: y = x W^T + b with W stored [out, in] row-major. */
function linear(x: number[], w: RefTensor, b?: RefTensor): number[] {
  const [outDim, inDim] = w.shape;
  const y = new Array<number>(outDim);
  for (let o = 0; o < outDim; o++) {
    let s = b ? b.data[o] : 0;
    for (let i = 0; i < inDim; i++) s += w.data[o * inDim + i] * x[i];
    y[o] = s;
  }
  return y;
}

/** apply_rotary_pos_emb on the first `dim` entries of one head vector; the rest pass through. */
function rotary(x: number[], pos: number, dim: number, cfg: NeoxRefConfig): number[] {
  if (dim === 0) return [...x];
  const inv: number[] = [];
  for (let i = 0; i < dim; i += 2) inv.push(1 / Math.pow(cfg.rotaryBase, i / dim));
  const s = cfg.ropeScaling;
  const factor = s && (s.rope_type ?? s.type) === 'linear' ? Number(s.factor) : 1;
  // Linear scaling: t = arange(seq) / factor, i.e. every frequency divided by factor.
  const emb = [...inv, ...inv].map((f) => (pos * f) / factor);
  const half = dim / 2;
  const rot = x.slice(0, dim);
  const rotated = [...rot.slice(half).map((v) => -v), ...rot.slice(0, half)];
  return [...rot.map((v, i) => v * Math.cos(emb[i]) + rotated[i] * Math.sin(emb[i])), ...x.slice(dim)];
}

export function neoxReferenceForward(
  tensors: Map<string, RefTensor>,
  cfg: NeoxRefConfig,
  ids: number[],
  positions: number[] = ids.map((_, i) => i),
): NeoxRefResult {
  const get = (name: string): RefTensor => {
    const t = tensors.get(name);
    if (!t) throw new Error(`reference: missing ${name}`);
    return t;
  };
  const maybe = (name: string): RefTensor | undefined => (cfg.attentionBias ? get(name) : undefined);
  const { dModel: d, nHead: H } = cfg;
  const hs = d / H;
  const rotaryDim = cfg.bug === 'full-rotary' ? hs : Math.floor(hs * cfg.rotaryPct);
  const T = ids.length;
  const embed = get('gpt_neox.embed_in.weight');
  let x = ids.map((id) => Array.from({ length: d }, (_, i) => embed.data[id * d + i]));
  const layers: NeoxRefLayer[] = [];
  for (let l = 0; l < cfg.nLayer; l++) {
    const p = (n: string) => get(`gpt_neox.layers.${l}.${n}`);
    const pb = (n: string) => maybe(`gpt_neox.layers.${l}.${n}`);
    const ln1 = x.map((row) => layerNorm(row, p('input_layernorm.weight').data, p('input_layernorm.bias').data, cfg.eps));
    const qkv = ln1.map((row) => linear(row, p('attention.query_key_value.weight'), pb('attention.query_key_value.bias')));
    // qkv.view(..., H, 3 * hs) then chunk(3) on the last axis: head h is [q_h; k_h; v_h].
    const part = (row: number[], head: number, which: number) =>
      cfg.bug === 'qkv-blocked'
        ? row.slice(which * d + head * hs, which * d + (head + 1) * hs)
        : row.slice(head * 3 * hs + which * hs, head * 3 * hs + (which + 1) * hs);
    const q = qkv.map((row, t) => Array.from({ length: H }, (_, h) => rotary(part(row, h, 0), positions[t], rotaryDim, cfg)));
    const k = qkv.map((row, t) => Array.from({ length: H }, (_, h) => rotary(part(row, h, 1), positions[t], rotaryDim, cfg)));
    const v = qkv.map((row) => Array.from({ length: H }, (_, h) => part(row, h, 2)));
    const norm = 1 / Math.sqrt(hs);
    const scores: number[][][] = [];
    const context = Array.from({ length: T }, () => new Array<number>(d).fill(0));
    for (let h = 0; h < H; h++) {
      const s: number[][] = [];
      for (let i = 0; i < T; i++) {
        const row: number[] = [];
        for (let j = 0; j < T; j++) {
          let dot = 0;
          for (let e = 0; e < hs; e++) dot += q[i][h][e] * k[j][h][e];
          row.push(dot * norm);
        }
        s.push(row);
        const visible = row.slice(0, i + 1);
        const max = Math.max(...visible);
        const exps = visible.map((z) => Math.exp(z - max));
        const total = exps.reduce((a, b) => a + b, 0);
        for (let j = 0; j <= i; j++) {
          const w = exps[j] / total;
          for (let e = 0; e < hs; e++) context[i][h * hs + e] += w * v[j][h][e];
        }
      }
      scores.push(s);
    }
    const attnOut = context.map((row) => linear(row, p('attention.dense.weight'), pb('attention.dense.bias')));
    const mlp = (row: number[]) => {
      const m = layerNorm(row, p('post_attention_layernorm.weight').data, p('post_attention_layernorm.bias').data, cfg.eps);
      const hidden = linear(m, p('mlp.dense_h_to_4h.weight'), p('mlp.dense_h_to_4h.bias')).map((z) => gelu(z, cfg.gelu));
      return linear(hidden, p('mlp.dense_4h_to_h.weight'), p('mlp.dense_4h_to_h.bias'));
    };
    if (cfg.parallelResidual) {
      // x = x + attn(ln1(x)) + mlp(ln2(x))
      x = x.map((row, t) => {
        const m = mlp(row);
        return row.map((val, i) => m[i] + attnOut[t][i] + val);
      });
    } else {
      x = x.map((row, t) => {
        const a = row.map((val, i) => attnOut[t][i] + val);
        const m = mlp(a);
        return a.map((val, i) => m[i] + val);
      });
    }
    layers.push({ q: q.map((r) => r.flat()), scores, attnOut, residPost: x.map((r) => [...r]) });
  }
  const final = get('gpt_neox.final_layer_norm.weight');
  const finalBias = get('gpt_neox.final_layer_norm.bias');
  const head = cfg.tied ? embed : get('embed_out.weight');
  const logits = x.map((row) => linear(layerNorm(row, final.data, finalBias.data, cfg.eps), head));
  return { layers, logits };
}
