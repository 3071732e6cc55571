import { describe, it, expect } from 'vitest';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { byteLevelBpeTokenizerJson, wordLevelTokenizerJson } from '../../src/pipeline/models/tokenizer-json.ts';
import { loadTokenizer } from '../../src/pipeline/models/tokenizer.ts';
import { checkLabelWords } from '../../src/pipeline/tasks/label-words.ts';
import { PAPER_TASKS } from '../../src/pipeline/tasks/paper-tasks.ts';
import { sampleDemonstrations, selectionExamples } from '../../src/pipeline/tasks/splits.ts';
import {
  type Example,
  formatAnswer,
  formatInput,
  hashExamples,
  specProblems,
  type Task,
  taskDataHash,
  templateFields,
} from '../../src/pipeline/tasks/task.ts';

const cb = PAPER_TASKS.cb.spec;

describe('formatting', () => {
  it('fills the template and gives the answer with a leading space', () => {
    const ex: Example = { id: 'validation:0', fields: { premise: 'It rained.', hypothesis: 'The ground is wet' }, label: 2 };
    expect(formatInput(cb, ex)).toBe('It rained. Question: The ground is wet. True, False, or Neither? Answer:');
    expect(formatAnswer(cb, 0)).toBe(' True');
    expect(formatAnswer(cb, 2)).toBe(' Neither');
    expect(() => formatAnswer(cb, 3)).toThrow(/label 3 is out of range/);
    expect(() => formatInput(cb, { id: 'x:1', fields: { premise: 'p' } })).toThrow(/example x:1 has no field "hypothesis"/);
    expect(formatInput({ id: 't', template: 'A {x} {x} {y}' }, { id: 'e', fields: { x: '$&', y: '{x}' } })).toBe('A $& $& {x}');
  });

  it('lists template fields and spec problems', () => {
    expect(templateFields('{premise} Question: {hypothesis}. {premise}')).toEqual(['premise', 'hypothesis']);
    expect(specProblems({ template: 'x {a}', labelWords: ['A', 'A'], fields: ['a'] })).toEqual(['label word "A" appears twice']);
    expect(specProblems({ template: 'x', labelWords: [' A'], fields: [] }).length).toBe(3);
  });

  it('hashes examples by content and order; the data hash ignores the display name', () => {
    const a: Example[] = [
      { id: 'train:0', fields: { text: 'x', other: 'y' }, label: 0 },
      { id: 'train:1', fields: { text: 'z' }, label: 1 },
    ];
    const reordered = [{ id: 'train:0', fields: { other: 'y', text: 'x' }, label: 0 }, a[1]];
    expect(hashExamples(reordered)).toBe(hashExamples(a));
    expect(hashExamples([a[1], a[0]])).not.toBe(hashExamples(a));
    expect(hashExamples([{ ...a[0], label: 1 }, a[1]])).not.toBe(hashExamples(a));
    const task: Task = { spec: PAPER_TASKS.sst5.spec, train: a, eval: a };
    expect(taskDataHash({ ...task, spec: { ...task.spec, name: 'renamed', source: 'elsewhere' } })).toBe(taskDataHash(task));
    expect(taskDataHash({ ...task, spec: { ...task.spec, template: 'S: {text} L:' } })).not.toBe(taskDataHash(task));
    expect(taskDataHash({ ...task, eval: [a[0]] })).not.toBe(taskDataHash(task));
  });
});

