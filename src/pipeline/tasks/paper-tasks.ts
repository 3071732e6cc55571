// The paper's six datasets, exactly as the paper's code uses them (docs/paper-protocol.md §1.3 code templates, §2):
// hub id and config, demonstration split and evaluation split, the template (temp_index 0) and the label words.
// The data comes from the hub's auto-converted parquet copy (branch refs/convert/parquet,
// `{config}/{split}/NNNN.parquet`), downloaded once into the hub cache:
//   {hubCache}/datasets/{id}/{config}/{split}/NNNN.parquet      hubCache = $ICL_LAB_HUB_CACHE, default ./cache/hub

import { join, resolve } from 'node:path';
import { asyncBufferFromFile, parquetReadObjects } from 'hyparquet';
import { compressors } from 'hyparquet-compressors';
import { type DownloadOptions, downloadFile, hubEndpoint } from './hub-download.ts';
import { type Example, type Task, type TaskSpec, templateFields } from './task.ts';

export interface HubSplit {
  /** Split name in the parquet branch. */
  split: string;
  /** Number of parquet files (0000.parquet ...) the split has there; all of the paper's splits fit in one. */
  files: number;
  /** Row count the paper reports (a loaded split must have it). */
  rows: number;
}

export interface PaperTaskDef {
  spec: TaskSpec;
  hub: { id: string; config: string; train: HubSplit; eval: HubSplit };
  /** The dataset's own name of each class, checked against a `label_text` column when the data has one. */
  labelText?: string[];
}

function spec(id: string, name: string, source: string, template: string, labelWords: string[]): TaskSpec {
  return { id, name, source, template, labelWords, fields: templateFields(template) };
}

/** Keyed by the ids used in plans (the names the paper's code uses, lower-case). */
export const PAPER_TASKS: Readonly<Record<string, PaperTaskDef>> = {
  sst2: {
    spec: spec('sst2', 'SST-2', 'hub dataset glue/sst2: demonstrations from train, evaluation on validation', 'Sentence: {sentence} Label:', ['Negative', 'Positive']),
    hub: { id: 'glue', config: 'sst2', train: { split: 'train', files: 1, rows: 67349 }, eval: { split: 'validation', files: 1, rows: 872 } },
  },
  sst5: {
    spec: spec('sst5', 'SST-5', 'hub dataset SetFit/sst5: demonstrations from train, evaluation on validation', 'Sentence: {text} Label:', ['terrible', 'bad', 'neutral', 'good', 'great']),
    hub: { id: 'SetFit/sst5', config: 'default', train: { split: 'train', files: 1, rows: 8544 }, eval: { split: 'validation', files: 1, rows: 1101 } },
    labelText: ['very negative', 'negative', 'neutral', 'positive', 'very positive'],
  },
  mr: {
    spec: spec('mr', 'MR', 'hub dataset rotten_tomatoes: demonstrations from train, evaluation on validation', 'Review: {text} Sentiment:', ['Negative', 'Positive']),
    hub: { id: 'rotten_tomatoes', config: 'default', train: { split: 'train', files: 1, rows: 8530 }, eval: { split: 'validation', files: 1, rows: 1066 } },
  },
  subj: {
    spec: spec('subj', 'Subj', 'hub dataset SetFit/subj: demonstrations from train, evaluation on test', 'Input: {text} Type:', ['objective', 'subjective']),
    hub: { id: 'SetFit/subj', config: 'default', train: { split: 'train', files: 1, rows: 8000 }, eval: { split: 'test', files: 1, rows: 2000 } },
    labelText: ['objective', 'subjective'],
  },
  agnews: {
    spec: spec(
      'agnews',
      'AGNews',
      'hub dataset ag_news: demonstrations from train, evaluation on test',
      'Classify the news articles into the categories of World, Sports, Business, and Technology. Article: {text} Answer:',
      ['World', 'Sports', 'Business', 'Technology'],
    ),
    hub: { id: 'ag_news', config: 'default', train: { split: 'train', files: 1, rows: 120000 }, eval: { split: 'test', files: 1, rows: 7600 } },
  },
  cb: {
    spec: spec('cb', 'CB', 'hub dataset super_glue/cb: demonstrations from train, evaluation on validation', '{premise} Question: {hypothesis}. True, False, or Neither? Answer:', ['True', 'False', 'Neither']),
    hub: { id: 'super_glue', config: 'cb', train: { split: 'train', files: 1, rows: 250 }, eval: { split: 'validation', files: 1, rows: 56 } },
  },
};

export const PAPER_TASK_IDS: readonly string[] = Object.keys(PAPER_TASKS);

export function isPaperTaskId(id: string): boolean {
  return Object.hasOwn(PAPER_TASKS, id);
}

export function paperTask(id: string): PaperTaskDef {
  if (!isPaperTaskId(id)) throw new Error(`unknown paper task "${id}"; the paper's tasks are ${PAPER_TASK_IDS.join(', ')}`);
  return PAPER_TASKS[id];
}

/** The hub cache root: $ICL_LAB_HUB_CACHE, else ./cache/hub. */
export function defaultHubCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return resolve(env.ICL_LAB_HUB_CACHE || join('cache', 'hub'));
}

/** File name of the index-th parquet file of a split. */
export function parquetFileName(index: number): string {
  return `${String(index).padStart(4, '0')}.parquet`;
}

/** URL of a parquet file on the hub's parquet branch. */
export function parquetUrl(datasetId: string, config: string, split: string, index: number, endpoint = hubEndpoint()): string {
  const repo = datasetId.split('/').map(encodeURIComponent).join('/');
  return `${endpoint}/datasets/${repo}/resolve/${encodeURIComponent('refs/convert/parquet')}/${encodeURIComponent(config)}/${encodeURIComponent(split)}/${parquetFileName(index)}`;
}

