// Loading GPT-Neo folders (gpt_neo): the registry, nn.Linear transposes and their inverse (HF layout round trip, with
// and without the `transformer.` prefix), attention_types expansion, the token policy (BOS before every sequence, as
// GPT-2), errors that name the problem, and null twins.

import { describe, it, expect } from 'vitest';
import { rm } from 'node:fs/promises';
import { gptNeoFamily, expandAttentionTypes } from '../../src/pipeline/models/gpt-neo.ts';
import { loadModel, supportedModelTypes } from '../../src/pipeline/models/registry.ts';
import { nullTwin } from '../../src/pipeline/models/family.ts';
import { encodeSequence } from '../../src/pipeline/models/tokens.ts';
import { writeHfModelFolder } from '../../src/pipeline/models/hf-folder.ts';
import { byteLevelBpeTokenizerJson } from '../../src/pipeline/models/tokenizer-json.ts';
import { tinyNeo, tinyNeoEntries, type TinyNeoOptions } from '../helpers/tiny-neo.ts';
import { tempDir } from '../helpers/model-folder.ts';

describe('loading GPT-Neo folders', () => {
  it('registers gpt_neo beside the others', () => {
    expect(supportedModelTypes()).toEqual(expect.arrayContaining(['gpt2', 'llama', 'gpt_neox', 'gpt_neo']));
  });

  it('loads a folder in the HF layout (prefixed names, buffers); weights transposed; BOS starts sequences', async () => {
    const dir = await tempDir();
    const tiny = tinyNeo({ vocabSize: 257, positions: 64, buffers: true });
    Object.assign(tiny.config, { bos_token_id: 256, eos_token_id: 256 });
    await writeHfModelFolder(dir, {
      config: tiny.config,
      tensors: tiny.tensors,
      metadata: { format: 'pt' },
      tokenizerJson: byteLevelBpeTokenizerJson({ specialTokens: ['<|endoftext|>'] }),
      tokenizerConfig: { bos_token: '<|endoftext|>', eos_token: '<|endoftext|>' },
    });
    const model = await loadModel(dir);
    expect(model.family.name).toBe('GPT-Neo');
    expect(model.config).toMatchObject({
      nLayer: 2, nHead: 2, nKvHead: 2, headDim: 8, dModel: 16, maxPositions: 64, windowSize: 4,
      attentionLayers: ['global', 'local'], intermediateSize: 64, geluApproximate: 'tanh', tieWordEmbeddings: true,
    });
    // k_proj.weight is [out 16, in 16]; our k parameter is [in, out].
    const hf = tiny.ref.get('transformer.h.1.attn.attention.k_proj.weight')!;
    const k = model.params.get('blocks.1.attn.k.weight')!;
    expect(k.data[3 * 16 + 13]).toBe(hf.data[13 * 16 + 3]);
    const fc = model.params.get('blocks.0.mlp.fc.weight')!;
    expect(fc.shape).toEqual([16, 64]);
    expect(fc.data[5 * 64 + 40]).toBe(tiny.ref.get('transformer.h.0.mlp.c_fc.weight')!.data[40 * 16 + 5]);
    expect(model.params.has('blocks.0.attn.k.bias')).toBe(false);
    expect(model.params.has('unembed.weight')).toBe(false);
    expect(model.hfNames.get('h.0.ln_1.weight')).toBe('transformer.h.0.ln_1.weight');
    const ids = model.tokenizer.encode('Hi');
    expect(encodeSequence(model, 'Hi')).toEqual([256, ...ids]);
    const policy = model.family.tokenPolicy(model.config);
    expect(policy.demoSeparator).toEqual({ kind: 'text', text: '\n' });
    expect(policy.bosTokenId).toBe(256);
    await rm(dir, { recursive: true });
  });

  it('round-trips parameters to HF tensors, for every variant', () => {
    const variants: TinyNeoOptions[] = [{}, { prefix: false }, { tied: false, nHead: 4 }, { attentionTypes: [[['global'], 3]] }];
    for (const options of variants) {
      const tiny = tinyNeo(options);
      const config = gptNeoFamily.parseConfig(tiny.config, 'config.json');
      const params = gptNeoFamily.loadParams(config, tinyNeoEntries(tiny), 'tiny');
      const back = gptNeoFamily.toHfTensors(config, params);
      const strip = (n: string) => n.replace(/^transformer\./, '');
      for (const [name, ref] of tiny.ref) {
        expect(back.get(strip(name))!.shape, name).toEqual(ref.shape);
        expect(Array.from(back.get(strip(name))!.data as Float32Array), name).toEqual(Array.from(ref.data));
      }
      expect(back.size).toBe(tiny.ref.size);
    }
    const c = gptNeoFamily.parseConfig(tinyNeo().config, 'c');
    expect(gptNeoFamily.hfTensorOf(c, 'blocks.1.attn.v.weight')).toBe('h.1.attn.attention.v_proj.weight');
    expect(gptNeoFamily.hfTensorOf(c, 'blocks.0.attn.o.bias')).toBe('h.0.attn.attention.out_proj.bias');
    expect(gptNeoFamily.hfTensorOf(c, 'blocks.0.mlp.proj.weight')).toBe('h.0.mlp.c_proj.weight');
    expect(gptNeoFamily.hfTensorOf(c, 'embed.positions')).toBe('wpe.weight');
    expect(() => gptNeoFamily.hfTensorOf(c, 'blocks.0.attn.k.bias')).toThrow(/not a gpt_neo parameter/);
    expect(gptNeoFamily.kvParamNames(c)).toEqual(['blocks.0.attn.k.weight', 'blocks.0.attn.v.weight', 'blocks.1.attn.k.weight', 'blocks.1.attn.v.weight']);
  });

  it('reads the config keys: attention_types expansion, defaults, activations', () => {
    expect(expandAttentionTypes([[['global', 'local'], 12]])).toHaveLength(24);
    expect(expandAttentionTypes([[['global', 'local'], 2], [['global'], 1]])).toEqual(['global', 'local', 'global', 'local', 'global']);
    const raw = tinyNeo().config;
    const minimal = { ...raw };
    for (const key of ['activation_function', 'layer_norm_epsilon', 'tie_word_embeddings', 'intermediate_size', 'window_size']) delete minimal[key];
    expect(gptNeoFamily.parseConfig(minimal, 'c')).toMatchObject({
      geluApproximate: 'tanh', layerNormEpsilon: 1e-5, tieWordEmbeddings: true, intermediateSize: 64, windowSize: 256,
    });
    expect(gptNeoFamily.parseConfig({ ...raw, intermediate_size: null }, 'c')).toMatchObject({ intermediateSize: 64 });
    expect(gptNeoFamily.parseConfig({ ...raw, activation_function: 'gelu' }, 'c')).toMatchObject({ geluApproximate: 'none' });
    // gpt-neo-125m's config
    const neo125 = gptNeoFamily.parseConfig({
      ...raw, hidden_size: 768, num_heads: 12, num_layers: 12, attention_types: [[['global', 'local'], 6]], window_size: 256,
      max_position_embeddings: 2048, vocab_size: 50257, intermediate_size: null,
    }, 'c');
    expect(neo125).toMatchObject({ headDim: 64, intermediateSize: 3072, nLayer: 12 });
    expect((neo125 as unknown as { attentionLayers: string[] }).attentionLayers.slice(0, 3)).toEqual(['global', 'local', 'global']);
  });

  it('names the problem: bad configs', () => {
    const raw = tinyNeo().config;
    expect(() => gptNeoFamily.parseConfig({ ...raw, num_layers: 3 }, 'm/config.json'))
      .toThrow(/m\/config\.json: attention_types .* expands to 2 layers but num_layers is 3/);
    expect(() => gptNeoFamily.parseConfig({ ...raw, num_heads: 3 }, 'c')).toThrow(/hidden_size 16 is not divisible by num_heads 3/);
    expect(() => gptNeoFamily.parseConfig({ ...raw, attention_types: [[['global', 'sparse'], 1]] }, 'c')).toThrow(/not a valid GPT-Neo .*attention_types/);
    expect(() => gptNeoFamily.parseConfig({ ...raw, activation_function: 'relu' }, 'c')).toThrow(/not a valid GPT-Neo .*activation_function/);
    expect(() => gptNeoFamily.parseConfig({ ...raw, window_size: 0 }, 'c')).toThrow(/window_size/);
  });

  it('names the tensor for shape mismatches, missing and unexpected tensors; tolerates buffers', () => {
    const tiny = tinyNeo();
    const entries = tinyNeoEntries(tiny);
    const config = gptNeoFamily.parseConfig(tiny.config, 'config.json');
    const wide = gptNeoFamily.parseConfig({ ...tiny.config, intermediate_size: 32 }, 'config.json');
    expect(() => gptNeoFamily.loadParams(wide, entries, 'm/model.safetensors'))
      .toThrow(/m\/model\.safetensors: tensor "h\.0\.mlp\.c_fc\.weight" has shape \[64,16\] but config\.json implies \[32,16\].*intermediate_size=32/);
    const missing = new Map(entries);
    missing.delete('transformer.h.1.attn.attention.v_proj.weight');
    expect(() => gptNeoFamily.loadParams(config, missing, 'x')).toThrow(/missing tensor "h\.1\.attn\.attention\.v_proj\.weight"/);
    const withBias = new Map(entries);
    withBias.set('transformer.h.0.attn.attention.k_proj.bias', entries.get('transformer.h.0.ln_1.bias')!);
    expect(() => gptNeoFamily.loadParams(config, withBias, 'x')).toThrow(/not part of a gpt_neo model with this config: transformer\.h\.0\.attn\.attention\.k_proj\.bias/);
    const untied = gptNeoFamily.parseConfig({ ...tiny.config, tie_word_embeddings: false }, 'c');
    expect(() => gptNeoFamily.loadParams(untied, entries, 'x')).toThrow(/missing tensor "lm_head\.weight"/);
    const buffered = tinyNeo({ buffers: true });
    expect(gptNeoFamily.loadParams(config, tinyNeoEntries(buffered), 'x').has('unembed.weight')).toBe(false);
  });
});

