// Golden checks against Hugging Face transformers itself. tests/fixtures/hf-golden/ holds what transformers 5.17 /
// torch 2.11 computed (scripts/hf-golden.py): for each family a tiny random model with perturbed weights (config.json,
// model.safetensors) and golden.safetensors with a batch of two sequences of 12 tokens (the second right-padded by 3),
// its logits, every hidden state (output_hidden_states) and the eager attention probabilities; for the embedded
// models emb-s / emb-m as the first recipe trained them (their config.json + model.safetensors kept here) the same on
// random ids, and the ids transformers' PreTrainedTokenizerFast gives for a few texts with the world's tokenizer.json
// (the shipped models still use that tokenizer).
//
// Each folder is loaded with loadModel (the path that reads hub / HF folders: config -> family -> parameters). The tiny
// fixtures carry no tokenizer, so they are copied into a temporary folder beside a stand-in word-level tokenizer.json
// (the tokenizer plays no part in the forward pass). Then one batched forward (padding by forward.ts, as every run does)
// is compared at every real position (attention_mask 1) with:
//   logits                      vs logits
//   blocks.{l}.resid_post       vs hidden.{l+1} for l < L-1
//   final norm(resid_post L-1)  vs hidden.L (HF's last hidden state has the final norm applied; the norm is applied
//                               here in float64 from the loaded final_norm parameters)
//   softmax of blocks.{l}.attn.scores over the keys HF lets query i see (j <= i, j real, and inside the layer's
//                               sliding window when it has one)  vs attn.{l} (every key column, masked ones are 0)
// (our attn.scores capture is the scaled q.k before any mask, see family.ts; HF's attentions are probabilities.)
// hidden.0 (the embedding output) has no capture of ours; it is covered by everything downstream of it.
//
// Tolerance: max|ours - HF| / max|HF| <= 1e-4 per compared tensor, the bound the float64 reference tests use. Both
// sides run in float32 (HF on its CPU/GPU kernels, ours in ONNX Runtime) with different summation orders and
// different transcendental implementations: the errors seen are 5e-8 to 2e-6, so 1e-4 leaves almost two
// orders of magnitude for kernel differences while a real mistake (a wrong scale, mask, rotary or norm) shows as
// 1e-2 or more.

import { describe, it, expect, afterAll } from 'vitest';
import { copyFile, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type LoadedModel, loadModel } from '../../src/pipeline/models/registry.ts';
import { ModelSession } from '../../src/pipeline/models/forward.ts';
import { captureName } from '../../src/pipeline/models/family.ts';
import { readSafetensors, toBigInt64, toFloat32, type TensorEntry } from '../../src/pipeline/models/safetensors.ts';
import { wordLevelTokenizerJson } from '../../src/pipeline/models/tokenizer-json.ts';
import type { HostTensor } from '../../src/pipeline/engine/tensor.ts';
import { relativeError } from '../reference/gpt2-reference.ts';
import { tempDir } from '../helpers/model-folder.ts';

const TOLERANCE = 1e-4;
const REPO = fileURLToPath(new URL('../..', import.meta.url));
const FIXTURES = join(REPO, 'tests/fixtures/hf-golden');

interface GoldenCase {
  /** Folder under tests/fixtures/hf-golden. */
  folder: string;
  /** The family we expect the registry to pick. */
  family: string;
  /** The final norm HF applies to its last hidden state. */
  norm: 'layer' | 'rms';
  /** HF's sliding window per layer (key j visible from query i iff i - window < j <= i); undefined: full causal. */
  window?: (layer: number) => number | undefined;
}

const CASES: GoldenCase[] = [
  { folder: 'gpt2', family: 'GPT-2', norm: 'layer' },
  { folder: 'llama', family: 'Llama', norm: 'rms' },
  { folder: 'qwen2', family: 'Llama', norm: 'rms' },
  { folder: 'mistral', family: 'Llama', norm: 'rms' },
  { folder: 'mistral-window', family: 'Llama', norm: 'rms', window: () => 5 },
  { folder: 'gpt-neox', family: 'GPT-NeoX', norm: 'layer' },
  { folder: 'gpt-neox-sequential', family: 'GPT-NeoX', norm: 'layer' },
  // attention_types [["global", "local"], 1]: layer 0 global, layer 1 local with window_size 5.
  { folder: 'gpt-neo', family: 'GPT-Neo', norm: 'layer', window: (l) => (l === 1 ? 5 : undefined) },
  { folder: 'xglm', family: 'XGLM', norm: 'layer' },
  // The embedded models as trained by the first recipe (their folders kept beside the outputs transformers computed
  // from them): trained weights rather than random ones, read by the same loader as content/models/.
  { folder: 'embedded-emb-s', family: 'GPT-2', norm: 'layer' },
  { folder: 'embedded-emb-m', family: 'GPT-2', norm: 'layer' },
];

