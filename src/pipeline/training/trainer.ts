// Training an embedded GPT-2 from scratch on the synthetic world: AdamW, warmup + cosine, clipping, periodic
// evaluation, checkpoints that survive a killed process, and the finished model as a Hugging Face folder.
//
// Resuming is exact: a checkpoint holds the parameters, both AdamW moments, the step and the data generator's
// state, so a resumed run computes the same batches and the same updates as an uninterrupted one.

import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Rng } from '../util/random.ts';
import { gpt2Family } from '../models/gpt2.ts';
import type { ArchConfig, ParamStore } from '../models/family.ts';
import { ModelSession } from '../models/forward.ts';
import { TrainingSession, nonFinite } from '../models/training.ts';
import { writeHfModelFolder } from '../models/hf-folder.ts';
import { readSafetensors, toFloat32, writeFileDurably, writeSafetensors, type TensorInput } from '../models/safetensors.ts';
import { withPieceCache } from '../models/tokenizer.ts';
import { WORLD_TOKENIZER_CONFIG, worldTokenizer } from '../tasks/synthetic-provider.ts';
import { buildWorld, type World } from '../tasks/synthetic-world.ts';
import { type TrainConfig, TrainConfigError, configHash } from './train-config.ts';
import { type AdamWState, adamwStep, newAdamWState } from './adamw.ts';
import { learningRate } from './schedule.ts';
import { writeModelCard } from './model-card.ts';
import { pretrainingBatch } from './corpus.ts';
import { type WorldEval, evaluateOnWorld } from './evaluate.ts';
import { sinusoidalPositions } from './position-init.ts';

/** The data options in force at `step`: the curriculum's first phase overrides the stream's options until it ends. */
export function dataAt(config: TrainConfig, step: number): TrainConfig['data'] {
  const first = config.data.firstPhase;
  if (!first || step >= first.steps) return config.data;
  const { steps: _steps, ...overrides } = first;
  return { ...config.data, ...overrides };
}

export interface CurvePoint {
  step: number;
  /** Mean training loss (label tokens) over the steps since the previous point. */
  loss: number;
  lr: number;
  elapsedSeconds: number;
  eval?: WorldEval;
}

export interface TrainOptions {
  checkpointDir: string;
  /** Where to write the finished model folder. */
  outDir: string;
  /** Ignore an existing checkpoint. */
  fresh?: boolean;
  /** Stop after this many steps in this process (the run can be resumed later). */
  stopAfter?: number;
  threads?: number;
  log?: (line: string) => void;
  progress?: (text: string) => void;
}

export interface TrainResult {
  steps: number;
  curve: CurvePoint[];
  finished: boolean;
  params: ParamStore;
}

const CHECKPOINT_FILE = 'checkpoint.safetensors';

export function modelConfigJson(config: TrainConfig, world: World): Record<string, unknown> {
  const eos = world.tokenizerJson.added_tokens[0].id;
  return {
    model_type: 'gpt2',
    architectures: ['GPT2LMHeadModel'],
    vocab_size: eos + 1,
    n_positions: config.model.n_positions,
    n_ctx: config.model.n_positions,
    n_embd: config.model.n_embd,
    n_layer: config.model.n_layer,
    n_head: config.model.n_head,
    n_inner: null,
    activation_function: 'gelu_new',
    layer_norm_epsilon: 1e-5,
    initializer_range: 0.02,
    scale_attn_weights: true,
    tie_word_embeddings: true,
    bos_token_id: eos,
    eos_token_id: eos,
  };
}

interface Checkpoint {
  step: number;
  /** Training loss accumulated since the last curve point (so a resumed run reports the same curve). */
  lossSum: number;
  lossCount: number;
  adam: AdamWState;
  rng: ReturnType<Rng['snapshot']>;
  curve: CurvePoint[];
  elapsedSeconds: number;
}

