// An independent plain-TypeScript GPT-2 forward pass in float64, written from the Hugging Face GPT-2 definition
// directly over HF tensor names and Conv1D layouts (no ONNX, no shared code with the pipeline's graph), to check
// the ONNX graph and every capture against.

export interface RefTensor {
  shape: number[];
  data: ArrayLike<number>;
}

export interface RefConfig {
  nLayer: number;
  nHead: number;
  dModel: number;
  nInner: number;
  vocabSize: number;
  eps: number;
  gelu: 'tanh' | 'exact';
  scaleByInverseLayerIdx?: boolean;
  /** Output embedding = input embedding (default true); else `lm_head.weight`. */
  tied?: boolean;
  /** Deliberately wrong variants, to show the comparison can fail. */
  bug?: 'swap-qk-split';
}

export interface RefLayer {
  q: number[][]; // [T][d], projection incl. bias, before scaling
  scores: number[][][]; // [H][T][T], before mask and softmax (future entries included)
  attnOut: number[][]; // [T][d]
  residPost: number[][]; // [T][d]
}

export interface RefResult {
  layers: RefLayer[];
  logits: number[][]; // [T][V]
}

function erf(x: number): number {
  // Abramowitz-Stegun 7.1.26 is too coarse for 1e-4 checks; use a series/continued-fraction pair.
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
  return Math.sign(x) * (1 - Math.exp(-t * t) / (t * Math.sqrt(Math.PI)) * (1 - 1 / (2 * t * t)));
}

function gelu(x: number, kind: 'tanh' | 'exact'): number {
  if (kind === 'exact') return 0.5 * x * (1 + erf(x / Math.SQRT2));
  return 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)));
}

function layerNorm(x: number[], w: ArrayLike<number>, b: ArrayLike<number>, eps: number): number[] {
  const n = x.length;
  const mean = x.reduce((a, v) => a + v, 0) / n;
  const variance = x.reduce((a, v) => a + (v - mean) * (v - mean), 0) / n;
  const inv = 1 / Math.sqrt(variance + eps);
  return x.map((v, i) => (v - mean) * inv * w[i] + b[i]);
}

/** Conv1D: y = x W + b with W stored [in, out] row-major. */
function conv1d(x: number[], w: RefTensor, b: RefTensor): number[] {
  const [inDim, outDim] = w.shape;
  const y = Array.from({ length: outDim }, (_, j) => b.data[j]);
  for (let i = 0; i < inDim; i++) {
    const xi = x[i];
    for (let j = 0; j < outDim; j++) y[j] += xi * w.data[i * outDim + j];
  }
  return y;
}

export function referenceForward(
  tensors: Map<string, RefTensor>,
  cfg: RefConfig,
  ids: number[],
  positions: number[] = ids.map((_, i) => i),
): RefResult {
  const get = (name: string): RefTensor => {
    const t = tensors.get(name) ?? tensors.get(`transformer.${name}`);
    if (!t) throw new Error(`reference: missing ${name}`);
    return t;
  };
  const d = cfg.dModel;
  const H = cfg.nHead;
  const hd = d / H;
  const T = ids.length;
  const wte = get('wte.weight');
  const wpe = get('wpe.weight');
  let x = ids.map((id, t) => Array.from({ length: d }, (_, i) => wte.data[id * d + i] + wpe.data[positions[t] * d + i]));
  const layers: RefLayer[] = [];
  for (let l = 0; l < cfg.nLayer; l++) {
    const p = (n: string) => get(`h.${l}.${n}`);
    const h = x.map((row) => layerNorm(row, p('ln_1.weight').data, p('ln_1.bias').data, cfg.eps));
    const qkv = h.map((row) => conv1d(row, p('attn.c_attn.weight'), p('attn.c_attn.bias')));
    const [qOff, kOff] = cfg.bug === 'swap-qk-split' ? [d, 0] : [0, d];
    const q = qkv.map((row) => row.slice(qOff, qOff + d));
    const k = qkv.map((row) => row.slice(kOff, kOff + d));
    const v = qkv.map((row) => row.slice(2 * d, 3 * d));
    let scale = 1 / Math.sqrt(hd);
    if (cfg.scaleByInverseLayerIdx) scale /= l + 1;
    const scores: number[][][] = [];
    const context = Array.from({ length: T }, () => new Array<number>(d).fill(0));
    for (let head = 0; head < H; head++) {
      const s: number[][] = [];
      for (let i = 0; i < T; i++) {
        const row: number[] = [];
        for (let j = 0; j < T; j++) {
          let dot = 0;
          for (let e = 0; e < hd; e++) dot += q[i][head * hd + e] * k[j][head * hd + e];
          row.push(dot * scale);
        }
        s.push(row);
        // Causal softmax over keys 0..i.
        const visible = row.slice(0, i + 1);
        const max = Math.max(...visible);
        const exps = visible.map((z) => Math.exp(z - max));
        const total = exps.reduce((a, b) => a + b, 0);
        for (let j = 0; j <= i; j++) {
          const w = exps[j] / total;
          for (let e = 0; e < hd; e++) context[i][head * hd + e] += w * v[j][head * hd + e];
        }
      }
      scores.push(s);
    }
    const attnOut = context.map((row) => conv1d(row, p('attn.c_proj.weight'), p('attn.c_proj.bias')));
    const afterAttn = x.map((row, t) => row.map((val, i) => val + attnOut[t][i]));
    const mlpOut = afterAttn.map((row) => {
      const m = layerNorm(row, p('ln_2.weight').data, p('ln_2.bias').data, cfg.eps);
      const hidden = conv1d(m, p('mlp.c_fc.weight'), p('mlp.c_fc.bias')).map((z) => gelu(z, cfg.gelu));
      return conv1d(hidden, p('mlp.c_proj.weight'), p('mlp.c_proj.bias'));
    });
    x = afterAttn.map((row, t) => row.map((val, i) => val + mlpOut[t][i]));
    layers.push({ q, scores, attnOut, residPost: x.map((r) => [...r]) });
  }
  const lmHead = cfg.tied === false ? get('lm_head.weight') : wte;
  const logits = x.map((row) => {
    const f = layerNorm(row, get('ln_f.weight').data, get('ln_f.bias').data, cfg.eps);
    return Array.from({ length: cfg.vocabSize }, (_, vocab) => {
      let dot = 0;
      for (let i = 0; i < d; i++) dot += f[i] * lmHead.data[vocab * d + i];
      return dot;
    });
  });
  return { layers, logits };
}

/** max|a-b| / max|b| over all elements: the per-tensor relative error. */
export function relativeError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  if (actual.length !== expected.length) throw new Error(`length ${actual.length} vs ${expected.length}`);
  let maxDiff = 0;
  let maxRef = 0;
  for (let i = 0; i < expected.length; i++) {
    maxDiff = Math.max(maxDiff, Math.abs(actual[i] - expected[i]));
    maxRef = Math.max(maxRef, Math.abs(expected[i]));
  }
  return maxDiff / (maxRef || 1);
}
