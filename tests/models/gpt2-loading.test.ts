import { describe, it, expect } from 'vitest';
import { readFile, writeFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { gpt2Family } from '../../src/pipeline/models/gpt2.ts';
import { loadModel } from '../../src/pipeline/models/registry.ts';
import { nullTwin } from '../../src/pipeline/models/family.ts';
import { encodeSequence } from '../../src/pipeline/models/tokens.ts';
import { tinyGpt2, tinyGpt2Entries } from '../helpers/tiny-gpt2.ts';
import { tempDir, writeTinyGpt2Folder } from '../helpers/model-folder.ts';

describe('loading GPT-2 folders', () => {
  it('loads a folder written in the HF layout, with and without the transformer. prefix', async () => {
    for (const prefix of [false, true]) {
      const dir = await tempDir();
      const tiny = await writeTinyGpt2Folder(dir, { prefix, withBuffers: true });
      const model = await loadModel(dir);
      expect(model.family.name).toBe('GPT-2');
      expect(model.config.nLayer).toBe(2);
      // q/k/v are column slices of the fused Conv1D c_attn [in, 3*out].
      const cAttn = tiny.ref.get('h.1.attn.c_attn.weight')!;
      const k = model.params.get('blocks.1.attn.k.weight')!.data;
      const d = 16;
      expect(k[3 * d + 5]).toBe(cAttn.data[3 * 3 * d + d + 5]);
      expect(model.hfNames.get('h.0.ln_1.weight')).toBe(prefix ? 'transformer.h.0.ln_1.weight' : 'h.0.ln_1.weight');
      // The GPT-2 policy: BOS first, text without special tokens.
      expect(encodeSequence(model, 'Hi')).toEqual([256, 'H'.charCodeAt(0) - 33, 'i'.charCodeAt(0) - 33]);
      await rm(dir, { recursive: true });
    }
  });

  it('round-trips parameters to HF tensors (c_attn re-fused)', () => {
    const tiny = tinyGpt2({ untied: true });
    const config = gpt2Family.parseConfig(tiny.config, 'config.json');
    const params = gpt2Family.loadParams(config, tinyGpt2Entries(tiny), 'tiny');
    const back = gpt2Family.toHfTensors(config, params);
    for (const [name, ref] of tiny.ref) expect(Array.from(back.get(name)!.data as Float32Array), name).toEqual(Array.from(ref.data));
    expect(back.size).toBe(tiny.ref.size);
    expect(gpt2Family.hfTensorOf(config, 'blocks.1.attn.v.bias')).toBe('h.1.attn.c_attn.bias');
  });

  it('names the problem for an unsupported model_type', async () => {
    const dir = await tempDir();
    await writeTinyGpt2Folder(dir);
    const configPath = join(dir, 'config.json');
    const config = JSON.parse(await readFile(configPath, 'utf8'));
    await writeFile(configPath, JSON.stringify({ ...config, model_type: 'bert' }));
    await expect(loadModel(dir)).rejects.toThrow(/config\.json: unsupported model_type "bert"; .* supports: gpt2/);
    await rm(dir, { recursive: true });
  });

  it('names the tensor, its shape and the config fields when shapes disagree with config.json', () => {
    const tiny = tinyGpt2();
    const config = gpt2Family.parseConfig({ ...tiny.config, n_embd: 32 }, 'config.json');
    expect(() => gpt2Family.loadParams(config, tinyGpt2Entries(tiny), 'm/model.safetensors'))
      .toThrow(/m\/model\.safetensors: tensor "wte\.weight" has shape \[40,16\] but config\.json implies \[40,32\].*n_embd=32/);
  });

  it('reports missing and unexpected tensors, and invalid configs', () => {
    const tiny = tinyGpt2();
    const config = gpt2Family.parseConfig(tiny.config, 'config.json');
    const entries = tinyGpt2Entries(tiny);
    const missing = new Map(entries);
    missing.delete('h.1.mlp.c_fc.bias');
    expect(() => gpt2Family.loadParams(config, missing, 'x')).toThrow(/missing tensor "h\.1\.mlp\.c_fc\.bias"/);
    const extra = new Map(entries);
    extra.set('h.2.ln_1.weight', entries.get('h.0.ln_1.weight')!);
    expect(() => gpt2Family.loadParams(config, extra, 'x')).toThrow(/not part of a GPT-2 model with this config: h\.2\.ln_1\.weight/);
    expect(() => gpt2Family.parseConfig({ ...tiny.config, n_head: 3 }, 'c.json')).toThrow(/n_embd 16 is not divisible by n_head 3/);
    expect(() => gpt2Family.parseConfig({ ...tiny.config, n_layer: 'two' }, 'c.json')).toThrow(/c\.json: not a valid GPT-2 config \(n_layer/);
    expect(() => gpt2Family.parseConfig({ ...tiny.config, activation_function: 'relu' }, 'c.json')).toThrow(/activation_function/);
  });

  it('says which file is missing when the tokenizer is absent', async () => {
    const dir = await tempDir();
    await writeTinyGpt2Folder(dir);
    await rm(join(dir, 'tokenizer.json'));
    await expect(loadModel(dir)).rejects.toThrow(/tokenizer\.json/);
    await rm(dir, { recursive: true });
  });
});

describe('null-model twins', () => {
  const tiny = tinyGpt2({ nLayer: 2 });
  const config = gpt2Family.parseConfig(tiny.config, 'config.json');
  const trained = gpt2Family.loadParams(config, tinyGpt2Entries(tiny), 'tiny');

  it('are deterministic from their seed and differ between seeds', () => {
    for (const kind of ['untrained', 'trained-embeddings'] as const) {
      const a = nullTwin(gpt2Family, config, trained, kind, 7);
      const b = nullTwin(gpt2Family, config, trained, kind, 7);
      const c = nullTwin(gpt2Family, config, trained, kind, 8);
      for (const name of trained.keys()) expect(a.get(name)!.data, name).toEqual(b.get(name)!.data);
      expect(a.get('blocks.0.attn.k.weight')!.data).not.toEqual(c.get('blocks.0.attn.k.weight')!.data);
    }
  });

  it('"untrained" redraws everything; "trained embeddings" keeps embeddings, positions, norms and unembedding', () => {
    const untrained = nullTwin(gpt2Family, config, trained, 'untrained', 1);
    const embeddings = nullTwin(gpt2Family, config, trained, 'trained-embeddings', 1);
    const kept = new Set(gpt2Family.embeddingParamNames(config));
    expect(kept).toContain('embed.tokens');
    expect(kept).toContain('blocks.1.ln2.bias');
    for (const [name, t] of trained) {
      expect(untrained.get(name)!.data, name).not.toEqual(t.data);
      if (kept.has(name)) expect(embeddings.get(name)!.data, name).toBe(t.data);
      else expect(embeddings.get(name)!.data, name).not.toEqual(t.data);
    }
    // Fresh weights follow GPT-2's initialisation: std 0.02, residual projections scaled by 1/sqrt(2 n_layer).
    const std = (x: ArrayLike<number>) => Math.sqrt(Array.from(x).reduce((s, v) => s + v * v, 0) / x.length);
    const big = nullTwin(gpt2Family, gpt2Family.parseConfig({ ...tiny.config, n_embd: 64 }, 'c'), new Map(), 'untrained', 3);
    expect(std(big.get('blocks.0.mlp.fc.weight')!.data as Float32Array)).toBeCloseTo(0.02, 3);
    expect(std(big.get('blocks.0.attn.o.weight')!.data as Float32Array)).toBeCloseTo(0.02 / 2, 3);
  });
});
