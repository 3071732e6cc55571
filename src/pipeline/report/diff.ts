// Diff of two models (or two runs): every metric side by side with its delta A - B and an interval for the delta.
// Pure: takes loaded runs, returns plain data; the site's diff pages and `lab diff` both print this.
//
// Interval of a delta:
//   - 'paired-bootstrap': both runs have per-example data (examples.json) over the same example ids; the delta's
//     interval resamples the shared examples (pairedBootstrap / pairedBootstrapMeanDiff of src/pipeline/metrics).
//   - 'unpaired-approx': no shared per-example data; the two runs' own intervals combined as independent normal
//     errors, half-width sqrt(hA^2 + hB^2). A rough guide, labelled as such.
//   - 'none': a value or interval is missing on either side.

import { type Correctness, rec2ftp } from '../metrics/accuracy.ts';
import { pairedBootstrap, pairedBootstrapMeanDiff } from '../metrics/bootstrap.ts';
import { type ExamplesFile, PER_EXAMPLE_METRICS, type PerExampleMetric } from '../metrics/examples-schema.ts';
import { ANALYSIS_POSITIONS, type AnalysisPosition, BASELINES, type IntervalJson, type MetricsRecord, SETTINGS } from '../metrics/schema.ts';
import { type NumFormat, formatNumber, formatOfMetric } from './format.ts';
import type { Run } from './results.ts';

/** What the diff needs of a run: the loader's Run without the examples file path. */
export type DiffRunInput = Omit<Run, 'examplesFile'>;

/** `model[/task[/seed[/position]]]`; seed as `3` or `seed-3`. */
export interface RunSpec {
  model: string;
  task?: string;
  seed?: number;
  position?: AnalysisPosition;
}

export class DiffSpecError extends Error {}

export function parseRunSpec(text: string): RunSpec {
  const parts = text.split('/').map((p) => p.trim());
  if (parts.length > 4 || parts.some((p) => p === '')) {
    throw new DiffSpecError(`"${text}": expected MODEL, MODEL/TASK, MODEL/TASK/SEED or MODEL/TASK/SEED/POSITION`);
  }
  const [model, task, seedText, position] = parts;
  const spec: RunSpec = { model };
  if (task !== undefined) spec.task = task;
  if (seedText !== undefined) {
    const m = /^(?:seed-)?(-?\d+)$/.exec(seedText);
    if (!m) throw new DiffSpecError(`"${text}": seed must be a number like 3 or seed-3, got "${seedText}"`);
    spec.seed = Number(m[1]);
  }
  if (position !== undefined) {
    if (!(ANALYSIS_POSITIONS as readonly string[]).includes(position)) {
      throw new DiffSpecError(`"${text}": position must be one of ${ANALYSIS_POSITIONS.join(', ')}, got "${position}"`);
    }
    spec.position = position as AnalysisPosition;
  }
  return spec;
}

export function formatRunSpec(s: RunSpec): string {
  return [s.model, s.task, s.seed === undefined ? undefined : `seed-${s.seed}`, s.position].filter((p) => p !== undefined).join('/');
}

function listOrNone(items: readonly (string | number)[]): string {
  return items.length ? items.join(', ') : '(none)';
}

