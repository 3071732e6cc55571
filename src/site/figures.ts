// Figures: Vega-Lite specs built from the data, rendered to SVG at build time. Every figure draws one point mark
// (named `points`) per data row, so the page can be checked against the figure's CSV/JSON, which are published beside
// it. Lines join the points of a series; the points carry native SVG tooltips.

import * as vega from 'vega';
import * as vl from 'vega-lite';
import type { Run } from '../pipeline/report/results.ts';
import { BASELINE_LABEL, CURVE_METRICS, METRIC_LABEL } from '../pipeline/report/diff.ts';
import type { BaselineName, SimilarityMetricName } from '../pipeline/metrics/schema.ts';
import { type SiteData, siteData } from './data.ts';

export type Row = Record<string, string | number>;

export interface FigureDef {
  id: string;
  title: string;
  caption: string;
  /** Accessible description of what the figure shows. */
  description: string;
  columns: string[];
  rows: Row[];
  x: { field: string; title: string; type?: 'quantitative' | 'ordinal' };
  y: { field: string; title: string };
  color: { field: string; title: string };
  dash?: { field: string; title: string };
  width?: number;
}

const METRIC_FIGURES: { id: string; title: string; metric: SimilarityMetricName[]; baselines: BaselineName[]; caption: string }[] = [
  {
    id: 'simaou-norm', title: 'SimAOU, normalised (the paper\'s definition), per layer', metric: ['simaou_norm'], baselines: ['untrained', 'trained-embeddings', 'uniform', 'gaussian'],
    caption: 'Cosine between the ICL and FT updates of the attention output, normalising before subtracting the zero-shot state (the paper). Dashed: baselines (null models and random updates). Normalising this way inflates the value by construction (critique 1), so compare with the baselines, not with 0.',
  },
  {
    id: 'simaou-raw', title: 'SimAOU, unnormalised, per layer', metric: ['simaou_raw'], baselines: ['untrained', 'trained-embeddings', 'uniform', 'gaussian'],
    caption: 'The same cosine on unnormalised updates (Deutch et al.), with the same baselines.',
  },
  {
    id: 'simam', title: 'SimAM raw (before and after FT) and SimAM Delta, per layer', metric: ['simam_before', 'simam_after', 'simam_delta'], baselines: [],
    caption: 'Raw SimAM compares whole attention maps and is dominated by the shared zero-shot map; SimAM Delta compares the changes that ICL and FT make to it (critique 2).',
  },
  {
    id: 'kendall', title: 'Kendall rank correlation of attention to demonstration tokens, per layer', metric: ['kendall'], baselines: ['uniform', 'gaussian'],
    caption: 'Kendall tau between ICL attention to the demonstration tokens and FT\'s dual-form attention to the training tokens, with random-score baselines.',
  },
];

function curveLabel(metric: SimilarityMetricName, baseline?: BaselineName): string {
  return baseline ? `baseline: ${BASELINE_LABEL[baseline]}` : METRIC_LABEL[metric];
}

/** Per-layer rows of some runs, averaged over the runs of each series (they share the depth: one model). */
function layerRows(groups: { series: string; runs: Run[] }[], metrics: SimilarityMetricName[], baselines: BaselineName[]): Row[] {
  const rows: Row[] = [];
  for (const { series, runs } of groups) {
    if (runs.length === 0) continue;
    const L = runs[0].metrics.numLayers;
    const curves: { curve: string; get: (r: Run, l: number) => number | null | undefined }[] = [];
    for (const m of metrics) {
      curves.push({ curve: curveLabel(m), get: (r, l) => r.metrics.metrics[m]?.perLayer[l] });
      for (const b of baselines) curves.push({ curve: curveLabel(m, b), get: (r, l) => r.metrics.metrics[m]?.baselines[b]?.perLayer[l] });
    }
    for (const c of curves) {
      for (let l = 0; l < L; l++) {
        const vals = runs.filter((r) => r.metrics.numLayers === L).map((r) => c.get(r, l)).filter((v): v is number => typeof v === 'number');
        if (vals.length === 0) continue;
        rows.push({ series, curve: c.curve, layer: l + 1, relativeDepth: Number(((l + 1) / L).toFixed(6)), value: vals.reduce((s, v) => s + v, 0) / vals.length, runs: vals.length });
      }
    }
  }
  return rows;
}

