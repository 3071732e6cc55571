// Provenance manifests and frozen results. `lab run` writes `seed-<s>.provenance.json` beside each published run (see
// run-plan.ts): the hash of its inputs, the model's source and weights hash, the task data hash, the plan, the
// icl-lab version, git commit, device, threads and compute time. A published result is *frozen* when the inputs that
// made it are not in this checkout (a hub model not in the local Hugging Face cache, a model folder that is absent):
// it is shown as it was computed, and nothing here can recompute it. It is *outdated* when the weights are here but are
// not the ones it recorded (retrained or replaced, not rerun since). Deciding either never touches the network.
// Used by `lab run` (frozenRuns) and the site (src/site/data.ts).

import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import { z } from 'zod';
import { hashFile, stageKey } from '../cache/index.ts';
import { isCompleteModelFolder, localHubModel } from '../models/hub.ts';
import type { ModelSource } from './plan.ts';

/** plan.ts's DEFAULT_PLAN_PATH (not imported: plan.ts pulls in every task provider). */
const DEFAULT_PLAN = 'content/plan.json';

/** Where a run came from: kept beside its results, never part of its cache key. */
export interface Provenance {
  provenanceVersion: 1;
  inputsHash: string;
  model: { id: string; source: ModelSource; weightsHash: string };
  task: { id: string; dataHash: string };
  seed: number;
  plan: string;
  producer: string;
  gitCommit: string | null;
  device: string;
  threads: number | null;
  node: string;
  /** Seconds the protocol took when this result was computed (not when it was read from the cache). */
  wallSeconds: number;
  createdAt: string;
}

const SourceSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('embedded'), dir: z.string().min(1) }),
  z.object({ kind: z.literal('hub'), id: z.string().min(1), revision: z.string().min(1).optional() }),
  z.object({ kind: z.literal('folder'), dir: z.string().min(1) }),
]);

const ProvenanceSchema: z.ZodType<Provenance> = z.object({
  provenanceVersion: z.literal(1),
  inputsHash: z.string().min(1),
  model: z.object({ id: z.string().min(1), source: SourceSchema, weightsHash: z.string().min(1) }),
  task: z.object({ id: z.string().min(1), dataHash: z.string().min(1) }),
  seed: z.int(),
  plan: z.string(),
  producer: z.string(),
  gitCommit: z.string().nullable(),
  device: z.string(),
  threads: z.int().nullable(),
  node: z.string(),
  wallSeconds: z.number().nonnegative(),
  createdAt: z.string(),
});

export const provenanceName = (seed: number): string => `seed-${seed}.provenance.json`;
const PROVENANCE_RE = /^seed-(-?\d+)\.provenance\.json$/;

export class ProvenanceError extends Error {}

/** Reads and validates one manifest; a bad one throws naming the file. */
export function readProvenanceFile(file: string): Provenance {
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new ProvenanceError(`${file}: ${(err as Error).message}`);
  }
  const parsed = ProvenanceSchema.safeParse(value);
  if (!parsed.success) {
    throw new ProvenanceError(`${file}: not a provenance manifest: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(top level)'}: ${i.message}`).join('; ')}`);
  }
  return parsed.data;
}

/** One published manifest and where it is. */
export interface PublishedProvenance {
  model: string;
  task: string;
  seed: number;
  /** Path relative to the results folder, with '/' separators. */
  file: string;
  provenance: Provenance;
}

const subdirs = (dir: string) =>
  readdirSync(dir, { withFileTypes: true }).filter((d) => d.isDirectory() && !d.name.startsWith('.')).map((d) => d.name).sort();

/** Every manifest under a results folder (`<model>/<task>/seed-<s>.provenance.json`); a missing folder has none. */
export function readPublishedProvenance(resultsDir: string): PublishedProvenance[] {
  const out: PublishedProvenance[] = [];
  if (!existsSync(resultsDir)) return out;
  for (const model of subdirs(resultsDir)) {
    for (const task of subdirs(join(resultsDir, model))) {
      for (const name of readdirSync(join(resultsDir, model, task)).sort()) {
        const match = PROVENANCE_RE.exec(name);
        if (!match) continue;
        const file = join(resultsDir, model, task, name);
        const provenance = readProvenanceFile(file);
        const seed = Number(match[1]);
        const want = { model, task, seed };
        const got = { model: provenance.model.id, task: provenance.task.id, seed: provenance.seed };
        for (const k of ['model', 'task', 'seed'] as const) {
          if (got[k] !== want[k]) throw new ProvenanceError(`${file}: names ${k} ${JSON.stringify(got[k])} but the file's path says ${JSON.stringify(want[k])}`);
        }
        out.push({ model, task, seed, file: `${model}/${task}/${name}`, provenance });
      }
    }
  }
  return out.sort((a, b) => a.model.localeCompare(b.model) || a.task.localeCompare(b.task) || a.seed - b.seed);
}

