// Running a plan: every (model, task, seed) through the protocol, the null models at the real model's learning rate,
// metrics and per-example files published under the results folder the site reads. Each run is a cache entry keyed
// by the hash of its inputs (model weights, task data, settings, the protocol's own source files), so a warm rerun
// recomputes nothing and a killed run resumes with the runs it had not finished.

import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { type CacheStore, hashSourceFiles, moduleClosure, openCache, stageKey } from '../cache/index.ts';
import type { RunnerOptions } from '../engine/runner.ts';
import { type NullModelKind, nullTwin } from '../models/family.ts';
import { loadModel, type LoadedModel } from '../models/registry.ts';
import { resolveHubModel } from '../models/hub.ts';
import { MemoryLimitError, type RunWorkload, checkMemoryBeforeLoading } from '../models/footprint.ts';
import { type SafetensorsFile, encodeSafetensors, writeFileAtomically } from '../models/safetensors.ts';
import type { AnalysisPosition, MetricsRecord } from '../metrics/schema.ts';
import { loadTask } from '../tasks/registry.ts';
import '../tasks/synthetic-provider.ts';
import { selectionExamples } from '../tasks/splits.ts';
import { type Task, taskDataHash } from '../tasks/task.ts';
import type { Plan, PlanModel, PlanTask } from './plan.ts';
import { type ProtocolModel, type ProtocolResult, runProtocol } from './protocol.ts';
import { activationTensors, readActivationsMeta, resultFromActivations } from './activations.ts';
import { type Provenance, provenanceName, readProvenanceFile, recomputeHint, rootRelative, weightsHash } from './provenance.ts';
export type { Provenance } from './provenance.ts';
import { type RecordInputs, type Similarities, examplesFile, metricsRecord, similarities } from './record.ts';

/** Modules whose code (with everything they import) is a run's code version: a change to any recomputes it. */
const PROTOCOL_ENTRY_POINTS = [
  new URL('./protocol.ts', import.meta.url),
  new URL('./record.ts', import.meta.url),
  new URL('./activations.ts', import.meta.url),
  new URL('../models/registry.ts', import.meta.url), // every family's graph code
];

export async function protocolCodeHash(): Promise<string> {
  const files = new Set<string>();
  for (const entry of PROTOCOL_ENTRY_POINTS) for (const f of await moduleClosure(entry)) files.add(f);
  return hashSourceFiles([...files]);
}

/** The null twins are drawn once per model, from this seed. */
export const NULL_MODEL_SEED = 1000;
const BOOTSTRAP_RESAMPLES = 1000;

export interface RunPlanOptions {
  plan: Plan;
  cacheRoot: string;
  resultsDir: string;
  models?: string[];
  tasks?: string[];
  seeds?: number[];
  /** At most this many test examples per task (overrides the plan's testExamples when smaller). */
  limit?: number;
  fresh?: boolean;
  dryRun?: boolean;
  runner?: RunnerOptions;
  /** Refuse a model before loading when its memory estimate exceeds this (default: the memory available now). */
  maxMemoryBytes?: number;
  log?: (line: string) => void;
}

export interface RunSummary {
  model: string;
  task: string;
  seed: number;
  cached: boolean;
  seconds: number;
  records: MetricsRecord[];
  /** Results kept as published because the model is not available here. */
  frozen?: boolean;
}

async function modelDir(m: PlanModel): Promise<string> {
  if (m.source.kind !== 'hub') return m.source.dir;
  return (await resolveHubModel(m.source.id, { revision: m.source.revision })).dir;
}

/** Temp files a killed run left while publishing (see tempSibling): removed before publishing again. */
async function removeStaleTemps(dir: string): Promise<void> {
  for (const name of await readdir(dir)) {
    if (name.startsWith('.') && name.includes('.tmp-')) await rm(join(dir, name), { force: true });
  }
}

const PRODUCER = `icl-lab ${JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')).version}`;