describe('checkLabelWords', () => {
  /** A byte-level BPE tokenizer in which " Positive" is one token and " Negative" is " Neg" + "ative". */
  async function tokenizer() {
    const chain = (word: string): Array<[string, string]> => {
      const out: Array<[string, string]> = [];
      for (let i = 1; i < word.length; i++) out.push([word.slice(0, i), word[i]]);
      return out;
    };
    const dir = await mkdtemp(join(tmpdir(), 'icl-lab-tok-'));
    const all = [...chain('ĠPositive'), ...chain('ĠNeg'), ...chain('ative'), ...chain('ĠGood')];
    const merges = all.filter(([l, r], i) => all.findIndex(([l2, r2]) => l2 === l && r2 === r) === i);
    await writeFile(join(dir, 'tokenizer.json'), JSON.stringify(byteLevelBpeTokenizerJson({ merges, specialTokens: ['<|endoftext|>'] })));
    return loadTokenizer(dir);
  }

  it('passes single-token label words and returns their ids', async () => {
    const tok = await tokenizer();
    const r = checkLabelWords({ id: 't', labelWords: ['Positive', 'Good'] }, tok);
    expect(r.singleToken).toBe(true);
    expect(r.tokens).toEqual([[tok.tokenToId('ĠPositive')], [tok.tokenToId('ĠGood')]]);
  });

  it('names a multi-token word and its pieces, or returns sequences with multiToken', async () => {
    const tok = await tokenizer();
    const spec = { id: 'sst2', labelWords: ['Negative', 'Positive'] };
    expect(() => checkLabelWords(spec, tok)).toThrow(
      `task sst2: label word "Negative" (with its leading space) is 2 tokens for this model: [' Neg', 'ative']; ` +
        'choose single-token label words or pass --multi-token-labels to score summed log-probabilities',
    );
    const r = checkLabelWords(spec, tok, { multiToken: true });
    expect(r.singleToken).toBe(false);
    expect(r.tokens).toEqual([[tok.tokenToId('ĠNeg'), tok.tokenToId('ative')], [tok.tokenToId('ĠPositive')]]);
  });

  it('rejects two label words that the model cannot tell apart (both unknown to a word-level vocabulary)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'icl-lab-tok-'));
    const json = wordLevelTokenizerJson({ vocab: ['Yes', 'No'], unkToken: '<unk>', specialTokens: [] });
    await writeFile(join(dir, 'tokenizer.json'), JSON.stringify(json));
    const tok = await loadTokenizer(dir);
    expect(checkLabelWords({ id: 't', labelWords: ['Yes', 'No'] }, tok).tokens).toEqual([[tok.tokenToId('Yes')], [tok.tokenToId('No')]]);
    expect(() => checkLabelWords({ id: 't', labelWords: ['Yes', 'Maybe', 'Perhaps'] }, tok)).toThrow(
      `task t: label words "Maybe" and "Perhaps" give the same tokens ['<unk>'] for this model`,
    );
  });
});

describe('demonstrations and the selection split', () => {
  const train: Example[] = Array.from({ length: 100 }, (_, i) => ({ id: `train:${i}`, fields: { text: `t${i}` }, label: i % 2 }));

  it('draws demonstrations deterministically from the seed', () => {
    const a = sampleDemonstrations(train, 3, 8);
    expect(a.length).toBe(8);
    expect(sampleDemonstrations(train, 3, 8)).toEqual(a);
    expect(sampleDemonstrations(train, 4, 8).map((e) => e.id)).not.toEqual(a.map((e) => e.id));
    expect(sampleDemonstrations(train, 3, 4)).toEqual(a.slice(0, 4)); // a prefix: k only cuts
    expect(train[0].id).toBe('train:0'); // the input is not shuffled in place
    expect(() => sampleDemonstrations(train, 1, 101)).toThrow(/cannot draw 101/);
  });

  it('returns selection examples outside every demonstration pool, deterministically', () => {
    const seeds = [1, 2, 3];
    const pools = new Set(seeds.flatMap((s) => sampleDemonstrations(train, s, 10).map((e) => e.id)));
    const sel = selectionExamples(train, { demoSeeds: seeds, k: 10, n: 20, seed: 5 });
    expect(sel.length).toBe(20);
    for (const e of sel) expect(pools.has(e.id)).toBe(false);
    expect(selectionExamples(train, { demoSeeds: seeds, k: 10, n: 20, seed: 5 })).toEqual(sel);
    const all = selectionExamples(train, { demoSeeds: seeds, k: 10 });
    expect(all.length).toBe(100 - pools.size);
    expect(() => selectionExamples(train, { demoSeeds: seeds, k: 10, n: 99 })).toThrow(/only \d+ train examples are outside/);
  });
});
