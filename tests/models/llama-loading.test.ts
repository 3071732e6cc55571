// Loading Llama-style folders (llama / qwen2 / mistral): the registry, HF layout round trip ([out, in] <-> [in, out]),
// the token policy, errors that name the problem, null twins, and `lab finetune` on a Llama folder (only the whole
// k_proj / v_proj tensors move).

import { describe, it, expect } from 'vitest';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { llamaFamily } from '../../src/pipeline/models/llama.ts';
import { loadModel, supportedModelTypes } from '../../src/pipeline/models/registry.ts';
import { nullTwin } from '../../src/pipeline/models/family.ts';
import { encodeSequence } from '../../src/pipeline/models/tokens.ts';
import { writeHfModelFolder, readHfModelFolder } from '../../src/pipeline/models/hf-folder.ts';
import { byteLevelBpeTokenizerJson } from '../../src/pipeline/models/tokenizer-json.ts';
import { toFloat32 } from '../../src/pipeline/models/safetensors.ts';
import { finetune } from '../../src/pipeline/commands/finetune.ts';
import { TrainingSession } from '../../src/pipeline/models/training.ts';
import { tinyLlama, tinyLlamaEntries, type TinyLlamaOptions } from '../helpers/tiny-llama.ts';
import { tempDir } from '../helpers/model-folder.ts';

/** A byte-level folder: 256 byte symbols, then <|begin_of_text|> = 256 (BOS), <|end_of_text|> = 257 (EOS). */
async function writeTinyLlamaFolder(dir: string, options: TinyLlamaOptions = {}) {
  const tiny = tinyLlama({ vocabSize: 258, positions: 64, ...options });
  tiny.config.bos_token_id = 256;
  tiny.config.eos_token_id = 257;
  await writeHfModelFolder(dir, {
    config: tiny.config,
    tensors: tiny.tensors,
    metadata: { format: 'pt' },
    tokenizerJson: byteLevelBpeTokenizerJson({ specialTokens: ['<|begin_of_text|>', '<|end_of_text|>'] }),
    tokenizerConfig: { bos_token: '<|begin_of_text|>', eos_token: '<|end_of_text|>' },
  });
  return tiny;
}

