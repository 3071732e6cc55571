// The synthetic world's six tasks as ordinary tasks (task.ts) for the experiment protocol: `synthetic-<name>` ids,
// a train split (demonstration pool and selection examples) and an evaluation split, deterministic from the task.
// The splits are disjoint by input text (a hash of the text decides its split), so a test input never appears
// verbatim among the demonstrations, and both splits keep the same mix of sentence lengths.

import { createHash } from 'node:crypto';
import { Rng } from '../util/random.ts';
import type { Example, Task, TaskSpec } from './task.ts';
import { type TaskProvider, registerTaskProvider } from './registry.ts';
import { DEFAULT_WORLD, buildWorld, type World } from './synthetic-world.ts';
import { type TextTokenizer, tokenizerFromJson } from '../models/tokenizer.ts';
import { type SyntheticTask, formatInput, syntheticTasks } from './synthetic-tasks.ts';

export const SYNTHETIC_TRAIN_SIZE = 2000;
export const SYNTHETIC_EVAL_SIZE = 1000;

let defaultWorld: World | undefined;
/** The world every shipped embedded model is trained on. */
export function shippedWorld(): World {
  defaultWorld ??= buildWorld(DEFAULT_WORLD);
  return defaultWorld;
}

/** The special-token settings of a world's tokenizer_config.json: its one special token is BOS and EOS. */
export const WORLD_TOKENIZER_CONFIG = { bos_token: '<|endoftext|>', eos_token: '<|endoftext|>' };

/** A world's tokenizer, built in memory from its tokenizer.json. */
export function worldTokenizer(world: World = shippedWorld()): TextTokenizer {
  return tokenizerFromJson(world.tokenizerJson as unknown as Record<string, unknown>, WORLD_TOKENIZER_CONFIG, {
    jsonPath: `synthetic world ${world.config.seed} tokenizer.json`,
    configPath: `synthetic world ${world.config.seed} tokenizer_config.json`,
  });
}

/** One in five distinct input texts belongs to the evaluation split. */
function isEvalText(text: string): boolean {
  return createHash('sha256').update(text).digest()[0] % 5 === 0;
}

export function syntheticTaskSpec(t: SyntheticTask): TaskSpec {
  const fields = [...t.template.input.matchAll(/\{(\w+)\}/g)].map((m) => m[1]);
  return {
    id: t.id,
    name: `${t.name} (synthetic, shaped like ${t.shapedLike})`,
    source: `icl-lab synthetic world (seed ${DEFAULT_WORLD.seed}); ${t.novelty}`,
    template: t.template.input,
    labelWords: [...t.template.labelWords],
    fields,
  };
}

/** Train and eval examples of a synthetic task, drawn until each split is full. */
export function loadSyntheticTask(id: string, world: World = shippedWorld()): Task {
  const task = syntheticTasks(world).find((t) => t.id === id);
  if (!task) throw new Error(`unknown synthetic task "${id}"; known: ${syntheticTasks(world).map((t) => t.id).join(', ')}`);
  const rng = new Rng(Number.parseInt(createHash('sha256').update(id).digest('hex').slice(0, 8), 16));
  const train: Example[] = [];
  const evaluation: Example[] = [];
  for (let draws = 0; train.length < SYNTHETIC_TRAIN_SIZE || evaluation.length < SYNTHETIC_EVAL_SIZE; draws++) {
    if (draws > 50 * (SYNTHETIC_TRAIN_SIZE + SYNTHETIC_EVAL_SIZE)) throw new Error(`synthetic task ${id}: could not fill its splits`);
    const ex = task.sample(rng);
    const split = isEvalText(formatInput(task.template, ex.fields)) ? evaluation : train;
    const size = split === evaluation ? SYNTHETIC_EVAL_SIZE : SYNTHETIC_TRAIN_SIZE;
    if (split.length < size) split.push({ id: `${split === evaluation ? 'eval' : 'train'}:${split.length}`, fields: ex.fields, label: ex.label });
  }
  return { spec: syntheticTaskSpec(task), train, eval: evaluation };
}

export const syntheticTaskProvider: TaskProvider = {
  name: 'synthetic',
  describeIds: `the synthetic world's tasks (${syntheticTasks(shippedWorld()).map((t) => t.id).join(', ')})`,
  claims: (id) => id.startsWith('synthetic-'),
  problem: (id) => (syntheticTasks(shippedWorld()).some((t) => t.id === id) ? undefined : 'no synthetic task of that name'),
  load: async (id) => loadSyntheticTask(id),
};

registerTaskProvider(syntheticTaskProvider);