/** Where a parquet file lives in the hub cache. */
export function parquetCachePath(hubCacheDir: string, datasetId: string, config: string, split: string, index: number): string {
  return join(hubCacheDir, 'datasets', ...datasetId.split('/'), config, split, parquetFileName(index));
}

export interface HubFileOptions {
  /** Hub cache root (default: defaultHubCacheDir()). */
  cacheDir?: string;
  /** No network: only files already in the cache (default: $HF_HUB_OFFLINE). */
  offline?: boolean;
  /** Default: $HF_ENDPOINT or https://huggingface.co. */
  endpoint?: string;
  token?: string;
  connectTimeoutMs?: number;
  onProgress?: DownloadOptions['onProgress'];
}

/** Downloads (once) the parquet files of one split and returns their local paths. */
export async function fetchParquetSplit(
  datasetId: string,
  config: string,
  split: HubSplit,
  options: HubFileOptions = {},
): Promise<string[]> {
  const cacheDir = options.cacheDir ?? defaultHubCacheDir();
  const endpoint = options.endpoint ?? hubEndpoint();
  const paths: string[] = [];
  for (let i = 0; i < split.files; i++) {
    const dest = parquetCachePath(cacheDir, datasetId, config, split.split, i);
    const name = `${config}/${split.split}/${parquetFileName(i)}`;
    const others = split.files > 1 ? ` (this split has ${split.files} files, 0000 to ${parquetFileName(split.files - 1)}, all in that folder)` : '';
    const { path } = await downloadFile({
      url: parquetUrl(datasetId, config, split.split, i, endpoint),
      dest,
      what: `dataset ${datasetId} (${name})`,
      offline: options.offline,
      token: options.token,
      connectTimeoutMs: options.connectTimeoutMs,
      onProgress: options.onProgress,
      preseedHint: `it is the hub's parquet copy of ${datasetId}, branch refs/convert/parquet, file ${name}${others}`,
    });
    paths.push(path);
  }
  return paths;
}

/** Reads every row of a split's parquet files, in file order, as plain objects. */
export async function readParquetRows(paths: readonly string[]): Promise<Record<string, unknown>[]> {
  const rows: Record<string, unknown>[] = [];
  for (const path of paths) {
    let part: Record<string, unknown>[];
    try {
      part = (await parquetReadObjects({ file: await asyncBufferFromFile(path), compressors })) as Record<string, unknown>[];
    } catch (err) {
      throw new Error(`${path}: cannot read it as parquet (${(err as Error).message}); delete it to download it again`, { cause: err });
    }
    for (const r of part) rows.push(r);
  }
  return rows;
}

/** Turns parquet rows into examples of a paper task; ids are `${split}:${row}`. Errors name the file and row. */
export function rowsToExamples(def: PaperTaskDef, split: string, rows: readonly Record<string, unknown>[], source: string): Example[] {
  const { spec } = def;
  return rows.map((row, i) => {
    const fields: Record<string, string> = {};
    for (const f of spec.fields) {
      const v = row[f];
      if (typeof v !== 'string') throw new Error(`${source}: row ${i} has no text field "${f}" (got ${JSON.stringify(typeof v === 'bigint' ? String(v) : v)})`);
      fields[f] = v;
    }
    const raw = row.label;
    const label = typeof raw === 'bigint' ? Number(raw) : raw;
    if (typeof label !== 'number' || !Number.isInteger(label) || label < 0 || label >= spec.labelWords.length) {
      throw new Error(
        `${source}: row ${i} has label ${JSON.stringify(typeof raw === 'bigint' ? String(raw) : raw)}; task ${spec.id} has labels 0..${spec.labelWords.length - 1}` +
          (label === -1 ? ' (-1 marks an unlabelled test split: use the splits the paper uses)' : ''),
      );
    }
    if (def.labelText && typeof row.label_text === 'string' && row.label_text.toLowerCase() !== def.labelText[label]) {
      throw new Error(
        `${source}: row ${i} has label ${label} named ${JSON.stringify(row.label_text)}, but task ${spec.id} maps label ${label} ` +
          `to "${spec.labelWords[label]}" (expected name "${def.labelText[label]}"): the dataset's label order differs from the paper's`,
      );
    }
    return { id: `${split}:${i}`, fields, label };
  });
}

export interface LoadPaperTaskOptions extends HubFileOptions {
  /** Check row counts against the paper's (default true; fixtures in tests turn it off). */
  checkRowCounts?: boolean;
}

/** Loads a paper task from the hub cache (downloading its parquet files once). */
export async function loadPaperTask(id: string, options: LoadPaperTaskOptions = {}): Promise<Task> {
  const def = paperTask(id);
  const load = async (split: HubSplit): Promise<Example[]> => {
    const paths = await fetchParquetSplit(def.hub.id, def.hub.config, split, options);
    const rows = await readParquetRows(paths);
    const source = paths.length === 1 ? paths[0] : `${paths[0]} (+${paths.length - 1} more)`;
    if ((options.checkRowCounts ?? true) && rows.length !== split.rows) {
      throw new Error(`${source}: ${rows.length} rows, but the paper's ${def.spec.name} ${split.split} split has ${split.rows}; the cached files are not that dataset (or incomplete)`);
    }
    return rowsToExamples(def, split.split, rows, source);
  };
  const train = await load(def.hub.train);
  const evalExamples = await load(def.hub.eval);
  return { spec: def.spec, train, eval: evalExamples };
}
