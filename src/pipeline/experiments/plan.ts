// The experiment plan: which models, tasks, seeds and settings a build runs. A JSON file under content/ (by default
// content/plan.json), validated here; every error names the file and the path of the bad field.
//
//   {
//     "models": [{"id": "gpt2", "source": {"kind": "hub", "id": "gpt2", "revision": "main"}},
//                {"id": "tiny", "source": {"kind": "embedded", "dir": "content/models/tiny"}}],
//     "tasks": ["sst2", {"id": "cb", "k": 19}, {"id": "user-toy", "file": "content/tasks/toy.json"}],
//     "seeds": [1, 2, 3],
//     "k": 32,                                  demonstrations per task (a task entry may override it)
//     "analysisPositions": ["label_token"],     and/or "prompt_end" (default ["label_token"])
//     "lrGrid": [0.001, 0.01],
//     "lrSelection": {"split": "selection", "examples": 200},
//     "testExamples": 2000,                     at most this many evaluation examples per task
//     "nullModels": ["untrained"],              and/or "trained-embeddings" (default [])
//     "kendallExamples": 100                    (default 100)
//   }
//
// Task ids must belong to a registered task provider (tasks/registry.ts): the paper's six tasks are checked against
// paper-tasks.ts; `user-...` tasks need a "file"; other families (e.g. `synthetic-...`) register a provider before
// the plan is loaded. Relative paths (model dirs, task files) are resolved against the project root (baseDir).

import { readFile } from 'node:fs/promises';
import { isAbsolute, resolve } from 'node:path';
import { z } from 'zod';
import { findTaskProvider } from '../tasks/registry.ts';

export const DEFAULT_PLAN_PATH = 'content/plan.json';

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const HUB_ID_RE = /^[A-Za-z0-9][A-Za-z0-9._-]*(\/[A-Za-z0-9][A-Za-z0-9._-]*)?$/;

export const ANALYSIS_POSITIONS = ['label_token', 'prompt_end'] as const;
export const NULL_MODELS = ['untrained', 'trained-embeddings'] as const;

const ModelSourceSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('embedded'), dir: z.string().min(1) }),
  z.strictObject({
    kind: z.literal('hub'),
    id: z.string().regex(HUB_ID_RE, 'must be a hub model id like "gpt2" or "openai-community/gpt2"'),
    revision: z.string().min(1).optional(),
  }),
  z.strictObject({ kind: z.literal('folder'), dir: z.string().min(1) }),
]);

const ModelSchema = z.strictObject({
  id: z.string().regex(NAME_RE, 'letters, digits, ".", "_" or "-"'),
  name: z.string().min(1).optional(),
  source: ModelSourceSchema,
});

const TaskEntrySchema = z.union([
  z.string().min(1),
  z.strictObject({
    id: z.string().min(1),
    k: z.int().min(1).optional(),
    file: z.string().min(1).optional(),
  }),
]);

const positiveInt = z.int().min(1);

export const PlanSchema = z.strictObject({
  $schema: z.string().optional(),
  description: z.string().optional(),
  models: z.array(ModelSchema).min(1),
  tasks: z.array(TaskEntrySchema).min(1),
  seeds: z.array(z.int()).min(1),
  k: positiveInt,
  analysisPositions: z.array(z.enum(ANALYSIS_POSITIONS)).min(1).default(['label_token']),
  lrGrid: z.array(z.number().positive().finite()).min(1),
  lrSelection: z.strictObject({ split: z.literal('selection'), examples: positiveInt }),
  testExamples: positiveInt,
  nullModels: z.array(z.enum(NULL_MODELS)).default([]),
  kendallExamples: positiveInt.default(100),
});

export type PlanFile = z.infer<typeof PlanSchema>;
export type ModelSource = z.infer<typeof ModelSourceSchema>;

export interface PlanModel {
  id: string;
  name?: string;
  /** Relative dirs resolved against the project root. */
  source: ModelSource;
}

export interface PlanTask {
  id: string;
  /** Demonstrations for this task (the task's override, else the plan's k). */
  k: number;
  /** A user task's task file (absolute). */
  file?: string;
}

