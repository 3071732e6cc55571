// The paper's protocol for one (model, task, seed): ZSL, ICL (demonstration prefix computed once and reused), FT
// (SGD on the key/value projections, batch 1, one step per demonstration in order, mean-token LM loss over the whole
// formatted demonstration, training-token queries recorded) and the FT model on the zero-shot prompt — with the
// learning rate chosen on a selection split, never on the test examples. It records, per test example and
// analysis position, what the metrics need; metrics themselves are computed in record.ts.

import type { HostTensor } from '../engine/tensor.ts';
import type { RunnerOptions } from '../engine/runner.ts';
import { type ArchConfig, type ModelFamily, type ParamStore, captureName } from '../models/family.ts';
import { ModelSession, type PastState } from '../models/forward.ts';
import type { TextTokenizer } from '../models/tokenizer.ts';
import { TrainingSession, nonFinite, sgdStep } from '../models/training.ts';
import type { AnalysisPosition } from '../metrics/schema.ts';
import type { Example, Task } from '../tasks/task.ts';
import { formatInput } from '../tasks/task.ts';
import { sampleDemonstrations } from '../tasks/splits.ts';
import { answerIds, encodePrompt, type Demonstration } from './prompt.ts';

export interface ProtocolModel {
  id: string;
  family: ModelFamily;
  config: ArchConfig;
  params: ParamStore;
  tokenizer: TextTokenizer;
}

export interface ProtocolSettings {
  seed: number;
  /** Demonstrations asked for; fewer when they do not fit the context (the paper's rule). */
  k: number;
  positions: readonly AnalysisPosition[];
  /** Test examples, in the evaluation split's order (the first `n`). */
  tests: readonly Example[];
  /** Examples the learning rate is chosen on (train examples outside every demonstration pool). */
  selection: readonly Example[];
  lrGrid: readonly number[];
  /** A fixed learning rate (null models use the real model's); skips the selection. */
  fixedLr?: number;
  batchSize?: number;
  runner?: RunnerOptions;
  log?: (message: string) => void;
}

/** What one setting gives at one analysis position, per layer. */
export interface PositionCapture {
  /** Attention sub-layer output at p*, [layer] -> [d]. */
  attnOut: Float32Array[];
  /** Pre-softmax scores from p* to the query-example tokens, [layer][head] -> [len]. */
  queryScores: Float32Array[][];
  /** Head-summed scores from p* to every demonstration token (ICL only), [layer] -> [N]. */
  demoScores?: Float32Array[];
  /** Query vector at p* (FT model only, for Kendall's dual form), [layer] -> [d]. */
  q?: Float32Array[];
}

export interface SettingResult {
  /** Predicted class per test example. */
  predictions: number[];
  /** Per test example, per analysis position. */
  captures: Array<Record<string, PositionCapture>>;
}

export interface ProtocolResult {
  demos: Demonstration[];
  /** Tokens of each demonstration (input + label), as in the ICL prefix and the FT sequences. */
  demoLengths: number[];
  demoTokens: number[][];
  tests: Example[];
  gold: number[];
  lr: number;
  /** Selection accuracy of the FT model per learning rate (null: that rate diverged). */
  lrSelection: Array<{ lr: number; accuracy: number | null }>;
  zsl: SettingResult;
  icl: SettingResult;
  ft: SettingResult;
  /** FT training queries of every demonstration token, [layer] -> [N] vectors of d (BOS excluded). */
  trainQueries: Float32Array[][];
  ftLosses: number[];
  /** Wall-clock seconds of each phase (not part of any cache key). */
  timings: { selection: number; zsl: number; icl: number; ft: number; ftZsl: number };
}

const CAPTURES = ['attn.out', 'attn.scores', 'attn.q'] as const;

/** The label word tokens; every label must be a single token (checked before the run). */
export function labelTokens(task: Task, tokenizer: TextTokenizer): number[] {
  return task.spec.labelWords.map((w) => {
    const ids = answerIds(tokenizer, w);
    if (ids.length !== 1) throw new Error(`label word "${w}" of task ${task.spec.id} is ${ids.length} tokens for this model`);
    return ids[0];
  });
}