const temps: string[] = [];
afterAll(async () => {
  for (const dir of temps) await rm(dir, { recursive: true, force: true });
});

/** The fixture as a complete HF folder: its config and weights beside a stand-in tokenizer of the right size. */
async function fixtureFolder(folder: string): Promise<string> {
  const src = join(FIXTURES, folder);
  const dir = await tempDir('icl-lab-golden-');
  temps.push(dir);
  for (const name of ['config.json', 'model.safetensors']) await copyFile(join(src, name), join(dir, name));
  const config = JSON.parse(await readFile(join(src, 'config.json'), 'utf8')) as { vocab_size: number };
  const specials = ['<s>', '<pad>', '</s>', '<unk>'];
  const words = Array.from({ length: config.vocab_size - specials.length }, (_, i) => `w${i + specials.length}`);
  const tokenizer = wordLevelTokenizerJson({ vocab: words, unkToken: '<unk>', specialTokens: specials });
  await writeFile(join(dir, 'tokenizer.json'), JSON.stringify(tokenizer));
  return dir;
}

interface Golden {
  tensors: Map<string, TensorEntry>;
  ids: number[][];
  /** Real (attention_mask 1) length of each row; the mask is checked to be a right-padding one. */
  lengths: number[];
  get(name: string): { shape: number[]; data: Float32Array };
}

async function readGolden(folder: string): Promise<Golden> {
  const { tensors } = await readSafetensors(join(FIXTURES, folder, 'golden.safetensors'));
  const need = (name: string) => {
    const e = tensors.get(name);
    if (!e) throw new Error(`${folder}/golden.safetensors has no tensor "${name}"`);
    return e;
  };
  const idsEntry = need('input_ids');
  const [B, T] = idsEntry.shape;
  const ids64 = toBigInt64(idsEntry);
  const mask64 = toBigInt64(need('attention_mask'));
  const ids: number[][] = [];
  const lengths: number[] = [];
  for (let b = 0; b < B; b++) {
    const row = Array.from(mask64.subarray(b * T, (b + 1) * T), Number);
    const n = row.indexOf(0) < 0 ? T : row.indexOf(0);
    if (row.slice(n).some((m) => m !== 0)) throw new Error(`${folder}: attention_mask row ${b} is not right padding`);
    lengths.push(n);
    ids.push(Array.from(ids64.subarray(b * T, b * T + n), Number));
  }
  return { tensors, ids, lengths, get: (name) => ({ shape: need(name).shape, data: toFloat32(need(name)) }) };
}

/** Elements of [B, T, ...] tensors (ours may be shorter in T only if the batch is) at the real positions. */
function realRows(shape: readonly number[], data: ArrayLike<number>, lengths: number[]): number[] {
  const [B, T, ...rest] = shape;
  const width = rest.reduce((a, c) => a * c, 1);
  const out: number[] = [];
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < lengths[b]; t++) {
      for (let k = 0; k < width; k++) out.push(data[(b * T + t) * width + k]);
    }
  }
  return out;
}

function compareRows(label: string, ours: HostTensor, golden: { shape: number[]; data: Float32Array }, lengths: number[]): number {
  expect(ours.shape.slice(2), `${label}: feature shape`).toEqual(golden.shape.slice(2));
  expect(ours.shape[0], `${label}: batch`).toBe(golden.shape[0]);
  const a = realRows(ours.shape, ours.data as Float32Array, lengths);
  const b = realRows(golden.shape, golden.data, lengths);
  return relativeError(a, b);
}

/** HF's final norm of each real row of `resid` [B, T, d], in float64, from the loaded parameters. */
function finalNorm(model: LoadedModel, kind: 'layer' | 'rms', resid: HostTensor, lengths: number[]): number[] {
  const raw = model.rawConfig;
  const eps = Number(raw.layer_norm_epsilon ?? raw.layer_norm_eps ?? raw.rms_norm_eps ?? 1e-5);
  const w = model.params.get('final_norm.weight')!.data as Float32Array;
  const bias = kind === 'layer' ? (model.params.get('final_norm.bias')!.data as Float32Array) : undefined;
  const [B, T, d] = resid.shape;
  const x = resid.data as Float32Array;
  const out: number[] = [];
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < lengths[b]; t++) {
      const row = Array.from(x.subarray((b * T + t) * d, (b * T + t + 1) * d));
      if (kind === 'layer') {
        const mean = row.reduce((s, v) => s + v, 0) / d;
        const variance = row.reduce((s, v) => s + (v - mean) ** 2, 0) / d;
        const inv = 1 / Math.sqrt(variance + eps);
        row.forEach((v, i) => out.push((v - mean) * inv * w[i] + bias![i]));
      } else {
        const inv = 1 / Math.sqrt(row.reduce((s, v) => s + v * v, 0) / d + eps);
        row.forEach((v, i) => out.push(v * inv * w[i]));
      }
    }
  }
  return out;
}

