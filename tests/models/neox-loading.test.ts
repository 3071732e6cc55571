// Loading GPT-NeoX folders (gpt_neox, Pythia): the registry, the per-head fused query_key_value split and its re-fusion
// (HF layout round trip), the token policy (no BOS: <|endoftext|> starts every sequence), errors that name the
// problem, and null twins.

import { describe, it, expect } from 'vitest';
import { rm } from 'node:fs/promises';
import { gptNeoxFamily } from '../../src/pipeline/models/gpt-neox.ts';
import { loadModel, supportedModelTypes } from '../../src/pipeline/models/registry.ts';
import { nullTwin } from '../../src/pipeline/models/family.ts';
import { encodeSequence } from '../../src/pipeline/models/tokens.ts';
import { writeHfModelFolder } from '../../src/pipeline/models/hf-folder.ts';
import { byteLevelBpeTokenizerJson } from '../../src/pipeline/models/tokenizer-json.ts';
import { tinyNeox, tinyNeoxEntries, type TinyNeoxOptions } from '../helpers/tiny-neox.ts';
import { tempDir } from '../helpers/model-folder.ts';

describe('loading GPT-NeoX folders', () => {
  it('registers gpt_neox', () => {
    expect(supportedModelTypes()).toEqual(expect.arrayContaining(['gpt2', 'llama', 'gpt_neox']));
  });

  it('loads a folder in the HF layout; the fused q/k/v is split per head; <|endoftext|> starts sequences', async () => {
    const dir = await tempDir();
    // A byte-level folder: 256 byte symbols, then <|endoftext|> = 256 (Pythia's bos = eos = <|endoftext|>).
    const tiny = tinyNeox({ vocabSize: 257, positions: 64, buffers: true });
    Object.assign(tiny.config, { bos_token_id: 256, eos_token_id: 256 });
    await writeHfModelFolder(dir, {
      config: tiny.config,
      tensors: tiny.tensors,
      metadata: { format: 'pt' },
      tokenizerJson: byteLevelBpeTokenizerJson({ specialTokens: ['<|endoftext|>'] }),
      tokenizerConfig: { bos_token: '<|endoftext|>', eos_token: '<|endoftext|>' },
    });
    const model = await loadModel(dir);
    expect(model.family.name).toBe('GPT-NeoX');
    expect(model.config).toMatchObject({ nLayer: 2, nHead: 2, nKvHead: 2, headDim: 8, dModel: 16, maxPositions: 64, rotaryNdims: 2 });
    // query_key_value.weight is [3d = 48, d = 16]; head h owns rows [24 h, 24 h + 24) as [q_h; k_h; v_h] of 8 each.
    // Our k parameter is [in 16, out 16]; its column 8 + 5 (head 1, element 5) is fused row 24 + 8 + 5.
    const fused = tiny.ref.get('gpt_neox.layers.1.attention.query_key_value.weight')!;
    const k = model.params.get('blocks.1.attn.k.weight')!;
    expect(k.shape).toEqual([16, 16]);
    expect(k.data[3 * 16 + 13]).toBe(fused.data[(24 + 8 + 5) * 16 + 3]);
    const v = model.params.get('blocks.1.attn.v.bias')!;
    expect(v.data[2]).toBe(tiny.ref.get('gpt_neox.layers.1.attention.query_key_value.bias')!.data[16 + 2]);
    const ids = model.tokenizer.encode('Hi');
    expect(encodeSequence(model, 'Hi')).toEqual([256, ...ids]);
    const policy = model.family.tokenPolicy(model.config);
    expect(policy.demoSeparator).toEqual({ kind: 'text', text: '\n' });
    expect(policy.description).toMatch(/adds no BOS; eos_token_id 256 \(<\|endoftext\|>\) is put before every sequence/);
    await rm(dir, { recursive: true });
  });

  it('token policy: BOS when add_bos_token says so, else the end-of-text token', () => {
    const raw = tinyNeox().config;
    const policy = (extra: Record<string, unknown>) => gptNeoxFamily.tokenPolicy(gptNeoxFamily.parseConfig({ ...raw, ...extra }, 'c'));
    expect(policy({ bos_token_id: 1, eos_token_id: 2 }).bosTokenId).toBe(2);
    expect(policy({ bos_token_id: 1, eos_token_id: 2, add_bos_token: true }).bosTokenId).toBe(1);
    expect(policy({ bos_token_id: null, eos_token_id: null }).bosTokenId).toBeUndefined();
  });

  it('round-trips parameters to HF tensors (re-fusing q/k/v per head), for every shape variant', () => {
    const variants: TinyNeoxOptions[] = [{}, { tied: true, nHead: 4, rotaryPct: 0.5 }, { attentionBias: false }, { parallel: false, rotaryPct: 1 }];
    for (const options of variants) {
      const tiny = tinyNeox(options);
      const config = gptNeoxFamily.parseConfig(tiny.config, 'config.json');
      const params = gptNeoxFamily.loadParams(config, tinyNeoxEntries(tiny), 'tiny');
      const back = gptNeoxFamily.toHfTensors(config, params);
      for (const [name, ref] of tiny.ref) {
        expect(back.get(name)!.shape, name).toEqual(ref.shape);
        expect(Array.from(back.get(name)!.data as Float32Array), name).toEqual(Array.from(ref.data));
      }
      expect(back.size).toBe(tiny.ref.size);
    }
    const c = gptNeoxFamily.parseConfig(tinyNeox().config, 'c');
    expect(gptNeoxFamily.hfTensorOf(c, 'blocks.1.attn.v.bias')).toBe('gpt_neox.layers.1.attention.query_key_value.bias');
    expect(gptNeoxFamily.hfTensorOf(c, 'blocks.0.attn.o.weight')).toBe('gpt_neox.layers.0.attention.dense.weight');
    expect(gptNeoxFamily.hfTensorOf(c, 'unembed.weight')).toBe('embed_out.weight');
    const noBias = gptNeoxFamily.parseConfig({ ...tinyNeox().config, attention_bias: false }, 'c');
    expect(gptNeoxFamily.kvParamNames(noBias)).toEqual([
      'blocks.0.attn.k.weight', 'blocks.0.attn.v.weight', 'blocks.1.attn.k.weight', 'blocks.1.attn.v.weight',
    ]);
  });

  it('reads the config keys: defaults, rotary_pct, rope_theta, activations', () => {
    const raw = tinyNeox().config;
    const minimal = { ...raw };
    for (const key of ['rotary_pct', 'rotary_emb_base', 'use_parallel_residual', 'hidden_act', 'attention_bias', 'tie_word_embeddings', 'layer_norm_eps', 'rope_scaling']) {
      delete minimal[key];
    }
    expect(gptNeoxFamily.parseConfig(minimal, 'c')).toMatchObject({
      rotaryNdims: 2, ropeTheta: 10000, parallelResidual: true, geluApproximate: 'none', attentionBias: true,
      tieWordEmbeddings: false, layerNormEps: 1e-5, ropeScaling: { type: 'default' },
    });
    expect(gptNeoxFamily.parseConfig({ ...minimal, rope_theta: 77 }, 'c')).toMatchObject({ ropeTheta: 77 });
    expect(gptNeoxFamily.parseConfig({ ...raw, hidden_act: 'gelu_fast' }, 'c')).toMatchObject({ geluApproximate: 'tanh' });
    expect(gptNeoxFamily.parseConfig({ ...raw, rotary_pct: 1 }, 'c')).toMatchObject({ rotaryNdims: 8 });
  });

  it('names the problem: unsupported rope type, bad configs', () => {
    const raw = tinyNeox().config;
    expect(() => gptNeoxFamily.parseConfig({ ...raw, rope_scaling: { type: 'dynamic', factor: 2 } }, 'm/config.json'))
      .toThrow(/m\/config\.json: unsupported rope_scaling type "dynamic" for gpt_neox; .*"linear"/);
    expect(() => gptNeoxFamily.parseConfig({ ...raw, rope_scaling: { rope_type: 'llama3', factor: 8 } }, 'c')).toThrow(/rope_scaling type "llama3"/);
    expect(() => gptNeoxFamily.parseConfig({ ...raw, rope_scaling: { type: 'linear' } }, 'c')).toThrow(/needs a positive number "factor"/);
    expect(() => gptNeoxFamily.parseConfig({ ...raw, num_attention_heads: 3 }, 'c')).toThrow(/hidden_size 16 is not divisible by num_attention_heads 3/);
    expect(() => gptNeoxFamily.parseConfig({ ...raw, rotary_pct: 0.125 }, 'c')).toThrow(/rotary dimensions .* = 1 must be even/);
    expect(() => gptNeoxFamily.parseConfig({ ...raw, hidden_act: 'relu' }, 'c')).toThrow(/not a valid GPT-NeoX .*hidden_act/);
  });

  it('names the tensor for shape mismatches, missing and unexpected tensors; tolerates buffers', () => {
    const tiny = tinyNeox();
    const entries = tinyNeoxEntries(tiny);
    const config = gptNeoxFamily.parseConfig(tiny.config, 'config.json');
    const wide = gptNeoxFamily.parseConfig({ ...tiny.config, intermediate_size: 32 }, 'config.json');
    expect(() => gptNeoxFamily.loadParams(wide, entries, 'm/model.safetensors'))
      .toThrow(/m\/model\.safetensors: tensor "gpt_neox\.layers\.0\.mlp\.dense_h_to_4h\.weight" has shape \[64,16\] but config\.json implies \[32,16\].*intermediate_size=32/);
    const missing = new Map(entries);
    missing.delete('gpt_neox.layers.1.attention.query_key_value.bias');
    expect(() => gptNeoxFamily.loadParams(config, missing, 'x')).toThrow(/missing tensor "gpt_neox\.layers\.1\.attention\.query_key_value\.bias"/);
    const noBias = gptNeoxFamily.parseConfig({ ...tiny.config, attention_bias: false }, 'c');
    expect(() => gptNeoxFamily.loadParams(noBias, entries, 'x')).toThrow(/not part of a gpt_neox model with this config: .*gpt_neox\.layers\.0\.attention\.query_key_value\.bias.*attention_bias=false/);
    const withBuffers = tinyNeox({ buffers: true, tied: true });
    const tied = gptNeoxFamily.parseConfig(withBuffers.config, 'c');
    const tolerated = new Map(tinyNeoxEntries(withBuffers));
    tolerated.set('embed_out.weight', tolerated.get('gpt_neox.embed_in.weight')!);
    expect(gptNeoxFamily.loadParams(tied, tolerated, 'x').has('unembed.weight')).toBe(false);
  });
});

