// Demonstration sampling and the selection split, deterministic from seeds (util/random.ts Rng).
//
// The paper draws its k demonstrations as the first k examples of the train split after a seeded shuffle
// (protocol §1.5), and tunes the ICL seed and FT learning rate on the evaluation set itself (§6.1 item 13). We keep
// selection apart from evaluation: the selection examples are train examples that are in none of the demonstration
// pools (of any seed in the plan), so choosing a seed or learning rate never sees a test example or a demonstration.

import { Rng } from '../util/random.ts';
import type { Example } from './task.ts';

/** The demonstration pool of a seed: the first k train examples after a shuffle with Rng(seed), in that order. */
export function sampleDemonstrations(train: readonly Example[], seed: number, k: number): Example[] {
  if (!Number.isInteger(k) || k < 0) throw new Error(`k must be a non-negative integer, got ${k}`);
  if (k > train.length) throw new Error(`cannot draw ${k} demonstrations from ${train.length} train examples`);
  return new Rng(seed).shuffle([...train]).slice(0, k);
}

export interface SelectionOptions {
  /** Every seed whose demonstration pool must be excluded. */
  demoSeeds: readonly number[];
  /** Demonstrations per seed (the largest k used for the task). */
  k: number;
  /** How many selection examples to return (default: all that remain). */
  n?: number;
  /** Seed of the selection draw (default 0). */
  seed?: number;
}

/**
 * The selection split: train examples outside every seed's demonstration pool, shuffled with Rng(seed) and cut to
 * n. Same inputs, same examples in the same order.
 */
export function selectionExamples(train: readonly Example[], options: SelectionOptions): Example[] {
  const excluded = new Set<string>();
  for (const s of options.demoSeeds) for (const e of sampleDemonstrations(train, s, options.k)) excluded.add(e.id);
  const rest = train.filter((e) => !excluded.has(e.id));
  const n = options.n ?? rest.length;
  if (!Number.isInteger(n) || n < 0) throw new Error(`the selection size must be a non-negative integer, got ${n}`);
  if (n > rest.length) {
    throw new Error(
      `asked for ${n} selection examples, but only ${rest.length} train examples are outside the demonstration pools ` +
        `(${train.length} train, ${excluded.size} used as demonstrations)`,
    );
  }
  return new Rng(options.seed ?? 0).shuffle(rest).slice(0, n);
}
