import { describe, it, expect, beforeAll } from 'vitest';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gpt2Family } from '../../src/pipeline/models/gpt2.ts';
import { writeHfModelFolder } from '../../src/pipeline/models/hf-folder.ts';
import { shippedWorld } from '../../src/pipeline/tasks/synthetic-provider.ts';
import { parsePlan } from '../../src/pipeline/experiments/plan.ts';
import { ACTIVATIONS_FILE, protocolCodeHash, recordsFromActivations, runPlan } from '../../src/pipeline/experiments/run-plan.ts';
import { moduleClosure } from '../../src/pipeline/cache/index.ts';
import { readSafetensors } from '../../src/pipeline/models/safetensors.ts';
import { MemoryLimitError } from '../../src/pipeline/models/footprint.ts';
import { loadResults } from '../../src/pipeline/report/results.ts';
import { cutAfterHeader, tempDir } from '../helpers/model-folder.ts';

/** A tiny GPT-2 on the synthetic world's tokenizer, as a model folder. */
async function writeWorldModel(dir: string): Promise<void> {
  const world = shippedWorld();
  const eos = world.tokenizerJson.added_tokens[0].id;
  const config = { model_type: 'gpt2', vocab_size: eos + 1, n_positions: 256, n_embd: 16, n_layer: 2, n_head: 2, bos_token_id: eos, eos_token_id: eos, initializer_range: 0.3 };
  const arch = gpt2Family.parseConfig(config, 'tiny');
  const params = gpt2Family.initParams(arch, 7);
  const tensors = [...gpt2Family.toHfTensors(arch, params)].map(([name, t]) => ({ name, dtype: 'F32' as const, shape: t.shape, data: t.data as Float32Array }));
  await writeHfModelFolder(dir, { config, tensors, tokenizerJson: world.tokenizerJson, tokenizerConfig: { bos_token: '<|endoftext|>', eos_token: '<|endoftext|>' } });
}

function planJson(modelDir: string, seeds: number[]) {
  return {
    models: [{ id: 'tiny', source: { kind: 'folder', dir: modelDir } }],
    tasks: ['synthetic-sentiment2'],
    seeds, k: 4, lrGrid: [0.01, 0.1], lrSelection: { split: 'selection', examples: 8 }, testExamples: 10,
    nullModels: ['untrained', 'trained-embeddings'], kendallExamples: 5, analysisPositions: ['label_token', 'prompt_end'],
  };
}

async function snapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (d: string) => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      if (e.isDirectory()) await walk(join(d, e.name));
      // Provenance (time, machine) is deliberately not part of the results: it may differ between two runs.
      else if (!e.name.endsWith('.provenance.json')) out[join(d, e.name).slice(dir.length)] = await readFile(join(d, e.name), 'utf8');
    }
  };
  await walk(dir);
  return out;
}

