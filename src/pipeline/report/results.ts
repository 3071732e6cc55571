// Reading a results directory: `<dir>/<modelId>/<taskId>/seed-<seed>.<position>.metrics.json`, each with an optional
// `seed-<seed>.<position>.examples.json` beside it, and model cards under `content/models/<modelId>/card.json`.
// Every file is validated; a bad file stops the caller with an error naming the file. Used by the site build and by
// `lab diff`.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { type ExamplesFile, parseExamplesFile } from '../metrics/examples-schema.ts';
import { ANALYSIS_POSITIONS, type AnalysisPosition, type MetricsRecord, SETTINGS, parseMetricsRecord } from '../metrics/schema.ts';
import { type ModelCard, parseModelCard } from './model-card.ts';

export const DEFAULT_RESULTS_DIR = 'cache/results';
export const DEFAULT_MODELS_DIR = 'content/models';

/** The results directory: env ICL_LAB_RESULTS, else cache/results under `root`. */
export function resultsDir(root = process.cwd()): string {
  return path.resolve(root, process.env.ICL_LAB_RESULTS || DEFAULT_RESULTS_DIR);
}

export interface Run {
  model: string;
  task: string;
  seed: number;
  position: AnalysisPosition;
  metrics: MetricsRecord;
  examples: ExamplesFile | null;
  /** Paths relative to the results directory, with '/' separators. */
  metricsFile: string;
  examplesFile: string | null;
}

export interface Results {
  dir: string;
  /** False when the directory does not exist (nothing computed yet). */
  exists: boolean;
  /** Sorted by model, task, seed, position. */
  runs: Run[];
  models: string[];
  tasks: string[];
}

/** A file in the results directory or content that is missing a piece or fails validation. */
export class ResultsError extends Error {}

const FILE_RE = /^seed-(-?\d+)\.([a-z_]+)\.(metrics|examples)\.json$/;
const PROVENANCE_RE = /^seed-(-?\d+)\.provenance\.json$/;

function readJson(file: string): unknown {
  const text = fs.readFileSync(file, 'utf8');
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new ResultsError(`${file}: not valid JSON (${(err as Error).message})`);
  }
}

function validate<T>(file: string, parse: (d: unknown) => T): T {
  const data = readJson(file);
  try {
    return parse(data);
  } catch (err) {
    throw new ResultsError(`${file}: ${(err as Error).message}`);
  }
}

function subdirs(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).filter((d) => d.isDirectory() && !d.name.startsWith('.')).map((d) => d.name).sort();
}

