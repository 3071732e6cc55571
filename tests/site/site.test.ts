// Builds the report site from fixture results under a sub-path, serves it as plain static files and drives it in
// headless Chromium: every page loads without console errors, internal links resolve, each figure's mark count
// equals its data rows, every number on the report and diff pages carries its JSON key and equals the JSON, dataset
// text with a script tag shows as text, model and task pages show each run's provenance and mark a model whose inputs
// are absent (a hub model not in the HF cache) as frozen. Also: an empty results directory builds and says so; bad data
// fails the build naming the file. Screenshots go to test-artifacts/site/ (git-ignored).

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { type NumFormat, formatNumber } from '../../src/pipeline/report/format.ts';
import { CHROMIUM, CHROMIUM_ARGS, browserTestsEnabled } from './browser.ts';
import { ROOT, buildSite } from './build.ts';
import { FIXTURE_HUB_ID, FIXTURE_MODELS, XSS_TEXT, writeFixtureResults } from './fixtures.ts';
import { type StaticServer, serveStatic } from './serve.ts';

const BASE = '/some/sub/path/';
const ARTIFACTS = path.join(ROOT, 'test-artifacts', 'site');

/** Resolve a key like `metrics.simaou_norm.mean.lo`, `pairs[0].rows[3].delta` or `table1.accuracy["1.3B"].zsl.sst2`. */
export function resolveKey(obj: unknown, key: string): unknown {
  const tokens: (string | number)[] = [];
  const re = /([A-Za-z_$][\w$-]*)|\[(\d+)\]|\["((?:[^"\\]|\\.)*)"\]|\./g;
  let m: RegExpExecArray | null;
  let consumed = 0;
  while ((m = re.exec(key)) !== null) {
    if (m.index !== consumed) throw new Error(`bad key ${key}`);
    consumed = re.lastIndex;
    if (m[1] !== undefined) tokens.push(m[1]);
    else if (m[2] !== undefined) tokens.push(Number(m[2]));
    else if (m[3] !== undefined) tokens.push(JSON.parse(`"${m[3]}"`) as string);
  }
  if (consumed !== key.length) throw new Error(`bad key ${key}`);
  let o: unknown = obj;
  for (const t of tokens) {
    if (o === null || typeof o !== 'object') return undefined;
    o = (o as Record<string | number, unknown>)[t];
  }
  return o;
}

describe('report site: empty results and bad data', () => {
  it('builds with no results, says so plainly and shows only the paper\'s numbers', () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'icl-site-empty-'));
    try {
      const out = path.join(tmp, 'out');
      const b = buildSite({ results: path.join(tmp, 'missing-results'), base: '/', outDir: out });
      expect(b.status, b.output).toBe(0);
      const html = fs.readFileSync(path.join(out, 'index.html'), 'utf8');
      expect(html).toContain('No results have been computed yet');
      expect(html).toContain('Missing:');
      expect(html).toMatch(/Paper(&#39;|')s published numbers/);
      const srcs = [...html.matchAll(/class="num" data-src="([^"]+)"/g)].map((x) => x[1]);
      expect(srcs.length).toBeGreaterThan(50); // the paper's five tables
      expect(new Set(srcs)).toEqual(new Set(['/data/paper.json']));
      expect(fs.existsSync(path.join(out, 'data', 'results'))).toBe(false);
      for (const page of ['models/index.html', 'tasks/index.html', 'diff/index.html']) {
        expect(fs.readFileSync(path.join(out, page), 'utf8')).toContain('No results have been computed yet');
      }
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  }, 120_000);

  it('fails the build with a message naming a bad results file', () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'icl-site-bad-'));
    try {
      const bad = path.join(tmp, 'results', 'm', 't', 'seed-1.label_token.metrics.json');
      fs.mkdirSync(path.dirname(bad), { recursive: true });
      fs.writeFileSync(bad, JSON.stringify({ schemaVersion: 1, id: { model: 'm' } }));
      const b = buildSite({ results: path.join(tmp, 'results'), base: '/', outDir: path.join(tmp, 'out') });
      expect(b.status).not.toBe(0);
      expect(b.output).toContain(bad);
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  }, 120_000);
});

