// Runs a built graph on ONNX Runtime. onnxruntime-node silently ignores unknown feed names and feeds named after
// baked weights; this wrapper checks every feed and fetch against the graph and fails loudly instead.

import * as fs from 'node:fs';
import * as os from 'node:os';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import type { BuiltModel } from './graph.ts';
import type { DType, HostTensor } from './tensor.ts';
import { formatShape } from './shape.ts';
import { type WeightsFolder, weightsFolder } from './weights-cache.ts';
import { defaultCacheRoot } from '../cache/layout.ts';

export type DeviceRequest = 'cpu' | 'cuda' | 'webgpu' | 'auto';
export const DEVICE_CHOICES: readonly DeviceRequest[] = ['cpu', 'cuda', 'webgpu', 'auto'];

export interface RunnerOptions {
  device?: DeviceRequest;
  /** Intra-op threads; defaults to every core. */
  threads?: number;
  /** Where to report a device fallback under `auto` or a weights cache problem (default: stderr). */
  log?: (message: string) => void;
  /**
   * Result-store root whose `onnx/` entries hold weight files for sessions (see weights-cache.ts), or false. A graph
   * whose external data reaches `weightsCacheMinBytes` has it written there once (content-addressed) and the session
   * is created from those files, which ONNX Runtime maps instead of copying buffers handed to it (seconds per
   * gigabyte); what remains is hashing the weights for the key (~0.7 s/GB) and ONNX Runtime's own load-time work
   * (MatMul weight prepacking, constant folding). Default: the store root ($ICL_LAB_CACHE, else ./cache). false:
   * always from memory. Outputs are the same bit for bit either way.
   */
  weightsCache?: string | false;
  /** External data size from which the weights cache is used (default 64 MiB; smaller graphs load fast anyway). */
  weightsCacheMinBytes?: number;
}

/** Where a session's weights were loaded from. */
export type WeightsSource = { kind: 'memory' } | { kind: 'files'; dir: string; reused: boolean };

const WEIGHTS_CACHE_MIN_BYTES = 64 * 2 ** 20;

export class FeedError extends Error {}

const ORT_TYPE: Record<DType, ort.Tensor.Type> = { float32: 'float32', float64: 'float64', int64: 'int64', bool: 'bool' };

/** Where onnxruntime-node keeps its native libraries; the CUDA provider must be installed there. */
function ortBinaryDir(): string {
  const require = createRequire(import.meta.url);
  const pkg = path.dirname(require.resolve('onnxruntime-node/package.json'));
  return path.join(pkg, 'bin', 'napi-v6', process.platform, process.arch);
}

export function cudaProviderInstalled(): boolean {
  return fs.existsSync(path.join(ortBinaryDir(), 'libonnxruntime_providers_cuda.so'));
}

const INSTALL_HINT: Record<'cuda' | 'webgpu', string> = {
  cuda:
    'The CUDA execution provider is not installed. With internet access and an NVIDIA GPU (driver + CUDA 12), run ' +
    '`npm run setup:cuda` once; or use --device cpu.',
  webgpu:
    'The WebGPU execution provider could not start (it needs a GPU adapter with Vulkan drivers on Linux). ' +
    'Install your GPU vendor\'s Vulkan driver, or use --device cpu.',
};

async function createOrtSession(
  model: BuiltModel,
  provider: 'cpu' | 'cuda' | 'webgpu',
  threads: number,
  folder: string | undefined,
): Promise<ort.InferenceSession> {
  if (provider === 'cuda' && !cudaProviderInstalled()) throw new Error(INSTALL_HINT.cuda);
  const common: ort.InferenceSession.SessionOptions = {
    executionProviders: [provider],
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
  };
  try {
    // From files: the model bytes stay in memory (they are small) and external data locations resolve in `folder`.
    return await ort.InferenceSession.create(
      model.bytes,
      folder === undefined
        ? { ...common, externalData: model.externalData.map((e) => ({ path: e.path, data: e.data })) }
        : { ...common, extra: { session: { model_external_initializers_file_folder_path: folder } } },
    );
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    if (provider === 'cpu') throw new Error(`ONNX Runtime could not load the graph: ${reason}`);
    throw new Error(`${INSTALL_HINT[provider]} (ONNX Runtime said: ${reason})`);
  }
}

/** The weights cache entry a session is created from, or undefined for memory (small graphs, opted out, or a problem). */
async function weightsFiles(model: BuiltModel, options: RunnerOptions, log: (m: string) => void): Promise<WeightsFolder | undefined> {
  const root = options.weightsCache ?? defaultCacheRoot();
  if (root === false) return undefined;
  const bytes = model.externalData.reduce((s, e) => s + e.data.byteLength, 0);
  if (bytes === 0 || bytes < (options.weightsCacheMinBytes ?? WEIGHTS_CACHE_MIN_BYTES)) return undefined;
  try {
    return await weightsFolder(model.externalData, root, log);
  } catch (err) {
    // A read-only or full disk must not stop a run: it only loses the faster load.
    log(`weights cache under ${root} unusable (${err instanceof Error ? err.message : String(err)}); loading the weights from memory`);
    return undefined;
  }
}

