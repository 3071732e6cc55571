// GPU check, part 1 (this machine, Node): export one small model's forward graph, a fixed batch of feeds and the
// onnxruntime-node CPU outputs, so that run_gpu.py can rerun the same graph on a GPU machine that has Python but
// no Node (see README.md beside this file).
//
//   npm exec -- node scripts/gpu-check/export.ts OUT_DIR [--model content/models/emb-m] [--threads 1]
//
// The graph is built and run through the project's normal code path (ModelSession: the family's forward graph with
// logits at every position and every capture, fed by forwardFeeds); the ONNX bytes and external-data files written
// are exactly the ones handed to ONNX Runtime. Before finishing, the export reloads the model from OUT_DIR with
// onnxruntime-node and checks that it reproduces the saved outputs from the saved feeds.

import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-node';
import { stageKey, hashFile } from '../../src/pipeline/cache/hash.ts';
import type { HostTensor } from '../../src/pipeline/engine/tensor.ts';
import { encodePrompt } from '../../src/pipeline/experiments/prompt.ts';
import { CAPTURE_KINDS, type GraphOptions } from '../../src/pipeline/models/family.ts';
import { ModelSession } from '../../src/pipeline/models/forward.ts';
import { loadModel } from '../../src/pipeline/models/registry.ts';
import {
  type SafetensorsDtype,
  type TensorInput,
  readSafetensors,
  tensorData,
  writeSafetensors,
} from '../../src/pipeline/models/safetensors.ts';
import { loadSyntheticTask } from '../../src/pipeline/tasks/synthetic-provider.ts';
import { sampleDemonstrations } from '../../src/pipeline/tasks/splits.ts';
import { formatInput } from '../../src/pipeline/tasks/task.ts';

const USAGE = 'usage: npm exec -- node scripts/gpu-check/export.ts OUT_DIR [--model DIR] [--threads N]';

// One prompt per task, each with a different number of demonstrations, so that the batch is right-padded.
const PROMPTS: ReadonlyArray<{ task: string; demos: number }> = [
  { task: 'synthetic-sentiment2', demos: 3 },
  { task: 'synthetic-topic4', demos: 1 },
  { task: 'synthetic-relation3', demos: 2 },
  { task: 'synthetic-ordinal5', demos: 0 },
];
const DEMO_SEED = 1;
// Rerunning the same model file on the same ONNX Runtime build and thread count should be bitwise identical; a
// little room for a different kernel order is all the self-check allows.
const SELF_CHECK_TOL = 1e-6;

const SAFETENSORS_DTYPE: Record<HostTensor['dtype'], SafetensorsDtype> = {
  float32: 'F32',
  float64: 'F64',
  int64: 'I64',
  bool: 'BOOL',
};

const sha256 = (data: Uint8Array): string => createHash('sha256').update(data).digest('hex');

function fail(message: string): never {
  process.stderr.write(`export: ${message}\n${USAGE}\n`);
  process.exit(1);
}

function toWrite(name: string, t: HostTensor): TensorInput {
  return { name, dtype: SAFETENSORS_DTYPE[t.dtype], shape: t.shape, data: t.data };
}

