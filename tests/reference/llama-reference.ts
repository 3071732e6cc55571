// An independent plain-TypeScript Llama / Qwen2 / Mistral forward pass in float64, written from the Hugging Face
// modeling_llama.py definition directly over HF tensor names and nn.Linear [out, in] layouts (no ONNX, no shared code
// with the pipeline's graph), to check the ONNX graph and every capture against.

import type { RefTensor } from './gpt2-reference.ts';

export interface LlamaRefConfig {
  nLayer: number;
  nHead: number;
  nKvHead: number;
  headDim: number;
  dModel: number;
  vocabSize: number;
  eps: number;
  ropeTheta: number;
  /** HF's rope_scaling dict as in config.json, or null. */
  ropeScaling: Record<string, number | string> | null;
  tied: boolean;
  /** Deliberately wrong variants, to show the comparison can fail. */
  bug?: 'interleaved-rope' | 'kv-repeat-order';
}

export interface LlamaRefLayer {
  q: number[][]; // [T][H*hd], projection incl. bias, after rotary, before scaling
  scores: number[][][]; // [H][T][T], before mask and softmax (future entries included)
  attnOut: number[][]; // [T][d]
  residPost: number[][]; // [T][d]
}

export interface LlamaRefResult {
  layers: LlamaRefLayer[];
  logits: number[][]; // [T][V]
}

