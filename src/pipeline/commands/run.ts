// `icl-lab run`: run an experiment plan (ZSL / ICL / FT per model, task and seed, null models), cached by content
// hash, and publish the metrics and per-example files the report reads.

import { existsSync } from 'node:fs';
import { type Command, UsageError } from './command.ts';
import { DEVICE_OPTION, MAX_MEMORY_OPTION, THREADS_OPTION, parseDevice, parseMaxMemory, parseThreads } from './common.ts';
import { DEFAULT_PLAN_PATH, loadPlan } from '../experiments/plan.ts';
import { runPlan } from '../experiments/run-plan.ts';

const list = (v: unknown): string[] | undefined =>
  typeof v === 'string' ? v.split(',').map((s) => s.trim()).filter(Boolean) : undefined;

const pct = (r: { value: number | null }) => (r.value === null ? '   —' : `${(100 * r.value).toFixed(1).padStart(5)}`);

export const runCommand: Command = {
  name: 'run',
  summary: 'Run an experiment plan and publish its results for the report (cached: reruns compute only what changed)',
  usage: 'run [--plan FILE] [--models A,B] [--tasks T,U] [--seeds 1,2] [--limit N] [--fresh] [--dry-run] [--device cpu] [--threads N] [--max-memory GB]',
  options: {
    plan: { type: 'string', valueName: 'FILE', description: `Experiment plan (default: ${DEFAULT_PLAN_PATH})` },
    models: { type: 'string', valueName: 'A,B', description: 'Only these models of the plan' },
    tasks: { type: 'string', valueName: 'T,U', description: 'Only these tasks of the plan' },
    seeds: { type: 'string', valueName: '1,2', description: 'Only these seeds of the plan' },
    limit: { type: 'string', valueName: 'N', description: 'At most N test examples per task: a quick look, cached separately and published to cache/quick/limit-N unless --results says otherwise' },
    results: { type: 'string', valueName: 'DIR', description: 'Where to publish results (default: $ICL_LAB_RESULTS or cache/results)' },
    cache: { type: 'string', valueName: 'DIR', description: 'The content-addressed store (default: $ICL_LAB_CACHE or cache)' },
    fresh: { type: 'boolean', description: 'Recompute even what the cache has' },
    'dry-run': { type: 'boolean', description: 'List the runs, cached or to compute, with a time estimate, and stop' },
    device: DEVICE_OPTION,
    threads: THREADS_OPTION,
    'max-memory': MAX_MEMORY_OPTION,
  },
  details: [
    'Each (model, task, seed) is one cache entry, keyed by the hash of the model weights, the task data, the plan',
    'settings and the protocol\'s source files; a run killed at any point resumes with the entries it had not finished.',
    'A model is loaded only when one of its runs must be computed; before that, a line gives its parameter count and',
    'an estimate of peak memory and time, and a model whose estimate exceeds the memory available (or --max-memory)',
    'is refused with what to do.',
    `Without --plan and without ${DEFAULT_PLAN_PATH}, there is nothing to run and the command says so (exit 0).`,
  ].join('\n'),
  async run(values) {
    const explicit = typeof values.plan === 'string';
    const planPath = explicit ? (values.plan as string) : DEFAULT_PLAN_PATH;
    if (!explicit && !existsSync(planPath)) {
      process.stderr.write(`icl-lab run: no plan at ${planPath}; nothing to run (the report shows the results already published)\n`);
      return;
    }
    const plan = await loadPlan(planPath);
    let limit: number | undefined;
    if (values.limit !== undefined) {
      limit = Number(values.limit);
      if (!Number.isInteger(limit) || limit < 1) throw new UsageError(`--limit must be a positive integer, got "${String(values.limit)}"`);
    }
    // A quick look with fewer test examples must never overwrite the report's results.
    const resultsDir = typeof values.results === 'string'
      ? values.results
      : limit !== undefined
        ? `cache/quick/limit-${limit}`
        : process.env.ICL_LAB_RESULTS || 'cache/results';
    if (limit !== undefined && typeof values.results !== 'string') process.stderr.write(`--limit: results go to ${resultsDir}, not to the report's\n`);
    const seeds = list(values.seeds)?.map((s) => {
      const n = Number(s);
      if (!Number.isInteger(n)) throw new UsageError(`--seeds must be integers, got "${s}"`);
      return n;
    });
    const summaries = await runPlan({
      plan,
      cacheRoot: typeof values.cache === 'string' ? values.cache : process.env.ICL_LAB_CACHE || 'cache',
      resultsDir,
      models: list(values.models),
      tasks: list(values.tasks),
      seeds,
      limit,
      fresh: values.fresh === true,
      dryRun: values['dry-run'] === true,
      runner: { device: parseDevice(values.device), threads: parseThreads(values.threads) },
      maxMemoryBytes: parseMaxMemory(values['max-memory']),
      log: (line) => process.stderr.write(`${line}\n`),
    });
    if (values['dry-run'] === true) {
      const todo = summaries.filter((s) => !s.cached);
      const known = todo.filter((s) => Number.isFinite(s.seconds));
      const total = known.reduce((a, s) => a + s.seconds, 0);
      let estimate = '';
      if (todo.length > 0 && known.length === 0) estimate = '; no time estimate: none of these models has run here before';
      else if (known.length === todo.length) estimate = `; about ${Math.ceil(total / 60)} min (from earlier runs of the same models)`;
      else if (known.length > 0) estimate = `; about ${Math.ceil(total / 60)} min for ${known.length} of them, no estimate for models never run here`;
      process.stdout.write(`${summaries.length} runs: ${summaries.length - todo.length} cached, ${todo.length} to compute${estimate}\n`);
      return;
    }
    const rows = summaries.flatMap((s) =>
      s.records.map((r) =>
        `${s.model.padEnd(16)} ${s.task.padEnd(24)} ${String(s.seed).padStart(4)} ${r.id.position.padEnd(11)} ` +
          `${pct(r.accuracy.zsl)} ${pct(r.accuracy.icl)} ${pct(r.accuracy.ft)}  ${r.id.learningRate.toExponential(1)}  ` +
          `${s.cached ? 'cached' : `${s.seconds.toFixed(1)} s`}`,
      ),
    );
    process.stdout.write(
      `${'model'.padEnd(16)} ${'task'.padEnd(24)} ${'seed'.padStart(4)} ${'position'.padEnd(11)}   ZSL   ICL    FT  FT lr    time\n${rows.join('\n')}\n`,
    );
  },
};
