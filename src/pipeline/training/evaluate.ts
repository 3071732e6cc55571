// Accuracy of a model on the synthetic world while it trains: zero-shot and in-context on the six evaluation
// tasks, and on context-only sequences (fresh mappings, repeated classes among the demonstrations), whose
// accuracy jumps when an in-context learning circuit forms.

import { Rng } from '../util/random.ts';
import type { TokenPolicy } from '../models/family.ts';
import type { ModelSession } from '../models/forward.ts';
import type { TextTokenizer } from '../models/tokenizer.ts';
import { classify } from '../experiments/classify.ts';
import { answerIds, encodePrompt } from '../experiments/prompt.ts';
import type { World } from '../tasks/synthetic-world.ts';
import { formatInput, samplePretrainingSequence, syntheticTasks } from '../tasks/synthetic-tasks.ts';

export interface WorldEval {
  zsl: Record<string, number>;
  icl: Record<string, number>;
  /** Accuracy on context-only sequences (only the demonstrations can solve them). */
  contextOnly: number;
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

export async function evaluateOnWorld(
  session: ModelSession,
  world: World,
  policy: TokenPolicy,
  tokenizer: TextTokenizer,
  options: {
    examplesPerTask: number; demos: number; contextOnlyExamples: number; maxTokens: number; seed: number;
    /** Draw the context-only probes as the model's stream does (the mixed stream relabels novel clusters only). */
    mixKnownAndNovel?: boolean;
  },
): Promise<WorldEval> {
  const zsl: Record<string, number> = {};
  const icl: Record<string, number> = {};
  const rng = new Rng(options.seed); // the same evaluation draws at every evaluation
  for (const task of syntheticTasks(world)) {
    const labels = task.template.labelWords.map((w) => {
      const ids = answerIds(tokenizer, w);
      if (ids.length !== 1) throw new Error(`label word "${w}" is not a single token`);
      return ids[0];
    });
    const demos = Array.from({ length: options.demos }, () => {
      const ex = task.sample(rng);
      return { input: formatInput(task.template, ex.fields), label: task.template.labelWords[ex.label] };
    });
    const tests = Array.from({ length: options.examplesPerTask }, () => task.sample(rng));
    const gold = tests.map((t) => t.label);
    const inputs = tests.map((t) => formatInput(task.template, t.fields));
    const zslPrompts = inputs.map((x) => encodePrompt(policy, tokenizer, [], x).ids);
    const iclPrompts = inputs.map((x) => {
      let d = demos;
      let ids = encodePrompt(policy, tokenizer, d, x).ids;
      while (ids.length > options.maxTokens && d.length > 0) ids = encodePrompt(policy, tokenizer, (d = d.slice(1)), x).ids;
      return ids;
    });
    const accuracy = (p: number[]) => mean(p.map((y, i) => (y === gold[i] ? 1 : 0)));
    zsl[task.id] = accuracy((await classify(session, zslPrompts, labels)).predictions);
    icl[task.id] = accuracy((await classify(session, iclPrompts, labels)).predictions);
  }
  let correct = 0;
  for (let i = 0; i < options.contextOnlyExamples; i++) {
    let seq;
    do seq = samplePretrainingSequence(world, rng, {
      contextOnlyShare: 1, minDemos: options.demos, maxDemos: options.demos, mixKnownAndNovel: options.mixKnownAndNovel,
    });
    while (!seq.contextOnly);
    const query = seq.demos[seq.demos.length - 1];
    const labelWords = [...new Set(seq.demos.map((d) => d.label))];
    const labels = labelWords.map((w) => answerIds(tokenizer, w)[0]);
    let demos = seq.demos.slice(0, -1);
    let ids = encodePrompt(policy, tokenizer, demos, query.input).ids;
    while (ids.length > options.maxTokens && demos.length > 1) ids = encodePrompt(policy, tokenizer, (demos = demos.slice(1)), query.input).ids;
    const { predictions } = await classify(session, [ids], labels);
    if (labelWords[predictions[0]] === query.label) correct++;
  }
  return { zsl, icl, contextOnly: correct / options.contextOnlyExamples };
}