describe('lab run', () => {
  let root: string;
  let modelDir: string;
  beforeAll(async () => {
    root = await tempDir();
    modelDir = join(root, 'model');
    await writeWorldModel(modelDir);
  });

  it('publishes records the report loads, with null-model baselines; a warm rerun computes nothing and changes nothing', async () => {
    const plan = parsePlan(planJson(modelDir, [1]), 'plan.json');
    const o = { plan, cacheRoot: join(root, 'c1'), resultsDir: join(root, 'r1'), runner: { threads: 1 } };
    const first = await runPlan(o);
    expect(first.map((s) => s.cached)).toEqual([false]);
    const results = loadResults(join(root, 'r1'));
    expect(results.runs.map((r) => `${r.model}/${r.task}/${r.seed}/${r.position}`).sort())
      .toEqual(['tiny/synthetic-sentiment2/1/label_token', 'tiny/synthetic-sentiment2/1/prompt_end']);
    const rec = results.runs[0].metrics;
    expect(rec.metrics.simaou_norm.baselines.untrained?.perLayer.length).toBe(2);
    expect(rec.metrics.kendall.baselines['trained-embeddings']).not.toBeNull();
    expect(rec.metrics.kendall.numExamples).toBe(5);
    expect(results.runs[0].examples?.perExample.ids.length).toBe(10);
    const before = await snapshot(join(root, 'r1'));
    const second = await runPlan(o);
    expect(second.map((s) => s.cached)).toEqual([true]);
    expect(await snapshot(join(root, 'r1'))).toEqual(before);
    // A fresh clone has the published results and their provenance but no cache: still nothing to compute.
    const lines: string[] = [];
    const fresh = await runPlan({ ...o, cacheRoot: join(root, 'c-empty'), log: (l) => lines.push(l) });
    expect(fresh.map((s) => s.cached)).toEqual([true]);
    expect(lines.join('\n')).toMatch(/up to date: tiny \/ synthetic-sentiment2 \/ seed 1/);
    expect(existsSync(join(root, 'c-empty', 'protocol'))).toBe(false);
    expect(await snapshot(join(root, 'r1'))).toEqual(before);
  }, 120_000);

  it('the cached activations (safetensors, documented names) reproduce the published metrics on their own', async () => {
    const stage = join(root, 'c1', 'protocol');
    const [key] = await readdir(stage);
    const file = await readSafetensors(join(stage, key, ACTIVATIONS_FILE));
    expect(file.tensors.get('model.icl.label_token.blocks.1.attn.demo_scores')?.shape[0]).toBe(10);
    expect(file.tensors.get('null-untrained.ft_train.blocks.0.attn.q')?.shape[1]).toBe(16);
    const records = recordsFromActivations(file);
    for (const r of records) {
      const published = JSON.parse(await readFile(join(root, 'r1', 'tiny', 'synthetic-sentiment2', `seed-1.${r.id.position}.metrics.json`), 'utf8'));
      expect(JSON.parse(JSON.stringify(r))).toEqual(published);
    }
    expect(records.length).toBe(2);
    // Activations are not published with the results (they stay out of git).
    expect((await readdir(join(root, 'r1', 'tiny', 'synthetic-sentiment2'))).some((f) => f.endsWith('.safetensors'))).toBe(false);
  });

  it('detects a corrupted cache entry and recomputes the same results', async () => {
    const plan = parsePlan(planJson(modelDir, [1]), 'plan.json');
    const before = await snapshot(join(root, 'r1'));
    const stage = join(root, 'c1', 'protocol');
    const [key] = await readdir(stage);
    const file = join(stage, key, 'seed-1.label_token.metrics.json');
    await writeFile(file, (await readFile(file, 'utf8')).replace('"schemaVersion":1', '"schemaVersion":1 '));
    const warnings: string[] = [];
    // Into an empty results folder, so the cache entry is what it must rely on.
    const again = await runPlan({ plan, cacheRoot: join(root, 'c1'), resultsDir: join(root, 'r1b'), runner: { threads: 1 }, log: (l) => warnings.push(l) });
    expect(again.map((s) => s.cached)).toEqual([false]);
    expect(warnings.join('\n')).toMatch(/cache: /);
    expect(await snapshot(join(root, 'r1b'))).toEqual(before);
  }, 120_000);

  it('a run killed with SIGKILL, then rerun, publishes exactly what an uninterrupted run publishes', async () => {
    const planPath = join(root, 'plan2.json');
    await writeFile(planPath, JSON.stringify(planJson(modelDir, [1, 2])));
    const uninterrupted = await runPlan({ plan: parsePlan(planJson(modelDir, [1, 2]), planPath), cacheRoot: join(root, 'c2'), resultsDir: join(root, 'r2'), runner: { threads: 1 } });
    expect(uninterrupted.length).toBe(2);
    const args = ['src/bin/icl-lab.mjs', 'run', '--plan', planPath, '--cache', join(root, 'c3'), '--results', join(root, 'r3'), '--threads', '1'];
    const child = spawn(process.execPath, args, { stdio: 'ignore' });
    // Kill as soon as the first seed's results are published, i.e. while the second seed is being computed.
    await new Promise<void>((resolve) => {
      const timer = setInterval(() => {
        if (existsSync(join(root, 'r3', 'tiny', 'synthetic-sentiment2', 'seed-1.prompt_end.examples.json'))) {
          clearInterval(timer);
          child.kill('SIGKILL');
          resolve();
        }
      }, 10);
      child.on('exit', () => { clearInterval(timer); resolve(); });
    });
    const resumed = await runPlan({ plan: parsePlan(planJson(modelDir, [1, 2]), planPath), cacheRoot: join(root, 'c3'), resultsDir: join(root, 'r3'), runner: { threads: 1 } });
    expect(resumed[0].cached).toBe(true);
    expect(await snapshot(join(root, 'r3'))).toEqual(await snapshot(join(root, 'r2')));
  }, 180_000);

  it('keeps published results as frozen when the model is not available, and says what would recompute them', async () => {
    const plan = parsePlan(planJson(join(root, 'gone'), [1]), 'plan.json');
    const lines: string[] = [];
    // No model folder and no published results: a clear failure.
    await expect(runPlan({ plan, cacheRoot: join(root, 'c7'), resultsDir: join(root, 'r7'), log: (l) => lines.push(l) })).rejects.toThrow(/gone/);
    // Results published earlier (by the first test into r1), model folder now absent: frozen, untouched.
    const before = await snapshot(join(root, 'r1'));
    const provenance = JSON.parse(await readFile(join(root, 'r1', 'tiny', 'synthetic-sentiment2', 'seed-1.provenance.json'), 'utf8'));
    expect(provenance).toMatchObject({ provenanceVersion: 1, seed: 1, model: { id: 'tiny' }, task: { id: 'synthetic-sentiment2' } });
    expect(provenance.inputsHash).toMatch(/^[0-9a-f]{64}$/);
    const summaries = await runPlan({ plan, cacheRoot: join(root, 'c7'), resultsDir: join(root, 'r1'), log: (l) => lines.push(l) });
    expect(summaries.map((s) => s.frozen)).toEqual([true]);
    expect(lines.join('\n')).toMatch(/frozen: tiny: its published results are kept as they are \(1 runs[\s\S]*Provide it to recompute them/);
    expect(lines.join('\n')).toMatch(/Provide it to recompute them: the model folder \S+ \(config\.json, tokenizer\.json and its safetensors weights, weights hash [0-9a-f]{12}\), and the plan plan\.json, which is not in this checkout; then `npm run lab -- run --plan plan\.json --models tiny`\./);
    expect(await snapshot(join(root, 'r1'))).toEqual(before);
  });

  it('a run\'s code version covers every module the protocol runs, and nothing else', async () => {
    const files = await moduleClosure(new URL('../../src/pipeline/experiments/protocol.ts', import.meta.url));
    const names = files.map((f) => f.replace(/.*src\/pipeline\//, ''));
    for (const needed of ['experiments/protocol.ts', 'models/forward.ts', 'models/attention-mask.ts', 'engine/ops.ts', 'engine/autodiff.ts', 'models/training.ts']) {
      expect(names).toContain(needed);
    }
    expect(names.some((n) => n.startsWith('commands/'))).toBe(false);
    expect(await protocolCodeHash()).toMatch(/^[0-9a-f]{64}$/);
  });

  it('refuses a model whose memory estimate exceeds the limit before reading its weights; --dry-run only says so', async () => {
    // The model's folder with the tensor data cut off after the safetensors header: reading the weights would fail.
    const cut = join(root, 'cut');
    await mkdir(cut);
    for (const f of await readdir(modelDir)) await copyFile(join(modelDir, f), join(cut, f));
    await cutAfterHeader(join(cut, 'model.safetensors'));
    const plan = parsePlan(planJson(cut, [1]), 'plan.json');
    const lines: string[] = [];
    const o = { plan, cacheRoot: join(root, 'c10'), resultsDir: join(root, 'r10'), maxMemoryBytes: 1e6, log: (l: string) => lines.push(l) };
    const refused = runPlan(o);
    await expect(refused).rejects.toThrow(MemoryLimitError);
    await expect(refused).rejects.toThrow(/^tiny: not loaded: `lab run` with this model would need about [\d.]+ [MG]B[\s\S]*more than the 1 MB[\s\S]*fewer test examples \(--limit N/);
    expect(lines[0]).toMatch(/^estimate for tiny: [\d.]+k parameters, .* whole run [\d.]+ [MG]B; ~.* per test example, ~.* per task and seed/);
    expect(existsSync(join(root, 'r10'))).toBe(false);
    const dry = await runPlan({ ...o, dryRun: true, log: (l: string) => lines.push(l) });
    expect(dry.map((r) => r.cached)).toEqual([false]);
    expect(lines.join('\n')).toMatch(/dry run: a real run would refuse this model: tiny: not loaded/);
    // With room enough, the same run reads the weights and fails on the missing data: the refusal came first.
    await expect(runPlan({ ...o, maxMemoryBytes: 1e12 })).rejects.toThrow(/model\.safetensors: .*truncated/);
  });

  it('says which plan entries are unknown', async () => {
    const plan = parsePlan(planJson(modelDir, [1]), 'plan.json');
    await expect(runPlan({ plan, cacheRoot: join(root, 'c9'), resultsDir: join(root, 'r9'), tasks: ['synthetic-topic4'] }))
      .rejects.toThrow(/--tasks synthetic-topic4: not in the plan \(plan\.json\); it has synthetic-sentiment2/);
  });

  it('a hub model on a machine without network fails fast, names the model and how to pre-seed, and writes nothing', async () => {
    const plan = parsePlan({ ...planJson(modelDir, [1]), models: [{ id: 'gpt2', source: { kind: 'hub', id: 'gpt2' } }] }, 'plan.json');
    const saved = { ...process.env };
    process.env.HF_HOME = join(root, 'hf-home');
    process.env.HF_ENDPOINT = 'http://127.0.0.1:9'; // nothing listens there
    try {
      const started = performance.now();
      await expect(runPlan({ plan, cacheRoot: join(root, 'c8'), resultsDir: join(root, 'r8') }))
        .rejects.toThrow(/model gpt2[\s\S]*(pre-seed|put the files|snapshots)/i);
      expect(performance.now() - started).toBeLessThan(15_000);
      expect(existsSync(join(root, 'r8'))).toBe(false);
      expect(existsSync(join(root, 'c8', 'protocol'))).toBe(false);
      // --models with an id the plan lacks is taken as a hub model too.
      await expect(runPlan({ plan: parsePlan(planJson(modelDir, [1]), 'plan.json'), cacheRoot: join(root, 'c8'), resultsDir: join(root, 'r8'), models: ['gpt2-medium'] }))
        .rejects.toThrow(/model gpt2-medium/);
    } finally {
      process.env = saved;
    }
  });
});