/** The paper's fitting rule: demonstrations in order while prefix + demo + the longest test sequence fit. */
export function fitDemonstrations(
  model: ProtocolModel,
  demos: readonly Demonstration[],
  testInputs: readonly string[],
): Demonstration[] {
  const policy = model.family.tokenPolicy(model.config);
  // The longest test continuation: its input tokens plus the (single-token) candidate label.
  const longestTest = Math.max(...testInputs.map((x) => model.tokenizer.encode(x).length)) + 1;
  const kept: Demonstration[] = [];
  for (const d of demos) {
    const prefix = encodePrompt(policy, model.tokenizer, [...kept, d], '').ids.length;
    if (prefix + longestTest > model.config.maxPositions) break;
    kept.push(d);
  }
  return kept;
}

function slice(t: HostTensor, start: number, length: number): Float32Array {
  return Float32Array.from((t.data as Float32Array).subarray(start, start + length));
}

/**
 * Runs a model on prompts that each end with the first candidate label token, and captures everything the metrics
 * need at the analysis positions. `queryStart` is where the query example starts in absolute positions.
 */
class AnalysisSession {
  readonly session: ModelSession;
  readonly live: ParamStore;
  readonly kvNames: string[];
  private readonly base: ParamStore;

  private constructor(session: ModelSession, live: ParamStore, base: ParamStore, kvNames: string[]) {
    this.session = session;
    this.live = live;
    this.base = base;
    this.kvNames = kvNames;
  }

  static async create(model: ProtocolModel, runner: RunnerOptions | undefined): Promise<AnalysisSession> {
    const kvNames = model.family.kvParamNames(model.config);
    // K/V are graph inputs, so the same session evaluates the base model and every finetuned one.
    const live: ParamStore = new Map(model.params);
    const session = await ModelSession.create(
      { family: model.family, config: model.config, params: live },
      { logits: 'positions', captures: CAPTURES, capturePositions: true, withPast: true, trainable: kvNames },
      runner,
    );
    return new AnalysisSession(session, live, model.params, kvNames);
  }

  /** Use these K/V parameters (a finetuned model) for the next runs; undefined: the base model's. */
  useKv(kv: ParamStore | undefined): void {
    for (const name of this.kvNames) this.live.set(name, (kv ?? this.base).get(name)!);
  }

  async prefix(ids: number[]): Promise<PastState> {
    const { present } = await this.session.forward({ sequences: [ids], capturePositions: [[0]], logitPositions: [[0]], fetch: [] });
    return present!;
  }