export interface Plan {
  /** The file it was read from. */
  file: string;
  models: PlanModel[];
  tasks: PlanTask[];
  seeds: number[];
  k: number;
  analysisPositions: Array<(typeof ANALYSIS_POSITIONS)[number]>;
  lrGrid: number[];
  lrSelection: { split: 'selection'; examples: number };
  testExamples: number;
  nullModels: Array<(typeof NULL_MODELS)[number]>;
  kendallExamples: number;
}

export class PlanError extends Error {
  readonly file: string;
  readonly problems: string[];

  constructor(file: string, problems: string[]) {
    super(
      problems.length === 1 ? `${file}: ${problems[0]}` : `${file}: ${problems.length} problems:\n${problems.map((p) => `  - ${p}`).join('\n')}`,
    );
    this.name = 'PlanError';
    this.file = file;
    this.problems = problems;
  }
}

/** A field path as written in messages: `models[0].source.id`. */
export function fieldPath(path: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out === '' ? String(p) : `.${String(p)}`;
  return out || '(top level)';
}

function duplicates<T>(values: readonly T[]): T[] {
  const seen = new Set<T>();
  const dup = new Set<T>();
  for (const v of values) (seen.has(v) ? dup : seen).add(v);
  return [...dup];
}

/** Validates a parsed plan (JSON value) from `file`; throws PlanError listing every problem. */
export function parsePlan(value: unknown, file: string, options: { baseDir?: string } = {}): Plan {
  const parsed = PlanSchema.safeParse(value);
  if (!parsed.success) {
    throw new PlanError(file, parsed.error.issues.map((i) => `${fieldPath(i.path)}: ${i.message}`));
  }
  const p = parsed.data;
  const base = options.baseDir ?? process.cwd();
  const abs = (path: string) => (isAbsolute(path) ? path : resolve(base, path));
  const problems: string[] = [];

  for (const d of duplicates(p.models.map((m) => m.id))) problems.push(`models: the id "${d}" is used twice`);
  for (const d of duplicates(p.seeds)) problems.push(`seeds: ${d} is listed twice`);
  for (const d of duplicates(p.lrGrid)) problems.push(`lrGrid: ${d} is listed twice`);
  for (const d of duplicates(p.analysisPositions)) problems.push(`analysisPositions: "${d}" is listed twice`);
  for (const d of duplicates(p.nullModels)) problems.push(`nullModels: "${d}" is listed twice`);

  const tasks: PlanTask[] = p.tasks.map((entry, i) => {
    const t = typeof entry === 'string' ? { id: entry } : entry;
    const found = findTaskProvider(t.id, { file: t.file });
    if ('error' in found) problems.push(`tasks[${i}]: ${found.error}`);
    else if (t.file !== undefined && found.provider.name !== 'user') {
      problems.push(`tasks[${i}].file: only user tasks ("user-<name>") take a task file; "${t.id}" is a ${found.provider.name} task`);
    }
    return { id: t.id, k: t.k ?? p.k, ...(t.file !== undefined ? { file: abs(t.file) } : {}) };
  });
  for (const d of duplicates(tasks.map((t) => t.id))) problems.push(`tasks: "${d}" is listed twice`);
  if (problems.length > 0) throw new PlanError(file, problems);

  const models: PlanModel[] = p.models.map((m) => ({
    id: m.id,
    ...(m.name !== undefined ? { name: m.name } : {}),
    source: m.source.kind === 'hub' ? m.source : { ...m.source, dir: abs(m.source.dir) },
  }));
  return {
    file,
    models,
    tasks,
    seeds: p.seeds,
    k: p.k,
    analysisPositions: p.analysisPositions,
    lrGrid: p.lrGrid,
    lrSelection: p.lrSelection,
    testExamples: p.testExamples,
    nullModels: p.nullModels,
    kendallExamples: p.kendallExamples,
  };
}

/** Reads and validates a plan file (default content/plan.json). */
export async function loadPlan(path = DEFAULT_PLAN_PATH, options: { baseDir?: string } = {}): Promise<Plan> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new PlanError(path, [code === 'ENOENT' ? 'the plan file does not exist' : `cannot read the plan file (${code ?? (err as Error).message})`]);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new PlanError(path, [`not valid JSON (${(err as Error).message})`]);
  }
  return parsePlan(value, path, options);
}