describe('loading Llama-style folders', () => {
  it('registers llama, qwen2 and mistral', () => {
    expect(supportedModelTypes()).toEqual(expect.arrayContaining(['gpt2', 'llama', 'qwen2', 'mistral']));
  });

  it('loads a folder in the HF layout; nn.Linear weights are transposed; the BOS policy follows the model type', async () => {
    for (const modelType of ['llama', 'qwen2', 'mistral'] as const) {
      const dir = await tempDir();
      const tiny = await writeTinyLlamaFolder(dir, { modelType });
      const model = await loadModel(dir);
      expect(model.family.name).toBe('Llama');
      expect(model.config).toMatchObject({ nLayer: 2, nHead: 4, nKvHead: 2, headDim: 4, dModel: 16, maxPositions: 64 });
      // k_proj is [out = 2 heads * 4, in = 16]; the parameter is [in, out].
      const kProj = tiny.ref.get('model.layers.1.self_attn.k_proj.weight')!;
      const k = model.params.get('blocks.1.attn.k.weight')!;
      expect(k.shape).toEqual([16, 8]);
      expect(k.data[3 * 8 + 5]).toBe(kProj.data[5 * 16 + 3]);
      const ids = model.tokenizer.encode('Hi');
      // Llama and Mistral put BOS first (add_bos_token); Qwen2 has no BOS.
      expect(encodeSequence(model, 'Hi')).toEqual(modelType === 'qwen2' ? ids : [256, ...ids]);
      expect(model.family.tokenPolicy(model.config).demoSeparator).toEqual({ kind: 'text', text: '\n' });
      await rm(dir, { recursive: true });
    }
  });

  it('round-trips parameters to HF tensors, for every shape variant', () => {
    const variants: TinyLlamaOptions[] = [
      { untied: true },
      { modelType: 'qwen2' },
      { attentionBias: true, nKvHead: 1 },
      { modelType: 'mistral', headDim: 6 },
    ];
    for (const options of variants) {
      const tiny = tinyLlama(options);
      const config = llamaFamily.parseConfig(tiny.config, 'config.json');
      const params = llamaFamily.loadParams(config, tinyLlamaEntries(tiny), 'tiny');
      const back = llamaFamily.toHfTensors(config, params);
      for (const [name, ref] of tiny.ref) {
        expect(back.get(name)!.shape, name).toEqual(ref.shape);
        expect(Array.from(back.get(name)!.data as Float32Array), name).toEqual(Array.from(ref.data));
      }
      expect(back.size).toBe(tiny.ref.size);
    }
    const qwen = llamaFamily.parseConfig(tinyLlama({ modelType: 'qwen2' }).config, 'c');
    expect(llamaFamily.hfTensorOf(qwen, 'blocks.1.attn.v.bias')).toBe('model.layers.1.self_attn.v_proj.bias');
    expect(llamaFamily.hfTensorOf(qwen, 'blocks.0.attn.k.weight')).toBe('model.layers.0.self_attn.k_proj.weight');
    expect(llamaFamily.kvParamNames(qwen)).toContain('blocks.0.attn.k.bias');
    expect(llamaFamily.kvParamNames(llamaFamily.parseConfig(tinyLlama().config, 'c'))).toEqual([
      'blocks.0.attn.k.weight', 'blocks.0.attn.v.weight', 'blocks.1.attn.k.weight', 'blocks.1.attn.v.weight',
    ]);
  });

  it('reads the config keys: defaults, head_dim, eos lists, sliding windows', () => {
    const raw = tinyLlama().config;
    const c = llamaFamily.parseConfig({ ...raw, num_key_value_heads: undefined, eos_token_id: [2, 7] }, 'c');
    expect(c).toMatchObject({ nKvHead: 4, eosTokenId: 2, bosTokenId: 1 });
    expect(llamaFamily.parseConfig({ ...raw, head_dim: 8 }, 'c').headDim).toBe(8);
    expect(llamaFamily.parseConfig({ ...raw, model_type: 'mistral', sliding_window: 16 }, 'c')).toMatchObject({ maxPositions: 32, slidingWindow: 16 });
    expect(llamaFamily.parseConfig({ ...raw, model_type: 'mistral', sliding_window: null }, 'c')).toHaveProperty('slidingWindow', undefined);
    expect(llamaFamily.tokenPolicy(llamaFamily.parseConfig({ ...raw, model_type: 'qwen2' }, 'c')).bosTokenId).toBeUndefined();
  });

  it('names the problem: unsupported rope type, incomplete llama3 scaling, bad configs', () => {
    const raw = tinyLlama().config;
    expect(() => llamaFamily.parseConfig({ ...raw, rope_scaling: { rope_type: 'yarn', factor: 4 } }, 'm/config.json'))
      .toThrow(/m\/config\.json: unsupported rope_scaling type "yarn"; .*"linear" and "llama3"/);
    expect(() => llamaFamily.parseConfig({ ...raw, rope_scaling: { type: 'dynamic', factor: 2 } }, 'c')).toThrow(/rope_scaling type "dynamic"/);
    expect(() => llamaFamily.parseConfig({ ...raw, rope_scaling: { rope_type: 'llama3', factor: 8 } }, 'c'))
      .toThrow(/rope_scaling of type "llama3" needs a positive number "low_freq_factor"/);
    expect(() => llamaFamily.parseConfig({ ...raw, num_key_value_heads: 3 }, 'c')).toThrow(/num_attention_heads 4 is not a multiple of num_key_value_heads 3/);
    expect(() => llamaFamily.parseConfig({ ...raw, hidden_act: 'gelu' }, 'c')).toThrow(/not a valid Llama-style .*hidden_act/);
    expect(() => llamaFamily.parseConfig({ ...raw, model_type: 'qwen2', use_sliding_window: true }, 'c')).toThrow(/use_sliding_window/);
  });

  it('names the tensor for shape mismatches, missing and unexpected tensors', () => {
    const tiny = tinyLlama();
    const entries = tinyLlamaEntries(tiny);
    const config = llamaFamily.parseConfig(tiny.config, 'config.json');
    const gqa8 = llamaFamily.parseConfig({ ...tiny.config, num_key_value_heads: 4 }, 'config.json');
    expect(() => llamaFamily.loadParams(gqa8, entries, 'm/model.safetensors'))
      .toThrow(/m\/model\.safetensors: tensor "model\.layers\.0\.self_attn\.k_proj\.weight" has shape \[8,16\] but config\.json implies \[16,16\].*num_key_value_heads=4/);
    const missing = new Map(entries);
    missing.delete('model.layers.1.mlp.up_proj.weight');
    expect(() => llamaFamily.loadParams(config, missing, 'x')).toThrow(/missing tensor "model\.layers\.1\.mlp\.up_proj\.weight"/);
    const extra = new Map(entries);
    extra.set('model.layers.0.self_attn.q_proj.bias', entries.get('model.norm.weight')!);
    expect(() => llamaFamily.loadParams(config, extra, 'x')).toThrow(/not part of a llama model with this config: model\.layers\.0\.self_attn\.q_proj\.bias/);
    // Qwen2 needs its q/k/v biases.
    const qwen = llamaFamily.parseConfig({ ...tiny.config, model_type: 'qwen2' }, 'c');
    expect(() => llamaFamily.loadParams(qwen, entries, 'x')).toThrow(/missing tensor "model\.layers\.0\.self_attn\.q_proj\.bias"/);
    // Tied models tolerate a duplicated lm_head.weight, and the rotary inv_freq buffer.
    const tolerated = new Map(entries);
    tolerated.set('lm_head.weight', entries.get('model.embed_tokens.weight')!);
    tolerated.set('model.layers.0.self_attn.rotary_emb.inv_freq', entries.get('model.norm.weight')!);
    expect(llamaFamily.loadParams(config, tolerated, 'x').has('unembed.weight')).toBe(false);
  });
});