/** A session from the weights cache entry when there is one; from memory when there is none or it vanished meanwhile. */
async function createSession(
  model: BuiltModel,
  provider: 'cpu' | 'cuda' | 'webgpu',
  threads: number,
  files: WeightsFolder | undefined,
  log: (m: string) => void,
): Promise<{ session: ort.InferenceSession; weights: WeightsSource }> {
  if (!files) return { session: await createOrtSession(model, provider, threads, undefined), weights: { kind: 'memory' } };
  try {
    const session = await createOrtSession(model, provider, threads, files.dir);
    return { session, weights: { kind: 'files', dir: files.dir, reused: files.reused } };
  } catch (err) {
    // The entry may have been removed or replaced since it was checked (a `cache gc`, another process replacing a
    // damaged copy). Still intact: once more from it, in case it was replaced meanwhile; a second failure is the
    // graph's or the provider's, and loading from memory would fail the same way. Gone or damaged: from memory.
    const now = await files.recheck();
    if (now === 'ok') {
      const session = await createOrtSession(model, provider, threads, files.dir).catch(() => {
        throw err;
      });
      return { session, weights: { kind: 'files', dir: files.dir, reused: files.reused } };
    }
    log(`weights cache entry ${files.dir} changed while loading (${now}); loading the weights from memory`);
    return { session: await createOrtSession(model, provider, threads, undefined), weights: { kind: 'memory' } };
  }
}

export class Runner {
  readonly inputs: ReadonlyMap<string, { dtype: DType; rank: number }>;
  readonly outputNames: readonly string[];
  private readonly initializerNames: ReadonlySet<string>;
  private readonly session: ort.InferenceSession;
  readonly device: 'cpu' | 'cuda' | 'webgpu';
  /** Where the baked weights were loaded from (see RunnerOptions.weightsCache). */
  readonly weights: WeightsSource;

  private constructor(
    created: { session: ort.InferenceSession; weights: WeightsSource },
    model: BuiltModel,
    device: 'cpu' | 'cuda' | 'webgpu',
  ) {
    this.session = created.session;
    this.weights = created.weights;
    this.device = device;
    this.inputs = new Map(model.inputs.map((i) => [i.name, { dtype: i.dtype, rank: i.shape.length }]));
    this.outputNames = model.outputs.map((o) => o.name);
    this.initializerNames = new Set(model.initializerNames);
  }

  static async create(model: BuiltModel, options: RunnerOptions = {}): Promise<Runner> {
    const request = options.device ?? 'cpu';
    if (!DEVICE_CHOICES.includes(request)) {
      throw new Error(`unknown device "${String(request)}": choose one of ${DEVICE_CHOICES.join(', ')}`);
    }
    const threads = options.threads ?? os.availableParallelism();
    if (!Number.isInteger(threads) || threads < 1) throw new Error(`threads must be a positive integer, got ${threads}`);
    const log = options.log ?? ((m: string) => process.stderr.write(`${m}\n`));
    const files = await weightsFiles(model, options, log);
    const create = (provider: 'cpu' | 'cuda' | 'webgpu') => createSession(model, provider, threads, files, log);
    if (request !== 'auto') return new Runner(await create(request), model, request);
    // Only `auto` may fall back, and it says so.
    const reasons: string[] = [];
    for (const provider of ['cuda', 'webgpu'] as const) {
      try {
        return new Runner(await create(provider), model, provider);
      } catch (err) {
        reasons.push(`${provider}: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    log(`--device auto: no GPU provider could start, running on CPU.\n  ${reasons.join('\n  ')}`);
    return new Runner(await create('cpu'), model, 'cpu');
  }

  /** Check feeds and fetches against the graph, then run. Returned tensors are copied out of ONNX Runtime. */
  async run(feeds: Record<string, HostTensor>, fetches: readonly string[]): Promise<Record<string, HostTensor>> {
    this.checkFeeds(feeds);
    if (fetches.length === 0) throw new FeedError('run() needs at least one output name to fetch');
    for (const name of fetches) {
      if (!this.outputNames.includes(name)) {
        throw new FeedError(`unknown output "${name}"; this graph outputs: ${this.outputNames.join(', ')}`);
      }
    }
    const ortFeeds: Record<string, ort.Tensor> = {};
    for (const [name, t] of Object.entries(feeds)) ortFeeds[name] = new ort.Tensor(ORT_TYPE[t.dtype], t.data, t.shape);
    const results = await this.session.run(ortFeeds, [...fetches]);
    const out: Record<string, HostTensor> = {};
    for (const name of fetches) {
      const t = results[name];
      out[name] = { dtype: t.type as DType, shape: [...t.dims], data: t.data as HostTensor['data'] };
    }
    return out;
  }

  private checkFeeds(feeds: Record<string, HostTensor>): void {
    for (const [name, t] of Object.entries(feeds)) {
      if (this.initializerNames.has(name)) {
        throw new FeedError(
          `feed "${name}" names a weight baked into the graph; ONNX Runtime would ignore it silently. ` +
            'Build the graph with that weight as an input to change it between runs.',
        );
      }
      const spec = this.inputs.get(name);
      if (!spec) {
        throw new FeedError(`unknown feed "${name}"; this graph's inputs are: ${[...this.inputs.keys()].join(', ')}`);
      }
      if (t.dtype !== spec.dtype) throw new FeedError(`feed "${name}" is ${t.dtype}, the graph expects ${spec.dtype}`);
      if (t.shape.length !== spec.rank) {
        throw new FeedError(`feed "${name}" has shape ${formatShape(t.shape)}, the graph expects rank ${spec.rank}`);
      }
    }
    const missing = [...this.inputs.keys()].filter((n) => !(n in feeds));
    if (missing.length) throw new FeedError(`missing feeds: ${missing.join(', ')}`);
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}
