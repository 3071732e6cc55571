// Everything the pages read, loaded once per build: the results directory (env ICL_LAB_RESULTS, default
// cache/results), model cards (content/models/<id>/card.json; env ICL_LAB_MODELS overrides the folder) and what is derived from them (summary, diffs).
// Every file is validated by the loaders in src/pipeline/report/results.ts; a bad file fails the build naming it.
// Provenance manifests beside the results, and whether each model's inputs are in this checkout (frozen or not), come
// from src/pipeline/experiments/provenance.ts; the hub cache is only looked at, never downloaded into.

import * as path from 'node:path';
import type { TaskMeta } from '../pipeline/metrics/examples-schema.ts';
import { type DiffResult, diffSelections } from '../pipeline/report/diff.ts';
import type { ModelCard } from '../pipeline/report/model-card.ts';
import { type ModelProvenance, type PublishedProvenance, modelProvenance, readPublishedProvenance } from '../pipeline/experiments/provenance.ts';
import { type PaperTask, paperTaskOf } from '../pipeline/report/paper.ts';
import { DEFAULT_MODELS_DIR, type Run, checkCards, loadModelCards, loadResults, resultsDir } from '../pipeline/report/results.ts';
import { type ReportSummary, summarize } from '../pipeline/report/summary.ts';

export interface ModelInfo {
  id: string;
  name: string;
  card: ModelCard | null;
  numLayers: number;
  numHeads: number;
  runs: Run[];
  /** Parameter count from the card, if any. */
  parameters: number | null;
}

export interface TaskInfo {
  id: string;
  meta: TaskMeta | null;
  paperTask: PaperTask | null;
  runs: Run[];
}

export interface PairInfo {
  slug: string;
  a: string;
  b: string;
  /** Neighbouring sizes: pre-rendered as a page. */
  neighbours: boolean;
}

export interface SiteData {
  resultsDir: string;
  resultsDirShown: string;
  exists: boolean;
  runs: Run[];
  models: ModelInfo[];
  tasks: TaskInfo[];
  cardsWithoutResults: string[];
  summary: ReportSummary;
  /** Every provenance manifest in the results directory. */
  provenance: PublishedProvenance[];
  pairs: PairInfo[];
  diff(slug: string): DiffResult;
}

let cached: SiteData | null = null;
let provenanceCached: Promise<Map<string, ModelProvenance>> | null = null;

export function pairSlug(a: string, b: string): string {
  return `${a}--vs--${b}`;
}

/** Load (once) and derive everything the pages need. */
export function siteData(): SiteData {
  if (cached) return cached;
  const root = process.cwd();
  const dir = resultsDir(root);
  const results = loadResults(dir);
  const cardsDir = path.resolve(root, process.env.ICL_LAB_MODELS || DEFAULT_MODELS_DIR);
  const cards = loadModelCards(cardsDir);
  checkCards(cards, results, cardsDir);

  const models: ModelInfo[] = results.models.map((id) => {
    const runs = results.runs.filter((r) => r.model === id);
    const card = cards.get(id) ?? null;
    return { id, name: card?.displayName ?? id, card, numLayers: runs[0].metrics.numLayers, numHeads: runs[0].metrics.numHeads, runs, parameters: card?.parameters ?? null };
  });
  // Size order: parameter count where every model has a card, else depth, then id.
  const allHaveParams = models.every((m) => m.parameters !== null);
  models.sort((x, y) => (allHaveParams ? (x.parameters ?? 0) - (y.parameters ?? 0) : 0) || x.numLayers - y.numLayers || x.numHeads - y.numHeads || x.id.localeCompare(y.id));

  const tasks: TaskInfo[] = results.tasks.map((id) => {
    const runs = results.runs.filter((r) => r.task === id);
    return { id, meta: runs.find((r) => r.examples)?.examples?.task ?? null, paperTask: paperTaskOf(id) ?? null, runs };
  });

  // Diffs: the larger model is A, so a delta reads as "what the extra size changes".
  const pairs: PairInfo[] = [];
  for (let i = 0; i < models.length; i++) {
    for (let j = 0; j < i; j++) {
      const a = models[i].id;
      const b = models[j].id;
      pairs.push({ slug: pairSlug(a, b), a, b, neighbours: i === j + 1 });
    }
  }
  const diffs = new Map<string, DiffResult>();
  const diff = (slug: string): DiffResult => {
    const hit = diffs.get(slug);
    if (hit) return hit;
    const p = pairs.find((x) => x.slug === slug);
    if (!p) throw new Error(`no diff pair ${slug}`);
    const runsA = results.runs.filter((r) => r.model === p.a);
    const runsB = results.runs.filter((r) => r.model === p.b);
    const d = diffSelections(runsA, { model: p.a }, runsB, { model: p.b }, { resamples: 1000, seed: 0 });
    diffs.set(slug, d);
    return d;
  };

  const rel = path.relative(root, dir);
  cached = {
    resultsDir: dir,
    resultsDirShown: rel && !rel.startsWith('..') && !path.isAbsolute(rel) ? rel : process.env.ICL_LAB_RESULTS ?? dir,
    exists: results.exists,
    runs: results.runs,
    models,
    tasks,
    cardsWithoutResults: [...cards.keys()].filter((id) => !results.models.includes(id)).sort(),
    summary: summarize(results.runs),
    provenance: readPublishedProvenance(dir),
    pairs,
    diff,
  };
  return cached;
}

/**
 * Per model with results: its manifests and whether its inputs are here ('frozen' when not; see
 * experiments/provenance.ts). Looked up once per build.
 */
export function siteProvenance(): Promise<Map<string, ModelProvenance>> {
  if (!provenanceCached) {
    const d = siteData();
    provenanceCached = modelProvenance(d.provenance, d.models.map((m) => m.id), { root: process.cwd() });
  }
  return provenanceCached;
}

/** Site-relative URL (with the configured base path). */
export function url(p: string): string {
  const base = import.meta.env.BASE_URL as string;
  const b = base.endsWith('/') ? base : `${base}/`;
  return b + p.replace(/^\//, '');
}

/** Published copies of the data the pages show, so every number can be traced to its JSON. */
export const dataUrl = {
  run: (r: { metricsFile: string }) => url(`data/results/${r.metricsFile}`),
  examples: (r: { examplesFile: string | null }) => (r.examplesFile ? url(`data/results/${r.examplesFile}`) : null),
  provenance: (p: { file: string }) => url(`data/results/${p.file}`),
  summary: () => url('data/summary.json'),
  paper: () => url('data/paper.json'),
  diff: (slug: string) => url(`data/diff/${slug}.json`),
  diffIndex: () => url('data/diff/index.json'),
};

/** Mean of the defined values, or null. */
export function meanOf(values: (number | null)[]): number | null {
  const d = values.filter((v): v is number => v !== null);
  return d.length ? d.reduce((s, v) => s + v, 0) / d.length : null;
}

export function runLabel(r: { task: string; seed: number; position: string }): string {
  return `${r.task} · seed ${r.seed} · ${r.position}`;
}
