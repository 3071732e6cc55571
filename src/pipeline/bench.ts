// `npm run bench`: speed figures measured in one run on this machine, each beside a same-run baseline, so ratios
// are comparable across machines. Timings are medians over repeated runs after a warm-up.

import * as os from 'node:os';
import { Graph, countMatMulFlops } from './engine/graph.ts';
import { Runner } from './engine/runner.ts';
import { float32 } from './engine/tensor.ts';
import { Rng } from './util/random.ts';
import { gpt2Family } from './models/gpt2.ts';
import { ModelSession } from './models/forward.ts';
import { TrainingSession, nonFinite, sgdStep } from './models/training.ts';
import { tokenizerFromJson, withPieceCache } from './models/tokenizer.ts';
import { buildWorld } from './tasks/synthetic-world.ts';
import { pretrainingBatch } from './training/corpus.ts';
import { adamwStep, newAdamWState } from './training/adamw.ts';
import { readTrainConfig } from './training/train-config.ts';
import { modelConfigJson } from './training/trainer.ts';
import { protocolBench } from './experiments/bench-protocol.ts';
import { planBench } from './bench-plan.ts';
import { weightsCacheBench } from './bench-weights.ts';

export interface BenchLine {
  name: string;
  value: number;
  unit: string;
  note?: string;
}

