// Training graphs, family-independent: a model's forward graph, the mean next-token NLL, and the gradients of
// chosen parameters, all emitted into one ONNX model. Trainable parameters are graph inputs (fed every step from
// the parameter store, which the optimiser updates in place); the others stay baked in.

import type { BuiltModel, Graph } from '../engine/graph.ts';
import { addGradients } from '../engine/autodiff.ts';
import { addNextTokenLoss } from '../engine/loss.ts';
import { Runner, type RunnerOptions } from '../engine/runner.ts';
import { type HostTensor, floatTensor, int64 } from '../engine/tensor.ts';
import { type CaptureKind, type GraphOptions, type ParamStore, captureName } from './family.ts';
import { type ModelParts, forwardFeeds, forwardGraph } from './forward.ts';

export interface TrainingOptions {
  /** Parameters that get gradients (fed as graph inputs). */
  trainable: readonly string[];
  /** Activations to expose as outputs at every position (e.g. `attn.q` for the FT query record). */
  captures?: readonly CaptureKind[];
  /** float64 serves gradient checks. */
  floatType?: 'float32' | 'float64';
}

export const LOSS_OUTPUT = 'loss';
export const gradName = (param: string): string => `grad.${param}`;

function graphOptions(options: TrainingOptions): GraphOptions {
  return { logits: 'all', captures: options.captures, trainable: options.trainable, floatType: options.floatType };
}

/** Forward + loss + gradients. Inputs: the forward inputs, `targets`, `target_mask` and the trainable parameters;
 * outputs: `logits`, the captures, `loss` and `grad.<param>` for every trainable parameter. */
export function buildTrainingGraph(model: ModelParts, options: TrainingOptions): Graph {
  if (options.trainable.length === 0) throw new Error('a training graph needs at least one trainable parameter');
  const g = forwardGraph(model, graphOptions(options));
  const logits = g.outputs.find((o) => o.name === 'logits')!;
  const loss = addNextTokenLoss(g, logits);
  const params = options.trainable.map((name) => g.inputs.find((v) => v.name === name)!);
  const grads = addGradients(g, loss, params);
  g.output(loss, LOSS_OUTPUT);
  for (const p of params) g.output(grads.get(p.name)!, gradName(p.name));
  return g;
}

export interface TrainingBatch {
  /** Token ids per example; shorter ones are right-padded and their padding never counts. */
  sequences: number[][];
  /**
   * Per example, one flag per position t < length - 1: whether the prediction of token t + 1 counts in the loss.
   * Default: every next-token target of every example.
   */
  targetMask?: boolean[][];
}

export interface StepResult {
  /** Mean next-token NLL over the counted targets. */
  loss: number;
  /** Number of counted targets. */
  targets: number;
  /** d loss / d parameter, by parameter name, in the graph's float type. */
  grads: Map<string, HostTensor>;
  /** Requested captures, [batch, time, ...]. */
  captures: Record<string, HostTensor>;
  /** [batch, time, vocab], when asked for. */
  logits?: HostTensor;
}

/** A built training graph on ONNX Runtime. Each run reads the current values of the trainable parameters. */
export class TrainingSession {
  readonly model: ModelParts;
  readonly options: TrainingOptions;
  readonly built: BuiltModel;
  private readonly runner: Runner;

  private constructor(model: ModelParts, options: TrainingOptions, built: BuiltModel, runner: Runner) {
    this.model = model;
    this.options = options;
    this.built = built;
    this.runner = runner;
  }

  static async create(model: ModelParts, options: TrainingOptions, runner: RunnerOptions = {}): Promise<TrainingSession> {
    const built = buildTrainingGraph(model, options).build();
    return new TrainingSession(model, options, built, await Runner.create(built, runner));
  }

  get device(): string {
    return this.runner.device;
  }

  /** Feeds for one batch: the forward feeds plus next-token targets and their mask. */
  feeds(batch: TrainingBatch): { feeds: Record<string, HostTensor>; targets: number } {
    const feeds = forwardFeeds(this.model, graphOptions(this.options), { sequences: batch.sequences });
    const [n, time] = feeds.input_ids.shape;
    const targets = new BigInt64Array(n * time);
    const mask = new Float64Array(n * time);
    let count = 0;
    batch.sequences.forEach((seq, b) => {
      const flags = batch.targetMask?.[b];
      if (flags && flags.length !== Math.max(0, seq.length - 1)) {
        throw new Error(`targetMask of example ${b} has ${flags.length} flags; its ${seq.length} tokens have ${seq.length - 1} targets`);
      }
      for (let t = 0; t + 1 < seq.length; t++) {
        targets[b * time + t] = BigInt(seq[t + 1]);
        if (flags && !flags[t]) continue;
        mask[b * time + t] = 1;
        count++;
      }
    });
    if (count === 0) throw new Error('the batch has no next-token targets to train on (sequences need at least 2 tokens)');
    feeds.targets = int64(targets, [n, time]);
    feeds.target_mask = floatTensor(this.options.floatType ?? 'float32', mask, [n, time]);
    return { feeds, targets: count };
  }

  /** Loss and gradients at the current parameter values. */
  async run(batch: TrainingBatch, fetch: { logits?: boolean } = {}): Promise<StepResult> {
    const { feeds, targets } = this.feeds(batch);
    const layers = Array.from({ length: this.model.config.nLayer }, (_, l) => l);
    const captureNames = layers.flatMap((l) => (this.options.captures ?? []).map((kind) => captureName(l, kind)));
    const names = [LOSS_OUTPUT, ...this.options.trainable.map(gradName), ...captureNames];
    const out = await this.runner.run(feeds, fetch.logits ? [...names, 'logits'] : names);
    const grads = new Map(this.options.trainable.map((p) => [p, out[gradName(p)]]));
    const captures = Object.fromEntries(captureNames.map((n) => [n, out[n]]));
    return { loss: Number(out[LOSS_OUTPUT].data[0]), targets, grads, captures, logits: out.logits };
  }

  /** The loss alone (fetching no gradients). */
  async loss(batch: TrainingBatch): Promise<number> {
    const out = await this.runner.run(this.feeds(batch).feeds, [LOSS_OUTPUT]);
    return Number(out[LOSS_OUTPUT].data[0]);
  }

  async release(): Promise<void> {
    await this.runner.release();
  }
}

/** Plain SGD, in place: p -= lr * grad for every parameter that has a gradient. */
export function sgdStep(params: ParamStore, grads: ReadonlyMap<string, HostTensor>, lr: number): void {
  for (const [name, grad] of grads) {
    const p = params.get(name);
    if (!p) throw new Error(`sgdStep: no parameter "${name}"`);
    const data = p.data as Float32Array;
    const g = grad.data as Float32Array;
    if (g.length !== data.length) throw new Error(`sgdStep: gradient of "${name}" has ${g.length} entries, the parameter ${data.length}`);
    for (let i = 0; i < data.length; i++) data[i] -= lr * g[i];
  }
}

/** The first non-finite entry among the loss and gradients, described, or undefined when all are finite. */
export function nonFinite(result: Pick<StepResult, 'loss' | 'grads'>): string | undefined {
  if (!Number.isFinite(result.loss)) return `the loss is ${result.loss}`;
  for (const [name, grad] of result.grads) {
    const data = grad.data as Float32Array;
    for (let i = 0; i < data.length; i++) {
      if (!Number.isFinite(data[i])) return `the gradient of ${name} has ${data[i]} at entry ${i}`;
    }
  }
  return undefined;
}