async function saveCheckpoint(dir: string, hash: string, params: ParamStore, ck: Checkpoint): Promise<void> {
  await mkdir(dir, { recursive: true });
  const tensors: TensorInput[] = [];
  for (const [name, t] of params) {
    tensors.push({ name: `param.${name}`, dtype: 'F32', shape: t.shape, data: t.data as Float32Array });
    tensors.push({ name: `adam_m.${name}`, dtype: 'F32', shape: t.shape, data: ck.adam.m.get(name)! });
    tensors.push({ name: `adam_v.${name}`, dtype: 'F32', shape: t.shape, data: ck.adam.v.get(name)! });
  }
  const state = {
    configHash: hash, step: ck.step, lossSum: ck.lossSum, lossCount: ck.lossCount, adamStep: ck.adam.step, rng: ck.rng,
    elapsedSeconds: ck.elapsedSeconds,
  };
  // One file, written atomically: a process killed mid-write leaves the previous checkpoint intact.
  await writeSafetensors(join(dir, CHECKPOINT_FILE), tensors, {
    state: JSON.stringify(state),
    curve: JSON.stringify(ck.curve),
  });
}

async function loadCheckpoint(dir: string, hash: string, params: ParamStore): Promise<Checkpoint | undefined> {
  const path = join(dir, CHECKPOINT_FILE);
  if (!existsSync(path)) return undefined;
  const file = await readSafetensors(path);
  const state = JSON.parse(file.metadata.state ?? '{}');
  if (state.configHash !== hash) {
    throw new TrainConfigError(`${path} was made with a different training config; pass --fresh to start over (the checkpoint will be replaced)`);
  }
  const adam = newAdamWState(params);
  adam.step = state.adamStep;
  for (const [name, t] of params) {
    const get = (prefix: string) => {
      const e = file.tensors.get(`${prefix}.${name}`);
      if (!e) throw new TrainConfigError(`${path}: missing ${prefix}.${name}; the checkpoint is incomplete (use --fresh)`);
      return toFloat32(e);
    };
    (t.data as Float32Array).set(get('param'));
    adam.m.set(name, get('adam_m'));
    adam.v.set(name, get('adam_v'));
  }
  return {
    step: state.step, lossSum: state.lossSum, lossCount: state.lossCount, adam, rng: state.rng,
    curve: JSON.parse(file.metadata.curve ?? '[]'), elapsedSeconds: state.elapsedSeconds,
  };
}

function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  const m = Math.floor(seconds / 60);
  const s = Math.round(seconds % 60);
  return m > 0 ? `${m}m${String(s).padStart(2, '0')}s` : `${s}s`;
}

