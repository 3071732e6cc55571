import { describe, it, expect } from 'vitest';
import { buildWorld, DEFAULT_WORLD, TEMPLATES } from '../../src/pipeline/tasks/synthetic-world.ts';
import { formatInput, samplePretrainingSequence, syntheticTasks } from '../../src/pipeline/tasks/synthetic-tasks.ts';
import { tokenizerFromJson } from '../../src/pipeline/models/tokenizer.ts';
import { Rng } from '../../src/pipeline/util/random.ts';

const world = buildWorld(DEFAULT_WORLD);
const tokenizer = tokenizerFromJson(world.tokenizerJson as unknown as Record<string, unknown>, {}, { jsonPath: 'world', configPath: 'world' });

describe('synthetic world', () => {
  it('is deterministic from its seed and changes with it', () => {
    const again = buildWorld(DEFAULT_WORLD);
    expect(again.clusters.map((c) => c.words)).toEqual(world.clusters.map((c) => c.words));
    expect(JSON.stringify(again.tokenizerJson)).toBe(JSON.stringify(world.tokenizerJson));
    const other = buildWorld({ ...DEFAULT_WORLD, seed: DEFAULT_WORLD.seed + 1 });
    expect(other.clusters[0].words).not.toEqual(world.clusters[0].words);
  });

  it('makes every content, filler, template and label word a single token of its real tokenizer.json', () => {
    expect(world.wordToken.size).toBeGreaterThan(400);
    for (const [word, id] of world.wordToken) expect(tokenizer.encode(` ${word}`), word).toEqual([id]);
    for (const t of Object.values(TEMPLATES)) for (const w of t.labelWords) expect(tokenizer.encode(` ${w}`).length, w).toBe(1);
    const text = 'Sentence: bami tolu Label: Positive\nReview: x';
    expect(tokenizer.decode(tokenizer.encode(text))).toBe(text);
  });

  it('has six evaluation tasks shaped like the paper\'s, half of them solvable zero-shot by design', () => {
    const tasks = syntheticTasks(world);
    expect(tasks.map((t) => t.shapedLike)).toEqual(['SST-2', 'SST-5', 'MR', 'Subj', 'AGNews', 'CB']);
    expect(tasks.filter((t) => t.zeroShot === 'above chance').length).toBe(4);
    const rng = new Rng(1);
    for (const t of tasks) {
      const counts = new Array(t.template.labelWords.length).fill(0);
      for (let i = 0; i < 600; i++) {
        const ex = t.sample(rng);
        counts[ex.label]++;
        expect(formatInput(t.template, ex.fields)).not.toMatch(/[{}]/);
      }
      // Every class occurs, none dominates.
      for (const c of counts) expect(c, `${t.id} ${counts}`).toBeGreaterThan(600 / t.template.labelWords.length / 3);
    }
  });

  it('novel clusters never get a fixed class in pretraining; context-only queries are answerable from the context', () => {
    const rng = new Rng(2);
    for (let i = 0; i < 300; i++) {
      const seq = samplePretrainingSequence(world, rng);
      const query = seq.demos[seq.demos.length - 1];
      if (seq.contextOnly) {
        expect(seq.demos.slice(0, -1).some((d) => d.label === query.label)).toBe(true);
      } else {
        const novelWords = new Set(world.clusters.filter((c) => !c.known).flatMap((c) => c.words));
        for (const d of seq.demos) for (const w of d.input.split(/[\s.,?:]+/)) expect(novelWords.has(w), w).toBe(false);
      }
    }
  });
});