/** The runs a spec names; unknown ids raise DiffSpecError listing the known ones. */
export function selectRuns<R extends DiffRunInput>(runs: readonly R[], spec: RunSpec): R[] {
  const models = [...new Set(runs.map((r) => r.model))].sort();
  if (!models.includes(spec.model)) {
    throw new DiffSpecError(`unknown model "${spec.model}". Known models: ${listOrNone(models)}`);
  }
  let sel = runs.filter((r) => r.model === spec.model);
  if (spec.task !== undefined) {
    const tasks = [...new Set(sel.map((r) => r.task))].sort();
    if (!tasks.includes(spec.task)) throw new DiffSpecError(`unknown task "${spec.task}" for model ${spec.model}. Known tasks: ${listOrNone(tasks)}`);
    sel = sel.filter((r) => r.task === spec.task);
  }
  if (spec.seed !== undefined) {
    const seeds = [...new Set(sel.map((r) => r.seed))].sort((x, y) => x - y);
    if (!seeds.includes(spec.seed)) throw new DiffSpecError(`unknown seed ${spec.seed} for ${formatRunSpec({ model: spec.model, task: spec.task })}. Known seeds: ${listOrNone(seeds)}`);
    sel = sel.filter((r) => r.seed === spec.seed);
  }
  if (spec.position !== undefined) {
    const positions = [...new Set(sel.map((r) => r.position))].sort();
    if (!positions.includes(spec.position)) throw new DiffSpecError(`no ${spec.position} run for ${formatRunSpec({ ...spec, position: undefined })}. Known positions: ${listOrNone(positions)}`);
    sel = sel.filter((r) => r.position === spec.position);
  }
  return sel;
}

export type IntervalMethod = 'paired-bootstrap' | 'unpaired-approx' | 'none';

export interface DiffInterval {
  lo: number | null;
  hi: number | null;
  level: number;
  method: IntervalMethod;
  /** Examples resampled (paired) or null. */
  n: number | null;
  pValue: number | null;
}

export interface DiffRow {
  /** Stable metric key, e.g. 'accuracy.icl', 'metrics.simaou_norm', 'metrics.simaou_norm.baselines.untrained'. */
  key: string;
  label: string;
  /** JSON path of the value inside each side's metrics record. */
  path: string;
  format: NumFormat;
  deltaFormat: NumFormat;
  a: number | null;
  b: number | null;
  delta: number | null;
  interval: DiffInterval;
}

export interface RunRef {
  model: string;
  task: string;
  seed: number;
  position: AnalysisPosition;
  metricsFile: string;
  numLayers: number;
}

export interface RunPair {
  /** What the two runs share, e.g. "sst2 · seed 1 · label_token" (empty when both sides name one run). */
  match: string;
  a: RunRef;
  b: RunRef;
  paired: boolean;
  /** Why the intervals are or are not paired. */
  pairing: string;
  rows: DiffRow[];
}

export interface CurvePoint {
  side: 'A' | 'B';
  series: string;
  metric: string;
  layer: number;
  relativeDepth: number;
  value: number;
}

export interface DiffResult {
  a: string;
  b: string;
  level: number;
  resamples: number;
  pairs: RunPair[];
  /** Runs on one side with no counterpart on the other. */
  onlyA: RunRef[];
  onlyB: RunRef[];
  /** Per-layer curves of each side, averaged over its paired runs, on relative depth. */
  curves: CurvePoint[];
}

export interface DiffOptions {
  resamples?: number;
  level?: number;
  seed?: number;
}

const SETTING_LABEL = { zsl: 'ZSL', icl: 'ICL', ft: 'FT' } as const;
const RATIO_KEYS = ['rec2ftp', 'chance', 'reverse', 'reverseChance'] as const;
const RATIO_LABEL = { rec2ftp: 'Rec2FTP', chance: 'Rec2FTP chance P(ICL right | ZSL wrong)', reverse: 'Reverse Rec2FTP', reverseChance: 'Reverse chance P(FT right | ZSL wrong)' } as const;
export const METRIC_LABEL: Record<string, string> = {
  simaou_norm: 'SimAOU normalised (paper)',
  simaou_raw: 'SimAOU unnormalised',
  simam_before: 'SimAM before FT (ICL vs ZSL)',
  simam_after: 'SimAM after FT (ICL vs FT)',
  simam_delta: 'SimAM Delta',
  kendall: 'Kendall (ICL, FT)',
  kendall_example: 'Kendall, example level',
};
export const BASELINE_LABEL: Record<string, string> = {
  uniform: 'uniform random', gaussian: 'Gaussian random', untrained: 'untrained model', 'trained-embeddings': 'trained embeddings only',
};
/** Metrics drawn as per-layer curves in a diff. */
export const CURVE_METRICS = ['simaou_norm', 'simaou_raw', 'simam_after', 'simam_delta', 'kendall'] as const;

