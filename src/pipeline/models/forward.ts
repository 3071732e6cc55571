// Running a model: builds the family's forward graph once, then turns token sequences into feeds (padding,
// positions, which keys are real, a reused prefix) and results. Family-independent. The causal/padding attention
// bias is built inside the graph from the key mask (attention-mask.ts).

import { Graph, type BuiltModel, type Value } from '../engine/graph.ts';
import { Runner, type RunnerOptions } from '../engine/runner.ts';
import { type HostTensor, floatTensor, int64 } from '../engine/tensor.ts';
import {
  type ArchConfig,
  type GraphOptions,
  type ModelFamily,
  type ParamStore,
  pastKeyName,
  pastValueName,
  presentKeyName,
  presentValueName,
} from './family.ts';
import { KEY_MASK } from './attention-mask.ts';

/** Attention keys/values of an already-processed prefix, per layer: [batch, kv_heads, length, head_dim]. */
export interface PastState {
  length: number;
  keys: HostTensor[];
  values: HostTensor[];
}

export interface ForwardRequest {
  /** Token ids per example; shorter ones are right-padded (padding never changes real positions' results). */
  sequences: number[][];
  /** A prefix already run: batch 1 (shared by every example) or one per example. */
  past?: PastState;
  /** Per example, positions (within `sequences`) at which captures are gathered (graph option capturePositions). */
  capturePositions?: number[][];
  /** Per example, positions at which logits are computed (graph option logits: 'positions'). */
  logitPositions?: number[][];
  /** Output names to fetch; default: every output of the graph. */
  fetch?: readonly string[];
  /** Return the extended prefix state (graph option withPast); default true. Copying it out costs as much as the
   * prefix itself, so runs that only read outputs should say false. */
  returnPresent?: boolean;
}

export interface ForwardResult {
  outputs: Record<string, HostTensor>;
  /** The prefix extended by this call's tokens (only with graph option withPast). */
  present?: PastState;
}

export interface ModelParts {
  family: ModelFamily;
  config: ArchConfig;
  params: ParamStore;
}

/** Build the forward graph of a model with the given options. Trainable parameters become graph inputs. */
export function buildForwardGraph(model: ModelParts, options: GraphOptions): { graph: Graph; built: BuiltModel } {
  const graph = forwardGraph(model, options);
  return { graph, built: graph.build() };
}

/** The forward graph before serialisation, for callers that add to it (the training graph adds loss and gradients). */
export function forwardGraph(model: ModelParts, options: GraphOptions): Graph {
  const graph = new Graph(options.floatType ?? 'float32');
  const trainable = new Set(options.trainable ?? []);
  const cache = new Map<string, Value>();
  for (const name of trainable) {
    if (!model.params.has(name)) throw new Error(`trainable parameter "${name}" is not a parameter of this model`);
  }
  const param = (name: string): Value => {
    const hit = cache.get(name);
    if (hit) return hit;
    const t = model.params.get(name);
    if (!t) throw new Error(`${model.family.name} graph asked for unknown parameter "${name}"`);
    const value = trainable.has(name)
      ? graph.input(name, graph.floatType, t.shape)
      : graph.initializer(name, t.dtype === graph.floatType ? t : floatTensor(graph.floatType, t.data as Float32Array, t.shape));
    cache.set(name, value);
    return value;
  };
  model.family.buildForward(graph, model.config, param, options);
  return graph;
}

export class ModelSession {
  readonly model: ModelParts;
  readonly options: GraphOptions;
  readonly built: BuiltModel;
  private readonly runner: Runner;

  private constructor(model: ModelParts, options: GraphOptions, built: BuiltModel, runner: Runner) {
    this.model = model;
    this.options = options;
    this.built = built;
    this.runner = runner;
  }

  static async create(model: ModelParts, options: GraphOptions = {}, runner: RunnerOptions = {}): Promise<ModelSession> {
    const { built } = buildForwardGraph(model, options);
    return new ModelSession(model, options, built, await Runner.create(built, runner));
  }

  get device(): string {
    return this.runner.device;
  }

  get outputNames(): readonly string[] {
    return this.runner.outputNames;
  }

  async forward(request: ForwardRequest): Promise<ForwardResult> {
    const feeds = this.feeds(request);
    const fetch = [...(request.fetch ?? this.runner.outputNames)];
    if (!this.options.withPast || request.returnPresent === false) return { outputs: await this.runner.run(feeds, fetch) };
    // One run returns both the requested outputs and the extended prefix state.
    const layers = Array.from({ length: this.model.config.nLayer }, (_, l) => l);
    const stateNames = layers.flatMap((l) => [presentKeyName(l), presentValueName(l)]);
    const all = await this.runner.run(feeds, [...new Set([...fetch, ...stateNames])]);
    const outputs = Object.fromEntries(fetch.map((n) => [n, all[n]]));
    const keys = layers.map((l) => all[presentKeyName(l)]);
    const values = layers.map((l) => all[presentValueName(l)]);
    return { outputs, present: { length: keys[0].shape[2], keys, values } };
  }

