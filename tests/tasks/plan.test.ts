import { describe, it, expect } from 'vitest';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadPlan, parsePlan, PlanError } from '../../src/pipeline/experiments/plan.ts';
import { registerTaskProvider } from '../../src/pipeline/tasks/registry.ts';

const FIXTURE = fileURLToPath(new URL('./fixtures/plan.json', import.meta.url));

async function fixture(): Promise<Record<string, unknown>> {
  return JSON.parse(await readFile(FIXTURE, 'utf8'));
}

function problems(value: unknown): string {
  try {
    parsePlan(value, 'content/plan.json', { baseDir: '/repo' });
  } catch (err) {
    expect(err).toBeInstanceOf(PlanError);
    return (err as Error).message;
  }
  throw new Error('the plan was accepted');
}

describe('experiment plan', () => {
  it('loads the fixture, fills defaults, resolves paths and per-task k', async () => {
    const plan = await loadPlan(FIXTURE, { baseDir: '/repo' });
    expect(plan.models.map((m) => m.source)).toEqual([
      { kind: 'hub', id: 'openai-community/gpt2', revision: 'main' },
      { kind: 'embedded', dir: '/repo/content/models/tiny' },
      { kind: 'folder', dir: '/models/local-gpt' },
    ]);
    expect(plan.tasks).toEqual([
      { id: 'sst2', k: 32 },
      { id: 'cb', k: 19 },
      { id: 'user-toy', k: 32, file: '/repo/content/tasks/toy.json' },
    ]);
    expect(plan.kendallExamples).toBe(100);
    expect(plan.analysisPositions).toEqual(['label_token', 'prompt_end']);
    const { analysisPositions: _a, nullModels: _n, ...rest } = await fixture();
    const minimal = parsePlan(rest, 'x.json');
    expect(minimal.analysisPositions).toEqual(['label_token']);
    expect(minimal.nullModels).toEqual([]);
  });

  it('names the file and the path of each bad field', async () => {
    const base = await fixture();
    const msg = problems({
      ...base,
      models: [{ id: 'gpt2', source: { kind: 'hub', id: 'bad id!' } }, { id: 'x', source: { kind: 'ftp', dir: 'y' } }],
      lrGrid: [0.01, -1],
      seeds: [1.5],
      lrSelection: { split: 'validation', examples: 10 },
      analysisPositions: ['last'],
      extra: true,
    });
    expect(msg).toMatch(/^content\/plan\.json: \d+ problems:/);
    expect(msg).toContain('models[0].source.id: must be a hub model id');
    expect(msg).toMatch(/models\[1\]\.source(\.kind)?: /);
    expect(msg).toMatch(/lrGrid\[1\]: .*>0/);
    expect(msg).toMatch(/seeds\[0\]: /);
    expect(msg).toMatch(/lrSelection\.split: /);
    expect(msg).toMatch(/analysisPositions\[0\]: /);
    expect(msg).toMatch(/extra/);
  });

  it('checks task ids against the providers and paper tasks, and duplicates', async () => {
    const base = await fixture();
    const msg = problems({ ...base, tasks: ['sst-2', 'sst2', 'sst2', { id: 'user-x' }, { id: 'mr', file: 'a.json' }, 'synthetic/parity'], seeds: [1, 1] });
    expect(msg).toContain('tasks[0]: unknown task "sst-2"; known tasks are the paper\'s tasks (sst2, sst5, mr, subj, agnews, cb)');
    expect(msg).toContain('tasks[3]: task "user-x": a user task needs "file"');
    expect(msg).toContain('tasks[4].file: only user tasks');
    expect(msg).toContain('tasks[5]: unknown task "synthetic/parity"');
    expect(msg).toContain('tasks: "sst2" is listed twice');
    expect(msg).toContain('seeds: 1 is listed twice');
  });

  it('accepts ids of a provider registered later (e.g. synthetic tasks)', async () => {
    const base = await fixture();
    registerTaskProvider({
      name: 'test-synthetic',
      describeIds: '"synthetic/<name>"',
      claims: (id) => id.startsWith('synthetic/'),
      load: () => Promise.reject(new Error('not in this test')),
    });
    const plan = parsePlan({ ...base, tasks: ['synthetic/parity'] }, 'x.json');
    expect(plan.tasks).toEqual([{ id: 'synthetic/parity', k: 32 }]);
  });

  it('reports a missing or garbled file by name', async () => {
    await expect(loadPlan('/nonexistent/plan.json')).rejects.toThrow('/nonexistent/plan.json: the plan file does not exist');
    const dir = await mkdtemp(join(tmpdir(), 'icl-lab-plan-'));
    await writeFile(join(dir, 'plan.json'), '{"models": [');
    await expect(loadPlan(join(dir, 'plan.json'))).rejects.toThrow(/plan\.json: not valid JSON/);
  });
});
