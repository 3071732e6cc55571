import { describe, it, expect } from 'vitest';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatAnswer, formatInput } from '../../src/pipeline/tasks/task.ts';
import { loadUserTask, TaskFileError } from '../../src/pipeline/tasks/user-task.ts';
import { findTaskProvider, loadTask } from '../../src/pipeline/tasks/registry.ts';

async function setup(files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'icl-lab-user-'));
  for (const [name, text] of Object.entries(files)) await writeFile(join(dir, name), text);
  return dir;
}

const TASK = {
  name: 'Toy sentiment',
  template: 'Review: {text} Sentiment:',
  labelWords: ['Negative', 'Positive'],
  train: 'train.jsonl',
  eval: 'eval.csv',
};

describe('user tasks', () => {
  it('loads JSONL and CSV data with word, name or index labels', async () => {
    const dir = await setup({
      'toy.json': JSON.stringify({ ...TASK, labels: ['neg', 'pos'] }),
      'train.jsonl': '{"text": "loved it", "label": "pos"}\n\n{"text": "meh", "label": 0}\n{"text": "fine", "label": "1", "extra": 3}\n',
      'eval.csv': 'text,label\n"great, really",pos\nawful,neg\n',
    });
    const task = await loadUserTask(join(dir, 'toy.json'));
    expect(task.spec).toMatchObject({ id: 'user-toy', name: 'Toy sentiment', fields: ['text'], labelWords: ['Negative', 'Positive'] });
    expect(task.train).toEqual([
      { id: 'train:0', fields: { text: 'loved it' }, label: 1 },
      { id: 'train:1', fields: { text: 'meh' }, label: 0 },
      { id: 'train:2', fields: { text: 'fine' }, label: 1 },
    ]);
    expect(task.eval.map((e) => [e.fields.text, e.label])).toEqual([['great, really', 1], ['awful', 0]]);
    expect(formatInput(task.spec, task.eval[0]) + formatAnswer(task.spec, 1)).toBe('Review: great, really Sentiment: Positive');
  });

  it('names the file and line of a malformed JSONL row, a missing field and an unknown label', async () => {
    const cases: Array<[string, RegExp]> = [
      ['{"text": "a", "label": 0}\n{"text": "b", "label": 1\n', /train\.jsonl: line 2: not valid JSON/],
      ['{"text": "a", "label": 0}\n\n{"txt": "b", "label": 1}\n', /train\.jsonl: line 3: missing field "text" \(the row has: txt, label\)/],
      ['{"text": "a", "label": "Neutral"}\n', /train\.jsonl: line 1: unknown label "Neutral" in field "label"; use one of "Negative", "Positive" or a class index 0\.\.1/],
      ['{"text": "a", "label": 2}\n', /line 1: unknown label 2/],
      ['{"text": "a"}\n', /line 1: missing label field "label"/],
      ['{"text": 5, "label": 0}\n', /line 1: field "text" must be text, got 5/],
      ['[1, 2]\n', /line 1: each line must be a JSON object, got an array/],
      ['', /train\.jsonl: has no examples/],
    ];
    for (const [train, re] of cases) {
      const dir = await setup({ 'toy.json': JSON.stringify(TASK), 'train.jsonl': train, 'eval.csv': 'text,label\na,0\n' });
      const err = await loadUserTask(join(dir, 'toy.json')).catch((e) => e);
      expect(err, train).toBeInstanceOf(TaskFileError);
      expect(err.message).toMatch(re);
      expect(err.message).toContain(join(dir, 'train.jsonl'));
    }
  });

  it('names the row of a bad CSV record', async () => {
    const dir = await setup({
      'toy.json': JSON.stringify(TASK),
      'train.jsonl': '{"text": "a", "label": 0}\n',
      'eval.csv': 'text,label\nfine,Positive\nbad,Maybe\n',
    });
    await expect(loadUserTask(join(dir, 'toy.json'))).rejects.toThrow(/eval\.csv: row 2 \(line 3\): unknown label "Maybe"/);
    await writeFile(join(dir, 'eval.csv'), 'text,label\nfine,1,extra\n');
    await expect(loadUserTask(join(dir, 'toy.json'))).rejects.toThrow(/eval\.csv: malformed CSV: .*/);
  });

  it('checks the task file itself', async () => {
    const check = async (task: unknown, re: RegExp) => {
      const dir = await setup({ 'toy.json': typeof task === 'string' ? task : JSON.stringify(task) });
      await expect(loadUserTask(join(dir, 'toy.json'))).rejects.toThrow(re);
    };
    await check('{"name": ', /toy\.json: not valid JSON/);
    await check({ ...TASK, labelWords: ['Only'] }, /toy\.json: labelWords: Too small/i);
    await check({ ...TASK, template: 'Review: {review} Sentiment:', textFields: ['text'] }, /template uses \{review\}, which is not among the fields/);
    await check({ ...TASK, labelWords: ['A', 'A'] }, /label word "A" appears twice/);
    await check({ ...TASK, labels: ['x'] }, /"labels" has 1 values but "labelWords" has 2/);
    await check({ ...TASK, colour: 'blue' }, /colour/);
    await check({ ...TASK, train: 'missing.jsonl' }, /missing\.jsonl: cannot read the data file \(ENOENT\)/);
  });

  it('goes through the task registry with a file; unknown ids list what exists', async () => {
    const dir = await setup({
      'toy.json': JSON.stringify(TASK),
      'train.jsonl': '{"text": "a", "label": 0}\n',
      'eval.csv': 'text,label\nb,1\n',
    });
    const task = await loadTask('user-toy', { file: join(dir, 'toy.json') });
    expect(task.eval[0].label).toBe(1);
    const unknown = findTaskProvider('sst-2');
    expect('error' in unknown && unknown.error).toMatch(/unknown task "sst-2"; known tasks are the paper's tasks \(sst2, sst5, mr, subj, agnews, cb\)/);
    const noFile = findTaskProvider('user-toy');
    expect('error' in noFile && noFile.error).toMatch(/needs "file"/);
  });
});