/**
 * Attention probabilities from our pre-mask scores [B, H, T, T]: for each real query i, softmax (float64) over the
 * keys HF lets it see; every other key 0. Returned with HF's rows [B, H, i real, all T keys], flattened.
 */
function probabilities(scores: HostTensor, lengths: number[], window: number | undefined, keysT: number): number[] {
  const [B, H, T, S] = scores.shape;
  const s = scores.data as Float32Array;
  const out: number[] = [];
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      for (let i = 0; i < lengths[b]; i++) {
        const visible = (j: number) => j <= i && j < lengths[b] && (window === undefined || j > i - window);
        let max = -Infinity;
        for (let j = 0; j < S; j++) if (visible(j)) max = Math.max(max, s[((b * H + h) * T + i) * S + j]);
        const e = Array.from({ length: keysT }, (_, j) => (j < S && visible(j) ? Math.exp(s[((b * H + h) * T + i) * S + j] - max) : 0));
        const sum = e.reduce((a, v) => a + v, 0);
        for (const v of e) out.push(v / sum);
      }
    }
  }
  return out;
}

/** HF's attention rows [B, H, i real, all keys], flattened. */
function goldenAttention(g: { shape: number[]; data: Float32Array }, lengths: number[]): number[] {
  const [B, H, T, S] = g.shape;
  const out: number[] = [];
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      for (let i = 0; i < lengths[b]; i++) for (let j = 0; j < S; j++) out.push(g.data[((b * H + h) * T + i) * S + j]);
    }
  }
  return out;
}

describe('forward pass vs Hugging Face transformers (golden fixtures)', () => {
  for (const c of CASES) {
    it(`${c.folder}: logits, hidden states and attention probabilities at every real position`, async () => {
      const golden = await readGolden(c.folder);
      const model = await loadModel(await fixtureFolder(c.folder));
      expect(model.family.name).toBe(c.family);
      const L = model.config.nLayer;
      for (let i = 0; i <= L; i++) expect(golden.tensors.has(`hidden.${i}`), `hidden.${i}`).toBe(true);
      for (let l = 0; l < L; l++) expect(golden.tensors.has(`attn.${l}`), `attn.${l}`).toBe(true);
      expect(golden.tensors.has(`hidden.${L + 1}`)).toBe(false);

      const session = await ModelSession.create(model, { captures: ['attn.scores', 'resid_post'], logits: 'all' });
      const { outputs } = await session.forward({ sequences: golden.ids });
      await session.release();
      const errors: Record<string, number> = {};
      errors.logits = compareRows('logits', outputs.logits, golden.get('logits'), golden.lengths);
      for (let l = 0; l < L - 1; l++) {
        errors[`hidden.${l + 1}`] = compareRows(`resid_post ${l}`, outputs[captureName(l, 'resid_post')], golden.get(`hidden.${l + 1}`), golden.lengths);
      }
      const last = golden.get(`hidden.${L}`);
      errors[`hidden.${L}`] = relativeError(
        finalNorm(model, c.norm, outputs[captureName(L - 1, 'resid_post')], golden.lengths),
        realRows(last.shape, last.data, golden.lengths),
      );
      for (let l = 0; l < L; l++) {
        const g = golden.get(`attn.${l}`);
        const scores = outputs[captureName(l, 'attn.scores')];
        expect(scores.shape.slice(0, 2), `attn.${l} batch/heads`).toEqual(g.shape.slice(0, 2));
        errors[`attn.${l}`] = relativeError(probabilities(scores, golden.lengths, c.window?.(l), g.shape[3]), goldenAttention(g, golden.lengths));
      }
      // Every tensor's error at once (NaN fails too), so a failure shows where the divergence starts.
      const failures = Object.entries(errors)
        .filter(([, err]) => !(err <= TOLERANCE))
        .map(([name, err]) => `${name}: ${err.toExponential(2)}`);
      expect(failures, `${c.folder}: max|ours-HF|/max|HF| above ${TOLERANCE}`).toEqual([]);
    });
  }
});

describe("tokenizer ids vs transformers' PreTrainedTokenizerFast on the shipped tokenizer.json", () => {
  for (const name of ['emb-s', 'emb-m']) {
    it(`${name}: the same ids for every golden text (no special tokens added)`, async () => {
      const golden = JSON.parse(await readFile(join(FIXTURES, `embedded-${name}`, 'tokenizer-golden.json'), 'utf8')) as {
        texts: string[];
        ids: number[][];
      };
      expect(golden.texts.length).toBe(golden.ids.length);
      expect(golden.texts.length).toBeGreaterThan(0);
      const model = await loadModel(join(REPO, 'content/models', name));
      golden.texts.forEach((text, i) => expect(model.tokenizer.encode(text), JSON.stringify(text)).toEqual(golden.ids[i]));
    });
  }
});