const LAYER_COLUMNS = ['series', 'curve', 'layer', 'relativeDepth', 'value', 'runs'];

/** The report's per-layer figures: every model overlaid on relative depth (label_token runs, averaged over tasks and seeds). */
export function reportFigures(d: SiteData = siteData()): FigureDef[] {
  if (d.runs.length === 0) return [];
  return METRIC_FIGURES.map((f) => ({
    id: `report-${f.id}`,
    title: f.title,
    caption: `${f.caption} One colour per model; values averaged over tasks and seeds at the label-token position; x is relative depth (layer / number of layers).`,
    description: `Line chart of ${f.title.toLowerCase()} against relative depth for ${d.models.length} model(s).`,
    columns: LAYER_COLUMNS,
    rows: layerRows(d.models.map((m) => ({ series: m.id, runs: m.runs.filter((r) => r.position === 'label_token') })), f.metric, f.baselines),
    x: { field: 'relativeDepth', title: 'relative depth' },
    y: { field: 'value', title: 'mean over examples' },
    color: { field: 'series', title: 'model' },
    dash: { field: 'curve', title: 'curve' },
  })).filter((f) => f.rows.length > 0);
}

/** A model page's figures: one colour per task, the model's own layers on x. */
export function modelFigures(modelId: string, d: SiteData = siteData()): FigureDef[] {
  const m = d.models.find((x) => x.id === modelId);
  if (!m) return [];
  const tasks = [...new Set(m.runs.map((r) => r.task))];
  const figs: FigureDef[] = METRIC_FIGURES.map((f) => ({
    id: `model-${m.id}-${f.id}`,
    title: `${m.name}: ${f.title}`,
    caption: `${f.caption} One colour per task; averaged over seeds at the label-token position.`,
    description: `Line chart of ${f.title.toLowerCase()} against layer for model ${m.id}, one line per task and curve.`,
    columns: LAYER_COLUMNS,
    rows: layerRows(tasks.map((t) => ({ series: t, runs: m.runs.filter((r) => r.task === t && r.position === 'label_token') })), f.metric, f.baselines),
    x: { field: 'layer', title: 'layer', type: 'ordinal' as const },
    y: { field: 'value', title: 'mean over examples' },
    color: { field: 'series', title: 'task' },
    dash: { field: 'curve', title: 'curve' },
  })).filter((f) => f.rows.length > 0);
  const curve = m.card?.trainingCurve;
  if (curve?.length) {
    const rows: Row[] = [];
    for (const p of curve) {
      rows.push({ series: 'loss', step: p.step, value: p.loss });
      if (p.zslAcc !== undefined) rows.push({ series: 'ZSL accuracy', step: p.step, value: p.zslAcc });
      if (p.iclAcc !== undefined) rows.push({ series: 'ICL accuracy', step: p.step, value: p.iclAcc });
    }
    figs.unshift({
      id: `model-${m.id}-training`,
      title: `${m.name}: training curve`,
      caption: 'Training loss and probe accuracies (fractions) of this embedded model over training steps, from its card.',
      description: `Line chart of training loss and probe accuracy against step for ${m.id}.`,
      columns: ['series', 'step', 'value'],
      rows,
      x: { field: 'step', title: 'training step' },
      y: { field: 'value', title: 'value' },
      color: { field: 'series', title: 'series' },
    });
  }
  return figs;
}

/** A diff page's figures: both sides' per-layer curves overlaid on relative depth. */
export function diffFigures(slug: string, d: SiteData = siteData()): FigureDef[] {
  const diff = d.diff(slug);
  return CURVE_METRICS.map((metric) => ({
    id: `diff-${slug}-${metric.replace('_', '-')}`,
    title: `${METRIC_LABEL[metric]}: ${diff.a} vs ${diff.b}`,
    caption: `${METRIC_LABEL[metric]} per layer for both models on relative depth, averaged over the matched runs.`,
    description: `Line chart of ${METRIC_LABEL[metric]} against relative depth for ${diff.a} and ${diff.b}.`,
    columns: ['series', 'layer', 'relativeDepth', 'value'],
    rows: diff.curves.filter((c) => c.metric === metric).map((c) => ({ series: c.series, layer: c.layer + 1, relativeDepth: Number(c.relativeDepth.toFixed(6)), value: c.value })),
    x: { field: 'relativeDepth', title: 'relative depth' },
    y: { field: 'value', title: METRIC_LABEL[metric] },
    color: { field: 'series', title: 'model' },
    width: 320,
  })).filter((f) => f.rows.length > 0);
}