function gitCommit(): string | null {
  try {
    return execFileSync('git', ['rev-parse', 'HEAD'], { stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim() || null;
  } catch {
    return null;
  }
}

/**
 * A model whose inputs are not here (a hub model offline, a missing folder) but whose results are published for every
 * task and seed asked: those results are frozen, shown as they are. Returns the runs that are there, or undefined.
 */
async function frozenRuns(resultsDir: string, modelId: string, tasks: PlanTask[], seeds: number[]): Promise<Provenance[] | undefined> {
  const found: Provenance[] = [];
  for (const t of tasks) {
    for (const seed of seeds) {
      const file = join(resultsDir, modelId, t.id, provenanceName(seed));
      if (!existsSync(file)) return undefined;
      found.push(readProvenanceFile(file));
    }
  }
  return found;
}

/** True when every file of a run is published and its provenance names these exact inputs. */
function publishedFor(outDir: string, seed: number, positions: readonly string[], key: string): boolean {
  const provenancePath = join(outDir, provenanceName(seed));
  if (!existsSync(provenancePath)) return false;
  const files = positions.flatMap((p) => [`seed-${seed}.${p}.metrics.json`, `seed-${seed}.${p}.examples.json`]);
  if (!files.every((f) => existsSync(join(outDir, f)))) return false;
  try {
    return (JSON.parse(readFileSync(provenancePath, 'utf8')) as Provenance).inputsHash === key;
  } catch {
    return false; // an unreadable provenance file: recompute
  }
}

/** Median compute time of this model's earlier runs (from their provenance), the estimate for a new run. */
function earlierSeconds(resultsDir: string, modelId: string): number | undefined {
  const dir = join(resultsDir, modelId);
  if (!existsSync(dir)) return undefined;
  const times: number[] = [];
  for (const task of readdirSync(dir)) {
    const taskDir = join(dir, task);
    if (!statSync(taskDir).isDirectory()) continue;
    for (const f of readdirSync(taskDir)) {
      if (f.endsWith('.provenance.json')) times.push((JSON.parse(readFileSync(join(taskDir, f), 'utf8')) as Provenance).wallSeconds);
    }
  }
  times.sort((a, b) => a - b);
  return times.length ? times[times.length >> 1] : undefined;
}

const asProtocolModel = (id: string, m: LoadedModel): ProtocolModel => ({ id, family: m.family, config: m.config, params: m.params, tokenizer: m.tokenizer });

interface RunJob {
  model: PlanModel;
  loaded: LoadedModel;
  task: Task;
  k: number;
  seed: number;
  key: string;
}

/** Metrics records of one run at every analysis position, from the protocol results alone. */
export function recordsOf(
  result: ProtocolResult,
  nulls: ReadonlyMap<NullModelKind, ProtocolResult>,
  o: { modelId: string; taskId: string; seed: number; positions: readonly AnalysisPosition[]; kendallExamples: number; numHeads: number },
): Array<{ position: AnalysisPosition; inputs: RecordInputs; record: MetricsRecord }> {
  return o.positions.map((position) => {
    const sims = similarities(result, position, o.kendallExamples, o.seed);
    const nullSims: Partial<Record<NullModelKind, Similarities>> = {};
    for (const [kind, r] of nulls) nullSims[kind] = similarities(r, position, o.kendallExamples, o.seed);
    const inputs: RecordInputs = {
      modelId: o.modelId, taskId: o.taskId, seed: o.seed, position, result, sims, nulls: nullSims,
      numHeads: o.numHeads, resamples: BOOTSTRAP_RESAMPLES,
    };
    return { position, inputs, record: metricsRecord(inputs) };
  });
}

/** A run's metrics records recomputed from its activations file alone (no model, no task data). */
export function recordsFromActivations(file: SafetensorsFile): MetricsRecord[] {
  const meta = readActivationsMeta(file);
  const nulls = new Map(meta.nulls.map((kind) => [kind, resultFromActivations(file, `null-${kind}`)] as const));
  const kendallExamples = Number(file.metadata.kendallExamples);
  return recordsOf(resultFromActivations(file, 'model'), nulls, { ...meta, kendallExamples }).map((r) => r.record);
}

/** The file of captured activations a run keeps in the cache (see activations.ts for its names). */
export const ACTIVATIONS_FILE = 'activations.safetensors';

async function computeRun(job: RunJob, o: RunPlanOptions, tests: Task['eval']): Promise<Record<string, string | Uint8Array>> {
  const { plan } = o;
  const log = o.log ?? (() => {});
  const model = asProtocolModel(job.model.id, job.loaded);
  const selection = selectionExamples(job.task.train, { demoSeeds: plan.seeds, k: job.k, n: plan.lrSelection.examples });
  // Sessions of hub-size models load their weights from files written once into this run's store (weights-cache.ts).
  const runner = { weightsCache: o.cacheRoot, ...o.runner };
  const base = { seed: job.seed, k: job.k, positions: plan.analysisPositions, tests, selection, lrGrid: plan.lrGrid, runner, log };
  const result = await runProtocol(model, job.task, base);
  const nullResults = new Map<NullModelKind, ProtocolResult>();
  for (const kind of plan.nullModels) {
    const params = nullTwin(model.family, model.config, model.params, kind, NULL_MODEL_SEED);
    log(`  null model ${kind}`);
    nullResults.set(kind, await runProtocol({ ...model, id: `${model.id}~${kind}`, params }, job.task, { ...base, fixedLr: result.lr }));
  }
  const files: Record<string, string | Uint8Array> = {};
  const policy = model.family.tokenPolicy(model.config).description;
  const settings = {
    modelId: job.model.id, taskId: job.task.spec.id, seed: job.seed, positions: plan.analysisPositions,
    kendallExamples: plan.kendallExamples, numHeads: model.config.nHead,
  };
  for (const { position, inputs, record } of recordsOf(result, nullResults, settings)) {
    const stem = `seed-${job.seed}.${position}`;
    files[`${stem}.metrics.json`] = `${JSON.stringify(record)}\n`;
    const examples = examplesFile({
      ...inputs, task: job.task, tokenizer: model.tokenizer, tokenPolicy: policy,
      selectionSplit: `${selection.length} train examples outside every seed's demonstrations; learning rate chosen there from [${plan.lrGrid.join(', ')}]`,
    });
    examples.provenance = { producer: 'icl-lab run', inputsHash: job.key };
    files[`${stem}.examples.json`] = `${JSON.stringify(examples)}\n`;
  }
  const { tensors, metadata } = activationTensors(
    { ...settings, positions: [...plan.analysisPositions], lr: result.lr, testIds: result.tests.map((e) => e.id), numLayers: model.config.nLayer },
    result,
    nullResults,
  );
  files[ACTIVATIONS_FILE] = encodeSafetensors(tensors, { ...metadata, kendallExamples: String(plan.kendallExamples) });
  return files;
}

export async function runPlan(o: RunPlanOptions): Promise<RunSummary[]> {
  const log = o.log ?? (() => {});
  const { plan } = o;
  const pick = <T>(all: T[], wanted: T[] | undefined, what: string, show: (x: T) => string) => {
    if (!wanted) return all;
    const unknown = wanted.filter((w) => !all.some((a) => show(a) === show(w)));
    if (unknown.length) throw new Error(`--${what} ${unknown.map(show).join(', ')}: not in the plan (${plan.file}); it has ${all.map(show).join(', ')}`);
    return all.filter((a) => wanted.some((w) => show(w) === show(a)));
  };
  // A model id the plan does not list is taken as a Hugging Face hub id (e.g. --models gpt2,gpt2-medium).
  const extraModels: PlanModel[] = (o.models ?? [])
    .filter((id) => !plan.models.some((m) => m.id === id))
    .map((id) => ({ id: id.replace(/\//g, '--'), source: { kind: 'hub', id } }));
  const models = [
    ...pick(plan.models, o.models?.filter((id) => plan.models.some((m) => m.id === id)).map((id) => ({ id }) as PlanModel), 'models', (m) => m.id),
    ...extraModels,
  ];
  const tasks = pick<PlanTask>(plan.tasks, o.tasks?.map((id) => ({ id, k: 0 })), 'tasks', (t) => t.id);
  const seeds = pick(plan.seeds, o.seeds, 'seeds', String);
  const cache: CacheStore = openCache(o.cacheRoot, { onWarning: (m) => log(`cache: ${m}`) });
  const code = await protocolCodeHash();
  const testExamples = Math.min(plan.testExamples, o.limit ?? Infinity);
  const summaries: RunSummary[] = [];
  const loadedTasks = new Map<string, Task>();
  const commit = gitCommit();
  for (const m of models) {
    let dir: string;
    try {
      dir = await modelDir(m);
      if (!existsSync(join(dir, 'config.json'))) throw new Error(`${dir}: no model folder there`);
    } catch (err) {
      const frozen = await frozenRuns(o.resultsDir, m.id, tasks, seeds);
      if (!frozen) throw err;
      const source = m.source.kind === 'hub' ? `hub model ${m.source.id}` : `the folder ${m.source.dir}`;
      const hint = recomputeHint(frozen[0]);
      log(
        `frozen: ${m.id}: its published results are kept as they are (${frozen.length} runs, made ${frozen[0].createdAt} ` +
          `by ${frozen[0].producer}); ${source} is not available here (${(err as Error).message.split('\n')[0]}). ` +
          `Provide it to recompute them: ${hint.inputs}; then \`${hint.command}\`.`,
      );
      for (const p of frozen) summaries.push({ model: m.id, task: p.task.id, seed: p.seed, cached: true, seconds: 0, records: [], frozen: true });
      continue;
    }
    // Loaded only when a run must be computed (published or cached results need no weights), after the memory check.
    const workload: RunWorkload = {
      kind: 'run', testExamples, positions: plan.analysisPositions.length, nullModels: plan.nullModels.length,
      k: Math.max(...tasks.map((t) => t.k)), lrGrid: plan.lrGrid.length, selectionExamples: plan.lrSelection.examples,
    };
    const check = {
      label: m.id, command: 'run' as const, workload, device: o.runner?.device, threads: o.runner?.threads,
      maxMemoryBytes: o.maxMemoryBytes, log,
    };
    let loaded: LoadedModel | undefined;
    const load = async (): Promise<LoadedModel> => {
      if (!loaded) {
        await checkMemoryBeforeLoading(dir, check);
        loaded = await loadModel(dir);
      }
      return loaded;
    };
    if (o.dryRun) {
      try {
        await checkMemoryBeforeLoading(dir, check);
      } catch (err) {
        if (!(err instanceof MemoryLimitError)) throw err;
        log(`dry run: a real run would refuse this model: ${err.message}`);
      }
    }
    const weights = await weightsHash(dir);
    for (const t of tasks) {
      if (!loadedTasks.has(t.id)) loadedTasks.set(t.id, await loadTask(t.id, { file: t.file }));
      const task = loadedTasks.get(t.id)!;
      const tests = task.eval.slice(0, testExamples);
      for (const seed of seeds) {
        const key = stageKey({
          stage: 'protocol', weights, task: taskDataHash(task), seed, k: t.k, tests: tests.length,
          positions: plan.analysisPositions, lrGrid: plan.lrGrid, selection: plan.lrSelection, nullModels: plan.nullModels,
          nullSeed: NULL_MODEL_SEED, kendallExamples: plan.kendallExamples, resamples: BOOTSTRAP_RESAMPLES, code,
        });
        const label = `${m.id} / ${t.id} / seed ${seed}`;
        const outDir = join(o.resultsDir, m.id, t.id);
        // Published results made from exactly these inputs are up to date, cache or no cache (a fresh clone has the
        // committed results but not the cache): nothing to compute or publish.
        if (!o.fresh && publishedFor(outDir, seed, plan.analysisPositions, key)) {
          if (o.dryRun) log(`up to date ${label}`);
          else log(`up to date: ${label}`);
          const records = o.dryRun ? [] : plan.analysisPositions.map((p) =>
            JSON.parse(readFileSync(join(outDir, `seed-${seed}.${p}.metrics.json`), 'utf8')) as MetricsRecord);
          summaries.push({ model: m.id, task: t.id, seed, cached: true, seconds: 0, records });
          continue;
        }
        const found = o.fresh ? undefined : await cache.get('protocol', key);
        const cached = found !== undefined;
        if (o.dryRun) {
          const estimate = cached ? 0 : earlierSeconds(o.resultsDir, m.id);
          log(`${cached ? 'cached ' : 'to run  '} ${label}${cached ? '' : `  (~${estimate === undefined ? '?' : `${estimate.toFixed(0)} s`})`}`);
          summaries.push({ model: m.id, task: t.id, seed, cached, seconds: estimate ?? NaN, records: [] });
          continue;
        }
        const model = cached ? undefined : await load();
        const start = performance.now();
        log(`${cached ? 'cached' : 'running'}: ${label}`);
        const entry = found ?? (await cache.put(
          'protocol', key,
          await computeRun({ model: m, loaded: model!, task, k: t.k, seed, key }, o, tests),
          { label, computeSeconds: (performance.now() - start) / 1000 },
        ));
        await mkdir(outDir, { recursive: true });
        await removeStaleTemps(outDir);
        const records: MetricsRecord[] = [];
        for (const name of Object.keys(entry.files).filter((f) => f.endsWith('.json'))) { // activations stay in the cache
          const text = await entry.readText(name);
          await writeFileAtomically(join(outDir, name), text);
          if (name.endsWith('.metrics.json')) records.push(JSON.parse(text) as MetricsRecord);
        }
        const seconds = (performance.now() - start) / 1000;
        const computeSeconds = (entry.meta as { computeSeconds?: number } | null)?.computeSeconds ?? seconds;
        const provenancePath = join(outDir, provenanceName(seed));
        const previous = existsSync(provenancePath) ? (JSON.parse(readFileSync(provenancePath, 'utf8')) as Provenance) : undefined;
        if (previous?.inputsHash !== key) {
          const provenance: Provenance = {
            provenanceVersion: 1, inputsHash: key, model: {
              id: m.id, weightsHash: weights,
              source: m.source.kind === 'hub' ? m.source : { ...m.source, dir: rootRelative(m.source.dir) }, // no machine's paths in committed files
            },
            task: { id: t.id, dataHash: taskDataHash(task) }, seed, plan: plan.file, producer: PRODUCER, gitCommit: commit,
            device: o.runner?.device ?? 'cpu', threads: o.runner?.threads ?? null, node: process.version,
            wallSeconds: computeSeconds, createdAt: new Date().toISOString(),
          };
          await writeFileAtomically(provenancePath, `${JSON.stringify(provenance, null, 1)}\n`);
        }
        summaries.push({ model: m.id, task: t.id, seed, cached, seconds, records });
      }
    }
  }
  return summaries;
}

