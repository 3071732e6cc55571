// An independent plain-TypeScript XGLM forward pass in float64, written from fairseq's TransformerDecoder (the dense
// LMs the paper uses) and HF's modeling_xglm.py, directly over HF tensor names and nn.Linear [out, in] layouts (no
// ONNX, no shared code with the pipeline's graph):
//   positions  fairseq make_positions: mask = ids != pad; the n-th non-pad token takes sinusoid row n + 1 (= its
//              position n - 1 plus the offset 2); a pad token takes row padding_idx, which is all zeros;
//   sinusoids  row r = [sin(r f_i) | cos(r f_i)], f_i = exp(-i ln(10000) / (d/2 - 1)), in plain float64;
//   x          embed_tokens[id] * sqrt(d) (scale_embedding) + sinusoid row;
//   block      x + out_proj(attn(self_attn_layer_norm(x))), then x + fc2(act(fc1(final_layer_norm(x)))), with
//              attn: q = q_proj(h) * head_dim^-0.5, softmax over keys j <= i that are not pad tokens;
//   logits     layer_norm(x) . embed_tokens^T (tied) or lm_head.

import type { RefTensor } from './gpt2-reference.ts';

export interface XglmRefConfig {
  nLayer: number;
  nHead: number;
  dModel: number;
  vocabSize: number;
  gelu: 'exact' | 'tanh';
  scaleEmbedding: boolean;
  tied: boolean;
  padTokenId: number | undefined;
  /** Deliberately wrong variants, to show the comparison can fail. */
  bug?: 'no-scale' | 'no-offset' | 'arange-positions' | 'interleaved';
}

export interface XglmRefLayer {
  q: number[][]; // [T][d], q_proj output incl. bias, before scaling
  scores: number[][][]; // [H][T][T], scaled q.k before mask and softmax (future entries included)
  attnOut: number[][]; // [T][d], out_proj output incl. bias
  residPost: number[][]; // [T][d]
}

export interface XglmRefResult {
  layers: XglmRefLayer[];
  logits: number[][]; // [T][V]
}

const EPS = 1e-5;

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

function gelu(x: number, kind: 'exact' | 'tanh'): number {
  if (kind === 'exact') return 0.5 * x * (1 + erf(x / Math.SQRT2));
  return 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)));
}

function layerNorm(x: number[], w: ArrayLike<number>, b: ArrayLike<number>): number[] {
  const n = x.length;
  const mean = x.reduce((a, v) => a + v, 0) / n;
  const variance = x.reduce((a, v) => a + (v - mean) ** 2, 0) / n;
  const inv = 1 / Math.sqrt(variance + EPS);
  return x.map((v, i) => (v - mean) * inv * w[i] + b[i]);
}

/** nn.Linear: y = x W^T + b with W stored [out, in] row-major. */
function linear(x: number[], w: RefTensor, b?: RefTensor): number[] {
  const [outDim, inDim] = w.shape;
  return Array.from({ length: outDim }, (_, o) => {
    let s = b ? b.data[o] : 0;
    for (let i = 0; i < inDim; i++) s += w.data[o * inDim + i] * x[i];
    return s;
  });
}

/** One row of the sinusoid table (zero for padding_idx). */
function sinusoid(row: number, d: number, cfg: XglmRefConfig): number[] {
  if (row === cfg.padTokenId) return new Array<number>(d).fill(0);
  const half = Math.floor(d / 2);
  const out = new Array<number>(d).fill(0);
  for (let i = 0; i < half; i++) {
    const angle = row * Math.exp((-i * Math.log(10000)) / (half - 1));
    if (cfg.bug === 'interleaved') {
      out[2 * i] = Math.sin(angle);
      out[2 * i + 1] = Math.cos(angle);
    } else {
      out[i] = Math.sin(angle);
      out[half + i] = Math.cos(angle);
    }
  }
  return out;
}