/** A path as committed files should record it: relative to the project root when inside it, else as it is. */
export function rootRelative(dir: string, root = process.cwd()): string {
  const rel = relative(root, dir);
  return rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel.split(sep).join('/') : dir;
}

/** The model entry of a plan file, read loosely (no validation): a frozen result's plan may be from elsewhere. */
function planModel(planFile: string, modelId: string, root: string): { source?: ModelSource } | undefined {
  try {
    const plan = JSON.parse(readFileSync(resolve(root, planFile), 'utf8')) as { models?: Array<{ id?: string; source?: ModelSource }> };
    return plan.models?.find((m) => m.id === modelId);
  } catch {
    return undefined;
  }
}

/** Content hash of a model folder's weights (every safetensors file, by name): what a manifest's weightsHash records. */
export async function weightsHash(dir: string): Promise<string> {
  const files = (await readdir(dir)).filter((f) => f.endsWith('.safetensors')).sort();
  const hashes: Record<string, string> = {};
  for (const f of files) hashes[f] = await hashFile(join(dir, f));
  return stageKey(hashes);
}

export interface ModelInputs {
  source: ModelSource;
  /** True when the weights are in this checkout: a complete model folder, or a complete snapshot in the hub cache. */
  present: boolean;
  /** The folder found, when present. */
  dir: string | null;
  /** The hash of the weights found (as `lab run` records it), when present. */
  weightsHash: string | null;
}

export interface InputsOptions {
  /** The project root that relative dirs and plan files are read against (default: the working directory). */
  root?: string;
  /** The Hugging Face hub cache (default: $HF_HUB_CACHE, $HF_HOME/hub, ~/.cache/huggingface/hub). */
  hubCache?: string;
}

/**
 * Whether the model weights a manifest names are here, without any download, and their hash when they are (read in
 * full: seconds per gigabyte, as `lab run` does before every run). A model folder recorded by another checkout (an
 * absolute path elsewhere) is also looked for where the recorded plan, read here, puts it.
 */
export async function findModelInputs(p: Provenance, options: InputsOptions = {}): Promise<ModelInputs> {
  const root = options.root ?? process.cwd();
  const source = p.model.source;
  if (source.kind === 'hub') {
    let found: { dir: string } | undefined;
    try {
      found = await localHubModel(source.id, { revision: source.revision, hubCache: options.hubCache });
    } catch {
      found = undefined; // a bad id or revision: not here
    }
    return found ? { source, present: true, dir: found.dir, weightsHash: await weightsHash(found.dir) } : absent(source);
  }
  const candidates = [resolve(root, source.dir)];
  const planned = planModel(p.plan, p.model.id, root)?.source;
  if (planned && planned.kind !== 'hub') candidates.push(resolve(root, planned.dir));
  for (const dir of candidates) if (await isCompleteModelFolder(dir)) return { source, present: true, dir, weightsHash: await weightsHash(dir) };
  return absent(source);
}

const absent = (source: ModelSource): ModelInputs => ({ source, present: false, dir: null, weightsHash: null });

/** What would recompute a frozen result: its inputs in words, and the command. */
export interface RecomputeHint {
  inputs: string;
  command: string;
}