describe('GPT-NeoX null-model twins', () => {
  const tiny = tinyNeox();
  const config = gptNeoxFamily.parseConfig(tiny.config, 'config.json');
  const trained = gptNeoxFamily.loadParams(config, tinyNeoxEntries(tiny), 'tiny');

  it('are deterministic from their seed; "trained embeddings" keeps embeddings, LayerNorms and embed_out', () => {
    const a = nullTwin(gptNeoxFamily, config, trained, 'trained-embeddings', 7);
    const b = nullTwin(gptNeoxFamily, config, trained, 'trained-embeddings', 7);
    const untrained = nullTwin(gptNeoxFamily, config, trained, 'untrained', 7);
    const kept = new Set(gptNeoxFamily.embeddingParamNames(config));
    expect(kept.has('unembed.weight') && kept.has('blocks.1.ln2.bias') && kept.has('final_norm.bias')).toBe(true);
    expect([...untrained.keys()].sort()).toEqual([...trained.keys()].sort());
    for (const [name, t] of trained) {
      expect(a.get(name)!.data, name).toEqual(b.get(name)!.data);
      expect(a.get(name)!.shape, name).toEqual(t.shape);
      if (kept.has(name)) expect(a.get(name)!.data, name).toBe(t.data);
      else expect(a.get(name)!.data, name).not.toEqual(t.data);
    }
  });

  it('fresh weights follow HF: normal(0, initializer_range), LayerNorm ones / zeros, zero biases', () => {
    const big = gptNeoxFamily.parseConfig({ ...tiny.config, hidden_size: 64, intermediate_size: 128 }, 'c');
    const fresh = nullTwin(gptNeoxFamily, big, new Map(), 'untrained', 3);
    const std = (x: ArrayLike<number>) => Math.sqrt(Array.from(x).reduce((s, v) => s + v * v, 0) / x.length);
    expect(std(fresh.get('blocks.0.mlp.fc.weight')!.data as Float32Array)).toBeCloseTo(0.02, 3);
    expect(std(fresh.get('blocks.0.attn.k.weight')!.data as Float32Array)).toBeCloseTo(0.02, 3);
    expect(fresh.get('blocks.0.attn.k.weight')!.shape).toEqual([64, 64]);
    expect(Array.from(fresh.get('blocks.1.ln2.weight')!.data as Float32Array).every((v) => v === 1)).toBe(true);
    expect(Array.from(fresh.get('blocks.1.ln2.bias')!.data as Float32Array).every((v) => v === 0)).toBe(true);
    expect(Array.from(fresh.get('blocks.1.attn.v.bias')!.data as Float32Array).every((v) => v === 0)).toBe(true);
  });
});