describe('Llama null-model twins', () => {
  const tiny = tinyLlama({ modelType: 'qwen2', untied: true });
  const config = llamaFamily.parseConfig(tiny.config, 'config.json');
  const trained = llamaFamily.loadParams(config, tinyLlamaEntries(tiny), 'tiny');

  it('are deterministic from their seed; "untrained" redraws all, "trained embeddings" keeps embeddings, norms, lm_head', () => {
    const a = nullTwin(llamaFamily, config, trained, 'trained-embeddings', 7);
    const b = nullTwin(llamaFamily, config, trained, 'trained-embeddings', 7);
    const untrained = nullTwin(llamaFamily, config, trained, 'untrained', 7);
    const kept = new Set(llamaFamily.embeddingParamNames(config));
    expect([...kept].sort()).toEqual(['blocks.0.ln1.weight', 'blocks.0.ln2.weight', 'blocks.1.ln1.weight', 'blocks.1.ln2.weight',
      'embed.tokens', 'final_norm.weight', 'unembed.weight']);
    expect([...untrained.keys()].sort()).toEqual([...trained.keys()].sort());
    for (const [name, t] of trained) {
      expect(a.get(name)!.data, name).toEqual(b.get(name)!.data);
      expect(a.get(name)!.shape, name).toEqual(t.shape);
      expect(untrained.get(name)!.data, name).not.toEqual(t.data);
      if (kept.has(name)) expect(a.get(name)!.data, name).toBe(t.data);
      else expect(a.get(name)!.data, name).not.toEqual(t.data);
    }
  });

  it('fresh weights follow HF: normal(0, initializer_range), unit RMSNorm weights, zero biases', () => {
    const big = llamaFamily.parseConfig({ ...tiny.config, hidden_size: 64, intermediate_size: 128 }, 'c');
    const fresh = nullTwin(llamaFamily, big, new Map(), 'untrained', 3);
    const std = (x: ArrayLike<number>) => Math.sqrt(Array.from(x).reduce((s, v) => s + v * v, 0) / x.length);
    expect(std(fresh.get('blocks.0.mlp.gate.weight')!.data as Float32Array)).toBeCloseTo(0.02, 3);
    expect(std(fresh.get('blocks.0.attn.o.weight')!.data as Float32Array)).toBeCloseTo(0.02, 3);
    expect(Array.from(fresh.get('blocks.1.ln2.weight')!.data as Float32Array).every((v) => v === 1)).toBe(true);
    expect(Array.from(fresh.get('blocks.1.attn.k.bias')!.data as Float32Array).every((v) => v === 0)).toBe(true);
  });
});

describe('lab finetune on a Llama folder', () => {
  it('moves only the k_proj / v_proj tensors (whole), every other tensor is bit-identical, the loss goes down', async () => {
    const dir = await tempDir();
    const model = join(dir, 'model');
    const out = join(dir, 'out');
    await writeTinyLlamaFolder(model, { modelType: 'qwen2' });
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
      expect(after.shape, name).toEqual(entry.shape);
      const same = Buffer.compare(Buffer.from(after.bytes), Buffer.from(entry.bytes)) === 0;
      expect(same, name).toBe(!/self_attn\.[kv]_proj/.test(name));
    }
    // The written k_proj is [out, in]: reloading it gives back the trained parameter.
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
    expect(reloaded.params.get('blocks.0.attn.k.weight')!.data[2 * 8 + 3]).toBe(k[3 * 16 + 2]);
    await rm(dir, { recursive: true });
  });
});
