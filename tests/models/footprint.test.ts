import { describe, it, expect, vi, afterEach } from 'vitest';
import { existsSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { finetune } from '../../src/pipeline/commands/finetune.ts';
import { parseMaxMemory } from '../../src/pipeline/commands/common.ts';
import { UsageError } from '../../src/pipeline/commands/command.ts';
import {
  BASE_BYTES,
  MemoryLimitError,
  type ModelSize,
  estimateFootprint,
  readWeightsSize,
} from '../../src/pipeline/models/footprint.ts';
import { loadModel } from '../../src/pipeline/models/registry.ts';
import { encodeSafetensors } from '../../src/pipeline/models/safetensors.ts';
import { tinyGpt2 } from '../helpers/tiny-gpt2.ts';
import { lab } from '../helpers/cli.ts';
import { cutAfterHeader, tempDir, writeTinyGpt2Folder } from '../helpers/model-folder.ts';

afterEach(() => vi.restoreAllMocks());

/**
 * A tiny model folder whose model.safetensors keeps its header but lost its tensor data: reading the weights fails
 * (the loader says the file is truncated), reading the header alone works.
 */
async function headerOnlyFolder(): Promise<{ root: string; dir: string }> {
  const root = await tempDir();
  const dir = join(root, 'model');
  await writeTinyGpt2Folder(dir, { nLayer: 2, nHead: 2, dModel: 16 });
  await cutAfterHeader(join(dir, 'model.safetensors'));
  return { root, dir };
}

// L = 2 layers, H = 2 heads, d = 8, head_dim 4, V = 10, context 32; P = 1000 parameters stored in 2000 bytes.
const TINY: ModelSize = {
  parameters: 1000, storedBytes: 2000, storedDtype: 'F16',
  arch: { nLayer: 2, nHead: 2, nKvHead: 2, dModel: 8, headDim: 4, vocabSize: 10, maxPositions: 32 },
};

describe('memory and time estimate (footprint.ts)', () => {
  it('lab inspect on a known tiny config: the formula, term by term, by hand', () => {
    const f = estimateFootprint(TINY, { kind: 'inspect', tokens: 5 }, { device: 'cpu', threads: 2 });
    // W = 4 * 1000 = 4000; load = base + S + W.
    expect(f.float32Bytes).toBe(4000);
    expect(f.load).toBe(BASE_BYTES + 2000 + 4000);
    // One forward session, everything baked: packed copy 4000 + ONNX Runtime's 4000.
    expect(f.parts.session).toBe(8000);
    // Activations, B = 1, T = C = 5: 4 (5*16*8 + 3*2*5*5 + 4*8*5) = 4 * 950.
    expect(f.parts.activations).toBe(3800);
    // Outputs 4 (L (H T^2 + 3 T d) + T V) = 4 (2 (50 + 120) + 50) = 1560, fetched and encoded: twice.
    expect(f.parts.outputs).toBe(3120);
    expect(f.peak.host).toBe(BASE_BYTES + 4000 + 8000 + 3800 + 3120);
    expect(f.peak.device).toBe(0);
    // 2 P T FLOPs at 25 GFLOP/s per thread, 2 threads.
    expect(f.time.perItem).toBeCloseTo((2 * 1000 * 5) / 50e9, 15);
  });

  it('lab run on the same config, on the CPU and with a GPU', () => {
    const work = { kind: 'run', testExamples: 10, positions: 2, nullModels: 2, k: 4, lrGrid: 3, selectionExamples: 6 } as const;
    const f = estimateFootprint(TINY, work, { device: 'cpu', threads: 1 });
    // Tq = min(32, 64) = 32, C = min(32, 5 * 64) = 32, B = 16. Pkv = 2 * 2 * 8 * 9 = 288: baked Wb = 4000 - 1152 = 2848.
    expect(f.parts.analysisSession).toBe(2 * 2848); // packed + ONNX Runtime
    expect(f.parts.ftSession).toBe(3 * 2848); // + the folded transposes of training graphs
    // 4 (16*32*16*8 + 3*16*2*32*32 + 4*16*8*32) = 4 (65536 + 98304 + 16384)
    expect(f.parts.analysisActivations).toBe(720896);
    // 4 (2*2*8*32 + 2*16*(2*2*32 + 4*8) + 16*10) = 4 (1024 + 5120 + 160)
    expect(f.parts.analysisOutputs).toBe(25216);
    // 4 (2 (32*16*8 + 3*2*32^2) + 3*32*10) = 4 (20480 + 960)
    expect(f.parts.ftActivations).toBe(85760);
    expect(f.parts.gradients).toBe(2 * 4 * 288);
    // 3 copies x 3 models x 4 (10*2*2*(3 (8 + 2*32) + 32 + 8) + 2*32*8) = 36 (40 * 256 + 512)
    expect(f.parts.captures).toBe(387072);
    expect(f.parts.nullTwin).toBe(4000);
    expect(f.forward.host).toBe(BASE_BYTES + 4000 + 5696 + 720896 + 25216);
    expect(f.finetune.host).toBe(BASE_BYTES + 4000 + 8544 + 85760 + 2304);
    expect(f.peak.host).toBe(BASE_BYTES + 4000 + 4000 + 5696 + 8544 + 720896 + 85760 + 25216 + 2304 + 387072);
    // Per test example: 3 models x 3 forwards x 2 P Tq at 25 GFLOP/s.
    expect(f.time.perItem).toBeCloseTo((9 * 2 * 1000 * 32) / 25e9, 15);
    // Per run: + lrGrid (1 demo fits: 6 P Tq, + 6 selection forwards) + 3 models (FT + the ICL prefix, 2 P C).
    const fixed = 3 * (6 * 1000 * 32 + 6 * 2 * 1000 * 32) + 3 * (6 * 1000 * 32 + 2 * 1000 * 32);
    expect(f.time.total).toBeCloseTo(10 * f.time.perItem + fixed / 25e9, 15);

    // With a GPU, ONNX Runtime's copies and the activations leave the host.
    const g = estimateFootprint(TINY, work, { device: 'gpu', threads: 1 });
    expect(g.peak.device).toBe(2848 + 2 * 2848 + 720896 + 85760);
    expect(g.peak.host).toBe(BASE_BYTES + 4000 + 4000 + 2848 + 2848 + 25216 + 2304 + 387072);
    expect(g.time.perItem).toBeCloseTo((9 * 2 * 1000 * 32) / 10e12, 18);
  });

  it('lab finetune on the same config (K/V, query record kept): the peak while training', () => {
    const f = estimateFootprint(TINY, { kind: 'finetune', tokens: 5, lines: 3, params: 'kv', recordQueries: true }, { device: 'cpu', threads: 1 });
    // 4 (L (T 16 d + 3 H T^2) + 3 T V) = 4 (2 (640 + 150) + 150)
    expect(f.parts.activations).toBe(6920);
    expect(f.parts.queryRecord).toBe(4 * 3 * 2 * 5 * 8);
    expect(f.finetune.host).toBe(BASE_BYTES + 4000 + 3 * 2848 + 6920 + 2304);
    // The folder (S) stays read for writing; the write-out (S + 2 W + S + 2 record) is lower here.
    expect(f.peak.host).toBe(2000 + f.finetune.host + 960);
    expect(f.time.perItem).toBeCloseTo((3 * 2 * 1000 * 5) / 25e9, 15);
    expect(f.time.total).toBeCloseTo(3 * f.time.perItem, 15);
  });

  it('counts parameters from the safetensors headers alone, without buffers, as the loader does (single and sharded)', async () => {
    const root = await tempDir();
    const dir = join(root, 'model');
    await writeTinyGpt2Folder(dir, { nLayer: 2, nHead: 2, dModel: 16, withBuffers: true, untied: true });
    const model = await loadModel(dir);
    const loaded = [...model.params.values()].reduce((n, t) => n + t.data.length, 0);
    const size = await readWeightsSize(dir);
    expect(size?.parameters).toBe(loaded);
    expect(size?.storedDtype).toBe('F32');
    // The stored bytes include the buffers (the whole file is read).
    expect(size!.storedBytes).toBeGreaterThan(4 * loaded);

    // The same tensors in two shards with an index.
    const sharded = join(root, 'sharded');
    const tiny = tinyGpt2({ nLayer: 2, nHead: 2, dModel: 16, vocabSize: 257, positions: 64 });
    await writeTinyGpt2Folder(sharded, { nLayer: 2, nHead: 2, dModel: 16 });
    await rm(join(sharded, 'model.safetensors'));
    const half = Math.floor(tiny.tensors.length / 2);
    const parts = [tiny.tensors.slice(0, half), tiny.tensors.slice(half)];
    const weightMap: Record<string, string> = {};
    for (const [i, list] of parts.entries()) {
      const name = `model-0000${i + 1}-of-00002.safetensors`;
      await writeFile(join(sharded, name), encodeSafetensors(list));
      for (const t of list) weightMap[t.name] = name;
    }
    await writeFile(join(sharded, 'model.safetensors.index.json'), JSON.stringify({ weight_map: weightMap }));
    const fromShards = await readWeightsSize(sharded);
    const expected = tiny.tensors.reduce((n, t) => n + t.data.length, 0);
    expect(fromShards).toEqual({ parameters: expected, storedBytes: 4 * expected, storedDtype: 'F32' });
    await rm(root, { recursive: true });
  });

  it('lab inspect refuses a model over the limit before reading its weights, naming the model, estimate and fixes', async () => {
    const { root, dir } = await headerOnlyFolder();
    const out = join(root, 'acts.safetensors');
    const refused = await lab(['inspect', '--model', dir, '--text', 'hello', '--out', out, '--max-memory', '0.001']);
    expect(refused.code).toBe(1);
    const [line, error] = refused.stderr.trim().split('\n');
    expect(line).toMatch(new RegExp(`^estimate for ${dir}: 11\\.7k parameters, weights 47 kB as stored \\(F32\\), 47 kB as float32; ` +
      'peak memory \\(this engine, CPU\\): forward \\d+ MB; ~.* per text'));
    expect(error).toMatch(new RegExp(`^icl-lab inspect: ${dir}: not loaded: \`lab inspect\` with this model would need about \\d+ MB`));
    expect(error).toMatch(/more than the 1 MB set by --max-memory/);
    expect(error).toMatch(/a smaller model[\s\S]*--device cuda[\s\S]*more memory[\s\S]*--max-memory GB \(or ICL_LAB_MAX_MEMORY_GB\)/);
    expect(refused.stderr).not.toMatch(/\n\s+at /); // user-facing: no stack trace
    expect(existsSync(out)).toBe(false);
    // Proof that nothing of the weights was read: with room enough, the same command reads them and fails on the
    // missing tensor data.
    const loading = await lab(['inspect', '--model', dir, '--text', 'hello', '--out', out, '--max-memory', '1000']);
    expect(loading.code).toBe(1);
    expect(loading.stderr).toMatch(/model\.safetensors: .*truncated/);
    // The environment variable sets the limit too.
    vi.stubEnv('ICL_LAB_MAX_MEMORY_GB', '0.001');
    try {
      expect((await lab(['inspect', '--model', dir, '--text', 'hello', '--out', out])).stderr).toMatch(/not loaded/);
    } finally {
      vi.unstubAllEnvs();
    }
    await rm(root, { recursive: true });
  });

  it('lab finetune refuses before reading the weights and writes nothing', async () => {
    const { root, dir } = await headerOnlyFolder();
    const data = join(root, 'data.jsonl');
    await writeFile(data, '{"text": "one line"}\n{"text": "and another"}\n');
    const outDir = join(root, 'out');
    const lines: string[] = [];
    const attempt = finetune({ modelDir: dir, dataFile: data, lr: 0.1, outDir, maxMemoryBytes: 1e6, log: (l) => lines.push(l) });
    await expect(attempt).rejects.toThrow(MemoryLimitError);
    await expect(attempt).rejects.toThrow(/`lab finetune` with this model would need about \d+ MB[\s\S]*more than the 1 MB/);
    expect(lines[0]).toMatch(/^estimate for .*: 11\.7k parameters, .*FT \d+ MB; ~.* per line, ~.* per 2 lines/);
    expect(existsSync(outDir)).toBe(false);
    await rm(root, { recursive: true });
  });

  it('--max-memory and ICL_LAB_MAX_MEMORY_GB are GB (10^9 bytes); bad values are usage errors', () => {
    expect(parseMaxMemory('2.5', {})).toBe(2.5e9);
    expect(parseMaxMemory(undefined, { ICL_LAB_MAX_MEMORY_GB: '3' })).toBe(3e9);
    expect(parseMaxMemory('1', { ICL_LAB_MAX_MEMORY_GB: '3' })).toBe(1e9); // the flag wins
    expect(parseMaxMemory(undefined, {})).toBeUndefined();
    expect(() => parseMaxMemory('-1', {})).toThrow(UsageError);
    expect(() => parseMaxMemory(undefined, { ICL_LAB_MAX_MEMORY_GB: 'lots' })).toThrow(/ICL_LAB_MAX_MEMORY_GB must be a positive number of GB, got "lots"/);
  });

  it('leaves folders it cannot size to the loader, which names the problem', async () => {
    const root = await tempDir();
    const dir = join(root, 'model');
    await writeTinyGpt2Folder(dir);
    await writeFile(join(dir, 'model.safetensors'), 'version https://git-lfs.github.com/spec/v1\n');
    const run = await lab(['inspect', '--model', dir, '--text', 'x', '--out', join(root, 'a.safetensors'), '--max-memory', '0.000001']);
    expect(run.stderr).not.toMatch(/estimate for/);
    expect(run.stderr).toMatch(/Git LFS pointer/);
    expect(JSON.parse(await readFile(join(dir, 'config.json'), 'utf8')).model_type).toBe('gpt2');
    await rm(root, { recursive: true });
  });
});