  /**
   * Sequences = query tokens + the first candidate label token. Returns predictions (from the position before the
   * label token) and captures at the analysis positions.
   */
  async run(
    queries: number[][],
    options: {
      past?: PastState;
      labelIds: number[];
      positions: readonly AnalysisPosition[];
      queryStart: number;
      demoPositions?: number[];
      batchSize: number;
      withQ?: boolean;
    },
  ): Promise<SettingResult> {
    const { nLayer, nHead } = this.session.model.config;
    const pastLength = options.past?.length ?? 0;
    const predictions: number[] = [];
    const captures: Array<Record<string, PositionCapture>> = [];
    const fetch = ['logits'];
    for (let l = 0; l < nLayer; l++) {
      fetch.push(captureName(l, 'attn.out'), captureName(l, 'attn.scores'));
      if (options.withQ) fetch.push(captureName(l, 'attn.q'));
    }
    for (let start = 0; start < queries.length; start += options.batchSize) {
      const batch = queries.slice(start, start + options.batchSize).map((q) => [...q, options.labelIds[0]]);
      // Capture position 0: the last prompt token ('prompt_end'); 1: the first candidate label token ('label_token').
      const capturePositions = batch.map((s) => [s.length - 2, s.length - 1]);
      const { outputs } = await this.session.forward({
        sequences: batch,
        past: options.past,
        capturePositions,
        logitPositions: batch.map((s) => [s.length - 2]),
        fetch,
        returnPresent: false,
      });
      const vocab = outputs.logits.shape[2];
      batch.forEach((seq, b) => {
        const row = (outputs.logits.data as Float32Array).subarray(b * vocab, (b + 1) * vocab);
        let best = 0;
        options.labelIds.forEach((id, j) => {
          if (row[id] > row[options.labelIds[best]]) best = j;
        });
        predictions.push(best);
        const perPosition: Record<string, PositionCapture> = {};
        for (const position of options.positions) {
          const c = position === 'prompt_end' ? 0 : 1;
          const pStar = pastLength + seq.length - 2 + c; // absolute position of p*
          const capture: PositionCapture = { attnOut: [], queryScores: [] };
          if (options.demoPositions) capture.demoScores = [];
          if (options.withQ) capture.q = [];
          for (let l = 0; l < nLayer; l++) {
            const out = outputs[captureName(l, 'attn.out')];
            const d = out.shape[2];
            capture.attnOut.push(slice(out, (b * 2 + c) * d, d));
            const scores = outputs[captureName(l, 'attn.scores')];
            const S = scores.shape[3];
            const heads: Float32Array[] = [];
            const summed = options.demoPositions ? new Float32Array(options.demoPositions.length) : undefined;
            for (let h = 0; h < nHead; h++) {
              const rowStart = ((b * nHead + h) * 2 + c) * S;
              heads.push(slice(scores, rowStart + options.queryStart, pStar - options.queryStart + 1));
              if (summed) options.demoPositions!.forEach((p, i) => (summed[i] += (scores.data as Float32Array)[rowStart + p]));
            }
            capture.queryScores.push(heads);
            if (summed) capture.demoScores!.push(summed);
            if (options.withQ) capture.q!.push(slice(outputs[captureName(l, 'attn.q')], (b * 2 + c) * d, d));
          }
          perPosition[position] = capture;
        }
        captures.push(perPosition);
      });
    }
    return { predictions, captures };
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

/** FT as the paper: SGD on K/V, batch 1, one step per demonstration in order; returns the finetuned K/V. */
async function finetune(
  trainer: TrainingSession,
  ftParams: ParamStore,
  base: ParamStore,
  kvNames: string[],
  sequences: number[][],
  lr: number,
  record: boolean,
): Promise<{ kv: ParamStore; losses: number[]; queries: Float32Array[][] } | undefined> {
  for (const name of kvNames) {
    const t = base.get(name)!;
    ftParams.set(name, { ...t, data: Float32Array.from(t.data as Float32Array) });
  }
  const L = trainer.model.config.nLayer;
  const queries: Float32Array[][] = Array.from({ length: L }, () => []);
  const losses: number[] = [];
  for (const seq of sequences) {
    const step = await trainer.run({ sequences: [seq] });
    if (nonFinite(step)) return undefined; // this learning rate diverges
    losses.push(step.loss);
    if (record) {
      for (let l = 0; l < L; l++) {
        const q = step.captures[captureName(l, 'attn.q')];
        const d = q.shape[2];
        for (let t = 1; t < seq.length; t++) queries[l].push(slice(q, t * d, d)); // skip BOS: demo tokens only
      }
    }
    sgdStep(ftParams, step.grads, lr);
  }
  return { kv: new Map(kvNames.map((n) => [n, ftParams.get(n)!])), losses, queries };
}

export async function runProtocol(model: ProtocolModel, task: Task, settings: ProtocolSettings): Promise<ProtocolResult> {
  const log = settings.log ?? (() => {});
  const batchSize = settings.batchSize ?? 16;
  const policy = model.family.tokenPolicy(model.config);
  if (policy.bosTokenId === undefined) throw new Error(`${model.id}: the protocol needs a BOS token (the FT sequences start with it)`);
  const labelIds = labelTokens(task, model.tokenizer);
  const tests = [...settings.tests];
  const gold = tests.map((e) => e.label);
  const testInputs = tests.map((e) => formatInput(task.spec, e));
  const asDemo = (e: Example): Demonstration => ({ input: formatInput(task.spec, e), label: task.spec.labelWords[e.label] });
  const testTexts = new Set(testInputs);
  const drawn = sampleDemonstrations(task.train, settings.seed, settings.k).map(asDemo);
  const leaked = drawn.find((d) => testTexts.has(d.input));
  if (leaked) throw new Error(`task ${task.spec.id}: the test input "${leaked.input}" is also a demonstration`);
  const demos = fitDemonstrations(model, drawn, testInputs);
  if (demos.length === 0) throw new Error(`${model.id}: not even one demonstration of ${task.spec.id} fits its ${model.config.maxPositions} positions`);
  if (demos.length < drawn.length) log(`${task.spec.id}: ${demos.length} of ${drawn.length} demonstrations fit the context`);

  const prefix = encodePrompt(policy, model.tokenizer, demos, '');
  const demoTokens = prefix.demoSpans.map(([s, e]) => prefix.ids.slice(s, e));
  const demoPositions = prefix.demoSpans.flatMap(([s, e]) => Array.from({ length: e - s }, (_, i) => s + i));
  const queryIds = testInputs.map((x) => model.tokenizer.encode(x));
  const ftSequences = demoTokens.map((t) => [policy.bosTokenId!, ...t]);

  const analysis = await AnalysisSession.create(model, settings.runner);
  const ftParams: ParamStore = new Map(model.params);
  const trainer = await TrainingSession.create(
    { family: model.family, config: model.config, params: ftParams },
    { trainable: analysis.kvNames, captures: ['attn.q'] },
    settings.runner,
  );
  try {
    const common = { labelIds, positions: settings.positions, batchSize };
    // Learning rate: best FT accuracy on the selection split (ties: the smaller rate).
    const clock = { start: performance.now() };
    const lap = () => {
      const now = performance.now();
      const seconds = (now - clock.start) / 1000;
      clock.start = now;
      return seconds;
    };
    let lr = settings.fixedLr;
    const lrSelection: ProtocolResult['lrSelection'] = [];
    if (lr === undefined) {
      const selectionQueries = settings.selection.map((e) => model.tokenizer.encode(formatInput(task.spec, e)));
      let bestAccuracy = -1;
      for (const candidate of [...settings.lrGrid].sort((a, b) => a - b)) {
        const ft = await finetune(trainer, ftParams, model.params, analysis.kvNames, ftSequences, candidate, false);
        if (!ft) {
          lrSelection.push({ lr: candidate, accuracy: null });
          continue;
        }
        analysis.useKv(ft.kv);
        const past = await analysis.prefix([policy.bosTokenId!]); // BOS keys/values depend on the finetuned K/V
        const { predictions } = await analysis.run(selectionQueries, { ...common, past, queryStart: 1, positions: [] });
        const accuracy = predictions.filter((p, i) => p === settings.selection[i].label).length / Math.max(1, predictions.length);
        lrSelection.push({ lr: candidate, accuracy });
        if (accuracy > bestAccuracy) [bestAccuracy, lr] = [accuracy, candidate];
      }
      analysis.useKv(undefined);
      if (lr === undefined) throw new Error(`${model.id} on ${task.spec.id}: FT diverged at every learning rate of the grid`);
      log(`${task.spec.id} seed ${settings.seed}: learning rate ${lr} (selection accuracy ${bestAccuracy.toFixed(3)})`);
    }

    const selectionSeconds = lap();
    // ZSL and ICL on the base model. ZSL = [BOS] + query; the BOS is a 1-token prefix so both share one code path.
    const bosPast = await analysis.prefix([policy.bosTokenId]);
    const zsl = await analysis.run(queryIds, { ...common, past: bosPast, queryStart: 1 });
    const zslSeconds = lap();
    const iclPast = await analysis.prefix(prefix.ids);
    const icl = await analysis.run(queryIds, { ...common, past: iclPast, queryStart: prefix.ids.length, demoPositions });
    const iclSeconds = lap();

    // FT at the chosen rate, recording every training token's queries; then the FT model on the zero-shot prompt.
    const ft = await finetune(trainer, ftParams, model.params, analysis.kvNames, ftSequences, lr, true);
    if (!ft) throw new Error(`${model.id} on ${task.spec.id}: FT at learning rate ${lr} gave a non-finite loss or gradient`);
    const ftSeconds = lap();
    analysis.useKv(ft.kv);
    const ftPast = await analysis.prefix([policy.bosTokenId]);
    const ftRun = await analysis.run(queryIds, { ...common, past: ftPast, queryStart: 1, withQ: true });
    analysis.useKv(undefined);
    return {
      demos, demoLengths: demoTokens.map((t) => t.length), demoTokens, tests, gold, lr, lrSelection,
      zsl, icl, ft: ftRun, trainQueries: ft.queries, ftLosses: ft.losses,
      timings: { selection: selectionSeconds, zsl: zslSeconds, icl: iclSeconds, ft: ftSeconds, ftZsl: lap() },
    };
  } finally {
    await analysis.release();
    await trainer.release();
  }
}
