import { describe, it, expect, beforeEach, afterEach } from 'vitest';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parquetWriteBuffer } from 'hyparquet-writer';
import {
  loadPaperTask,
  PAPER_TASKS,
  parquetCachePath,
  parquetUrl,
} from '../../src/pipeline/tasks/paper-tasks.ts';
import { formatAnswer, formatInput, taskDataHash } from '../../src/pipeline/tasks/task.ts';
import { closedPort, FakeHub } from '../hub/fake-hub.ts';

function parquet(columns: Array<{ name: string; data: unknown[]; type: 'STRING' | 'INT64' | 'INT32' }>): Uint8Array {
  return new Uint8Array(parquetWriteBuffer({ columnData: columns as never }));
}

let hub: FakeHub;
let cacheDir: string;
beforeEach(async () => {
  hub = await new FakeHub().start();
  cacheDir = await mkdtemp(join(tmpdir(), 'icl-lab-hubcache-'));
});
afterEach(async () => {
  await hub.stop();
});

/** Serves an SST-2-shaped dataset (glue/sst2) at the hub's parquet-branch paths. */
function serveSst2(): void {
  hub.add(
    '/datasets/glue/resolve/refs/convert/parquet/sst2/train/0000.parquet',
    parquet([
      { name: 'sentence', data: ['a gem of a film', 'dull and long', 'witty', 'a mess'], type: 'STRING' },
      { name: 'label', data: [1n, 0n, 1n, 0n], type: 'INT64' },
      { name: 'idx', data: [0, 1, 2, 3], type: 'INT32' },
    ]),
    { lfs: true },
  );
  hub.add(
    '/datasets/glue/resolve/refs/convert/parquet/sst2/validation/0000.parquet',
    parquet([
      { name: 'sentence', data: ['great fun', 'boring'], type: 'STRING' },
      { name: 'label', data: [1n, 0n], type: 'INT64' },
      { name: 'idx', data: [0, 1], type: 'INT32' },
    ]),
    { lfs: true },
  );
}