  /** Feeds for one call: ids, positions, key mask, past, gather positions, trainable parameters. */
  feeds(request: ForwardRequest): Record<string, HostTensor> {
    return forwardFeeds(this.model, this.options, request);
  }

  async release(): Promise<void> {
    await this.runner.release();
  }
}

/** Feeds of a graph built with `options` for one call (trainable parameters are read from `model.params`). */
export function forwardFeeds(model: ModelParts, options: GraphOptions, request: ForwardRequest): Record<string, HostTensor> {
  const { sequences } = request;
  const batch = sequences.length;
  if (batch === 0) throw new Error('forward() needs at least one sequence');
  const lengths = sequences.map((s) => s.length);
  const time = Math.max(...lengths);
  if (time === 0) throw new Error('forward() got an empty sequence');
  const pastLength = request.past?.length ?? 0;
  const { maxPositions, vocabSize } = model.config;
  if (pastLength + time > maxPositions) {
    throw new Error(`sequence of ${pastLength + time} tokens exceeds the model's ${maxPositions} positions`);
  }
  const ids = new BigInt64Array(batch * time);
  const positions = new BigInt64Array(batch * time);
  sequences.forEach((seq, b) => {
    for (let t = 0; t < time; t++) {
      const id = t < seq.length ? seq[t] : 0;
      if (!Number.isInteger(id) || id < 0 || id >= vocabSize) {
        throw new Error(`token id ${id} at example ${b}, position ${t} is outside the vocabulary (size ${vocabSize})`);
      }
      ids[b * time + t] = BigInt(id);
      positions[b * time + t] = BigInt(pastLength + t);
    }
  });
  const floatType = options.floatType ?? 'float32';
  // Which keys are real: the whole reused prefix, then each example's own tokens (the causal part and the bias
  // itself are built inside the graph, see attention-mask.ts).
  const keys = pastLength + time;
  const keyMask = new Uint8Array(batch * keys);
  for (let b = 0; b < batch; b++) keyMask.fill(1, b * keys, b * keys + pastLength + lengths[b]);
  const feeds: Record<string, HostTensor> = {
    input_ids: int64(ids, [batch, time]),
    position_ids: int64(positions, [batch, time]),
    [KEY_MASK]: { dtype: 'bool', shape: [batch, keys], data: keyMask },
  };
  if (options.withPast) addPast(model, options, feeds, request.past, batch);
  else if (request.past) throw new Error('this session was built without withPast; it cannot continue a prefix');
  if (options.capturePositions) {
    feeds.capture_positions = positionFeed(request.capturePositions, lengths, 'capturePositions');
  }
  if (options.logits === 'positions') {
    feeds.logit_positions = positionFeed(request.logitPositions, lengths, 'logitPositions');
  }
  for (const name of options.trainable ?? []) {
    const t = model.params.get(name)!;
    feeds[name] = t.dtype === floatType ? t : floatTensor(floatType, t.data as Float32Array, t.shape);
  }
  return feeds;
}

function addPast(
  model: ModelParts,
  options: GraphOptions,
  feeds: Record<string, HostTensor>,
  past: PastState | undefined,
  batch: number,
): void {
  const { nLayer, nKvHead, headDim } = model.config;
  const floatType = options.floatType ?? 'float32';
  for (let l = 0; l < nLayer; l++) {
    for (const [name, tensor] of [
      [pastKeyName(l), past?.keys[l]],
      [pastValueName(l), past?.values[l]],
    ] as const) {
      if (!tensor) {
        feeds[name] = floatTensor(floatType, [], [batch, nKvHead, 0, headDim]);
      } else if (tensor.shape[0] === batch || tensor.shape[0] === 1) {
        feeds[name] = tensor; // a batch-1 prefix is broadcast to the batch inside the graph
      } else {
        throw new Error(`past state has batch ${tensor.shape[0]}; expected 1 (shared prefix) or ${batch}`);
      }
    }
  }
}

function positionFeed(positions: number[][] | undefined, lengths: number[], what: string): HostTensor {
  if (!positions || positions.length !== lengths.length) {
    throw new Error(`${what} must give one list of positions per sequence (${lengths.length})`);
  }
  const n = positions[0].length;
  const data = new BigInt64Array(lengths.length * n);
  positions.forEach((list, b) => {
    if (list.length !== n) throw new Error(`${what}: every example needs the same number of positions (${n})`);
    list.forEach((p, i) => {
      if (!Number.isInteger(p) || p < 0 || p >= lengths[b]) {
        throw new Error(`${what}: position ${p} is outside example ${b} (length ${lengths[b]})`);
      }
      data[b * n + i] = BigInt(p);
    });
  });
  return int64(data, [lengths.length, n, 1]);
}
