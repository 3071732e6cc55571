// Loading XGLM folders (xglm: the paper's fairseq dense LMs as converted for transformers): the registry, nn.Linear
// transposes and their inverse (HF layout round trip), the config keys and HF's defaults, the token policy (</s> starts
// every sequence and separates demonstrations), errors that name the problem, tolerated buffers, null twins, and a
// finetune run that moves only k_proj / v_proj.

import { describe, it, expect } from 'vitest';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { xglmFamily } from '../../src/pipeline/models/xglm.ts';
import { loadModel, supportedModelTypes } from '../../src/pipeline/models/registry.ts';
import { nullTwin } from '../../src/pipeline/models/family.ts';
import { encodeSequence } from '../../src/pipeline/models/tokens.ts';
import { readHfModelFolder, writeHfModelFolder } from '../../src/pipeline/models/hf-folder.ts';
import { toFloat32 } from '../../src/pipeline/models/safetensors.ts';
import { wordLevelTokenizerJson } from '../../src/pipeline/models/tokenizer-json.ts';
import { TrainingSession } from '../../src/pipeline/models/training.ts';
import { finetune } from '../../src/pipeline/commands/finetune.ts';
import { tinyXglm, tinyXglmEntries, type TinyXglmOptions } from '../helpers/tiny-xglm.ts';
import { tempDir } from '../helpers/model-folder.ts';

const SPECIALS = ['<s>', '<pad>', '</s>', '<unk>'];
const WORDS = ['The', 'movie', 'was', 'great.', 'Label:', 'positive', 'A', 'dull,', 'tired', 'plot.', 'negative', 'Hi'];

/** A tiny XGLM folder with a word-level tokenizer whose ids follow fairseq's dictionary: <s> 0, <pad> 1, </s> 2, <unk> 3. */
async function writeTinyXglmFolder(dir: string, options: TinyXglmOptions = {}) {
  const tiny = tinyXglm({ vocabSize: SPECIALS.length + WORDS.length, ...options });
  await writeHfModelFolder(dir, {
    config: tiny.config,
    tensors: tiny.tensors,
    metadata: { format: 'pt' },
    tokenizerJson: wordLevelTokenizerJson({ vocab: WORDS, unkToken: '<unk>', specialTokens: SPECIALS }),
    tokenizerConfig: { bos_token: '<s>', eos_token: '</s>', pad_token: '<pad>', unk_token: '<unk>' },
  });
  return tiny;
}