export async function medianSeconds(fn: () => Promise<unknown>, runs: number, warmup = 1): Promise<number> {
  for (let i = 0; i < warmup; i++) await fn();
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await fn();
    times.push((performance.now() - t0) / 1000);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

function randomMatrix(rng: Rng, rows: number, cols: number): Float32Array {
  const m = new Float32Array(rows * cols);
  for (let i = 0; i < m.length; i++) m[i] = rng.uniform() - 0.5;
  return m;
}

/** ONNX Runtime's own 1024x1024x1024 MatMul rate: the machine's reference for every ratio below. */
export async function matmulRate(threads?: number): Promise<number> {
  const n = 1024;
  const rng = new Rng(1);
  const g = new Graph();
  const a = g.input('a', 'float32', [n, n]);
  const b = g.initializer('b', float32(randomMatrix(rng, n, n), [n, n]));
  g.output(g.matmul(a, b), 'c');
  const runner = await Runner.create(g.build(), { threads });
  const feed = { a: float32(randomMatrix(rng, n, n), [n, n]) };
  const seconds = await medianSeconds(() => runner.run(feed, ['c']), 15, 3);
  await runner.release();
  return (2 * n * n * n) / seconds / 1e9;
}

export const GPT2_SMALL_CONFIG = {
  model_type: 'gpt2', vocab_size: 50257, n_positions: 1024, n_embd: 768, n_layer: 12, n_head: 12,
};

export function gpt2SmallModel() {
  const config = gpt2Family.parseConfig(GPT2_SMALL_CONFIG, 'bench');
  return { family: gpt2Family, config, params: gpt2Family.initParams(config, 1) };
}

function randomIds(n: number, vocab: number, seed: number): number[] {
  const rng = new Rng(seed);
  return Array.from({ length: n }, () => rng.int(vocab));
}

export async function forwardBench(matmulGflops: number, threads?: number): Promise<BenchLine[]> {
  const T = 512;
  const model = gpt2SmallModel();
  const session = await ModelSession.create(model, { logits: 'positions' }, { threads });
  const flops = countMatMulFlops(session.built.nodes, { batch: 1, time: T, n_logit: 1 });
  const ids = randomIds(T, model.config.vocabSize, 2);
  const seconds = await medianSeconds(() => session.forward({ sequences: [ids], logitPositions: [[T - 1]] }), 5);
  await session.release();
  const rate = flops / seconds / 1e9;

  // Prefix reuse: a 448-token prefix computed once, then 64-token continuations, vs full 512-token forwards.
  const P = 448;
  const cached = await ModelSession.create(model, { logits: 'positions', withPast: true }, { threads });
  const { present } = await cached.forward({ sequences: [ids.slice(0, P)], logitPositions: [[P - 1]] });
  const query = ids.slice(P);
  const perQuery = await medianSeconds(
    () => cached.forward({ sequences: [query], past: present, logitPositions: [[query.length - 1]] }),
    5,
  );
  await cached.release();
  return [
    { name: 'GPT-2-small forward, T=512, logits at last position', value: seconds * 1000, unit: 'ms' },
    { name: '  MatMul FLOPs counted from the graph', value: flops / 1e9, unit: 'GFLOP' },
    { name: '  forward rate', value: rate, unit: 'GFLOP/s' },
    { name: '  ratio to the 1024^3 MatMul rate (target >= 0.5)', value: rate / matmulGflops, unit: 'x' },
    { name: `prefix reuse: ${T - P}-token query after a cached ${P}-token prefix`, value: perQuery * 1000, unit: 'ms' },
    { name: '  cost per query vs a full 512-token forward', value: perQuery / seconds, unit: 'x' },
  ];
}

/** Forward + backward with K/V gradients (the paper's FT) for the GPT-2-small shape, and one whole finetune step. */
export async function trainingBench(matmulGflops: number, threads?: number): Promise<BenchLine[]> {
  const T = 512;
  const model = gpt2SmallModel();
  const session = await TrainingSession.create(model, { trainable: gpt2Family.kvParamNames(model.config) }, { threads });
  const flops = countMatMulFlops(session.built.nodes, { batch: 1, time: T });
  const batch = { sequences: [randomIds(T, model.config.vocabSize, 3)] };
  const seconds = await medianSeconds(() => session.run(batch), 3);
  // What `lab finetune` does per line: forward + backward, the finiteness check, the SGD update.
  const step = await medianSeconds(async () => {
    const result = await session.run(batch);
    if (nonFinite(result)) throw new Error('bench: non-finite loss or gradient');
    sgdStep(model.params, result.grads, 1e-4);
  }, 3);
  await session.release();
  const rate = flops / seconds / 1e9;
  return [
    { name: 'GPT-2-small forward + backward (K/V gradients), T=512', value: seconds * 1000, unit: 'ms' },
    { name: '  MatMul FLOPs counted from the emitted graph', value: flops / 1e9, unit: 'GFLOP' },
    { name: '  forward + backward rate', value: rate, unit: 'GFLOP/s' },
    { name: '  ratio to the 1024^3 MatMul rate (target >= 0.4)', value: rate / matmulGflops, unit: 'x' },
    { name: 'one finetune step (forward + backward + SGD update), T=512', value: step * 1000, unit: 'ms' },
  ];
}

/** The shipped largest embedded model's recipe: the training-step bench times exactly its steps. */
const BENCH_RECIPE = 'content/training/emb-l.json';

/**
 * One `lab train` step of BENCH_RECIPE: a batch of its pretraining sequences (its batch size, length and loss
 * targets), forward + backward of every parameter (logits at the counted targets, examples run in length groups),
 * the finiteness check, AdamW.
 */
export async function embeddedTrainingBench(_matmulGflops: number, threads?: number): Promise<BenchLine[]> {
  const recipe = await readTrainConfig(BENCH_RECIPE);
  const world = buildWorld(recipe.world);
  const special = world.tokenizerJson.added_tokens.map((t) => t.content);
  const tokenizer = withPieceCache(tokenizerFromJson(world.tokenizerJson as unknown as Record<string, unknown>, {}, { jsonPath: 'world', configPath: 'world' }), special);
  const config = gpt2Family.parseConfig(modelConfigJson(recipe, world), BENCH_RECIPE);
  const params = gpt2Family.initParams(config, 1);
  const model = { family: gpt2Family, config, params };
  const policy = gpt2Family.tokenPolicy(config);
  const trainable = [...params.keys()];
  const session = await TrainingSession.create(model, { trainable, logits: 'targets' }, { threads });
  const adam = newAdamWState(params);
  const rng = new Rng(5);
  const batchOf = (r: Rng) => pretrainingBatch(world, r, policy, tokenizer, recipe.data, recipe.batchSize, recipe.data.maxTokens);
  const step = await medianSeconds(async () => {
    const result = await session.runGrouped(batchOf(rng));
    if (nonFinite(result)) throw new Error('bench: non-finite loss or gradient');
    adamwStep(params, result.grads, adam, 1e-4, 1);
  }, 7, 3);
  // The same kind of batch in one run padded to its longest sequence (what each step cost before length groups).
  const fixed = batchOf(new Rng(6));
  const single = await medianSeconds(() => session.run(fixed), 3, 1);
  const grouped = await medianSeconds(() => session.runGrouped(fixed), 3, 1);
  await session.release();
  const shape = `${recipe.model.n_layer}L d${recipe.model.n_embd}, batch ${recipe.batchSize}, T<=${recipe.data.maxTokens}`;
  const note = `${(1 / step).toFixed(2)} steps/s, loss on ${recipe.data.lossOn ?? 'labels'}; ${recipe.optimizer.totalSteps} steps ≈ ${((recipe.optimizer.totalSteps * step) / 60).toFixed(0)} min`;
  return [
    { name: `${recipe.id} training step (${shape})`, value: step * 1000, unit: 'ms', note },
    { name: '  forward + backward, one padded run', value: single * 1000, unit: 'ms' },
    { name: '  forward + backward, length groups', value: grouped * 1000, unit: 'ms' },
  ];
}

/** Benches contributed by other modules (autodiff, protocol) register here. */
export const EXTRA_BENCHES: Array<(matmulGflops: number, threads?: number) => Promise<BenchLine[]>> = [];

export async function runBench(): Promise<void> {
  const threads = os.availableParallelism();
  process.stdout.write(`icl-lab bench: ${os.cpus()[0]?.model ?? 'cpu'}, ${threads} threads, ONNX Runtime CPU, fp32\n\n`);
  const print = (l: BenchLine) =>
    process.stdout.write(`${l.name.padEnd(62)} ${l.value.toFixed(l.unit === 'x' ? 3 : 1).padStart(10)} ${l.unit}${l.note ? `  (${l.note})` : ''}\n`);
  const matmul = await matmulRate(threads);
  print({ name: 'ONNX Runtime MatMul 1024x1024x1024', value: matmul, unit: 'GFLOP/s' });
  for (const line of await forwardBench(matmul, threads)) print(line);
  for (const line of await trainingBench(matmul, threads)) print(line);
  for (const line of await embeddedTrainingBench(matmul, threads)) print(line);
  for (const line of await protocolBench(threads)) print(line);
  for (const line of await weightsCacheBench(threads)) print(line);
  for (const bench of EXTRA_BENCHES) for (const line of await bench(matmul, threads)) print(line);
  if (process.argv.includes('--no-plan')) return;
  process.stdout.write('\nwhole commands (skip with `npm run bench -- --no-plan`):\n');
  for (const line of await planBench(threads)) print(line);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await runBench();
}