/** max|a - b| / max|b| over two float tensors of equal shape. */
function relDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < b.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  if (Number.isNaN(diff)) return Number.NaN;
  return scale > 0 ? diff / scale : diff === 0 ? 0 : Number.POSITIVE_INFINITY;
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    args: process.argv.slice(2),
    allowPositionals: true,
    options: {
      model: { type: 'string', default: 'content/models/emb-m' },
      threads: { type: 'string', default: '1' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  if (positionals.length !== 1) fail('give exactly one OUT_DIR');
  const outDir = path.resolve(positionals[0]);
  const threads = Number(values.threads);
  if (!Number.isInteger(threads) || threads < 1) fail(`--threads must be a positive integer, got ${values.threads}`);
  if (fs.existsSync(outDir) && fs.readdirSync(outDir).length > 0) {
    fail(`${outDir} exists and is not empty; remove it first (the export never overwrites files)`);
  }
  fs.mkdirSync(outDir, { recursive: true });

  const modelDir = path.resolve(values.model);
  const model = await loadModel(modelDir);
  const { config, family, tokenizer } = model;
  const policy = family.tokenPolicy(config);

  // The batch: synthetic-world prompts, tokenised by the model's own tokenizer with its family's token policy.
  const prompts = PROMPTS.map(({ task: id, demos: k }, i) => {
    const task = loadSyntheticTask(id);
    const demos = sampleDemonstrations(task.train, DEMO_SEED, k).map((e) => ({
      input: formatInput(task.spec, e),
      label: task.spec.labelWords[e.label],
    }));
    const query = formatInput(task.spec, task.eval[i]);
    const { ids } = encodePrompt(policy, tokenizer, demos, query);
    const text = [...demos.map((d) => `${d.input} ${d.label}`), query].join('\n'); // for reading only: the feeds hold the ids
    return { task: id, demonstrations: k, eval_example: task.eval[i].id, text, tokens: ids.length, ids };
  });
  const sequences = prompts.map((p) => p.ids);

  // Build and run exactly as the pipeline does.
  const options: GraphOptions = { captures: CAPTURE_KINDS, logits: 'all' };
  const session = await ModelSession.create(model, options, { device: 'cpu', threads });
  const built = session.built;
  const feeds = session.feeds({ sequences });
  const fetches = [...session.outputNames];
  const { outputs } = await session.forward({ sequences, fetch: fetches });
  await session.release();

  // The model as handed to ONNX Runtime: its bytes, and each external-data file under the name the graph refers to.
  const onnxFile = 'model.onnx';
  fs.writeFileSync(path.join(outDir, onnxFile), built.bytes);
  for (const e of built.externalData) {
    if (path.basename(e.path) !== e.path) throw new Error(`external data path "${e.path}" is not a plain file name`);
    fs.writeFileSync(path.join(outDir, e.path), e.data);
  }
  const feedNames = Object.keys(feeds);
  await writeSafetensors(
    path.join(outDir, 'feeds.safetensors'),
    feedNames.map((n) => toWrite(n, feeds[n])),
  );
  await writeSafetensors(
    path.join(outDir, 'cpu_outputs.safetensors'),
    fetches.map((n) => toWrite(n, outputs[n])),
  );

  // The Hugging Face weights and config, for run_gpu.py's independent GPT-2 reference (numpy / torch).
  let reference: { config: string; weights: string } | null = null;
  const hfWeights = path.join(modelDir, 'model.safetensors');
  if (config.modelType === 'gpt2' && fs.existsSync(hfWeights)) {
    fs.mkdirSync(path.join(outDir, 'hf'));
    fs.copyFileSync(path.join(modelDir, 'config.json'), path.join(outDir, 'hf', 'config.json'));
    fs.copyFileSync(hfWeights, path.join(outDir, 'hf', 'model.safetensors'));
    reference = { config: 'hf/config.json', weights: 'hf/model.safetensors' };
  }

  // Self-check: load the written model from disk (external data resolved beside it), feed the written feeds and
  // compare with the written outputs.
  const writtenFeeds = await readSafetensors(path.join(outDir, 'feeds.safetensors'));
  const writtenOutputs = await readSafetensors(path.join(outDir, 'cpu_outputs.safetensors'));
  const fromDisk = await ort.InferenceSession.create(path.join(outDir, onnxFile), {
    executionProviders: ['cpu'],
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
  });
  const ortFeeds: Record<string, ort.Tensor> = {};
  for (const name of feedNames) {
    const entry = writtenFeeds.tensors.get(name);
    if (!entry) throw new Error(`self-check: feeds.safetensors lacks "${name}"`);
    const type = feeds[name].dtype;
    const data = tensorData(entry);
    if (type === 'bool' && !(data instanceof Uint8Array)) throw new Error(`self-check: "${name}" did not read back as BOOL`);
    ortFeeds[name] = new ort.Tensor(type, data as HostTensor['data'], [...entry.shape]);
  }
  const rerun = await fromDisk.run(ortFeeds, fetches);
  await fromDisk.release();
  let worst = 0;
  for (const name of fetches) {
    const saved = writtenOutputs.tensors.get(name);
    if (!saved) throw new Error(`self-check: cpu_outputs.safetensors lacks "${name}"`);
    const again = rerun[name];
    if (again.dims.join(',') !== saved.shape.join(',')) {
      throw new Error(`self-check: "${name}" has shape [${again.dims}] from disk, [${saved.shape}] saved`);
    }
    const rel = relDiff(again.data as Float32Array, tensorData(saved) as Float32Array);
    if (!(rel <= SELF_CHECK_TOL)) throw new Error(`self-check: "${name}" differs from the saved output (rel ${rel})`);
    worst = Math.max(worst, rel);
  }

  const require = createRequire(import.meta.url);
  const ortVersion = (require('onnxruntime-node/package.json') as { version: string }).version;
  const files = fs.readdirSync(outDir, { recursive: true, withFileTypes: true })
    .filter((d) => d.isFile())
    .map((d) => path.relative(outDir, path.join(d.parentPath, d.name)))
    .sort();
  const manifest = {
    format: 'icl-lab gpu-check export, version 1',
    created: new Date().toISOString(),
    model: {
      id: path.basename(modelDir),
      dir: path.relative(process.cwd(), modelDir) || '.',
      family: family.name,
      model_type: config.modelType,
      layers: config.nLayer,
      heads: config.nHead,
      d_model: config.dModel,
      head_dim: config.headDim,
      vocab_size: config.vocabSize,
      // As the plan records it (run-plan.ts): the hash over the folder's safetensors files by name.
      weights_hash: fs.existsSync(hfWeights) ? stageKey({ 'model.safetensors': await hashFile(hfWeights) }) : null,
    },
    graph_options: { captures: [...CAPTURE_KINDS], logits: 'all' },
    onnx: {
      file: onnxFile,
      sha256: sha256(built.bytes),
      external_data: built.externalData.map((e) => ({ file: e.path, bytes: e.data.length, sha256: sha256(e.data) })),
      initializers: built.initializerNames.length,
      nodes: built.nodes.length,
    },
    producer: { onnxruntime_node: ortVersion, node: process.version, device: 'cpu', threads },
    prompts: prompts.map(({ ids: _ids, ...rest }) => rest),
    feeds_file: 'feeds.safetensors',
    outputs_file: 'cpu_outputs.safetensors',
    feeds: feedNames.map((n) => ({ name: n, dtype: feeds[n].dtype, shape: feeds[n].shape })),
    fetches: fetches.map((n) => ({ name: n, dtype: outputs[n].dtype, shape: outputs[n].shape })),
    reference,
    self_check: { reloaded_from_disk: true, max_rel_diff: worst, tolerance: SELF_CHECK_TOL },
    files: [...files, 'manifest.json'],
  };
  fs.writeFileSync(path.join(outDir, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);

  const total = files.reduce((s, f) => s + fs.statSync(path.join(outDir, f)).size, 0);
  process.stdout.write(
    `exported ${manifest.model.id} (${family.name}, ${config.nLayer} layers) to ${outDir}\n` +
      `  batch ${sequences.length} x ${Math.max(...sequences.map((s) => s.length))} tokens ` +
      `(lengths ${sequences.map((s) => s.length).join(', ')}), ${fetches.length} fetches, ` +
      `${built.externalData.length} external-data file(s)\n` +
      `  self-check (model reloaded from disk, onnxruntime-node ${ortVersion} CPU): max rel diff ${worst}\n` +
      `  ${files.length + 1} files, ${(total / 1e6).toFixed(2)} MB\n`,
  );
}

main().catch((err: unknown) => {
  process.stderr.write(`export failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