describe('loading XGLM folders', () => {
  it('registers xglm beside the others', () => {
    expect(supportedModelTypes()).toEqual(expect.arrayContaining(['gpt2', 'llama', 'gpt_neox', 'gpt_neo', 'xglm']));
  });

  it('loads a folder in the HF layout (with buffers); weights transposed; </s> starts sequences and separates demos', async () => {
    const dir = await tempDir();
    const tiny = await writeTinyXglmFolder(dir, { buffers: true });
    const model = await loadModel(dir);
    expect(model.family.name).toBe('XGLM');
    expect(model.config).toMatchObject({
      nLayer: 2, nHead: 2, nKvHead: 2, headDim: 8, dModel: 16, maxPositions: 32, ffnDim: 64, geluApproximate: 'tanh',
      embedScale: 4, padTokenId: 1, bosTokenId: 0, eosTokenId: 2, tieWordEmbeddings: true,
    });
    // k_proj.weight is [out 16, in 16]; our k parameter is [in, out].
    const hf = tiny.ref.get('model.layers.1.self_attn.k_proj.weight')!;
    const k = model.params.get('blocks.1.attn.k.weight')!;
    expect(k.data[3 * 16 + 13]).toBe(hf.data[13 * 16 + 3]);
    const fc = model.params.get('blocks.0.mlp.fc.weight')!;
    expect(fc.shape).toEqual([16, 64]);
    expect(fc.data[5 * 64 + 40]).toBe(tiny.ref.get('model.layers.0.fc1.weight')!.data[40 * 16 + 5]);
    expect(model.params.get('blocks.0.attn.v.bias')!.data).toEqual(tiny.ref.get('model.layers.0.self_attn.v_proj.bias')!.data);
    expect(model.params.has('embed.positions')).toBe(false);
    expect(model.params.has('unembed.weight')).toBe(false);
    const ids = model.tokenizer.encode('Hi');
    expect(encodeSequence(model, 'Hi')).toEqual([2, ...ids]);
    const policy = model.family.tokenPolicy(model.config);
    expect(policy.bosTokenId).toBe(2);
    expect(policy.demoSeparator).toEqual({ kind: 'token', tokenId: 2 });
    expect(policy.description).toMatch(/<\/s> \(eos_token_id 2\) is put before every sequence/);
    await rm(dir, { recursive: true });
  });

  it('round-trips parameters to HF tensors, for every variant', () => {
    const variants: TinyXglmOptions[] = [{}, { tied: false, nHead: 4 }, { nLayer: 3, ffn: 24 }, { dModel: 15, nHead: 3 }];
    for (const options of variants) {
      const tiny = tinyXglm(options);
      const config = xglmFamily.parseConfig(tiny.config, 'config.json');
      const params = xglmFamily.loadParams(config, tinyXglmEntries(tiny), 'tiny');
      const back = xglmFamily.toHfTensors(config, params);
      for (const [name, ref] of tiny.ref) {
        expect(back.get(name)!.shape, name).toEqual(ref.shape);
        expect(Array.from(back.get(name)!.data as Float32Array), name).toEqual(Array.from(ref.data));
      }
      expect(back.size).toBe(tiny.ref.size);
    }
    const c = xglmFamily.parseConfig(tinyXglm().config, 'c');
    expect(xglmFamily.hfTensorOf(c, 'blocks.1.attn.v.weight')).toBe('model.layers.1.self_attn.v_proj.weight');
    expect(xglmFamily.hfTensorOf(c, 'blocks.0.attn.o.bias')).toBe('model.layers.0.self_attn.out_proj.bias');
    expect(xglmFamily.hfTensorOf(c, 'blocks.0.mlp.proj.weight')).toBe('model.layers.0.fc2.weight');
    expect(xglmFamily.hfTensorOf(c, 'blocks.1.ln2.bias')).toBe('model.layers.1.final_layer_norm.bias');
    expect(xglmFamily.hfTensorOf(c, 'final_norm.weight')).toBe('model.layer_norm.weight');
    expect(() => xglmFamily.hfTensorOf(c, 'embed.positions')).toThrow(/not an xglm parameter/);
    expect(() => xglmFamily.hfTensorOf(c, 'unembed.weight')).toThrow(/not an xglm parameter/);
    expect(xglmFamily.kvParamNames(c)).toEqual([0, 1].flatMap((l) => ['k', 'v'].flatMap((p) => [`blocks.${l}.attn.${p}.weight`, `blocks.${l}.attn.${p}.bias`])));
  });

  it("reads the config keys with HF's XGLMConfig defaults", () => {
    const raw = tinyXglm().config;
    const minimal = { ...raw };
    for (const key of ['activation_function', 'scale_embedding', 'tie_word_embeddings', 'max_position_embeddings', 'pad_token_id', 'bos_token_id', 'eos_token_id', 'init_std']) {
      delete minimal[key];
    }
    expect(xglmFamily.parseConfig(minimal, 'c')).toMatchObject({
      geluApproximate: 'none', embedScale: 4, tieWordEmbeddings: true, maxPositions: 2048, padTokenId: 1, bosTokenId: 0,
      eosTokenId: 2, initStd: 0.02,
    });
    expect(xglmFamily.parseConfig({ ...raw, scale_embedding: false }, 'c')).toMatchObject({ embedScale: 1 });
    expect(xglmFamily.parseConfig({ ...raw, pad_token_id: null }, 'c')).toHaveProperty('padTokenId', undefined);
    // KoboldAI/fairseq-dense-1.3B's shape
    const dense13 = xglmFamily.parseConfig({ ...raw, d_model: 2048, attention_heads: 32, num_layers: 24, ffn_dim: 8192, vocab_size: 50261, max_position_embeddings: 2048, activation_function: 'gelu' }, 'c');
    expect(dense13).toMatchObject({ headDim: 64, nLayer: 24, ffnDim: 8192, geluApproximate: 'none' });
    // Without an eos id there is no sequence-start token and demonstrations fall back to a newline.
    const noEos = xglmFamily.parseConfig({ ...raw, eos_token_id: null }, 'c');
    expect(xglmFamily.tokenPolicy(noEos)).toMatchObject({ bosTokenId: undefined, demoSeparator: { kind: 'text', text: '\n' } });
  });

  it('names the problem: bad configs', () => {
    const raw = tinyXglm().config;
    expect(() => xglmFamily.parseConfig({ ...raw, attention_heads: 3 }, 'm/config.json')).toThrow(/m\/config\.json: d_model 16 is not divisible by attention_heads 3/);
    expect(() => xglmFamily.parseConfig({ ...raw, activation_function: 'relu' }, 'c')).toThrow(/not a valid XGLM .*activation_function/);
    expect(() => xglmFamily.parseConfig({ ...raw, ffn_dim: undefined }, 'c')).toThrow(/not a valid XGLM .*ffn_dim/);
    expect(() => xglmFamily.parseConfig({ ...raw, d_model: 2, attention_heads: 1 }, 'c')).toThrow(/too small for sinusoidal positions/);
  });

  it('names the tensor for shape mismatches, missing and unexpected tensors; tolerates buffers', () => {
    const tiny = tinyXglm();
    const entries = tinyXglmEntries(tiny);
    const config = xglmFamily.parseConfig(tiny.config, 'config.json');
    const wide = xglmFamily.parseConfig({ ...tiny.config, ffn_dim: 32 }, 'config.json');
    expect(() => xglmFamily.loadParams(wide, entries, 'm/model.safetensors'))
      .toThrow(/m\/model\.safetensors: tensor "model\.layers\.0\.fc1\.weight" has shape \[64,16\] but config\.json implies \[32,16\].*ffn_dim=32/);
    const missing = new Map(entries);
    missing.delete('model.layers.1.self_attn.v_proj.bias');
    expect(() => xglmFamily.loadParams(config, missing, 'x')).toThrow(/missing tensor "model\.layers\.1\.self_attn\.v_proj\.bias"/);
    const extra = new Map(entries);
    extra.set('model.layernorm_embedding.weight', entries.get('model.layer_norm.weight')!);
    expect(() => xglmFamily.loadParams(config, extra, 'x')).toThrow(/not part of an xglm model with this config: model\.layernorm_embedding\.weight/);
    const untied = xglmFamily.parseConfig({ ...tiny.config, tie_word_embeddings: false }, 'c');
    expect(() => xglmFamily.loadParams(untied, entries, 'x')).toThrow(/missing tensor "lm_head\.weight"/);
    const buffered = tinyXglm({ buffers: true });
    expect(xglmFamily.loadParams(config, tinyXglmEntries(buffered), 'x').has('unembed.weight')).toBe(false);
  });
});