export async function trainModel(config: TrainConfig, options: TrainOptions): Promise<TrainResult> {
  const log = options.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  const world = buildWorld(config.world);
  const library = worldTokenizer(world);
  // The world's texts are made of a few hundred words: remember each word's ids (same ids, see withPieceCache).
  const tokenizer = withPieceCache(library, world.tokenizerJson.added_tokens.map((t) => t.content));
  const hfConfig = modelConfigJson(config, world);
  const arch: ArchConfig = gpt2Family.parseConfig(hfConfig, `${config.id} (generated config)`);
  const policy = gpt2Family.tokenPolicy(arch);
  const params = gpt2Family.initParams(arch, config.seed);
  if (config.model.positionInit === 'sinusoidal') {
    const random = params.get('embed.positions')!.data as Float32Array;
    const rms = Math.sqrt(random.reduce((a, x) => a + x * x, 0) / random.length); // keep the normal init's scale
    params.set('embed.positions', sinusoidalPositions(arch.maxPositions, config.model.n_embd, rms));
  }
  const model = { family: gpt2Family, config: arch, params };
  const hash = configHash(config);

  const resumed = options.fresh ? undefined : await loadCheckpoint(options.checkpointDir, hash, params);
  const adam = resumed?.adam ?? newAdamWState(params);
  const dataRng = new Rng(config.seed + 1);
  if (resumed) dataRng.restore(resumed.rng);
  const curve: CurvePoint[] = resumed?.curve ?? [];
  let step = resumed?.step ?? 0;
  const elapsedBefore = resumed?.elapsedSeconds ?? 0;
  if (resumed) log(`resuming ${config.id} from step ${step} (${options.checkpointDir})`);

  const trainable = [...params.keys()];
  // Logits only where the loss counts (label tokens); each batch runs in groups of similar length (runGrouped).
  const session = await TrainingSession.create(model, { trainable, logits: 'targets' }, { threads: options.threads });
  const evalSession = await ModelSession.create(model, { logits: 'positions', trainable }, { threads: options.threads });
  const settings = {
    beta1: config.optimizer.beta1, beta2: config.optimizer.beta2, eps: config.optimizer.eps, weightDecay: config.optimizer.weightDecay,
  };
  const evaluate = () =>
    evaluateOnWorld(evalSession, world, policy, tokenizer, {
      examplesPerTask: config.eval.examplesPerTask,
      demos: config.eval.demos,
      contextOnlyExamples: config.eval.contextOnlyExamples,
      mixKnownAndNovel: config.data.mixKnownAndNovel,
      maxTokens: config.model.n_positions,
      seed: config.seed + 2,
    });

  const total = config.optimizer.totalSteps;
  const start = performance.now();
  const startStep = step;
  let lossSum = resumed?.lossSum ?? 0;
  let lossCount = resumed?.lossCount ?? 0;
  const elapsed = () => elapsedBefore + (performance.now() - start) / 1000;
  const checkpoint = () =>
    saveCheckpoint(options.checkpointDir, hash, params, { step, lossSum, lossCount, adam, rng: dataRng.snapshot(), curve, elapsedSeconds: elapsed() });
  try {
    while (step < total) {
      if (options.stopAfter !== undefined && step - startStep >= options.stopAfter) break;
      const batch = pretrainingBatch(world, dataRng, policy, tokenizer, dataAt(config, step), config.batchSize, config.data.maxTokens);
      const result = await session.runGrouped(batch);
      const bad = nonFinite(result);
      if (bad) throw new Error(`step ${step}: ${bad}; lower optimizer.peakLr or raise warmupSteps (the last checkpoint is intact)`);
      const lr = learningRate(step, { ...config.optimizer });
      adamwStep(params, result.grads, adam, lr, config.optimizer.clip, settings);
      step += 1;
      lossSum += result.loss;
      lossCount += 1;
      const done = step === total;
      if (step % config.eval.every === 0 || done) {
        const point: CurvePoint = { step, loss: lossSum / lossCount, lr, elapsedSeconds: elapsed(), eval: await evaluate() };
        curve.push(point);
        lossSum = 0;
        lossCount = 0;
        const e = point.eval!;
        const avg = (r: Record<string, number>) => Object.values(r).reduce((a, b) => a + b, 0) / Object.values(r).length;
        log(`step ${step}: loss ${point.loss.toFixed(4)}  ZSL ${avg(e.zsl).toFixed(3)}  ICL ${avg(e.icl).toFixed(3)}  context-only ${e.contextOnly.toFixed(3)}`);
      }
      if (step % config.checkpointEvery === 0 || done) await checkpoint();
      const rate = (step - startStep) / ((performance.now() - start) / 1000);
      options.progress?.(`${config.id} step ${step}/${total}  loss ${result.loss.toFixed(4)}  lr ${lr.toExponential(2)}  ${rate.toFixed(2)} step/s  ETA ${formatDuration((total - step) / rate)}`);
    }
  } finally {
    await session.release();
    await evalSession.release();
  }
  const finished = step === total;
  if (finished) {
    const tensors = [...gpt2Family.toHfTensors(arch, params)].map(([name, t]) => ({ name, dtype: 'F32' as const, shape: t.shape, data: t.data as Float32Array }));
    await writeHfModelFolder(options.outDir, {
      config: hfConfig,
      tensors,
      metadata: { format: 'pt' },
      tokenizerJson: world.tokenizerJson,
      tokenizerConfig: { ...WORLD_TOKENIZER_CONFIG, model_max_length: config.model.n_positions },
    });
    const record = { id: config.id, configHash: hash, steps: step, elapsedSeconds: elapsed(), config, curve };
    await writeFileDurably(join(options.outDir, 'training-curve.json'), `${JSON.stringify(record, null, 1)}\n`);
    await writeModelCard(options.outDir, config, world, params, curve, elapsed());
  }
  return { steps: step, curve, finished, params };
}

