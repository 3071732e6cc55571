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
  /**
   * Where logits are computed: at every position ('all', the default), or only at the rows whose next-token target
   * counts ('targets': gathered before the final norm, so the costly output layer, its softmax and their gradients
   * see only those rows). The loss and gradients are the same up to float rounding.
   */
  logits?: 'all' | 'targets';
}

export const LOSS_OUTPUT = 'loss';
export const gradName = (param: string): string => `grad.${param}`;

function graphOptions(options: TrainingOptions): GraphOptions {
  const logits = options.logits === 'targets' ? 'positions' : 'all';
  return { logits, captures: options.captures, trainable: options.trainable, floatType: options.floatType };
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
  /** [batch, time, vocab], when asked for; with `logits: 'targets'`, [batch, n, vocab] at the counted rows (each
   * example's counted positions in order, padded with position 0 whose target does not count). */
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

  /** Feeds for one batch: the forward feeds plus next-token targets and their mask (and, with `logits: 'targets'`,
   * the rows at which logits are computed). */
  feeds(batch: TrainingBatch): { feeds: Record<string, HostTensor>; targets: number } {
    // Per example, the positions whose prediction of the next token counts.
    const counted = batch.sequences.map((seq, b) => {
      const flags = batch.targetMask?.[b];
      if (flags && flags.length !== Math.max(0, seq.length - 1)) {
        throw new Error(`targetMask of example ${b} has ${flags.length} flags; its ${seq.length} tokens have ${seq.length - 1} targets`);
      }
      const list: number[] = [];
      for (let t = 0; t + 1 < seq.length; t++) if (!flags || flags[t]) list.push(t);
      return list;
    });
    const count = counted.reduce((n, list) => n + list.length, 0);
    if (count === 0) throw new Error('the batch has no next-token targets to train on (sequences need at least 2 tokens)');
    const atTargets = this.options.logits === 'targets';
    const feeds = forwardFeeds(this.model, graphOptions(this.options), {
      sequences: batch.sequences,
      // Every example gets as many rows as the one with most targets; the extra rows (position 0) do not count.
      logitPositions: atTargets ? padRows(counted) : undefined,
    });
    const n = batch.sequences.length;
    const rows = atTargets ? Math.max(1, ...counted.map((list) => list.length)) : feeds.input_ids.shape[1];
    const targets = new BigInt64Array(n * rows);
    const mask = new Float64Array(n * rows);
    batch.sequences.forEach((seq, b) => {
      if (atTargets) {
        counted[b].forEach((t, i) => {
          targets[b * rows + i] = BigInt(seq[t + 1]);
          mask[b * rows + i] = 1;
        });
        return;
      }
      for (let t = 0; t + 1 < seq.length; t++) targets[b * rows + t] = BigInt(seq[t + 1]);
      for (const t of counted[b]) mask[b * rows + t] = 1;
    });
    const all = { ...feeds, targets: int64(targets, [n, rows]), target_mask: floatTensor(this.options.floatType ?? 'float32', mask, [n, rows]) };
    return { feeds: all, targets: count };
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

  /**
   * Loss and gradients of the whole batch, computed in groups of examples of similar length (each group padded only
   * to its own longest example), then combined as the target-weighted mean: the same loss and gradients as run()
   * up to float rounding, with less compute spent on padding. Groups are chosen deterministically from the lengths
   * (see planLengthGroups), so the same batch always gives the same numbers. Captures and logits are not returned.
   */
  async runGrouped(batch: TrainingBatch, cost: Partial<GroupCost> = {}): Promise<StepResult> {
    const { dModel } = this.model.config;
    const counts = (b: number) => {
      const flags = batch.targetMask?.[b];
      return flags ? flags.some((f) => f) : batch.sequences[b].length > 1;
    };
    // Groups without a counted target contribute nothing (and a single group is just run()). Attention's share of
    // the cost per token grows with the length; the default crossover (3 d + 128) follows timings on 2 cores.
    const groups = planLengthGroups(batch.sequences.map((s) => s.length), { attentionTokens: 3 * dModel + 128, ...cost })
      .filter((group) => group.some(counts));
    if (groups.length <= 1) return this.run(batch);
    const parts: StepResult[] = [];
    for (const group of groups) {
      parts.push(await this.run({
        sequences: group.map((i) => batch.sequences[i]),
        targetMask: batch.targetMask && group.map((i) => batch.targetMask![i]),
      }));
    }
    const targets = parts.reduce((n, p) => n + p.targets, 0);
    const weights = parts.map((p) => p.targets / targets);
    // Summed in place into the first group's gradients (fresh arrays this session owns), in their float type.
    const grads = new Map<string, HostTensor>();
    for (const name of this.options.trainable) {
      const first = parts[0].grads.get(name)!;
      const sum = first.data as Float32Array | Float64Array;
      const w0 = weights[0];
      for (let i = 0; i < sum.length; i++) sum[i] *= w0;
      for (let k = 1; k < parts.length; k++) {
        const d = parts[k].grads.get(name)!.data as Float32Array | Float64Array;
        const w = weights[k];
        for (let i = 0; i < sum.length; i++) sum[i] += w * d[i];
      }
      grads.set(name, first);
    }
    const loss = parts.reduce((acc, p, k) => acc + weights[k] * p.loss, 0);
    return { loss, targets, grads, captures: {} };
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

/** The cost model of planLengthGroups, in token-equivalents. */
export interface GroupCost {
  /** The length at which attention costs as much as the rest of the model, per token. */
  attentionTokens: number;
  /** The fixed cost of one run, in tokens (default 256). */
  runTokens?: number;
}

/**
 * Split a batch into groups of examples of similar length, to run one by one: indices by decreasing length, cut
 * where the estimated cost falls. A group of n examples padded to length T costs n * T * (1 + T / attentionTokens)
 * token-equivalents (the linear layers grow with T, attention with T^2) plus `runTokens` for the run itself.
 * Deterministic: the plan depends on the lengths alone.
 */
export function planLengthGroups(lengths: readonly number[], cost: GroupCost): number[][] {
  const order = lengths.map((_, i) => i).sort((a, b) => lengths[b] - lengths[a] || a - b);
  const runTokens = cost.runTokens ?? 256;
  const groupCost = (from: number, to: number) => {
    const T = lengths[order[from]];
    return (to - from) * T * (1 + T / cost.attentionTokens) + runTokens;
  };
  // best[i]: cheapest plan for the i longest examples; cut[i]: where its last group starts.
  const best = [0];
  const cut = [0];
  for (let i = 1; i <= order.length; i++) {
    best[i] = Infinity;
    for (let j = 0; j < i; j++) {
      const c = best[j] + groupCost(j, i);
      if (c < best[i]) {
        best[i] = c;
        cut[i] = j;
      }
    }
  }
  const groups: number[][] = [];
  for (let i = order.length; i > 0; i = cut[i]) groups.unshift(order.slice(cut[i], i));
  return groups;
}

/** Lists padded with position 0 to the longest one's length (at least 1). */
function padRows(lists: number[][]): number[][] {
  const n = Math.max(1, ...lists.map((l) => l.length));
  return lists.map((l) => [...l, ...new Array<number>(n - l.length).fill(0)]);
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