describe('XGLM null-model twins', () => {
  const tiny = tinyXglm({ tied: false });
  const config = xglmFamily.parseConfig(tiny.config, 'config.json');
  const trained = xglmFamily.loadParams(config, tinyXglmEntries(tiny), 'tiny');

  it('are deterministic from their seed; "trained embeddings" keeps the embedding, LayerNorms and lm_head', () => {
    const a = nullTwin(xglmFamily, config, trained, 'trained-embeddings', 7);
    const b = nullTwin(xglmFamily, config, trained, 'trained-embeddings', 7);
    const untrained = nullTwin(xglmFamily, config, trained, 'untrained', 7);
    const kept = new Set(xglmFamily.embeddingParamNames(config));
    expect([...kept].sort()).toEqual([
      'blocks.0.ln1.bias', 'blocks.0.ln1.weight', 'blocks.0.ln2.bias', 'blocks.0.ln2.weight',
      'blocks.1.ln1.bias', 'blocks.1.ln1.weight', 'blocks.1.ln2.bias', 'blocks.1.ln2.weight',
      'embed.tokens', 'final_norm.bias', 'final_norm.weight', 'unembed.weight',
    ]);
    expect([...untrained.keys()].sort()).toEqual([...trained.keys()].sort());
    for (const [name, t] of trained) {
      expect(a.get(name)!.data, name).toEqual(b.get(name)!.data);
      expect(a.get(name)!.shape, name).toEqual(t.shape);
      expect(untrained.get(name)!.data, name).not.toEqual(t.data);
      if (kept.has(name)) expect(a.get(name)!.data, name).toBe(t.data);
      else expect(a.get(name)!.data, name).not.toEqual(t.data);
    }
  });

  it('fresh weights follow HF: normal(0, init_std), the padding row zero, unit LayerNorm weights, zero biases', () => {
    const big = xglmFamily.parseConfig({ ...tiny.config, d_model: 64, ffn_dim: 128 }, 'c');
    const fresh = nullTwin(xglmFamily, big, new Map(), 'untrained', 3);
    const std = (x: ArrayLike<number>) => Math.sqrt(Array.from(x).reduce((s, v) => s + v * v, 0) / x.length);
    expect(std(fresh.get('blocks.0.mlp.fc.weight')!.data as Float32Array)).toBeCloseTo(0.02, 3);
    expect(std(fresh.get('blocks.0.attn.o.weight')!.data as Float32Array)).toBeCloseTo(0.02, 3);
    const embed = fresh.get('embed.tokens')!.data as Float32Array;
    expect(Array.from(embed.subarray(64, 128)).every((v) => v === 0)).toBe(true); // pad_token_id 1
    expect(std(embed.subarray(128))).toBeCloseTo(0.02, 2);
    expect(Array.from(fresh.get('blocks.1.ln2.weight')!.data as Float32Array).every((v) => v === 1)).toBe(true);
    expect(Array.from(fresh.get('blocks.1.attn.k.bias')!.data as Float32Array).every((v) => v === 0)).toBe(true);
  });
});

