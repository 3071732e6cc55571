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

  it('mixed stream: known clusters keep their canonical class, novel clusters one class per sequence, never a fixed one', () => {
    const rng = new Rng(3);
    const wordCluster = new Map(world.clusters.flatMap((c) => c.words.map((w) => [w, c] as const)));
    const tasks = syntheticTasks(world);
    // SST-2 and SST-5 share their template: the label word tells them apart.
    const taskOf = (d: { input: string; label: string }) =>
      tasks.find((t) => t.id !== 'synthetic-relation3' && d.input.startsWith(t.template.input.split('{')[0]) && t.template.labelWords.includes(d.label));
    const novelLabels = new Map<number, Set<string>>(); // across sequences: a novel cluster must not keep one class
    let mixedCanonical = 0;
    for (let i = 0; i < 400; i++) {
      const seq = samplePretrainingSequence(world, rng, { contextOnlyShare: 0.4, minDemos: 4, maxDemos: 12, mixKnownAndNovel: true });
      const perSequence = new Map<number, string>();
      for (const d of seq.demos) {
        const clusters = [...new Set(d.input.split(/[\s.,?:]+/).flatMap((w) => wordCluster.get(w) ?? []))];
        if (clusters.length !== 1) continue; // relation pairs hold two clusters
        const c = clusters[0];
        if (seq.contextOnly) expect(c.known, `context-only sequences relabel novel clusters only: ${d.input}`).toBe(false);
        const task = taskOf(d);
        if (c.known && !seq.contextOnly && task) { // (relation pairs from one cluster have no single-sentence task)
          const canonical = task.id === 'synthetic-sentiment2' ? c.polarity : task.id === 'synthetic-ordinal5' ? c.intensity : c.topic;
          expect(d.label, d.input).toBe(task.template.labelWords[canonical]);
        }
        if (!c.known) {
          if (!seq.contextOnly) mixedCanonical++;
          expect(perSequence.get(c.id) ?? d.label, `one class per novel cluster within a sequence: ${d.input}`).toBe(d.label);
          perSequence.set(c.id, d.label);
          if (!novelLabels.has(c.id)) novelLabels.set(c.id, new Set());
          novelLabels.get(c.id)!.add(d.label);
        }
      }
    }
    expect(mixedCanonical).toBeGreaterThan(100);
    const fixed = [...novelLabels.values()].filter((labels) => labels.size === 1).length;
    expect(fixed / novelLabels.size).toBeLessThan(0.1);
  });

  it('relation3: half its examples from one novel premise cluster, whose partner only the task (not pretraining) fixes', () => {
    const relation = syntheticTasks(world).find((t) => t.id === 'synthetic-relation3')!;
    const rng = new Rng(4);
    const novelPremises = new Set<number>();
    const hypothesisOfLabel = [new Set<number>(), new Set<number>(), new Set<number>()];
    let novel = 0;
    for (let i = 0; i < 600; i++) {
      const ex = relation.sample(rng);
      const [premise, hypothesis] = ex.clusters.map((c) => world.clusters[c]);
      // A pair never mixes a known with a novel cluster, or Neither would be told apart by kind alone.
      expect(hypothesis.known).toBe(premise.known);
      if (premise.known) {
        if (ex.label === 1) expect(hypothesis.id).toBe(premise.partner);
        continue;
      }
      novel++;
      novelPremises.add(premise.id);
      hypothesisOfLabel[ex.label].add(hypothesis.id);
    }
    expect(novel).toBeGreaterThan(600 * 0.4);
    expect(novel).toBeLessThan(600 * 0.6);
    // One premise cluster, and each label has one hypothesis cluster (True: the premise's own), all three distinct:
    // the hypothesis's cluster alone decides the label, so one demonstration with it answers the query.
    expect(novelPremises.size).toBe(1);
    expect(hypothesisOfLabel.map((s) => s.size)).toEqual([1, 1, 1]);
    const [trueH, falseH, neitherH] = hypothesisOfLabel.map((s) => [...s][0]);
    expect(trueH).toBe([...novelPremises][0]);
    expect(new Set([trueH, falseH, neitherH]).size).toBe(3);

    // The mixed stream draws a fresh novel relation per sequence: one novel premise cluster within a sequence, and
    // across sequences a novel cluster meets many partners.
    const wordCluster = new Map(world.clusters.flatMap((c) => c.words.map((w) => [w, c] as const)));
    const clusterOf = (text: string) => [...new Set(text.split(/[\s.,?:]+/).flatMap((w) => wordCluster.get(w) ?? []))];
    const falseLabel = TEMPLATES.cb.labelWords[1];
    const partnersSeen = new Map<number, Set<number>>();
    const stream = new Rng(5);
    for (let i = 0; i < 2400; i++) {
      const seq = samplePretrainingSequence(world, stream, { contextOnlyShare: 0, minDemos: 4, maxDemos: 12, mixKnownAndNovel: true });
      if (!seq.demos[0].input.includes('True, False, or Neither?')) continue;
      const premisesInSequence = new Set<number>();
      for (const d of seq.demos) {
        const [premise, question] = d.input.split('Question:');
        const [p] = clusterOf(premise);
        const [h] = clusterOf(question.split('.')[0]);
        if (p.known) continue;
        premisesInSequence.add(p.id);
        if (d.label !== falseLabel) continue;
        if (!partnersSeen.has(p.id)) partnersSeen.set(p.id, new Set());
        partnersSeen.get(p.id)!.add(h.id);
      }
      expect(premisesInSequence.size).toBeLessThanOrEqual(1);
    }
    const many = [...partnersSeen.values()].filter((s) => s.size >= 3).length;
    expect(many / partnersSeen.size).toBeGreaterThan(0.5);
  });
});
