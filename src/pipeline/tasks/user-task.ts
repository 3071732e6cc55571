// A user's own task: a small JSON task file that names a template, label words and two data files (JSONL or CSV).
//
//   {
//     "name": "My sentiment task",
//     "id": "user-my-sentiment",            optional; default "user-" + the task file's base name
//     "template": "Review: {text} Sentiment:",
//     "labelWords": ["Negative", "Positive"],
//     "train": "my-train.jsonl",            paths relative to the task file
//     "eval": "my-eval.csv",
//     "labelField": "label",                optional, default "label"
//     "textFields": ["text"],               optional, default: the template's placeholders
//     "labels": ["neg", "pos"]              optional: the label values the data files use, in class order
//   }
//
// A label value is a class index (0, 1, ... as a number or a digit string), or one of `labels` (default: the label
// words). Errors name the file and line (JSONL) or row (CSV) and say what is wrong.

import { readFile } from 'node:fs/promises';
import { basename, dirname, extname, resolve } from 'node:path';
import { parse as parseCsv } from 'csv-parse/sync';
import { z } from 'zod';
import { type Example, type Task, type TaskSpec, specProblems, templateFields } from './task.ts';

export class TaskFileError extends Error {
  readonly file: string;

  constructor(file: string, message: string, options?: { cause?: unknown }) {
    super(`${file}: ${message}`, options);
    this.name = 'TaskFileError';
    this.file = file;
  }
}

const TaskFileSchema = z.strictObject({
  name: z.string().min(1),
  id: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_./-]*$/, 'letters, digits, "_", ".", "/" or "-"').optional(),
  template: z.string().min(1),
  labelWords: z.array(z.string().min(1)).min(2),
  train: z.string().min(1),
  eval: z.string().min(1),
  labelField: z.string().min(1).default('label'),
  textFields: z.array(z.string().min(1)).min(1).optional(),
  labels: z.array(z.string()).optional(),
});

export type TaskFile = z.infer<typeof TaskFileSchema>;

function zodPath(path: ReadonlyArray<PropertyKey>): string {
  return path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('').replace(/^\./, '') || '(top level)';
}

/** Reads and checks a task file (not yet its data). */
export async function readTaskFile(path: string): Promise<{ file: TaskFile; spec: TaskSpec }> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new TaskFileError(path, `cannot read the task file (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, { cause: err });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new TaskFileError(path, `not valid JSON (${(err as Error).message})`);
  }
  const parsed = TaskFileSchema.safeParse(json);
  if (!parsed.success) {
    throw new TaskFileError(path, parsed.error.issues.map((i) => `${zodPath(i.path)}: ${i.message}`).join('; '));
  }
  const file = parsed.data;
  const used = templateFields(file.template);
  const fields = file.textFields ?? used;
  const spec: TaskSpec = {
    id: file.id ?? `user-${basename(path, extname(path))}`,
    name: file.name,
    source: `user task ${path}: train ${file.train}, eval ${file.eval}`,
    template: file.template,
    labelWords: file.labelWords,
    fields: used,
  };
  const problems = specProblems({ ...spec, fields });
  if (file.labels && file.labels.length !== file.labelWords.length) {
    problems.push(`"labels" has ${file.labels.length} values but "labelWords" has ${file.labelWords.length}; they must pair up by class`);
  }
  if (problems.length > 0) throw new TaskFileError(path, problems.join('; '));
  return { file, spec };
}

type RawRow = { where: string; values: Record<string, unknown> };

async function readRows(path: string): Promise<RawRow[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new TaskFileError(path, `cannot read the data file (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, { cause: err });
  }
  const ext = extname(path).toLowerCase();
  if (ext === '.jsonl' || ext === '.ndjson') {
    const rows: RawRow[] = [];
    const lines = text.split(/\r?\n/);
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i].trim();
      if (line === '') continue;
      let value: unknown;
      try {
        value = JSON.parse(line);
      } catch (err) {
        throw new TaskFileError(path, `line ${i + 1}: not valid JSON (${(err as Error).message})`);
      }
      if (typeof value !== 'object' || value === null || Array.isArray(value)) {
        throw new TaskFileError(path, `line ${i + 1}: each line must be a JSON object, got ${Array.isArray(value) ? 'an array' : JSON.stringify(value)}`);
      }
      rows.push({ where: `line ${i + 1}`, values: value as Record<string, unknown> });
    }
    return rows;
  }
  if (ext === '.csv' || ext === '.tsv') {
    let records: Array<{ record: Record<string, string>; info: { lines: number } }>;
    try {
      records = parseCsv(text, {
        columns: true,
        bom: true,
        skip_empty_lines: true,
        info: true,
        delimiter: ext === '.tsv' ? '\t' : ',',
      }) as unknown as typeof records;
    } catch (err) {
      throw new TaskFileError(path, `malformed CSV: ${(err as Error).message}`, { cause: err });
    }
    return records.map((r, i) => ({ where: `row ${i + 1} (line ${r.info.lines})`, values: r.record }));
  }
  throw new TaskFileError(path, `unknown data file type "${ext}"; use .jsonl or .csv (or .tsv)`);
}

function toExamples(path: string, split: string, rows: RawRow[], file: TaskFile, spec: TaskSpec, fields: string[]): Example[] {
  const names = file.labels ?? file.labelWords;
  if (rows.length === 0) throw new TaskFileError(path, 'has no examples');
  return rows.map(({ where, values }, index) => {
    const out: Record<string, string> = {};
    for (const f of fields) {
      const v = values[f];
      if (v === undefined || v === null) {
        throw new TaskFileError(path, `${where}: missing field "${f}" (the row has: ${Object.keys(values).join(', ') || 'nothing'})`);
      }
      if (typeof v !== 'string') throw new TaskFileError(path, `${where}: field "${f}" must be text, got ${JSON.stringify(v)}`);
      out[f] = v;
    }
    const raw = values[file.labelField];
    if (raw === undefined || raw === null || raw === '') {
      throw new TaskFileError(path, `${where}: missing label field "${file.labelField}"`);
    }
    let label: number | undefined;
    if (typeof raw === 'number') label = raw;
    else if (typeof raw === 'string') {
      const named = names.indexOf(raw);
      label = named >= 0 ? named : /^\d+$/.test(raw) ? Number(raw) : undefined;
    }
    if (label === undefined || !Number.isInteger(label) || label < 0 || label >= spec.labelWords.length) {
      throw new TaskFileError(
        path,
        `${where}: unknown label ${JSON.stringify(raw)} in field "${file.labelField}"; use one of ${names.map((n) => JSON.stringify(n)).join(', ')} ` +
          `or a class index 0..${spec.labelWords.length - 1}`,
      );
    }
    return { id: `${split}:${index}`, fields: out, label };
  });
}

/** Loads a user task: its task file and both data files. */
export async function loadUserTask(taskFilePath: string): Promise<Task> {
  const { file, spec } = await readTaskFile(taskFilePath);
  const base = dirname(resolve(taskFilePath));
  const fields = file.textFields ?? spec.fields;
  const trainPath = resolve(base, file.train);
  const evalPath = resolve(base, file.eval);
  const train = toExamples(trainPath, 'train', await readRows(trainPath), file, spec, fields);
  const evalExamples = toExamples(evalPath, 'eval', await readRows(evalPath), file, spec, fields);
  return { spec, train, eval: evalExamples };
}