export function recomputeHint(p: Provenance, root = process.cwd()): RecomputeHint {
  const source = p.model.source;
  const planned = planModel(p.plan, p.model.id, root);
  const planArg = p.plan === DEFAULT_PLAN ? '' : ` --plan ${p.plan}`;
  // A plan model is named by its plan id; a hub model run without a plan entry, by its hub id.
  const modelArg = planned || source.kind !== 'hub' ? p.model.id : source.id;
  const command = `npm run lab -- run${planArg} --models ${modelArg}`;
  const weights = `weights hash ${p.model.weightsHash.slice(0, 12)}`;
  let inputs: string;
  if (source.kind === 'hub') {
    inputs = `the weights of ${source.id} at revision ${source.revision ?? 'main'} (${weights}) in the Hugging Face cache ` +
      '($HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub)';
  } else {
    const plannedSource = planned?.source;
    const dir = plannedSource && plannedSource.kind !== 'hub' ? plannedSource.dir : rootRelative(source.dir, root);
    inputs = `the model folder ${dir} (config.json, tokenizer.json and its safetensors weights, ${weights})`;
    const recipe = `content/training/${p.model.id}.json`;
    if (source.kind === 'embedded' && existsSync(resolve(root, recipe))) inputs += `, which \`npm run lab -- train --config ${recipe}\` trains`;
  }
  if (p.plan !== DEFAULT_PLAN && !existsSync(resolve(root, p.plan))) inputs += `, and the plan ${p.plan}, which is not in this checkout`;
  return { inputs, command };
}

/** What would recompute a run made from other weights than those here now. */
function outdatedHint(run: ModelRun, root: string): RecomputeHint {
  const here = run.inputs.weightsHash!.slice(0, 12);
  const then = run.provenance.model.weightsHash.slice(0, 12);
  return {
    inputs: `the weights now in ${rootRelative(run.inputs.dir!, root)} (weights hash ${here}; the published results were computed from ${then})`,
    command: recomputeHint(run.provenance, root).command,
  };
}

/** A published run with what is here of its inputs. */
export interface ModelRun extends PublishedProvenance {
  inputs: ModelInputs;
  /** 'frozen': its weights are not here; 'outdated': they are, but not the ones it was computed from; else 'current'. */
  state: 'frozen' | 'outdated' | 'current';
}

function runState(inputs: ModelInputs, p: Provenance): ModelRun['state'] {
  if (!inputs.present) return 'frozen';
  return inputs.weightsHash === p.model.weightsHash ? 'current' : 'outdated';
}

/** One model's published manifests and whether their inputs are here. */
export interface ModelProvenance {
  model: string;
  /** Every manifest of the model, by task and seed. */
  runs: ModelRun[];
  /**
   * 'frozen': published results whose inputs are not all here (shown as computed, not recomputable here);
   * 'outdated': the weights are here but differ from those some published run was computed from (retrained or
   * replaced since; `lab run` recomputes it); 'present': every run's inputs are here as they were;
   * 'unrecorded': no manifest, so the inputs are not known.
   */
  status: 'frozen' | 'outdated' | 'present' | 'unrecorded';
  /** For a frozen or outdated model: what would recompute it (from its first such run). */
  recompute: RecomputeHint | null;
}

/**
 * Frozen or not, per model with published results: `models` are the ids with results (a model without any manifest
 * is 'unrecorded'). The inputs of each distinct source are looked for once.
 */
export async function modelProvenance(published: PublishedProvenance[], models: string[], options: InputsOptions = {}): Promise<Map<string, ModelProvenance>> {
  const root = options.root ?? process.cwd();
  const seen = new Map<string, Promise<ModelInputs>>();
  const out = new Map<string, ModelProvenance>();
  for (const model of [...new Set([...models, ...published.map((p) => p.model)])].sort()) {
    const runs: ModelProvenance['runs'] = [];
    for (const p of published.filter((x) => x.model === model)) {
      const key = JSON.stringify([p.model, p.provenance.model.source, p.provenance.plan]);
      if (!seen.has(key)) seen.set(key, findModelInputs(p.provenance, { ...options, root }));
      const inputs = await seen.get(key)!;
      runs.push({ ...p, inputs, state: runState(inputs, p.provenance) });
    }
    const frozen = runs.find((r) => r.state === 'frozen');
    const outdated = runs.find((r) => r.state === 'outdated');
    out.set(model, {
      model,
      runs,
      status: runs.length === 0 ? 'unrecorded' : frozen ? 'frozen' : outdated ? 'outdated' : 'present',
      recompute: frozen ? recomputeHint(frozen.provenance, root) : outdated ? outdatedHint(outdated, root) : null,
    });
  }
  return out;
}

/** Reads a results folder's manifests and decides, per model, whether its results are frozen or outdated. */
export async function frozenStatus(resultsDir: string, options: InputsOptions & { models?: string[] } = {}): Promise<Map<string, ModelProvenance>> {
  return modelProvenance(readPublishedProvenance(resultsDir), options.models ?? [], options);
}