describe('paper tasks', () => {
  it('match the code templates and label words of protocol §1.3', () => {
    const t = (id: string) => PAPER_TASKS[id].spec;
    expect(t('sst2')).toMatchObject({ template: 'Sentence: {sentence} Label:', labelWords: ['Negative', 'Positive'], fields: ['sentence'] });
    expect(t('sst5')).toMatchObject({ template: 'Sentence: {text} Label:', labelWords: ['terrible', 'bad', 'neutral', 'good', 'great'] });
    expect(t('mr')).toMatchObject({ template: 'Review: {text} Sentiment:', labelWords: ['Negative', 'Positive'] });
    expect(t('subj')).toMatchObject({ template: 'Input: {text} Type:', labelWords: ['objective', 'subjective'] });
    expect(t('agnews').template).toBe(
      'Classify the news articles into the categories of World, Sports, Business, and Technology. Article: {text} Answer:',
    );
    expect(t('agnews').labelWords).toEqual(['World', 'Sports', 'Business', 'Technology']);
    expect(t('cb')).toMatchObject({
      template: '{premise} Question: {hypothesis}. True, False, or Neither? Answer:',
      labelWords: ['True', 'False', 'Neither'],
      fields: ['premise', 'hypothesis'],
    });
    const h = (id: string) => PAPER_TASKS[id].hub;
    expect([h('sst2').id, h('sst2').config, h('sst2').train.split, h('sst2').eval.split]).toEqual(['glue', 'sst2', 'train', 'validation']);
    expect([h('subj').id, h('subj').eval.split, h('subj').eval.rows]).toEqual(['SetFit/subj', 'test', 2000]);
    expect([h('agnews').id, h('agnews').eval.split, h('agnews').eval.rows]).toEqual(['ag_news', 'test', 7600]);
    expect([h('cb').id, h('cb').config, h('cb').train.rows, h('cb').eval.rows]).toEqual(['super_glue', 'cb', 250, 56]);
    expect([h('sst5').id, h('mr').id]).toEqual(['SetFit/sst5', 'rotten_tomatoes']);
  });

  it('builds hub parquet-branch URLs and cache paths', () => {
    expect(parquetUrl('SetFit/sst5', 'default', 'train', 0, 'https://huggingface.co')).toBe(
      'https://huggingface.co/datasets/SetFit/sst5/resolve/refs%2Fconvert%2Fparquet/default/train/0000.parquet',
    );
    expect(parquetUrl('glue', 'sst2', 'validation', 12, 'http://mirror')).toBe(
      'http://mirror/datasets/glue/resolve/refs%2Fconvert%2Fparquet/sst2/validation/0012.parquet',
    );
    expect(parquetCachePath('/c', 'SetFit/subj', 'default', 'test', 0)).toBe('/c/datasets/SetFit/subj/default/test/0000.parquet');
  });

  it('downloads, reads and formats a task, then loads it again with the hub down', async () => {
    serveSst2();
    const task = await loadPaperTask('sst2', { cacheDir, endpoint: hub.hubUrl, checkRowCounts: false });
    expect(task.train.map((e) => e.id)).toEqual(['train:0', 'train:1', 'train:2', 'train:3']);
    expect(task.train[1]).toEqual({ id: 'train:1', fields: { sentence: 'dull and long' }, label: 0 });
    expect(task.eval.map((e) => e.label)).toEqual([1, 0]);
    expect(formatInput(task.spec, task.eval[0])).toBe('Sentence: great fun Label:');
    expect(formatAnswer(task.spec, task.eval[0].label)).toBe(' Positive');
    const hash = taskDataHash(task);
    const files = (await readdir(join(cacheDir, 'datasets'), { recursive: true })).map(String).sort();
    expect(files).toContain(join('glue', 'sst2', 'train', '0000.parquet'));
    expect(files).toContain(join('glue', 'sst2', 'validation', '0000.parquet.meta.json'));

    await hub.stop();
    const again = await loadPaperTask('sst2', { cacheDir, endpoint: hub.hubUrl, checkRowCounts: false });
    expect(taskDataHash(again)).toBe(hash);
  });

  it('checks row counts against the paper by default', async () => {
    serveSst2();
    await expect(loadPaperTask('sst2', { cacheDir, endpoint: hub.hubUrl })).rejects.toThrow(
      /4 rows, but the paper's SST-2 train split has 67349/,
    );
  });

  it('fails fast offline with the path to pre-seed', async () => {
    const port = await closedPort();
    const err = await loadPaperTask('cb', { cacheDir, endpoint: `http://127.0.0.1:${port}` }).catch((e) => e);
    expect(err.message).toContain('cannot download dataset super_glue (cb/train/0000.parquet)');
    expect(err.message).toContain(`put the file at ${join(cacheDir, 'datasets', 'super_glue', 'cb', 'train', '0000.parquet')}`);
    expect(err.message).toContain('refs%2Fconvert%2Fparquet/cb/train/0000.parquet');
  });

  it('rejects a label outside the task and a label order that differs from the paper', async () => {
    hub.add(
      '/datasets/SetFit/subj/resolve/refs/convert/parquet/default/train/0000.parquet',
      parquet([
        { name: 'text', data: ['the film opens in 1950', 'i loved it'], type: 'STRING' },
        { name: 'label', data: [0n, 1n], type: 'INT64' },
        { name: 'label_text', data: ['subjective', 'objective'], type: 'STRING' },
      ]),
    );
    await expect(loadPaperTask('subj', { cacheDir, endpoint: hub.hubUrl, checkRowCounts: false })).rejects.toThrow(
      /row 0 has label 0 named "subjective", but task subj maps label 0 to "objective"/,
    );
    await rm(join(cacheDir, 'datasets'), { recursive: true });
    hub.add(
      '/datasets/SetFit/subj/resolve/refs/convert/parquet/default/train/0000.parquet',
      parquet([
        { name: 'text', data: ['x', 'y'], type: 'STRING' },
        { name: 'label', data: [0n, -1n], type: 'INT64' },
      ]),
    );
    await expect(loadPaperTask('subj', { cacheDir, endpoint: hub.hubUrl, checkRowCounts: false })).rejects.toThrow(
      /0000\.parquet: row 1 has label "-1"; task subj has labels 0\.\.1 \(-1 marks an unlabelled test split/,
    );
  });
});
