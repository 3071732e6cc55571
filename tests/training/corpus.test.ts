// The pretraining stream's tokens: the piece cache and the encode-once sequence builder give exactly the ids the
// tokenizers library and the plain prompt builder give.

import { describe, it, expect } from 'vitest';
import { buildWorld, DEFAULT_WORLD } from '../../src/pipeline/tasks/synthetic-world.ts';
import { DEFAULT_PRETRAINING, samplePretrainingSequence } from '../../src/pipeline/tasks/synthetic-tasks.ts';
import { tokenizerFromJson, withPieceCache, type TextTokenizer } from '../../src/pipeline/models/tokenizer.ts';
import { gpt2Family } from '../../src/pipeline/models/gpt2.ts';
import type { TokenPolicy } from '../../src/pipeline/models/family.ts';
import { answerIds, encodePrompt } from '../../src/pipeline/experiments/prompt.ts';
import { encodePretrainingSequence, pretrainingBatch } from '../../src/pipeline/training/corpus.ts';
import { Rng } from '../../src/pipeline/util/random.ts';

const world = buildWorld(DEFAULT_WORLD);
const special = world.tokenizerJson.added_tokens.map((t) => t.content);
const library = tokenizerFromJson(world.tokenizerJson as unknown as Record<string, unknown>, {}, { jsonPath: 'world', configPath: 'world' });
const eos = world.tokenizerJson.added_tokens[0].id;
const config = gpt2Family.parseConfig({ model_type: 'gpt2', vocab_size: eos + 1, n_positions: 256, n_embd: 16, n_layer: 1, n_head: 2, bos_token_id: eos }, 'x');
const policy = gpt2Family.tokenPolicy(config);

/** The sequence builder as first written: re-encode the whole prompt after dropping each demonstration. */
function reference(rng: Rng, tokenizer: TextTokenizer, p: TokenPolicy, maxTokens: number) {
  const seq = samplePretrainingSequence(world, rng, DEFAULT_PRETRAINING);
  let demos = seq.demos;
  for (;;) {
    const query = demos[demos.length - 1];
    const prompt = encodePrompt(p, tokenizer, demos.slice(0, -1), query.input);
    const ids = [...prompt.ids, ...answerIds(tokenizer, query.label)];
    if (ids.length <= maxTokens || demos.length === 1) {
      const labelStarts = new Set([...prompt.demoSpans.map(([, end]) => end - 1), ids.length - 1]);
      return { ids, targetMask: ids.slice(1).map((_, t) => labelStarts.has(t + 1)), contextOnly: seq.contextOnly };
    }
    demos = demos.slice(1);
  }
}

describe('pretraining tokens', () => {
  it('the piece cache encodes exactly as the tokenizers library', () => {
    const cached = withPieceCache(library, special);
    const texts = [
      'Sentence: bami tolu Label: Positive\nReview: x',
      '  leading spaces, trailing  ',
      'digits 12 345, punctuation?! (x) "y" it\'s we\'ll',
      'tabs\tand\n\nnewlines \n end',
      'unicode: café — ü ✓',
      `special ${special[0]} inside`,
      '',
    ];
    const rng = new Rng(3);
    for (let i = 0; i < 300; i++) {
      const seq = samplePretrainingSequence(world, rng, DEFAULT_PRETRAINING);
      for (const d of seq.demos) texts.push(d.input, ` ${d.label}`);
    }
    // Twice: the second pass reads every piece from the cache.
    for (let pass = 0; pass < 2; pass++) for (const t of texts) expect(cached.encode(t), JSON.stringify(t)).toEqual(library.encode(t));
  });

  it('sequences are encoded once per demonstration, with the ids and label targets of the plain prompt builder', () => {
    const cached = withPieceCache(library, special);
    for (const maxTokens of [256, 60]) {
      const [a, b, c] = [new Rng(7), new Rng(7), new Rng(7)];
      for (let i = 0; i < 150; i++) {
        const expected = reference(a, library, policy, maxTokens);
        expect(encodePretrainingSequence(world, b, policy, library, DEFAULT_PRETRAINING, maxTokens)).toEqual(expected);
        expect(encodePretrainingSequence(world, c, policy, cached, DEFAULT_PRETRAINING, maxTokens)).toEqual(expected);
      }
    }
    // A token separator and no BOS take the same path.
    const other: TokenPolicy = { bosTokenId: undefined, demoSeparator: { kind: 'token', tokenId: eos }, description: '' };
    const [a, b] = [new Rng(8), new Rng(8)];
    for (let i = 0; i < 50; i++) {
      expect(encodePretrainingSequence(world, b, other, library, DEFAULT_PRETRAINING, 100)).toEqual(reference(a, library, other, 100));
    }
    expect(() => pretrainingBatch(world, new Rng(1), policy, library, DEFAULT_PRETRAINING, 2, 5)).toThrow(/a single demonstration needs/);
  });

  it('the loss counts label tokens only by default and every token with lossOn all-tokens, over the same draws', () => {
    const options = { ...DEFAULT_PRETRAINING, mixKnownAndNovel: true, repeatShare: 0.2 };
    const labels = pretrainingBatch(world, new Rng(4), policy, library, options, 24, 256);
    const same = pretrainingBatch(world, new Rng(4), policy, library, { ...options, lossOn: 'labels' }, 24, 256);
    const all = pretrainingBatch(world, new Rng(4), policy, library, { ...options, lossOn: 'all-tokens' }, 24, 256);
    expect(same).toEqual(labels);
    expect(all.sequences).toEqual(labels.sequences);
    labels.targetMask!.forEach((mask, i) => {
      expect(mask.length).toBe(labels.sequences[i].length - 1);
      // Label masks leave most targets out; all-token masks count each one.
      expect(mask.filter(Boolean).length).toBeLessThan(mask.length / 2);
      expect(all.targetMask![i]).toEqual(mask.map(() => true));
    });
  });
});