describe('GPT-Neo null-model twins', () => {
  const tiny = tinyNeo({ tied: false });
  const config = gptNeoFamily.parseConfig(tiny.config, 'config.json');
  const trained = gptNeoFamily.loadParams(config, tinyNeoEntries(tiny), 'tiny');

  it('are deterministic from their seed; "trained embeddings" keeps embeddings, positions, LayerNorms and lm_head', () => {
    const a = nullTwin(gptNeoFamily, config, trained, 'trained-embeddings', 7);
    const b = nullTwin(gptNeoFamily, config, trained, 'trained-embeddings', 7);
    const untrained = nullTwin(gptNeoFamily, config, trained, 'untrained', 7);
    const kept = new Set(gptNeoFamily.embeddingParamNames(config));
    expect(kept.has('unembed.weight') && kept.has('embed.positions') && kept.has('blocks.1.ln2.bias') && kept.has('final_norm.bias')).toBe(true);
    expect([...untrained.keys()].sort()).toEqual([...trained.keys()].sort());
    for (const [name, t] of trained) {
      expect(a.get(name)!.data, name).toEqual(b.get(name)!.data);
      expect(a.get(name)!.shape, name).toEqual(t.shape);
      if (kept.has(name)) expect(a.get(name)!.data, name).toBe(t.data);
      else expect(a.get(name)!.data, name).not.toEqual(t.data);
    }
  });

  it('fresh weights follow HF: normal(0, initializer_range), LayerNorm ones / zeros, zero biases', () => {
    const big = gptNeoFamily.parseConfig({ ...tiny.config, hidden_size: 64, intermediate_size: 128 }, 'c');
    const fresh = nullTwin(gptNeoFamily, big, new Map(), 'untrained', 3);
    const std = (x: ArrayLike<number>) => Math.sqrt(Array.from(x).reduce((s, v) => s + v * v, 0) / x.length);
    expect(std(fresh.get('blocks.0.mlp.fc.weight')!.data as Float32Array)).toBeCloseTo(0.02, 3);
    expect(std(fresh.get('blocks.0.attn.k.weight')!.data as Float32Array)).toBeCloseTo(0.02, 3);
    expect(fresh.get('blocks.0.attn.k.weight')!.shape).toEqual([64, 64]);
    expect(fresh.get('blocks.0.mlp.fc.weight')!.shape).toEqual([64, 128]);
    expect(Array.from(fresh.get('blocks.1.ln2.weight')!.data as Float32Array).every((v) => v === 1)).toBe(true);
    expect(Array.from(fresh.get('blocks.1.attn.o.bias')!.data as Float32Array).every((v) => v === 0)).toBe(true);
  });
});