describe('report site in headless Chromium, served from a sub-path', () => {
  const enabled = browserTestsEnabled();
  let tmp = '';
  let out = '';
  let server: StaticServer;
  let browser: Browser;
  const jsonCache = new Map<string, unknown>();

  beforeAll(async () => {
    if (!enabled) return;
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'icl-site-'));
    const results = path.join(tmp, 'results');
    const models = path.join(tmp, 'models');
    writeFixtureResults(results, models);
    out = path.join(tmp, 'out');
    const b = buildSite({ results, models, base: BASE, outDir: out });
    if (b.status !== 0) throw new Error(`astro build failed:\n${b.output}`);
    server = await serveStatic(out, BASE);
    const { chromium } = await import('playwright-core');
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    fs.mkdirSync(ARTIFACTS, { recursive: true });
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  async function fetchJson(url: string): Promise<unknown> {
    const abs = new URL(url, server.origin).href;
    if (!jsonCache.has(abs)) {
      const r = await fetch(abs);
      expect(r.status, abs).toBe(200);
      jsonCache.set(abs, await r.json());
    }
    return jsonCache.get(abs);
  }

  /** Every .num carries a JSON file and key; its value and printed text equal the JSON. */
  async function checkNumbers(page: Page, where: string): Promise<number> {
    const nums = await page.$$eval('.num', (els) => els.map((e) => {
      const el = e as HTMLElement;
      return { src: el.dataset.src ?? '', key: el.dataset.key ?? '', fmt: el.dataset.fmt ?? '', value: el.dataset.value ?? '', sign: el.dataset.sign ?? '1', text: el.textContent ?? '' };
    }));
    for (const n of nums) {
      expect(n.src, `${where}: a number without its JSON file`).not.toBe('');
      expect(n.key, `${where}: a number without its JSON key`).not.toBe('');
      const json = resolveKey(await fetchJson(n.src), n.key);
      const ctx = `${where}: ${n.key} in ${n.src}`;
      if (json === null) expect(n.value, ctx).toBe('null');
      else {
        expect(typeof json, ctx).toBe('number');
        expect(Number(n.value), ctx).toBe(json);
      }
      const shown = json === null ? null : Number(n.sign) * (json as number);
      expect(n.text, ctx).toBe(formatNumber(shown, n.fmt as NumFormat));
    }
    // No untraced numbers in data tables or in the computed summary and verdict text (.const marks the method's own
    // constants such as "above 0"; .xref marks figure references).
    const stray = await page.$$eval('table.data td, .summary-text li, .summary-text p, .verdict p', (els) => els
      .map((e) => {
        const c = e.cloneNode(true) as HTMLElement;
        c.querySelectorAll('.num, .cite, .xref, .const, a[href$=".json"], .katex').forEach((x) => x.remove());
        return c.textContent ?? '';
      })
      .filter((t) => /(^|[\s([])[\u2212+-]?\d+(\.\d+)?%?(?=$|[\s,;.)\]])/.test(t)));
    expect(stray, `${where}: digits outside traced numbers`).toEqual([]);
    return nums.length;
  }

  /** Each figure's point marks = its data rows = the rows of its published JSON and CSV. */
  async function checkFigures(page: Page, where: string): Promise<number> {
    const figs = await page.$$eval('figure[data-figure]', (els) => els.map((e) => {
      const el = e as HTMLElement;
      return {
        id: el.id, rows: Number(el.dataset.rows), json: el.dataset.json ?? '', csv: el.dataset.csv ?? '',
        marks: el.querySelectorAll('g.points_marks > path').length,
        title: el.querySelector('svg > title')?.textContent ?? '', desc: el.querySelector('svg > desc')?.textContent ?? '',
        caption: el.querySelector('figcaption')?.textContent ?? '',
      };
    }));
    for (const f of figs) {
      const ctx = `${where}: figure ${f.id}`;
      expect(f.rows, ctx).toBeGreaterThan(0);
      expect(f.marks, ctx).toBe(f.rows);
      expect((await fetchJson(f.json) as { rows: unknown[] }).rows.length, ctx).toBe(f.rows);
      const csv = await (await fetch(new URL(f.csv, server.origin))).text();
      expect(csv.trim().split('\n').length - 1, ctx).toBe(f.rows);
      expect(f.title, ctx).not.toBe('');
      expect(f.desc, ctx).not.toBe('');
      expect(f.caption, ctx).toMatch(/^Figure \d+\./);
    }
    return figs.length;
  }

  it('every page loads cleanly, links resolve, figures and numbers match their data, dataset text stays text', async (ctx) => {
    if (!enabled) return ctx.skip();
    const start = `${server.origin}${BASE}`;
    const context = await browser.newContext({ viewport: { width: 1200, height: 900 } });
    const page = await context.newPage();
    const errors: string[] = [];
    const outside: string[] = [];
    let dialogs = 0;
    page.on('console', (m) => { if (m.type() === 'error') errors.push(`${page.url()}: console: ${m.text()}`); });
    page.on('pageerror', (e) => errors.push(`${page.url()}: pageerror: ${e.message}`));
    page.on('response', (r) => { if (r.status() >= 400) errors.push(`${page.url()}: HTTP ${r.status()} for ${r.url()}`); });
    page.on('request', (r) => { const u = r.url(); if (!u.startsWith('data:') && !u.startsWith(start)) outside.push(u); });
    page.on('dialog', async (d) => { dialogs++; await d.dismiss(); });

    const toVisit = [start];
    const visited = new Set<string>();
    const resources = new Set<string>();
    let numbersChecked = 0;
    let figuresChecked = 0;
    while (toVisit.length) {
      const url = toVisit.shift() as string;
      if (visited.has(url)) continue;
      visited.add(url);
      const resp = await page.goto(url, { waitUntil: 'load' });
      expect(resp?.status(), url).toBe(200);
      const rel = url.slice(start.length);
      // Links: internal pages are crawled, other internal files fetched; same-page anchors must exist.
      const links = await page.$$eval('a[href]', (as) => as.map((a) => ({ href: (a as HTMLAnchorElement).href, raw: a.getAttribute('href') ?? '' })));
      for (const { href, raw } of links) {
        const u = new URL(href);
        if (u.origin !== server.origin) continue;
        expect(u.pathname.startsWith(BASE), `${url}: link ${raw} leaves the base path`).toBe(true);
        if (raw.startsWith('#')) {
          expect(await page.$(`[id="${raw.slice(1)}"]`), `${url}: anchor ${raw}`).not.toBeNull();
          continue;
        }
        const target = `${u.origin}${u.pathname}`;
        if (target.endsWith('/') || target.endsWith('.html')) toVisit.push(target);
        else resources.add(target);
      }
      figuresChecked += await checkFigures(page, rel || 'report');
      if (rel === '' || rel.startsWith('diff/') || /^models\/.+\/$/.test(rel)) numbersChecked += await checkNumbers(page, rel || 'report');
      if (/^(models|tasks)\/.+\/$/.test(rel)) {
        // Provenance: one block per model (a model page: its own), its runs' manifests, frozen where inputs are absent.
        const blocks = await page.$$eval('section.provenance', (ss) => ss.map((s) => {
          const badge = s.querySelector<HTMLElement>('.frozen-note .frozen-badge');
          return { model: (s as HTMLElement).dataset.model, status: (s as HTMLElement).dataset.status, text: s.textContent ?? '', badge: badge ? badge.offsetHeight > 0 : null, rows: s.querySelectorAll('tbody tr').length };
        }));
        const want: Record<string, { status: string; rows: number; task: number }> = {
          'tiny-a': { status: 'outdated', rows: 2, task: 1 }, 'tiny-b': { status: 'unrecorded', rows: 0, task: 0 }, 'tiny-c': { status: 'frozen', rows: 3, task: 2 },
        };
        const onPage = rel.startsWith('models/') ? [rel.split('/')[1]] : FIXTURE_MODELS.map((m) => m.id);
        expect(blocks.map((b) => b.model), rel).toEqual(onPage);
        for (const b of blocks) {
          const w = want[b.model ?? ''];
          expect(b.status, `${rel}: ${b.model}`).toBe(w.status);
          expect(b.rows, `${rel}: ${b.model}`).toBe(rel === 'tasks/sst2/' ? w.task : rel.startsWith('models/') ? w.rows : b.rows);
          expect(b.badge, `${rel}: ${b.model} frozen badge`).toBe(w.status === 'frozen' ? true : null);
          if (w.status === 'frozen') {
            expect(b.text).toContain(`the weights of ${FIXTURE_HUB_ID} at revision main`);
            expect(b.text).toContain(`npm run lab -- run --models ${FIXTURE_HUB_ID}`);
          }
          if (w.status === 'unrecorded') expect(b.text).toContain('No provenance manifest');
          if (w.status === 'outdated') {
            expect(b.text).toContain('is in this checkout, but its weights are not the ones some of this model\'s results were computed from');
            expect(b.text).toContain('npm run lab -- run --models tiny-a');
          }
        }
        if (rel === 'models/tiny-a/') {
          // Only the run made from other weights is marked; the sst2 run recorded the weights here.
          expect(await page.isVisible('h1 .outdated-badge')).toBe(true);
          expect(await page.$$eval('section.provenance tbody tr', (trs) => trs.map((tr) => [tr.querySelector('th')?.textContent?.trim(), tr.className]))).toEqual([['sst2 · seed 1', ''], ['toy-topics · seed 1', 'outdated']]);
        }
        if (rel === 'models/tiny-c/') {
          expect(await page.isVisible('h1 .frozen-badge')).toBe(true);
          const cells = await page.$$eval('section.provenance tbody tr:first-child td', (tds) => tds.map((td) => td.textContent?.trim()));
          expect(cells).toEqual([expect.any(String), 'bbbbbbbbbbbb', 'icl-lab 0.0.1', '0123456789', 'cpu', 'not recorded', '1.3', '2026-01-02 03:04 UTC']);
          await page.screenshot({ path: path.join(ARTIFACTS, 'model-frozen.png'), fullPage: true });
        }
      }
      if (rel === '') {
        // The run table's provenance column reads each run's manifest: present, outdated, frozen, or none published.
        const runs = await page.$$eval('table.data', (ts) => ts
          .filter((t) => (t as HTMLTableElement).caption?.textContent === 'Runs read by this build.')
          .flatMap((t) => [...t.querySelectorAll('tbody tr')].map((tr) => [tr.querySelector('th')?.textContent ?? '', tr.querySelector('td:last-child')?.textContent ?? ''])));
        expect(runs.length).toBeGreaterThan(0);
        for (const [run, cell] of runs) {
          const model = run.split(' / ')[0];
          if (model === 'tiny-b') expect(cell, run).toBe('no manifest');
          else if (model === 'tiny-c') expect(cell, run).toMatch(/^inputs [0-9a-f]{12}, .*\(frozen\)$/);
          else expect(cell, run).toMatch(run.includes('toy-topics') ? /^inputs [0-9a-f]{12}, icl-lab [^,]+, \d{4}-\d\d-\d\d \(outdated\)$/ : /^inputs [0-9a-f]{12}, icl-lab [^,]+, \d{4}-\d\d-\d\d$/);
        }
      }
      if (rel === 'models/') {
        expect(await page.$$eval('.link-list .frozen-badge', (as) => as.map((a) => a.getAttribute('href')))).toEqual([`${BASE}models/tiny-c/#provenance`]);
        expect(await page.$$eval('.link-list .outdated-badge', (as) => as.map((a) => a.getAttribute('href')))).toEqual([`${BASE}models/tiny-a/#provenance`]);
      }
      if (rel === 'tasks/sst2/') {
        // The dataset text with a script tag is shown as text, in the explorer table.
        const cells = await page.$$eval('td.ex-text', (tds) => tds.map((td) => td.textContent));
        expect(cells).toContain(XSS_TEXT);
        expect(await page.$$eval('script', (ss) => ss.filter((s) => (s.textContent ?? '').includes('alert(1)')).length)).toBe(0);
        expect(await page.$$eval('td.ex-text b', (bs) => bs.length)).toBe(0);
        // The explorer's controls work: one run at a time.
        await page.selectOption('.explorer-controls select[name="filter"]', 'icl-fixes');
        expect(await page.$$eval('.explorer-run:not([hidden])', (s) => s.length)).toBe(1);
        await page.screenshot({ path: path.join(ARTIFACTS, 'task-sst2.png'), fullPage: true });
      }
      if (rel === '') await page.screenshot({ path: path.join(ARTIFACTS, 'report.png'), fullPage: true });
      if (rel === `models/${FIXTURE_MODELS[0].id}/`) await page.screenshot({ path: path.join(ARTIFACTS, 'model.png'), fullPage: true });
      if (/^diff\/.+--vs--.+\/$/.test(rel) && !fs.existsSync(path.join(ARTIFACTS, 'diff.png'))) await page.screenshot({ path: path.join(ARTIFACTS, 'diff.png'), fullPage: true });
    }
    const expectedPages = ['', 'models/', 'tasks/', 'diff/', ...FIXTURE_MODELS.map((m) => `models/${m.id}/`), 'tasks/sst2/', 'tasks/toy-topics/',
      `diff/${FIXTURE_MODELS[1].id}--vs--${FIXTURE_MODELS[0].id}/`, `diff/${FIXTURE_MODELS[2].id}--vs--${FIXTURE_MODELS[1].id}/`];
    for (const p of expectedPages) expect(visited, p).toContain(start + p);
    for (const r of resources) {
      const resp = await fetch(r);
      expect(resp.status, `linked file ${r}`).toBe(200);
    }
    expect(resources.size).toBeGreaterThan(10);
    expect(figuresChecked).toBeGreaterThan(10);
    expect(numbersChecked).toBeGreaterThan(200);

    // Any pair from the browser, here in the opposite order of the stored diff (so every delta is negated).
    await page.goto(`${start}diff/`);
    await page.selectOption('select[name="a"]', FIXTURE_MODELS[0].id);
    await page.selectOption('select[name="b"]', FIXTURE_MODELS[2].id);
    await page.click('.diff-picker button');
    await page.waitForSelector('.diff-output table');
    expect(await checkNumbers(page, 'diff picker')).toBeGreaterThan(20);
    expect(await page.$$eval('.diff-output .num[data-sign="-1"]', (e) => e.length)).toBeGreaterThan(0);
    await page.screenshot({ path: path.join(ARTIFACTS, 'diff-picker.png'), fullPage: true });

    // Unpaired intervals are labelled as such (tiny-c has no per-example data for toy-topics).
    await page.goto(`${start}diff/${FIXTURE_MODELS[2].id}--vs--${FIXTURE_MODELS[1].id}/`);
    const captions = await page.$$eval('table.diff-table caption', (cs) => cs.map((c) => c.textContent ?? ''));
    expect(captions.some((c) => c.includes('unpaired'))).toBe(true);
    expect(captions.some((c) => /: paired/.test(c))).toBe(true);

    // Dark theme and a phone-sized screen.
    await page.goto(start);
    await page.click('.theme-toggle');
    expect(await page.evaluate(() => document.documentElement.dataset.theme)).toBe('dark');
    await page.screenshot({ path: path.join(ARTIFACTS, 'report-dark.png') });
    await page.setViewportSize({ width: 390, height: 844 });
    await page.reload();
    await page.screenshot({ path: path.join(ARTIFACTS, 'report-phone.png') });
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    expect(overflow, 'page wider than a phone screen').toBeLessThanOrEqual(1);

    expect(errors).toEqual([]);
    expect(outside, 'requests outside the sub-path').toEqual([]);
    expect(dialogs, 'a script from the data ran').toBe(0);
    expect(server.log.filter((l) => l.status !== 200)).toEqual([]);
    await context.close();
  }, 180_000);
});
