// Config keys as transformers 5 writes them, and Mistral's sliding window. transformers 5 saves the rotary settings
// only as `rope_parameters` {rope_type, rope_theta, factor, ..., partial_rotary_factor} (no rope_theta / rope_scaling /
// rotary_pct at the top level): a folder saved by it must load with the same settings as its transformers 4 form, and
// where a config gives both forms they must agree. Mistral's sliding_window is a band mask in every layer (key j
// visible from query i iff i - window < j <= i, as HF's sliding-window mask; checked against transformers itself in
// hf-golden.test.ts); here: prefix reuse and batching across the window edge equal full runs.

import { describe, it, expect } from 'vitest';
import { type LlamaConfig, llamaFamily } from '../../src/pipeline/models/llama.ts';
import { gptNeoxFamily } from '../../src/pipeline/models/gpt-neox.ts';
import { ModelSession } from '../../src/pipeline/models/forward.ts';
import { captureName } from '../../src/pipeline/models/family.ts';
import type { HostTensor } from '../../src/pipeline/engine/tensor.ts';
import { relativeError } from '../reference/gpt2-reference.ts';
import { tinyLlama, tinyLlamaEntries } from '../helpers/tiny-llama.ts';
import { tinyNeox } from '../helpers/tiny-neox.ts';

/** A config without the transformers 4 rotary keys. */
function withoutKeys(raw: Record<string, unknown>, keys: string[]): Record<string, unknown> {
  const out = { ...raw };
  for (const k of keys) delete out[k];
  return out;
}

