import { describe, it, expect } from 'vitest';
import { parseTrainConfig } from '../../src/pipeline/training/train-config.ts';
import { dataAt } from '../../src/pipeline/training/trainer.ts';
import { streamDescription } from '../../src/pipeline/training/model-card.ts';
import { sinusoidalPositions } from '../../src/pipeline/training/position-init.ts';
import { buildWorld, DEFAULT_WORLD } from '../../src/pipeline/tasks/synthetic-world.ts';
import { samplePretrainingSequence } from '../../src/pipeline/tasks/synthetic-tasks.ts';
import { Rng } from '../../src/pipeline/util/random.ts';
import { createHash } from 'node:crypto';
import { encodeRepeatedText } from '../../src/pipeline/training/corpus.ts';
import { tokenizerFromJson } from '../../src/pipeline/models/tokenizer.ts';
import type { TokenPolicy } from '../../src/pipeline/models/family.ts';

const base = {
  id: 'recipe', seed: 1,
  model: { n_layer: 1, n_head: 2, n_embd: 16, n_positions: 64 },
  world: { seed: 3, clusters: 8, wordsPerCluster: 2, fillerWords: 2 },
  optimizer: { peakLr: 1e-3, warmupSteps: 1, totalSteps: 10, minLrRatio: 0.1 },
  batchSize: 2,
  eval: { every: 5, examplesPerTask: 2, demos: 2, contextOnlyExamples: 2 },
  checkpointEvery: 5,
};

describe('training recipe options', () => {
  it('a curriculum first phase overrides the data options until its last step, then the stream proper runs', () => {
    const config = parseTrainConfig({
      ...base,
      data: {
        contextOnlyShare: 0.5, minDemos: 2, maxDemos: 4, maxTokens: 64, bareShare: 0.1,
        firstPhase: { steps: 3, contextOnlyShare: 0.9, bareShare: 1, contextOnlySentence: { maxWords: 1, fillerRate: 0 } },
      },
    }, 'recipe');
    for (const step of [0, 2]) {
      const d = dataAt(config, step);
      expect([d.contextOnlyShare, d.bareShare, d.contextOnlySentence?.maxWords, d.minDemos]).toEqual([0.9, 1, 1, 2]);
    }
    for (const step of [3, 9]) {
      const d = dataAt(config, step);
      expect([d.contextOnlyShare, d.bareShare, d.contextOnlySentence]).toEqual([0.5, 0.1, undefined]);
    }
  });

  it('the loss targets are validated and the model card names them', () => {
    const data = { contextOnlyShare: 0.5, minDemos: 2, maxDemos: 3, maxTokens: 64 };
    const all = parseTrainConfig({ ...base, data: { ...data, lossOn: 'all-tokens' } }, 'all.json');
    expect(streamDescription(all)).toContain('The loss counts every next token');
    expect(streamDescription(parseTrainConfig({ ...base, data }, 'labels.json'))).not.toContain('every next token');
    expect(() => parseTrainConfig({ ...base, data: { ...data, lossOn: 'everything' } }, 'bad.json')).toThrow(/bad\.json: .*data\.lossOn/);
  });

  it('rejects a first phase without steps, naming the field', () => {
    expect(() => parseTrainConfig({ ...base, data: { contextOnlyShare: 0.5, minDemos: 2, maxDemos: 4, maxTokens: 64, firstPhase: { bareShare: 1 } } }, 'recipe'))
      .toThrow(/firstPhase/);
  });

  it('bare context-only sequences drop the template words and keep one label set per sequence', () => {
    const world = buildWorld(DEFAULT_WORLD);
    const rng = new Rng(4);
    let bare = 0;
    for (let i = 0; i < 200; i++) {
      const seq = samplePretrainingSequence(world, rng, { contextOnlyShare: 1, minDemos: 4, maxDemos: 8, bareShare: 0.5, mixKnownAndNovel: true });
      const isBare = seq.demos.every((d) => !/:/.test(d.input));
      if (!isBare) continue;
      bare++;
      for (const d of seq.demos) expect(d.input, 'a bare input is the sentence alone, led by a space').toMatch(/^( [a-z]+)+$/);
      const labelSets = [['Negative', 'Positive'], ['terrible', 'bad', 'neutral', 'good', 'great'], ['objective', 'subjective'], ['World', 'Sports', 'Business', 'Technology']];
      const labels = new Set(seq.demos.map((d) => d.label));
      expect(labelSets.some((set) => [...labels].every((l) => set.includes(l))), [...labels].join()).toBe(true);
    }
    expect(bare).toBeGreaterThan(60);
    expect(bare).toBeLessThan(140);
  });

  it('sinusoidal position starts have the asked scale, and their dot products depend on distance only', () => {
    const pe = sinusoidalPositions(64, 16, 0.02);
    const row = (p: number) => Array.from(pe.data.slice(p * 16, (p + 1) * 16) as Float32Array);
    const rms = Math.sqrt(row(5).reduce((a, x) => a + x * x, 0) / 16);
    expect(rms).toBeCloseTo(0.02, 6);
    const dot = (a: number[], b: number[]) => a.reduce((s, x, i) => s + x * b[i], 0);
    expect(dot(row(10), row(13))).toBeCloseTo(dot(row(40), row(43)), 8);
    expect(dot(row(10), row(11))).toBeGreaterThan(dot(row(10), row(30)));
  });

  it('repeated text: a string of world words said twice, the loss only where copying predicts the token', () => {
    const world = buildWorld(DEFAULT_WORLD);
    const tokenizer = tokenizerFromJson(world.tokenizerJson as unknown as Record<string, unknown>, {}, { jsonPath: 'world', configPath: 'world' });
    const policy: TokenPolicy = { bosTokenId: 7, demoSeparator: { kind: 'text', text: '\n' }, description: 'test' };
    const rng = new Rng(8);
    for (let i = 0; i < 50; i++) {
      const { ids, targetMask } = encodeRepeatedText(world, rng, policy, tokenizer, 64);
      expect(ids[0]).toBe(7);
      const n = (ids.length - 1) / 2;
      expect(Number.isInteger(n) && n >= 2, `${ids.length}`).toBe(true);
      expect(ids.slice(1 + n)).toEqual(ids.slice(1, 1 + n));
      expect(ids.length).toBeLessThanOrEqual(64);
      // Targets: ids[t + 1] for t = 0..len-2; true exactly for the repeat's tokens after its first.
      expect(targetMask.map((m, t) => (m ? t + 1 : -1)).filter((t) => t >= 0)).toEqual(Array.from({ length: n - 1 }, (_, j) => n + 2 + j));
    }
  });

  it('the first recipe\'s stream is unchanged draw for draw by the new options (the shipped models resume exactly)', () => {
    // The hash was computed with the stream's code before any of the new options existed (commit 890d3f1).
    const world = buildWorld(DEFAULT_WORLD);
    const rng = new Rng(12345);
    const h = createHash('sha256');
    for (let i = 0; i < 500; i++) h.update(JSON.stringify(samplePretrainingSequence(world, rng, { contextOnlyShare: 0.75, minDemos: 4, maxDemos: 24 })));
    expect(h.digest('hex').slice(0, 16)).toBe('3e6f61dee34d6dc9');
  });
});