/** Every figure of the site (for the CSV / JSON downloads). */
export function allFigures(d: SiteData = siteData()): FigureDef[] {
  return [
    ...reportFigures(d),
    ...d.models.flatMap((m) => modelFigures(m.id, d)),
    ...d.pairs.filter((p) => p.neighbours).flatMap((p) => diffFigures(p.slug, d)),
  ];
}

function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

export function vegaLiteSpec(f: FigureDef): vl.TopLevelSpec {
  const x = { field: f.x.field, type: f.x.type ?? 'quantitative', title: f.x.title, ...(f.x.type === 'ordinal' ? { axis: { labelAngle: 0 } } : {}) };
  const y = { field: f.y.field, type: 'quantitative' as const, title: f.y.title, scale: { zero: false } };
  const color = { field: f.color.field, type: 'nominal' as const, title: f.color.title };
  const dash = f.dash ? { field: f.dash.field, type: 'nominal' as const, title: f.dash.title } : undefined;
  const tooltip = f.columns.map((c) => ({ field: c, type: typeof f.rows[0]?.[c] === 'number' ? ('quantitative' as const) : ('nominal' as const), ...(c === 'value' ? { format: '.4f' } : {}) }));
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    description: f.description,
    width: f.width ?? 460,
    height: f.width ? 180 : 240,
    data: { values: f.rows },
    config: { font: 'system-ui, sans-serif', legend: { orient: 'bottom', columns: 2, labelLimit: 260 }, view: { stroke: '#ccc' } },
    layer: [
      { mark: { type: 'line', strokeWidth: 1.6 }, encoding: { x, y, color, ...(dash ? { strokeDash: dash, detail: { field: f.dash?.field } } : {}) } },
      { name: 'points', mark: { type: 'point', filled: true, size: 28 }, encoding: { x, y, color, ...(dash ? { shape: dash } : {}), tooltip } },
    ],
  } as vl.TopLevelSpec;
}

const svgCache = new Map<string, Promise<string>>();

/** The figure as an SVG string with an accessible title/description and native tooltips on its points. */
export function renderSvg(f: FigureDef): Promise<string> {
  const hit = svgCache.get(f.id);
  if (hit) return hit;
  const p = (async () => {
    const view = new vega.View(vega.parse(vl.compile(vegaLiteSpec(f)).spec), { renderer: 'none' });
    let svg = await view.toSVG();
    view.finalize();
    const tid = `${f.id}-title`;
    const did = `${f.id}-desc`;
    svg = svg.replace(/^<svg /, `<svg role="img" aria-labelledby="${tid} ${did}" `).replace(/^(<svg[^>]*>)/, `$1<title id="${tid}">${escapeXml(f.title)}</title><desc id="${did}">${escapeXml(f.description)}</desc>`);
    // Tooltips without JavaScript: each point's aria-label (its data) becomes an SVG <title>.
    svg = svg.replace(/<path aria-label="([^"]*)"([^>]*?)\/>/g, '<path aria-label="$1"$2><title>$1</title></path>');
    return svg;
  })();
  svgCache.set(f.id, p);
  return p;
}

function csvCell(v: string | number | undefined): string {
  const s = v === undefined ? '' : String(v);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function figureCsv(f: FigureDef): string {
  return [f.columns.join(','), ...f.rows.map((r) => f.columns.map((c) => csvCell(r[c])).join(','))].join('\n') + '\n';
}

export function figureJson(f: FigureDef): string {
  return JSON.stringify({ id: f.id, title: f.title, columns: f.columns, rows: f.rows }, null, 1);
}