describe('rope_parameters (transformers 5 configs)', () => {
  it('Llama-style: rope_theta and the scaling come from rope_parameters', () => {
    const raw = withoutKeys(tinyLlama().config, ['rope_theta', 'rope_scaling']);
    expect(llamaFamily.parseConfig({ ...raw, rope_parameters: { rope_type: 'default', rope_theta: 77 } }, 'c')).toMatchObject({
      ropeTheta: 77, ropeScaling: { type: 'default' },
    });
    const llama3 = { rope_type: 'llama3', rope_theta: 500000, factor: 32, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192 };
    expect(llamaFamily.parseConfig({ ...raw, rope_parameters: llama3 }, 'c')).toMatchObject({
      ropeTheta: 500000,
      ropeScaling: { type: 'llama3', factor: 32, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositions: 8192 },
    });
    // The transformers 4 form of the same config gives the same settings.
    const v4 = { ...raw, rope_theta: 500000, rope_scaling: { ...llama3, rope_theta: undefined } };
    const a = llamaFamily.parseConfig({ ...raw, rope_parameters: llama3 }, 'c') as LlamaConfig;
    const b = llamaFamily.parseConfig(v4, 'c') as LlamaConfig;
    expect([a.ropeTheta, a.ropeScaling]).toEqual([b.ropeTheta, b.ropeScaling]);
    // Neither form: HF's default theta.
    expect(llamaFamily.parseConfig(raw, 'c')).toMatchObject({ ropeTheta: 10000 });
  });

  it('Llama-style: disagreeing forms, per-attention-type parameters and partial rotary are refused', () => {
    const raw = tinyLlama().config; // rope_theta 500
    expect(() => llamaFamily.parseConfig({ ...raw, rope_parameters: { rope_type: 'default', rope_theta: 10000 } }, 'm/config.json'))
      .toThrow(/m\/config\.json: rope_parameters\.rope_theta \(10000\) and rope_theta \(500\) disagree/);
    expect(() => llamaFamily.parseConfig({ ...raw, rope_scaling: { rope_type: 'linear', factor: 2 }, rope_parameters: { rope_type: 'default' } }, 'c'))
      .toThrow(/rope_type "default" and rope_scaling's type "linear" disagree/);
    expect(() => llamaFamily.parseConfig({ ...raw, rope_parameters: { full_attention: { rope_type: 'default' }, sliding_attention: {} } }, 'c'))
      .toThrow(/rope_parameters per attention type \(full_attention, sliding_attention\) are not supported/);
    expect(() => llamaFamily.parseConfig({ ...raw, rope_parameters: { rope_type: 'yarn', factor: 4 } }, 'c')).toThrow(/unsupported rope_scaling type "yarn"/);
    expect(() => llamaFamily.parseConfig({ ...raw, rope_parameters: { rope_type: 'default', partial_rotary_factor: 0.5 } }, 'c'))
      .toThrow(/partial_rotary_factor 0\.5 is not supported for llama/);
    expect(() => llamaFamily.parseConfig({ ...raw, rope_parameters: { rope_theta: 'big' } }, 'c')).toThrow(/rope_parameters\.rope_theta must be a number/);
  });

  it('GPT-NeoX: partial_rotary_factor and rope_theta come from rope_parameters (the old rotary_pct / rotary_emb_base)', () => {
    const raw = withoutKeys(tinyNeox().config, ['rotary_pct', 'rotary_emb_base', 'rope_scaling']); // head_size 8
    const v5 = gptNeoxFamily.parseConfig({ ...raw, rope_parameters: { rope_type: 'default', rope_theta: 1000, partial_rotary_factor: 0.5 } }, 'c');
    expect(v5).toMatchObject({ rotaryNdims: 4, ropeTheta: 1000, ropeScaling: { type: 'default' } });
    expect(gptNeoxFamily.parseConfig({ ...raw, rotary_pct: 0.5, rotary_emb_base: 1000 }, 'c')).toMatchObject({ rotaryNdims: 4, ropeTheta: 1000 });
    expect(gptNeoxFamily.parseConfig({ ...raw, rope_parameters: { rope_type: 'linear', factor: 2, partial_rotary_factor: 1 } }, 'c'))
      .toMatchObject({ rotaryNdims: 8, ropeScaling: { type: 'linear', factor: 2 } });
    // Without either: Pythia's defaults.
    expect(gptNeoxFamily.parseConfig(raw, 'c')).toMatchObject({ rotaryNdims: 2, ropeTheta: 10000 });
    expect(() => gptNeoxFamily.parseConfig({ ...raw, rotary_pct: 0.25, rope_parameters: { partial_rotary_factor: 0.5 } }, 'm/config.json'))
      .toThrow(/m\/config\.json: rope_parameters\.partial_rotary_factor \(0\.5\) and partial_rotary_factor \(0\.25\) disagree/);
    expect(() => gptNeoxFamily.parseConfig({ ...raw, rotary_emb_base: 10000, rope_theta: 500 }, 'c')).toThrow(/rotary_emb_base \(10000\) and rope_theta \(500\) disagree/);
    expect(() => gptNeoxFamily.parseConfig({ ...raw, rope_parameters: { partial_rotary_factor: 1.5 } }, 'c')).toThrow(/partial_rotary_factor 1\.5 must be between 0 and 1/);
  });
});

function rows(t: HostTensor, b: number, from: number, to: number): Float32Array {
  const [, time, ...rest] = t.shape;
  const width = rest.reduce((a, c) => a * c, 1);
  const start = (b * time + from) * width;
  return (t.data as Float32Array).slice(start, start + (to - from) * width);
}

describe("Mistral's sliding window", () => {
  const tiny = tinyLlama({ modelType: 'mistral', seed: 4 });
  const load = (window: number | null) => {
    const config = llamaFamily.parseConfig({ ...tiny.config, sliding_window: window }, 'config.json');
    return { family: llamaFamily, config, params: llamaFamily.loadParams(config, tinyLlamaEntries(tiny), 'tiny') };
  };
  const sequences = [
    [3, 17, 5, 9, 30, 1, 22],
    [4, 4, 12],
    [39, 0, 2, 5, 5],
  ];

  it('sequences longer than the window run; the window changes results only past its edge', async () => {
    const windowed = await ModelSession.create(load(3), { logits: 'all' });
    const full = await ModelSession.create(load(null), { logits: 'all' });
    const ids = [7, 8, 9, 10, 11, 12, 13, 14];
    const a = (await windowed.forward({ sequences: [ids] })).outputs.logits;
    const b = (await full.forward({ sequences: [ids] })).outputs.logits;
    // Positions 0..2 see at most 3 keys either way; from position 3 on the window drops keys.
    expect(relativeError(rows(a, 0, 0, 3), rows(b, 0, 0, 3))).toBeLessThan(1e-6);
    expect(relativeError(rows(a, 0, 3, 8), rows(b, 0, 3, 8))).toBeGreaterThan(1e-3);
    await windowed.release();
    await full.release();
  });

  for (const P of [2, 3, 5]) {
    it(`a ${P}-token prefix reused through past keys/values matches the full sequence (window 3)`, async () => {
      const model = load(3);
      const full = await ModelSession.create(model, { captures: ['resid_post'], logits: 'all' });
      const cached = await ModelSession.create(model, { captures: ['resid_post'], logits: 'all', withPast: true });
      const prefix = [7, 8, 9, 10, 11].slice(0, P);
      const { present } = await cached.forward({ sequences: [prefix] });
      const continued = (await cached.forward({ sequences, past: present })).outputs;
      for (let b = 0; b < sequences.length; b++) {
        const whole = (await full.forward({ sequences: [[...prefix, ...sequences[b]]] })).outputs;
        const n = sequences[b].length;
        expect(relativeError(rows(continued.logits, b, 0, n), rows(whole.logits, 0, P, P + n))).toBeLessThan(1e-5);
        const name = captureName(1, 'resid_post');
        expect(relativeError(rows(continued[name], b, 0, n), rows(whole[name], 0, P, P + n))).toBeLessThan(1e-5);
      }
      await full.release();
      await cached.release();
    });
  }
});