function runRef(r: DiffRunInput): RunRef {
  return { model: r.model, task: r.task, seed: r.seed, position: r.position, metricsFile: r.metricsFile, numLayers: r.metrics.numLayers };
}

function unpairedInterval(delta: number | null, ca: IntervalJson | null, cb: IntervalJson | null, level: number): DiffInterval {
  const none: DiffInterval = { lo: null, hi: null, level, method: 'none', n: null, pValue: null };
  if (delta === null || !ca || !cb || ca.lo === null || ca.hi === null || cb.lo === null || cb.hi === null) return none;
  if (ca.level !== level || cb.level !== level) return none;
  const h = Math.hypot((ca.hi - ca.lo) / 2, (cb.hi - cb.lo) / 2);
  return { lo: delta - h, hi: delta + h, level, method: 'unpaired-approx', n: null, pValue: null };
}

function nullable(v: number | undefined): number | null {
  return v === undefined || Number.isNaN(v) ? null : v;
}

/** Column b reordered to a's example order, or null if the two runs do not have exactly the same example ids. */
function alignment(ea: ExamplesFile, eb: ExamplesFile): number[] | null {
  const ia = ea.perExample.ids;
  const ib = eb.perExample.ids;
  if (ia.length !== ib.length || ia.length === 0) return null;
  const pos = new Map(ib.map((id, i) => [id, i]));
  const order: number[] = [];
  for (const id of ia) {
    const j = pos.get(id);
    if (j === undefined) return null;
    order.push(j);
  }
  return order;
}