describe('lab finetune on an XGLM folder', () => {
  it('moves only the k_proj / v_proj tensors (whole), every other tensor is bit-identical, the loss goes down', async () => {
    const dir = await tempDir();
    const model = join(dir, 'model');
    const out = join(dir, 'out');
    await writeTinyXglmFolder(model);
    const data = join(dir, 'data.jsonl');
    const lines = ['The movie was great. Label: positive', 'A dull, tired plot. Label: negative'];
    await writeFile(data, lines.map((text) => JSON.stringify({ text })).join('\n') + '\n');
    const { losses, trainedTensors } = await finetune({ modelDir: model, dataFile: data, lr: 0.05, outDir: out, threads: 1, log: () => {} });
    expect(losses).toHaveLength(2);
    expect(trainedTensors.sort()).toEqual(
      [0, 1].flatMap((l) => ['k', 'v'].flatMap((p) => ['weight', 'bias'].map((w) => `model.layers.${l}.self_attn.${p}_proj.${w}`))).sort(),
    );
    const a = await readHfModelFolder(model);
    const b = await readHfModelFolder(out);
    expect([...b.tensors.keys()].sort()).toEqual([...a.tensors.keys()].sort());
    for (const [name, entry] of a.tensors) {
      const after = b.tensors.get(name)!;
      const same = Buffer.compare(Buffer.from(after.bytes), Buffer.from(entry.bytes)) === 0;
      // The key bias gets no gradient (adding one vector to every key shifts a query's scores by a constant, which the
      // softmax ignores), so it may stay bit-identical; everything else that is not k/v must.
      if (name.endsWith('self_attn.k_proj.bias')) continue;
      expect(same, name).toBe(!/self_attn\.[kv]_proj/.test(name));
    }
    const reloaded = await loadModel(out);
    const meanLoss = async (m: Awaited<ReturnType<typeof loadModel>>) => {
      const session = await TrainingSession.create(m, { trainable: m.family.kvParamNames(m.config) }, { threads: 1 });
      let sum = 0;
      for (const text of lines) sum += await session.loss({ sequences: [encodeSequence(m, text)] });
      await session.release();
      return sum / lines.length;
    };
    expect(await meanLoss(reloaded)).toBeLessThan(await meanLoss(await loadModel(model)));
    const k = toFloat32(b.tensors.get('model.layers.0.self_attn.k_proj.weight')!);
    expect(reloaded.params.get('blocks.0.attn.k.weight')!.data[2 * 16 + 3]).toBe(k[3 * 16 + 2]);
    await rm(dir, { recursive: true });
  });
});