function rmsNorm(x: number[], w: ArrayLike<number>, eps: number): number[] {
  const variance = x.reduce((a, v) => a + v * v, 0) / x.length;
  const inv = 1 / Math.sqrt(variance + eps);
  return x.map((v, i) => w[i] * (v * inv));
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

/** HF's rope_init_fn results: the default, "linear" and "llama3" inverse frequencies. */
function inverseFrequencies(cfg: LlamaRefConfig): number[] {
  const dim = cfg.headDim;
  const base: number[] = [];
  for (let i = 0; i < dim; i += 2) base.push(1 / Math.pow(cfg.ropeTheta, i / dim));
  const s = cfg.ropeScaling;
  const type = s ? (s.rope_type ?? s.type) : 'default';
  if (!s || type === 'default') return base;
  if (type === 'linear') return base.map((f) => f / Number(s.factor));
  if (type === 'llama3') {
    const factor = Number(s.factor);
    const low = Number(s.low_freq_factor);
    const high = Number(s.high_freq_factor);
    const old = Number(s.original_max_position_embeddings);
    const lowWavelen = old / low;
    const highWavelen = old / high;
    return base.map((f) => {
      const wavelen = (2 * Math.PI) / f;
      const scaled = wavelen > lowWavelen ? f / factor : f;
      const smooth = (old / wavelen - low) / (high - low);
      const smoothed = ((1 - smooth) * scaled) / factor + smooth * scaled;
      const medium = !(wavelen < highWavelen) && !(wavelen > lowWavelen);
      return medium ? smoothed : scaled;
    });
  }
  throw new Error(`reference: rope type ${String(type)}`);
}

/** apply_rotary_pos_emb for one head vector at one position. */
function rope(x: number[], pos: number, inv: number[], bug: LlamaRefConfig['bug']): number[] {
  const dim = x.length;
  const half = dim / 2;
  // emb = cat(freqs, freqs); cos = cos(emb), sin = sin(emb); rotate_half(x) = cat(-x2, x1).
  const emb = [...inv, ...inv].map((f) => pos * f);
  if (bug === 'interleaved-rope') {
    // The GPT-J / Meta-original convention: pairs (2i, 2i+1) rotated by freq i. Not what HF checkpoints use.
    const out = [...x];
    for (let i = 0; i < half; i++) {
      const c = Math.cos(pos * inv[i]);
      const s = Math.sin(pos * inv[i]);
      out[2 * i] = x[2 * i] * c - x[2 * i + 1] * s;
      out[2 * i + 1] = x[2 * i + 1] * c + x[2 * i] * s;
    }
    return out;
  }
  const rotated = [...x.slice(half).map((v) => -v), ...x.slice(0, half)];
  return x.map((v, i) => v * Math.cos(emb[i]) + rotated[i] * Math.sin(emb[i]));
}

export function llamaReferenceForward(
  tensors: Map<string, RefTensor>,
  cfg: LlamaRefConfig,
  ids: number[],
  positions: number[] = ids.map((_, i) => i),
): LlamaRefResult {
  const get = (name: string): RefTensor => {
    const t = tensors.get(name);
    if (!t) throw new Error(`reference: missing ${name}`);
    return t;
  };
  const maybe = (name: string): RefTensor | undefined => tensors.get(name);
  const { dModel: d, nHead: H, nKvHead: KV, headDim: hd } = cfg;
  const nRep = H / KV;
  const T = ids.length;
  const inv = inverseFrequencies(cfg);
  const embed = get('model.embed_tokens.weight');
  let x = ids.map((id) => Array.from({ length: d }, (_, i) => embed.data[id * d + i]));
  const layers: LlamaRefLayer[] = [];
  for (let l = 0; l < cfg.nLayer; l++) {
    const p = (n: string) => get(`model.layers.${l}.${n}`);
    const pb = (n: string) => maybe(`model.layers.${l}.${n}`);
    const h = x.map((row) => rmsNorm(row, p('input_layernorm.weight').data, cfg.eps));
    const qRaw = h.map((row) => linear(row, p('self_attn.q_proj.weight'), pb('self_attn.q_proj.bias')));
    const kRaw = h.map((row) => linear(row, p('self_attn.k_proj.weight'), pb('self_attn.k_proj.bias')));
    const v = h.map((row) => linear(row, p('self_attn.v_proj.weight'), pb('self_attn.v_proj.bias')));
    const headOf = (row: number[], head: number) => row.slice(head * hd, (head + 1) * hd);
    const q = qRaw.map((row, t) => Array.from({ length: H }, (_, head) => rope(headOf(row, head), positions[t], inv, cfg.bug)).flat());
    const k = kRaw.map((row, t) => Array.from({ length: KV }, (_, head) => rope(headOf(row, head), positions[t], inv, cfg.bug)).flat());
    const scale = 1 / Math.sqrt(hd);
    const scores: number[][][] = [];
    const context = Array.from({ length: T }, () => new Array<number>(H * hd).fill(0));
    for (let head = 0; head < H; head++) {
      // repeat_kv: query head h reads K/V head h // n_rep.
      const kvHead = cfg.bug === 'kv-repeat-order' ? head % KV : Math.floor(head / nRep);
      const s: number[][] = [];
      for (let i = 0; i < T; i++) {
        const row: number[] = [];
        for (let j = 0; j < T; j++) {
          let dot = 0;
          for (let e = 0; e < hd; e++) dot += q[i][head * hd + e] * k[j][kvHead * hd + e];
          row.push(dot * scale);
        }
        s.push(row);
        const visible = row.slice(0, i + 1);
        const max = Math.max(...visible);
        const exps = visible.map((z) => Math.exp(z - max));
        const total = exps.reduce((a, b) => a + b, 0);
        for (let j = 0; j <= i; j++) {
          const w = exps[j] / total;
          for (let e = 0; e < hd; e++) context[i][head * hd + e] += w * v[j][kvHead * hd + e];
        }
      }
      scores.push(s);
    }
    const attnOut = context.map((row) => linear(row, p('self_attn.o_proj.weight'), pb('self_attn.o_proj.bias')));
    const afterAttn = x.map((row, t) => row.map((val, i) => val + attnOut[t][i]));
    const mlpOut = afterAttn.map((row) => {
      const m = rmsNorm(row, p('post_attention_layernorm.weight').data, cfg.eps);
      const gate = linear(m, p('mlp.gate_proj.weight'));
      const up = linear(m, p('mlp.up_proj.weight'));
      const hidden = gate.map((z, i) => (z / (1 + Math.exp(-z))) * up[i]);
      return linear(hidden, p('mlp.down_proj.weight'));
    });
    x = afterAttn.map((row, t) => row.map((val, i) => val + mlpOut[t][i]));
    layers.push({ q, scores, attnOut, residPost: x.map((r) => [...r]) });
  }
  const lmHead = cfg.tied ? embed : get('lm_head.weight');
  const logits = x.map((row) => linear(rmsNorm(row, get('model.norm.weight').data, cfg.eps), lmHead));
  return { layers, logits };
}