/** The sinusoid row of each token (fairseq's make_positions with the offset 2). */
export function xglmPositionRows(ids: number[], cfg: XglmRefConfig): number[] {
  let count = 0;
  return ids.map((id, t) => {
    if (cfg.bug === 'arange-positions') return t + 2;
    if (id === cfg.padTokenId) return cfg.padTokenId;
    count++;
    return cfg.bug === 'no-offset' ? count - 1 : count + 1;
  });
}

/** The forward pass of one sequence. */
export function xglmReferenceForward(tensors: Map<string, RefTensor>, cfg: XglmRefConfig, ids: number[]): XglmRefResult {
  const get = (name: string): RefTensor => {
    const t = tensors.get(name);
    if (!t) throw new Error(`reference: missing ${name}`);
    return t;
  };
  const { dModel: d, nHead: H } = cfg;
  const hd = d / H;
  const T = ids.length;
  const embed = get('model.embed_tokens.weight');
  const scale = cfg.scaleEmbedding && cfg.bug !== 'no-scale' ? Math.sqrt(d) : 1;
  const rows = xglmPositionRows(ids, cfg);
  let x = ids.map((id, t) => {
    const pos = sinusoid(rows[t], d, cfg);
    return Array.from({ length: d }, (_, i) => embed.data[id * d + i] * scale + pos[i]);
  });
  const isKey = ids.map((id) => id !== cfg.padTokenId);
  const layers: XglmRefLayer[] = [];
  for (let l = 0; l < cfg.nLayer; l++) {
    const p = (n: string) => get(`model.layers.${l}.${n}`);
    const h = x.map((row) => layerNorm(row, p('self_attn_layer_norm.weight').data, p('self_attn_layer_norm.bias').data));
    const q = h.map((row) => linear(row, p('self_attn.q_proj.weight'), p('self_attn.q_proj.bias')));
    const k = h.map((row) => linear(row, p('self_attn.k_proj.weight'), p('self_attn.k_proj.bias')));
    const v = h.map((row) => linear(row, p('self_attn.v_proj.weight'), p('self_attn.v_proj.bias')));
    const scores: number[][][] = [];
    const context = Array.from({ length: T }, () => new Array<number>(d).fill(0));
    for (let head = 0; head < H; head++) {
      const s: number[][] = [];
      for (let i = 0; i < T; i++) {
        const row: number[] = [];
        for (let j = 0; j < T; j++) {
          let dot = 0;
          for (let e = 0; e < hd; e++) dot += q[i][head * hd + e] * (1 / Math.sqrt(hd)) * k[j][head * hd + e];
          row.push(dot);
        }
        s.push(row);
        const keys = Array.from({ length: i + 1 }, (_, j) => j).filter((j) => isKey[j]);
        if (keys.length === 0) continue; // a query with no visible key (a leading pad): not compared
        const max = Math.max(...keys.map((j) => row[j]));
        const exps = keys.map((j) => Math.exp(row[j] - max));
        const total = exps.reduce((a, b) => a + b, 0);
        keys.forEach((j, n) => {
          for (let e = 0; e < hd; e++) context[i][head * hd + e] += (exps[n] / total) * v[j][head * hd + e];
        });
      }
      scores.push(s);
    }
    const attnOut = context.map((row) => linear(row, p('self_attn.out_proj.weight'), p('self_attn.out_proj.bias')));
    x = x.map((row, t) => {
      const a = row.map((val, i) => val + attnOut[t][i]);
      const m = layerNorm(a, p('final_layer_norm.weight').data, p('final_layer_norm.bias').data);
      const hidden = linear(m, p('fc1.weight'), p('fc1.bias')).map((z) => gelu(z, cfg.gelu));
      const out = linear(hidden, p('fc2.weight'), p('fc2.bias'));
      return a.map((val, i) => val + out[i]);
    });
    layers.push({ q, scores, attnOut, residPost: x.map((r) => [...r]) });
  }
  const head = cfg.tied ? embed : get('lm_head.weight');
  const logits = x.map((row) => linear(layerNorm(row, get('model.layer_norm.weight').data, get('model.layer_norm.bias').data), head));
  return { layers, logits };
}
