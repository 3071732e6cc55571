import { describe, it, expect } from 'vitest';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseTrainConfig, type TrainConfig } from '../../src/pipeline/training/train-config.ts';
import { trainModel } from '../../src/pipeline/training/trainer.ts';
import { loadModel } from '../../src/pipeline/models/registry.ts';
import { parseModelCard } from '../../src/pipeline/report/model-card.ts';
import { tempDir } from '../helpers/model-folder.ts';

function tinyConfig(overrides: Partial<TrainConfig['optimizer']> = {}): TrainConfig {
  return parseTrainConfig({
    id: 'tiny', seed: 5,
    model: { n_layer: 1, n_head: 2, n_embd: 16, n_positions: 96 },
    world: { seed: 3, clusters: 8, wordsPerCluster: 2, fillerWords: 2 },
    data: { contextOnlyShare: 0.5, minDemos: 2, maxDemos: 4, maxTokens: 96 },
    optimizer: { peakLr: 1e-2, warmupSteps: 3, totalSteps: 24, minLrRatio: 0.1, ...overrides },
    batchSize: 4,
    eval: { every: 12, examplesPerTask: 4, demos: 2, contextOnlyExamples: 4 },
    checkpointEvery: 4,
  }, 'tiny');
}

const quiet = { log: () => {}, threads: 1 };

async function losses(dir: string) {
  const curve = JSON.parse(await readFile(join(dir, 'training-curve.json'), 'utf8'));
  return curve;
}

describe('lab train', () => {
  it('trains a tiny configuration within seconds, its loss falls, and writes a loadable GPT-2 folder', async () => {
    const dir = await tempDir();
    const config = tinyConfig();
    const result = await trainModel(config, { ...quiet, checkpointDir: join(dir, 'ck'), outDir: join(dir, 'model') });
    expect(result.finished).toBe(true);
    expect(result.curve.map((p) => p.step)).toEqual([12, 24]);
    expect(result.curve[1].loss).toBeLessThan(result.curve[0].loss);
    expect(result.curve[0].eval?.zsl['synthetic-sentiment2']).toBeGreaterThanOrEqual(0);
    const model = await loadModel(join(dir, 'model'));
    expect(model.config.nLayer).toBe(1);
    expect(model.tokenizer.encode(' Positive').length).toBe(1);
    expect((await losses(join(dir, 'model'))).steps).toBe(24);
    const card = parseModelCard(JSON.parse(await readFile(join(dir, 'model', 'card.json'), 'utf8')));
    expect(card.source).toBe('embedded');
    expect(card.parameters).toBe([...result.params.values()].reduce((n, t) => n + t.data.length, 0));
    expect(card.trainingCurve?.map((p) => p.loss)).toEqual(result.curve.map((p) => p.loss));
    expect(await readFile(join(dir, 'model', 'README.md'), 'utf8')).toMatch(/## The world[\s\S]*synthetic-relation3 \| CB[\s\S]*## Recipe[\s\S]*loss on label tokens only/);
    await rm(dir, { recursive: true });
  });

  it('the same seed reproduces the loss curve and the weights bit for bit', async () => {
    const dir = await tempDir();
    const a = await trainModel(tinyConfig({ totalSteps: 12 }), { ...quiet, checkpointDir: join(dir, 'a'), outDir: join(dir, 'ma') });
    const b = await trainModel(tinyConfig({ totalSteps: 12 }), { ...quiet, checkpointDir: join(dir, 'b'), outDir: join(dir, 'mb') });
    expect(b.curve.map((p) => p.loss)).toEqual(a.curve.map((p) => p.loss));
    for (const [name, t] of a.params) expect(b.params.get(name)!.data, name).toEqual(t.data);
    await rm(dir, { recursive: true });
  });

  it('a run killed mid-training (SIGKILL) resumes from its checkpoint and ends where an uninterrupted run ends', async () => {
    const dir = await tempDir();
    const config = tinyConfig({ totalSteps: 24 });
    const whole = await trainModel(config, { ...quiet, checkpointDir: join(dir, 'whole'), outDir: join(dir, 'm1') });

    const configPath = join(dir, 'tiny.json');
    await writeFile(configPath, JSON.stringify(config));
    const ck = join(dir, 'killed');
    const child = spawn(process.execPath, ['src/bin/icl-lab.mjs', 'train', '--config', configPath, '--checkpoint', ck, '--out', join(dir, 'm2'), '--threads', '1'], { stdio: 'ignore' });
    // Kill it as soon as a checkpoint exists, i.e. somewhere after step 4 and before the end.
    await new Promise<void>((resolve, reject) => {
      const timer = setInterval(() => {
        if (existsSync(join(ck, 'checkpoint.safetensors'))) {
          clearInterval(timer);
          child.kill('SIGKILL');
          resolve();
        }
      }, 20);
      child.on('exit', () => { clearInterval(timer); resolve(); });
      child.on('error', reject);
    });
    await new Promise((r) => child.once('exit', r).once('close', r));
    expect(existsSync(join(dir, 'm2', 'model.safetensors'))).toBe(false); // it really was stopped before the end
    const resumed = await trainModel(config, { ...quiet, checkpointDir: ck, outDir: join(dir, 'm2') });
    expect(resumed.finished).toBe(true);
    for (const [name, t] of whole.params) expect(resumed.params.get(name)!.data, name).toEqual(t.data);
    expect(resumed.curve.map((p) => p.loss)).toEqual(whole.curve.map((p) => p.loss));
    await rm(dir, { recursive: true });
  }, 120_000);

  it('refuses to resume a checkpoint made with a different recipe, and rejects invalid recipes', async () => {
    const dir = await tempDir();
    await trainModel(tinyConfig({ totalSteps: 4 }), { ...quiet, checkpointDir: join(dir, 'ck'), outDir: join(dir, 'm') });
    await expect(trainModel(tinyConfig({ totalSteps: 8, peakLr: 5e-3 }), { ...quiet, checkpointDir: join(dir, 'ck'), outDir: join(dir, 'm') }))
      .rejects.toThrow(/different training config; pass --fresh/);
    expect(() => parseTrainConfig({ ...tinyConfig(), model: { n_layer: 1, n_head: 3, n_embd: 16, n_positions: 96 } }, 'x.json'))
      .toThrow(/x\.json: invalid training config \(model\.n_embd: n_embd must be divisible by n_head\)/);
    await rm(dir, { recursive: true });
  });
});