function diffPair(a: DiffRunInput, b: DiffRunInput, match: string, o: Required<DiffOptions>): RunPair {
  const ma = a.metrics;
  const mb = b.metrics;
  const order = a.examples && b.examples ? alignment(a.examples, b.examples) : null;
  const paired = order !== null;
  const pairing = paired
    ? `paired over ${order.length} shared test examples`
    : !a.examples || !b.examples
      ? `unpaired: per-example data missing for ${[!a.examples ? 'A' : '', !b.examples ? 'B' : ''].filter(Boolean).join(' and ')}`
      : 'unpaired: the runs do not share the same test examples';
  const bo = { resamples: o.resamples, level: o.level, seed: o.seed };
  const rows: DiffRow[] = [];
  const pairedInterval = (iv: { lo: number | undefined; hi: number | undefined; pValue: number | undefined }, n: number): DiffInterval => ({
    lo: nullable(iv.lo), hi: nullable(iv.hi), level: o.level, method: 'paired-bootstrap', n, pValue: nullable(iv.pValue),
  });
  const push = (key: string, label: string, path: string, va: number | null, vb: number | null, interval: (delta: number | null) => DiffInterval) => {
    const f = formatOfMetric(key);
    const delta = va === null || vb === null ? null : va - vb;
    rows.push({ key, label, path, format: f.value, deltaFormat: f.delta, a: va, b: vb, delta, interval: delta === null ? unpairedInterval(null, null, null, o.level) : interval(delta) });
  };

  // Per-example columns, B in A's order.
  const colA = (get: (e: ExamplesFile) => readonly (number | boolean | null)[]) => Float64Array.from(get(a.examples as ExamplesFile), toNum);
  const colB = (get: (e: ExamplesFile) => readonly (number | boolean | null)[]) => {
    const src = get(b.examples as ExamplesFile);
    return Float64Array.from(order as number[], (j) => toNum(src[j]));
  };
  const correctA: Correctness | null = paired ? { zsl: colA((e) => e.perExample.correct.zsl), icl: colA((e) => e.perExample.correct.icl), ft: colA((e) => e.perExample.correct.ft) } : null;
  const correctB: Correctness | null = paired ? { zsl: colB((e) => e.perExample.correct.zsl), icl: colB((e) => e.perExample.correct.icl), ft: colB((e) => e.perExample.correct.ft) } : null;

  for (const s of SETTINGS) {
    push(`accuracy.${s}`, `Accuracy ${SETTING_LABEL[s]} (%)`, `accuracy.${s}.value`, ma.accuracy[s].value, mb.accuracy[s].value, (d) =>
      correctA && correctB ? pairedInterval(pairedBootstrapMeanDiff(correctA[s], correctB[s], bo), correctA[s].length) : unpairedInterval(d, ma.accuracy[s].ci, mb.accuracy[s].ci, o.level));
  }
  for (const k of RATIO_KEYS) {
    push(`rec2ftp.${k}`, `${RATIO_LABEL[k]} (%)`, `rec2ftp.${k}.value`, ma.rec2ftp[k].value, mb.rec2ftp[k].value, (d) =>
      correctA && correctB
        ? pairedInterval(pairedBootstrap(correctA.zsl.length, (idx) => rec2ftp(correctA, idx)[k].value, (idx) => rec2ftp(correctB, idx)[k].value, bo), correctA.zsl.length)
        : unpairedInterval(d, ma.rec2ftp[k].ci, mb.rec2ftp[k].ci, o.level));
  }
  for (const name of Object.keys(METRIC_LABEL) as (keyof MetricsRecord['metrics'])[]) {
    const sa = ma.metrics[name];
    const sb = mb.metrics[name];
    if (!sa || !sb) continue;
    const perEx = (PER_EXAMPLE_METRICS as readonly string[]).includes(name) ? (name as PerExampleMetric) : null;
    const colOk = paired && perEx !== null && a.examples?.perExample.values[perEx] && b.examples?.perExample.values[perEx];
    push(`metrics.${name}`, METRIC_LABEL[name], `metrics.${name}.mean.estimate`, sa.mean.estimate, sb.mean.estimate, (d) =>
      colOk && perEx
        ? pairedInterval(pairedBootstrapMeanDiff(colA((e) => e.perExample.values[perEx] ?? []), colB((e) => e.perExample.values[perEx] ?? []), bo), order?.length ?? 0)
        : unpairedInterval(d, sa.mean, sb.mean, o.level));
    for (const bl of BASELINES) {
      const ba = sa.baselines[bl];
      const bb = sb.baselines[bl];
      if (!ba || !bb) continue;
      push(`metrics.${name}.baselines.${bl}`, `${METRIC_LABEL[name]}: ${BASELINE_LABEL[bl]} baseline`, `metrics.${name}.baselines.${bl}.mean.estimate`, ba.mean.estimate, bb.mean.estimate, (d) =>
        unpairedInterval(d, ba.mean, bb.mean, o.level));
    }
  }
  return { match, a: runRef(a), b: runRef(b), paired, pairing, rows };
}

function toNum(v: number | boolean | null | undefined): number {
  if (v === null || v === undefined) return NaN;
  return typeof v === 'boolean' ? (v ? 1 : 0) : v;
}

/** Average per-layer curves of runs with the same depth (the most common depth among them). */
function sideCurves(runs: DiffRunInput[], side: 'A' | 'B', series: string): CurvePoint[] {
  if (runs.length === 0) return [];
  const depthCount = new Map<number, number>();
  for (const r of runs) depthCount.set(r.metrics.numLayers, (depthCount.get(r.metrics.numLayers) ?? 0) + 1);
  const L = [...depthCount.entries()].sort((x, y) => y[1] - x[1] || x[0] - y[0])[0][0];
  const same = runs.filter((r) => r.metrics.numLayers === L);
  const out: CurvePoint[] = [];
  for (const metric of CURVE_METRICS) {
    for (let l = 0; l < L; l++) {
      let s = 0;
      let k = 0;
      for (const r of same) {
        const v = r.metrics.metrics[metric].perLayer[l];
        if (v !== null) {
          s += v;
          k++;
        }
      }
      if (k > 0) out.push({ side, series, metric, layer: l, relativeDepth: (l + 1) / L, value: s / k });
    }
  }
  return out;
}

