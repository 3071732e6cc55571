// The diff module, `lab diff` (text and --json), the results loader, the examples schema and the report summary.

import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pairedBootstrapMeanDiff } from '../../src/pipeline/metrics/bootstrap.ts';
import { makeRunFixture } from '../../src/pipeline/metrics/examples-fixture.ts';
import { ExamplesSchemaError, parseExamplesFile } from '../../src/pipeline/metrics/examples-schema.ts';
import { parseMetricsRecord } from '../../src/pipeline/metrics/schema.ts';
import { type DiffResult, DiffSpecError, diffSpecs, formatDiffText, parseRunSpec } from '../../src/pipeline/report/diff.ts';
import { formatNumber } from '../../src/pipeline/report/format.ts';
import { PAPER_TABLES, paperTaskOf } from '../../src/pipeline/report/paper.ts';
import { ResultsError, loadResults, writeRun } from '../../src/pipeline/report/results.ts';
import { summarize } from '../../src/pipeline/report/summary.ts';
import { ROOT } from './build.ts';
import { writeFixtureResults } from './fixtures.ts';

let dir = '';
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'icl-diff-'));
  writeFixtureResults(path.join(dir, 'results'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('examples schema and run fixture', () => {
  it('a run fixture validates and its two files agree', () => {
    const { metrics, examples } = makeRunFixture({ model: 'm', task: 't', numTestExamples: 20, numLayers: 3 });
    expect(() => parseMetricsRecord(JSON.parse(JSON.stringify(metrics)))).not.toThrow();
    const e = parseExamplesFile(JSON.parse(JSON.stringify(examples)));
    expect(e.perExample.correct.icl.filter(Boolean).length).toBe(metrics.accuracy.icl.numerator);
    // Mean of the per-example layer averages = the record's layer average (no undefined values here).
    const col = e.perExample.values.simaou_norm as number[];
    expect(col.reduce((s, v) => s + v, 0) / col.length).toBeCloseTo(metrics.metrics.simaou_norm.mean.estimate as number, 12);
  });

  it('rejects inconsistent examples files, naming the field', () => {
    const { examples } = makeRunFixture({ numTestExamples: 10 });
    const bad = JSON.parse(JSON.stringify(examples));
    bad.examples[0].pred.icl = 99;
    bad.perExample.gold.pop();
    try {
      parseExamplesFile(bad);
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ExamplesSchemaError);
      const msg = (err as Error).message;
      expect(msg).toContain('perExample.gold');
      expect(msg).toContain('examples[0].pred.icl');
    }
    expect(() => parseExamplesFile({ ...examples, schemaVersion: 2 })).toThrow(/unsupported examples schema version 2/);
  });

  it('keeps dataset text verbatim (escaping is the page\'s job)', () => {
    const text = '<script>alert(1)</script>';
    const { examples } = makeRunFixture({ texts: [text] });
    expect(parseExamplesFile(JSON.parse(JSON.stringify(examples))).examples[0].text).toBe(text);
  });
});

describe('results loader', () => {
  it('loads the fixture layout, sorted, with examples where written', () => {
    const r = loadResults(path.join(dir, 'results'));
    expect(r.models).toEqual(['tiny-a', 'tiny-b', 'tiny-c']);
    expect(r.tasks).toEqual(['sst2', 'toy-topics']);
    expect(r.runs).toHaveLength(8);
    expect(r.runs.find((x) => x.model === 'tiny-c' && x.task === 'toy-topics')?.examples).toBeNull();
  });

  it('a missing directory is empty, not an error', () => {
    const r = loadResults(path.join(dir, 'nope'));
    expect(r.exists).toBe(false);
    expect(r.runs).toEqual([]);
  });

  it('names the file whose id disagrees with its path, or whose examples disagree with it', () => {
    const bad = path.join(dir, 'bad1');
    const { metrics, examples } = makeRunFixture({ model: 'm', task: 't', seed: 1 });
    writeRun(bad, metrics, examples);
    fs.renameSync(path.join(bad, 'm'), path.join(bad, 'other'));
    expect(() => loadResults(bad)).toThrow(ResultsError);
    expect(() => loadResults(bad)).toThrow(/other\/t\/seed-1\.label_token\.metrics\.json: id\.model is "m"/);

    const bad2 = path.join(dir, 'bad2');
    const flipped = JSON.parse(JSON.stringify(examples));
    flipped.perExample.correct.zsl = flipped.perExample.correct.zsl.map((c: boolean) => !c);
    flipped.examples = [];
    writeRun(bad2, metrics, flipped);
    expect(() => loadResults(bad2)).toThrow(/seed-1\.label_token\.examples\.json: disagrees with its metrics record/);
  });
});

describe('diff', () => {
  const runs = () => loadResults(path.join(dir, 'results')).runs;

  it('parses run specs and explains bad ones', () => {
    expect(parseRunSpec('m')).toEqual({ model: 'm' });
    expect(parseRunSpec('m/sst2/seed-3/prompt_end')).toEqual({ model: 'm', task: 'sst2', seed: 3, position: 'prompt_end' });
    expect(parseRunSpec('m/sst2/3')).toEqual({ model: 'm', task: 'sst2', seed: 3 });
    expect(() => parseRunSpec('m/sst2/x')).toThrow(DiffSpecError);
    expect(() => parseRunSpec('m/sst2/1/middle')).toThrow(/position must be one of label_token, prompt_end/);
  });

  it('unknown ids list the known ones', () => {
    expect(() => diffSpecs(runs(), 'tiny-z', 'tiny-a')).toThrow('unknown model "tiny-z". Known models: tiny-a, tiny-b, tiny-c');
    expect(() => diffSpecs(runs(), 'tiny-a/nope', 'tiny-b')).toThrow('unknown task "nope" for model tiny-a. Known tasks: sst2, toy-topics');
    expect(() => diffSpecs(runs(), 'tiny-b/sst2/9', 'tiny-a')).toThrow('Known seeds: 1, 2');
  });

  it('models: matches runs on task/seed/position, deltas are A - B, paired intervals from per-example data', () => {
    const d = diffSpecs(runs(), 'tiny-b', 'tiny-a', { resamples: 300 });
    expect(d.pairs.map((p) => p.match)).toEqual(['sst2 · seed 1 · label_token', 'toy-topics · seed 1 · label_token']);
    expect(d.onlyA.map((r) => r.metricsFile)).toEqual(['tiny-b/sst2/seed-2.label_token.metrics.json']);
    const all = runs();
    const rb = all.find((r) => r.model === 'tiny-b' && r.task === 'sst2' && r.seed === 1);
    const ra = all.find((r) => r.model === 'tiny-a' && r.task === 'sst2' && r.seed === 1);
    if (!ra?.examples || !rb?.examples) throw new Error('fixture without examples');
    const p = d.pairs[0];
    expect(p.paired).toBe(true);
    const row = p.rows.find((r) => r.key === 'metrics.simaou_norm');
    expect(row?.a).toBe(rb.metrics.metrics.simaou_norm.mean.estimate);
    expect(row?.delta).toBeCloseTo((row?.a as number) - (row?.b as number), 15);
    expect(row?.interval.method).toBe('paired-bootstrap');
    const expected = pairedBootstrapMeanDiff(rb.examples.perExample.values.simaou_norm as number[], ra.examples.perExample.values.simaou_norm as number[], { resamples: 300, seed: 0 });
    expect(row?.interval.lo).toBe(expected.lo);
    expect(row?.interval.hi).toBe(expected.hi);
    const acc = p.rows.find((r) => r.key === 'accuracy.icl');
    expect(acc?.format).toBe('pct1');
    expect(acc?.interval.method).toBe('paired-bootstrap');
    // Baseline rows exist only where both sides have the baseline (tiny-a has no null models).
    expect(p.rows.some((r) => r.key === 'metrics.simaou_norm.baselines.untrained')).toBe(false);
    expect(p.rows.find((r) => r.key === 'metrics.simaou_norm.baselines.uniform')?.interval.method).toBe('unpaired-approx');
    // Curves on relative depth: 4 layers for A, 2 for B, per curve metric.
    const a = d.curves.filter((c) => c.side === 'A' && c.metric === 'simaou_norm');
    expect(a.map((c) => c.relativeDepth)).toEqual([0.25, 0.5, 0.75, 1]);
    expect(d.curves.filter((c) => c.side === 'B' && c.metric === 'simaou_norm')).toHaveLength(2);
  });

  it('says unpaired when a side has no per-example data', () => {
    const d = diffSpecs(runs(), 'tiny-c/toy-topics', 'tiny-b/toy-topics', { resamples: 100 });
    expect(d.pairs).toHaveLength(1);
    expect(d.pairs[0].paired).toBe(false);
    expect(d.pairs[0].pairing).toContain('unpaired');
    expect(d.pairs[0].rows.every((r) => r.interval.method !== 'paired-bootstrap')).toBe(true);
  });

  it('two runs of one model: two seeds', () => {
    const d = diffSpecs(runs(), 'tiny-b/sst2/2', 'tiny-b/sst2/1', { resamples: 100 });
    expect(d.pairs).toHaveLength(1);
    expect(d.pairs[0].a.seed).toBe(2);
    expect(d.pairs[0].b.seed).toBe(1);
    expect(d.pairs[0].paired).toBe(true); // same task, same example ids
  });

  it('prints every row in the text table with the shared formatter', () => {
    const d = diffSpecs(runs(), 'tiny-b', 'tiny-a', { resamples: 100 });
    const text = formatDiffText(d);
    const blocks = text.split('\n\n');
    d.pairs.forEach((p, i) => {
      const block = blocks[i + 1].split('\n');
      expect(block[0]).toContain(p.match);
      for (const r of p.rows) {
        const line = block.find((l) => l.startsWith(`${r.label} `));
        expect(line, r.label).toBeDefined();
        expect(line).toContain(`${formatNumber(r.a, r.format)}  `);
        expect(line).toContain(formatNumber(r.delta, r.deltaFormat));
      }
    });
    expect(text).toContain('Only in A (no counterpart): tiny-b/sst2/seed-2.label_token.metrics.json');
  });
});

describe('lab diff', () => {
  const lab = (...args: string[]) => spawnSync(process.execPath, [path.join(ROOT, 'src/bin/icl-lab.mjs'), 'diff', ...args], {
    encoding: 'utf8', env: { ...process.env, ICL_LAB_RESULTS: path.join(dir, 'results') }, timeout: 60_000,
  });

  it('prints the table as text', () => {
    const r = lab('tiny-c', 'tiny-b', '--resamples', '200');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('A: tiny-c');
    expect(r.stdout).toMatch(/SimAOU normalised \(paper\)\s+\S+\s+\S+\s+[+\u2212]?\d/);
    expect(r.stdout).toContain('unpaired: per-example data missing for A');
  });

  it('--json gives the diff module\'s result; --results overrides the directory', () => {
    const r = spawnSync(process.execPath, [path.join(ROOT, 'src/bin/icl-lab.mjs'), 'diff', 'tiny-b', 'tiny-a', '--json', '--resamples', '100', '--results', path.join(dir, 'results')], { encoding: 'utf8', timeout: 60_000 });
    expect(r.status, r.stderr).toBe(0);
    const d = JSON.parse(r.stdout) as DiffResult;
    expect(d).toEqual(JSON.parse(JSON.stringify(diffSpecs(loadResults(path.join(dir, 'results')).runs, 'tiny-b', 'tiny-a', { resamples: 100 }))));
  });

  it('clear errors for unknown ids and wrong arity', () => {
    const r = lab('nope', 'tiny-a');
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('unknown model "nope". Known models: tiny-a, tiny-b, tiny-c');
    expect(r.stderr).not.toContain('    at ');
    const r2 = lab('tiny-a');
    expect(r2.status).toBe(2);
    expect(r2.stderr).toContain('expected A B');
    const r3 = spawnSync(process.execPath, [path.join(ROOT, 'src/bin/icl-lab.mjs'), 'diff', 'a', 'b', '--results', path.join(dir, 'empty')], { encoding: 'utf8' });
    expect(r3.status).toBe(1);
    expect(r3.stderr).toContain('nothing to diff yet');
  });
});

describe('report summary and the paper\'s tables', () => {
  it('counts layers and runs against baselines; absent baselines are "not run"', () => {
    const s = summarize(loadResults(path.join(dir, 'results')).runs);
    expect(s.counts).toEqual({ runs: 8, models: 3, tasks: 2, seeds: 2, runsWithExamples: 7 });
    const untrained = s.layerClaims.find((c) => c.metric === 'simaou_norm' && c.baseline === 'untrained');
    // tiny-a (2 layers) has no null models: 3 runs of tiny-b (4 layers) + 3 of tiny-c (6 layers).
    expect(untrained?.layers.total).toBe(3 * 4 + 3 * 6);
    const te = s.layerClaims.find((c) => c.baseline === 'trained-embeddings');
    expect(te?.status).toBe('not run');
    expect(s.baselinesNotRun).toContainEqual({ metric: 'simaou_norm', baseline: 'trained-embeddings' });
    expect(s.fewSeeds).toHaveLength(6);
  });

  it('an empty result set gives zero counts and "not run" verdicts', () => {
    const s = summarize([]);
    expect(s.counts.runs).toBe(0);
    expect(s.layerClaims.every((c) => c.status === 'not run')).toBe(true);
  });

  it('quotes the paper\'s averages and maps dataset names', () => {
    expect(PAPER_TABLES.table3['1.3B'].deltaFt.avg).toBe(0.186);
    expect(PAPER_TABLES.table4['1.3B'].after.avg).toBe(0.442);
    expect(PAPER_TABLES.table1.accuracy['2.7B'].icl.sst2).toBe(95.0);
    expect(paperTaskOf('SST-2')).toBe('sst2');
    expect(paperTaskOf('ag_news')).toBe('agnews');
    expect(paperTaskOf('toy-topics')).toBeUndefined();
  });

  it('formats numbers like the paper, with a true minus sign', () => {
    expect(formatNumber(0.9272, 'pct1')).toBe('92.7');
    expect(formatNumber(-0.0123, 'sf3')).toBe('\u22120.012');
    expect(formatNumber(0.024, 'spp1')).toBe('+2.4');
    expect(formatNumber(-0.00001, 'f3')).toBe('0.000');
    expect(formatNumber(null, 'f3')).toBe('\u2014');
  });
});
