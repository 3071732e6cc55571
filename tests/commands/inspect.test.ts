import { describe, it, expect, vi, afterEach } from 'vitest';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { lab } from '../helpers/cli.ts';
import { readSafetensors, toFloat32, toBigInt64 } from '../../src/pipeline/models/safetensors.ts';
import { referenceForward, relativeError } from '../reference/gpt2-reference.ts';
import { tempDir, writeTinyGpt2Folder } from '../helpers/model-folder.ts';

afterEach(() => vi.restoreAllMocks());

describe('lab inspect', () => {
  it('writes input ids, logits and every capture without a batch dimension, matching the reference', async () => {
    const dir = await tempDir();
    const modelDir = join(dir, 'model');
    const tiny = await writeTinyGpt2Folder(modelDir, { nLayer: 2, nHead: 2, dModel: 16 });
    const out = join(dir, 'acts.safetensors');
    const run = await lab(['inspect', '--model', modelDir, '--text', 'Label: ok', '--out', out]);
    // Only the estimate printed before loading.
    expect(run.stderr).toMatch(/^estimate for \S+: 11\.7k parameters, weights 47 kB as stored \(F32\), 47 kB as float32; peak memory \(this engine, CPU\): forward [^\n]+\n$/);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/wrote 10 tensors for 10 tokens/);
    const file = await readSafetensors(out);
    const ids = Array.from(toBigInt64(file.tensors.get('input_ids')!), Number);
    expect(ids[0]).toBe(256); // BOS first, then the 9 bytes of the text
    expect(ids.length).toBe(10);
    const ref = referenceForward(tiny.ref, tiny.refConfig, ids);
    const T = ids.length;
    expect(file.tensors.get('logits')!.shape).toEqual([T, 257]);
    expect(relativeError(toFloat32(file.tensors.get('logits')!), ref.logits.flat())).toBeLessThan(1e-4);
    for (let l = 0; l < 2; l++) {
      expect(file.tensors.get(`blocks.${l}.attn.scores`)!.shape).toEqual([2, T, T]);
      expect(file.tensors.get(`blocks.${l}.attn.q`)!.shape).toEqual([T, 16]);
      expect(relativeError(toFloat32(file.tensors.get(`blocks.${l}.attn.scores`)!), ref.layers[l].scores.flat(2))).toBeLessThan(1e-4);
      expect(relativeError(toFloat32(file.tensors.get(`blocks.${l}.attn.out`)!), ref.layers[l].attnOut.flat())).toBeLessThan(1e-4);
      expect(relativeError(toFloat32(file.tensors.get(`blocks.${l}.resid_post`)!), ref.layers[l].residPost.flat())).toBeLessThan(1e-4);
    }
    expect(file.metadata.text).toBe('Label: ok');
    await rm(dir, { recursive: true });
  });

  it('gives clear errors for missing options, a wrong output name, unknown flags and a missing model', async () => {
    expect((await lab(['inspect', '--text', 'x', '--out', 'a.safetensors'])).stderr).toMatch(/--model is required/);
    expect((await lab(['inspect', '--model', 'm', '--text', 'x', '--out', 'a.bin'])).stderr).toMatch(/--out must name a \.safetensors file/);
    const unknown = await lab(['inspect', '--modle', 'm']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/Unknown option '--modle'/);
    expect((await lab(['inspect', '--model', '/no/such/dir', '--text', 'x', '--out', '/tmp/a.safetensors'])).stderr)
      .toMatch(/\/no\/such\/dir: the model folder does not exist/);
    expect((await lab(['inspect', '--model', 'm', '--text', 'x', '--out', 'a.safetensors', '--device', 'gpu'])).stderr)
      .toMatch(/--device must be one of cpu, cuda, webgpu, auto/);
    const nope = await lab(['frobnicate']);
    expect(nope.code).toBe(2);
    expect(nope.stderr).toMatch(/unknown command "frobnicate"/);
    expect((await lab(['inspect', '--help'])).stdout).toMatch(/blocks\.\{l\}\.attn\.scores \[H, T, T\]/);
  });
});