/** Diff two selections of runs, matching runs on what the two specs do not both fix (task, seed, position). */
export function diffSelections(runsA: DiffRunInput[], specA: RunSpec, runsB: DiffRunInput[], specB: RunSpec, opts: DiffOptions = {}): DiffResult {
  const o: Required<DiffOptions> = { resamples: opts.resamples ?? 1000, level: opts.level ?? 0.95, seed: opts.seed ?? 0 };
  const free = {
    task: specA.task === undefined || specB.task === undefined,
    seed: specA.seed === undefined || specB.seed === undefined,
    position: specA.position === undefined || specB.position === undefined,
  };
  const keyOf = (r: DiffRunInput) => [free.task ? r.task : '', free.seed ? `seed ${r.seed}` : '', free.position ? r.position : ''].filter(Boolean).join(' · ');
  const byKeyB = new Map(runsB.map((r) => [keyOf(r), r]));
  const pairs: RunPair[] = [];
  const usedA: DiffRunInput[] = [];
  const usedB: DiffRunInput[] = [];
  const onlyA: RunRef[] = [];
  for (const ra of runsA) {
    const rb = byKeyB.get(keyOf(ra));
    if (!rb) {
      onlyA.push(runRef(ra));
      continue;
    }
    pairs.push(diffPair(ra, rb, keyOf(ra), o));
    usedA.push(ra);
    usedB.push(rb);
  }
  const onlyB = runsB.filter((r) => !usedB.includes(r)).map(runRef);
  const a = formatRunSpec(specA);
  const b = formatRunSpec(specB);
  return {
    a, b, level: o.level, resamples: o.resamples, pairs, onlyA, onlyB,
    curves: [...sideCurves(usedA, 'A', `A: ${a}`), ...sideCurves(usedB, 'B', `B: ${b}`)],
  };
}

/** Parse two specs, select their runs from `runs` and diff them. */
export function diffSpecs(runs: readonly DiffRunInput[], a: string, b: string, opts: DiffOptions = {}): DiffResult {
  const specA = parseRunSpec(a);
  const specB = parseRunSpec(b);
  return diffSelections(selectRuns(runs, specA), specA, selectRuns(runs, specB), specB, opts);
}

const METHOD_NOTE: Record<IntervalMethod, string> = { 'paired-bootstrap': 'paired', 'unpaired-approx': 'unpaired≈', none: '' };

/** The diff as a plain-text table (what `lab diff` prints). */
export function formatDiffText(d: DiffResult): string {
  const lines: string[] = [`A: ${d.a}`, `B: ${d.b}`, `Delta = A - B; ${Math.round(d.level * 100)}% intervals (paired bootstrap, ${d.resamples} resamples, where both runs share per-example data; otherwise unpaired≈: the two runs' intervals combined as independent)`];
  if (d.pairs.length === 0) lines.push('', 'No matching runs: the two sides share no task/seed/position.');
  const head = ['metric', 'A', 'B', 'A-B', 'interval', ''];
  for (const p of d.pairs) {
    lines.push('', `${p.match || 'runs'}: ${p.a.metricsFile} vs ${p.b.metricsFile} (${p.pairing})`);
    const body = p.rows.map((r) => [
      r.label,
      formatNumber(r.a, r.format),
      formatNumber(r.b, r.format),
      formatNumber(r.delta, r.deltaFormat),
      r.interval.lo === null ? '' : `[${formatNumber(r.interval.lo, r.deltaFormat)}, ${formatNumber(r.interval.hi, r.deltaFormat)}]`,
      METHOD_NOTE[r.interval.method],
    ]);
    const widths = head.map((h, i) => Math.max(h.length, ...body.map((row) => row[i].length)));
    const fmt = (row: string[]) => row.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ').trimEnd();
    lines.push(fmt(head), ...body.map(fmt));
  }
  for (const [side, list] of [['A', d.onlyA], ['B', d.onlyB]] as const) {
    if (list.length) lines.push('', `Only in ${side} (no counterpart): ${list.map((r) => r.metricsFile).join(', ')}`);
  }
  return `${lines.join('\n')}\n`;
}
