// An independent plain-TypeScript GPT-Neo forward pass in float64, written from the Hugging Face modeling_gpt_neo.py
// definition directly over HF tensor names and nn.Linear [out, in] layouts (no ONNX, no shared code with the
// pipeline's graph): wte + wpe, per block x + attn(ln_1(x)) then x + mlp(ln_2(x)); GPTNeoSelfAttention with
// unscaled q.k scores and, in "local" layers, the causal mask bias = tril ^ tril(-window_size) (key j visible from
// query i iff i - window_size < j <= i); tied lm_head.

import type { RefTensor } from './gpt2-reference.ts';

export interface NeoRefConfig {
  nLayer: number;
  nHead: number;
  dModel: number;
  vocabSize: number;
  eps: number;
  windowSize: number;
  /** Per layer. */
  attentionLayers: Array<'global' | 'local'>;
  gelu: 'exact' | 'tanh';
  tied: boolean;
  /** Tensor name prefix in `tensors` ('' or 'transformer.'). */
  prefix: string;
  /** Deliberately wrong variants, to show the comparison can fail. */
  bug?: 'scaled' | 'no-window';
}

export interface NeoRefLayer {
  q: number[][]; // [T][d], q_proj output
  scores: number[][][]; // [H][T][T], before mask and softmax (future entries included)
  attnOut: number[][]; // [T][d], out_proj output incl. bias
  residPost: number[][]; // [T][d]
}

export interface NeoRefResult {
  layers: NeoRefLayer[];
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

export function neoReferenceForward(tensors: Map<string, RefTensor>, cfg: NeoRefConfig, ids: number[]): NeoRefResult {
  const get = (name: string): RefTensor => {
    const t = tensors.get(cfg.prefix + name);
    if (!t) throw new Error(`reference: missing ${cfg.prefix + name}`);
    return t;
  };
  const { dModel: d, nHead: H } = cfg;
  const hs = d / H;
  const T = ids.length;
  const wte = get('wte.weight');
  const wpe = get('wpe.weight');
  let x = ids.map((id, t) => Array.from({ length: d }, (_, i) => wte.data[id * d + i] + wpe.data[t * d + i]));
  const layers: NeoRefLayer[] = [];
  for (let l = 0; l < cfg.nLayer; l++) {
    const p = (n: string) => get(`h.${l}.${n}`);
    const local = cfg.attentionLayers[l] === 'local' && cfg.bug !== 'no-window';
    const ln1 = x.map((row) => layerNorm(row, p('ln_1.weight').data, p('ln_1.bias').data, cfg.eps));
    const q = ln1.map((row) => linear(row, p('attn.attention.q_proj.weight')));
    const k = ln1.map((row) => linear(row, p('attn.attention.k_proj.weight')));
    const v = ln1.map((row) => linear(row, p('attn.attention.v_proj.weight')));
    const norm = cfg.bug === 'scaled' ? 1 / Math.sqrt(hs) : 1;
    const scores: number[][][] = [];
    const context = Array.from({ length: T }, () => new Array<number>(d).fill(0));
    for (let h = 0; h < H; h++) {
      const s: number[][] = [];
      for (let i = 0; i < T; i++) {
        const row: number[] = [];
        for (let j = 0; j < T; j++) {
          let dot = 0;
          for (let e = 0; e < hs; e++) dot += q[i][h * hs + e] * k[j][h * hs + e];
          row.push(dot * norm);
        }
        s.push(row);
        const from = local ? Math.max(0, i - cfg.windowSize + 1) : 0;
        const visible = row.slice(from, i + 1);
        const max = Math.max(...visible);
        const exps = visible.map((z) => Math.exp(z - max));
        const total = exps.reduce((a, b) => a + b, 0);
        for (let j = from; j <= i; j++) {
          const w = exps[j - from] / total;
          for (let e = 0; e < hs; e++) context[i][h * hs + e] += w * v[j][h * hs + e];
        }
      }
      scores.push(s);
    }
    const attnOut = context.map((row) => linear(row, p('attn.attention.out_proj.weight'), p('attn.attention.out_proj.bias')));
    x = x.map((row, t) => {
      const a = row.map((val, i) => attnOut[t][i] + val);
      const m = layerNorm(a, p('ln_2.weight').data, p('ln_2.bias').data, cfg.eps);
      const hidden = linear(m, p('mlp.c_fc.weight'), p('mlp.c_fc.bias')).map((z) => gelu(z, cfg.gelu));
      const out = linear(hidden, p('mlp.c_proj.weight'), p('mlp.c_proj.bias'));
      return a.map((val, i) => out[i] + val);
    });
    layers.push({ q, scores, attnOut, residPost: x.map((r) => [...r]) });
  }
  const head = cfg.tied ? wte : tensors.get('lm_head.weight')!;
  const logits = x.map((row) => linear(layerNorm(row, get('ln_f.weight').data, get('ln_f.bias').data, cfg.eps), head));
  return { layers, logits };
}
