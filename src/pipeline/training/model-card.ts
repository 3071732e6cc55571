// The card of an embedded model: card.json (read by the report, schema in report/model-card.ts) and README.md
// (for people), both written from the recipe, the world and the measured training curve, never by hand.

import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import type { ParamStore } from '../models/family.ts';
import { writeFileDurably } from '../models/safetensors.ts';
import { parseModelCard } from '../report/model-card.ts';
import type { World } from '../tasks/synthetic-world.ts';
import { syntheticTasks } from '../tasks/synthetic-tasks.ts';
import type { TrainConfig } from './train-config.ts';
import type { CurvePoint } from './trainer.ts';

const mean = (r: Record<string, number>) => Object.values(r).reduce((a, b) => a + b, 0) / Object.values(r).length;
const pct = (x: number) => `${(100 * x).toFixed(1)}%`;

export function parameterCount(params: ParamStore): number {
  let n = 0;
  for (const t of params.values()) n += t.data.length;
  return n;
}

export function worldDescription(world: World): string {
  const c = world.config;
  return (
    `Synthetic world (seed ${c.seed}): ${c.clusters} clusters of ${c.wordsPerCluster} pseudo-words (half "known", ` +
    `with fixed attributes taught by canonical mappings in pretraining; half "novel", only ever labelled (or, in the ` +
    `relation task, paired) at random per sequence) and ${c.fillerWords} filler words; the paper's six prompt ` +
    'templates and label words; a GPT-2 byte-level tokenizer in which every word is one token.'
  );
}

/** How the pretraining stream mixes in-weights and in-context knowledge, and how positions start. */
export function streamDescription(config: TrainConfig): string {
  const stream = config.data.mixKnownAndNovel
    ? 'Mixed stream: the canonical single-sentence sequences mix known clusters (canonical classes) with one novel ' +
      'cluster per class whose class is drawn afresh for the sequence, as the evaluation tasks do; relation sequences ' +
      'take half their examples from one novel premise cluster, its partner and an unrelated novel cluster, drawn ' +
      'afresh for the sequence; context-only sequences relabel novel clusters only. One rule fits every sequence: a ' +
      'known cluster keeps its class and partner, a novel one takes the class (or partner) its demonstrations show.'
    : 'First stream: canonical sequences hold known clusters only; context-only sequences relabel any cluster, known ones included.';
  const positions =
    config.model.positionInit === 'sinusoidal'
      ? ' Position embeddings are learned but start as sinusoids (same scale as the usual random start), so attending ' +
        'to the last few tokens is easy from the first step.'
      : '';
  const loss =
    config.data.lossOn === 'all-tokens'
      ? ' The loss counts every next token (template words, sentence words, labels), as a language model learns; ' +
        'with label tokens alone no recipe tried here learnt in context within 10000 steps.'
      : '';
  return stream + loss + positions;
}

export async function writeModelCard(
  dir: string,
  config: TrainConfig,
  world: World,
  params: ParamStore,
  curve: CurvePoint[],
  elapsedSeconds: number,
): Promise<void> {
  const final = curve[curve.length - 1]?.eval;
  const parameters = parameterCount(params);
  const card = parseModelCard({
    displayName: `icl-lab ${config.id}`,
    family: 'GPT-2',
    parameters,
    layers: config.model.n_layer,
    heads: config.model.n_head,
    dModel: config.model.n_embd,
    description:
      `Trained from scratch by icl-lab on its synthetic world in ${(elapsedSeconds / 60).toFixed(1)} minutes on this ` +
      `project's CPU machine (seed ${config.seed}, ${config.optimizer.totalSteps} steps).` +
      (final ? ` Final mean accuracy over the six tasks: ZSL ${pct(mean(final.zsl))}, ICL ${pct(mean(final.icl))}.` : ''),
    source: 'embedded',
    trainingCurve: curve.map((p) => ({
      step: p.step,
      loss: p.loss,
      ...(p.eval ? { zslAcc: mean(p.eval.zsl), iclAcc: mean(p.eval.icl) } : {}),
    })),
  });
  await writeFileDurably(join(dir, 'card.json'), `${JSON.stringify(card, null, 1)}\n`);

  const tasks = syntheticTasks(world);
  const lines = [
    `# icl-lab ${config.id}`,
    '',
    'A small GPT-2 (Hugging Face GPT-2 folder format) trained from scratch by icl-lab, so that the report has',
    'offline subjects whose in-context learning was made to emerge on purpose. It is not a language model of English.',
    '',
    '## The world',
    '',
    worldDescription(world),
    '',
    '| task | shaped like | template | label words | what is new at evaluation |',
    '|---|---|---|---|---|',
    ...tasks.map((t) => `| ${t.id} | ${t.shapedLike} | \`${t.template.input}\` | ${t.template.labelWords.join(', ')} | ${t.novelty} |`),
    '',
    '## Recipe',
    '',
    `${config.model.n_layer} layers, d_model ${config.model.n_embd}, ${config.model.n_head} heads, ${config.model.n_positions} positions; ` +
      `${parameters.toLocaleString('en-US')} parameters. AdamW (peak lr ${config.optimizer.peakLr}, ${config.optimizer.warmupSteps} warmup ` +
      `steps, cosine to ${config.optimizer.minLrRatio} of the peak, weight decay ${config.optimizer.weightDecay}, clip ${config.optimizer.clip}), ` +
      `batch ${config.batchSize} sequences of at most ${config.data.maxTokens} tokens, ${config.optimizer.totalSteps} steps, ` +
      `loss on ${config.data.lossOn === 'all-tokens' ? 'every token' : 'label tokens only'}; ${pct(config.data.contextOnlyShare)} of sequences ` +
      `draw their mapping afresh. Seed ${config.seed}.`,
    '',
    streamDescription(config),
    '',
    `Training time here: ${(elapsedSeconds / 60).toFixed(1)} minutes of wall time over all its runs (ONNX Runtime, on a ` +
      `machine with ${availableParallelism()} CPU cores; other work running at the same time counts in it).`,
    '',
    '## Final accuracies (training-time probe)',
    '',
    final
      ? [
          '| task | ZSL | ICL |',
          '|---|---|---|',
          ...Object.keys(final.zsl).map((id) => `| ${id} | ${pct(final.zsl[id])} | ${pct(final.icl[id])} |`),
          `| context-only sequences | | ${pct(final.contextOnly)} |`,
        ].join('\n')
      : 'No evaluation was recorded.',
    '',
    `Probe: ${config.eval.examplesPerTask} test examples per task, ${config.eval.demos} demonstrations; the report's own`,
    'numbers come from the experiment protocol, not from this probe.',
    '',
  ];
  await writeFileDurably(join(dir, 'README.md'), lines.join('\n'));
}