/** Check that an examples file belongs to its metrics record and agrees with it. */
function crossCheck(file: string, m: MetricsRecord, e: ExamplesFile): void {
  const problems: string[] = [];
  for (const k of ['model', 'task', 'seed', 'position'] as const) {
    if (m.id[k] !== e.id[k]) problems.push(`id.${k} is ${JSON.stringify(e.id[k])}, the metrics record says ${JSON.stringify(m.id[k])}`);
  }
  if (e.perExample.ids.length !== m.numTestExamples) problems.push(`${e.perExample.ids.length} examples, the metrics record has ${m.numTestExamples}`);
  else {
    for (const s of SETTINGS) {
      const right = e.perExample.correct[s].filter(Boolean).length;
      if (right !== m.accuracy[s].numerator) problems.push(`${right} correct for ${s}, the metrics record counts ${m.accuracy[s].numerator}`);
    }
  }
  if (problems.length) throw new ResultsError(`${file}: disagrees with its metrics record:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
}

/** Load and validate every run under `dir` (a missing directory is an empty result, not an error). */
export function loadResults(dir: string): Results {
  const out: Results = { dir, exists: fs.existsSync(dir), runs: [], models: [], tasks: [] };
  if (!out.exists) return out;
  for (const model of subdirs(dir)) {
    for (const task of subdirs(path.join(dir, model))) {
      const taskDir = path.join(dir, model, task);
      const names = fs.readdirSync(taskDir).filter((n) => n.endsWith('.json')).sort();
      const seen = new Set<string>();
      for (const name of names) {
        const file = path.join(taskDir, name);
        if (PROVENANCE_RE.test(name)) continue; // how the run was made (experiments/run-plan.ts); not read by pages
        const match = FILE_RE.exec(name);
        if (!match || !(ANALYSIS_POSITIONS as readonly string[]).includes(match[2])) {
          throw new ResultsError(`${file}: unexpected file name; expected seed-<seed>.<${ANALYSIS_POSITIONS.join('|')}>.<metrics|examples>.json`);
        }
        const [, seedText, pos, kind] = match;
        const stem = `seed-${seedText}.${pos}`;
        if (kind === 'examples') {
          if (!names.includes(`${stem}.metrics.json`)) throw new ResultsError(`${file}: examples file without its metrics file ${stem}.metrics.json`);
          continue;
        }
        seen.add(stem);
        const seed = Number(seedText);
        const position = pos as AnalysisPosition;
        const metrics = validate(file, parseMetricsRecord);
        const want = { model, task, seed, position };
        for (const k of ['model', 'task', 'seed', 'position'] as const) {
          if (metrics.id[k] !== want[k]) throw new ResultsError(`${file}: id.${k} is ${JSON.stringify(metrics.id[k])} but the file's path says ${JSON.stringify(want[k])}`);
        }
        const examplesName = `${stem}.examples.json`;
        let examples: ExamplesFile | null = null;
        if (names.includes(examplesName)) {
          const ef = path.join(taskDir, examplesName);
          examples = validate(ef, parseExamplesFile);
          crossCheck(ef, metrics, examples);
        }
        out.runs.push({
          model, task, seed, position, metrics, examples,
          metricsFile: `${model}/${task}/${name}`,
          examplesFile: examples ? `${model}/${task}/${examplesName}` : null,
        });
      }
    }
  }
  out.runs.sort((a, b) => a.model.localeCompare(b.model) || a.task.localeCompare(b.task) || a.seed - b.seed || a.position.localeCompare(b.position));
  out.models = [...new Set(out.runs.map((r) => r.model))].sort();
  out.tasks = [...new Set(out.runs.map((r) => r.task))].sort();
  return out;
}

/** Model cards under `dir` (content/models): modelId -> card. A missing directory gives none. */
export function loadModelCards(dir: string): Map<string, ModelCard> {
  const cards = new Map<string, ModelCard>();
  if (!fs.existsSync(dir)) return cards;
  for (const model of subdirs(dir)) {
    const file = path.join(dir, model, 'card.json');
    if (fs.existsSync(file)) cards.set(model, validate(file, parseModelCard));
  }
  return cards;
}

/** Cards must agree with the records of their model (layers, heads). */
export function checkCards(cards: Map<string, ModelCard>, results: Results, cardsDir: string): void {
  for (const run of results.runs) {
    const card = cards.get(run.model);
    if (!card) continue;
    const m = run.metrics;
    if (card.layers !== m.numLayers || card.heads !== m.numHeads) {
      throw new ResultsError(
        `${path.join(cardsDir, run.model, 'card.json')}: says ${card.layers} layers / ${card.heads} heads, ` +
          `but ${run.metricsFile} has ${m.numLayers} / ${m.numHeads}`,
      );
    }
  }
}

/** Write a run's files in the layout loadResults reads (used by tests and fixtures). */
export function writeRun(dir: string, metrics: MetricsRecord, examples?: ExamplesFile | null): void {
  const { model, task, seed, position } = metrics.id;
  const taskDir = path.join(dir, model, task);
  fs.mkdirSync(taskDir, { recursive: true });
  fs.writeFileSync(path.join(taskDir, `seed-${seed}.${position}.metrics.json`), JSON.stringify(metrics));
  if (examples) fs.writeFileSync(path.join(taskDir, `seed-${seed}.${position}.examples.json`), JSON.stringify(examples));
}
