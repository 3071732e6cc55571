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

export type DeviceRequest = 'cpu' | 'cuda' | 'webgpu' | 'auto';
export const DEVICE_CHOICES: readonly DeviceRequest[] = ['cpu', 'cuda', 'webgpu', 'auto'];

export interface RunnerOptions {
  device?: DeviceRequest;
  /** Intra-op threads; defaults to every core. */
  threads?: number;
  /** Where to report a device fallback under `auto` (default: stderr). */
  log?: (message: string) => void;
}

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
): Promise<ort.InferenceSession> {
  if (provider === 'cuda' && !cudaProviderInstalled()) throw new Error(INSTALL_HINT.cuda);
  try {
    return await ort.InferenceSession.create(model.bytes, {
      executionProviders: [provider],
      intraOpNumThreads: threads,
      interOpNumThreads: 1,
      graphOptimizationLevel: 'all',
      externalData: model.externalData.map((e) => ({ path: e.path, data: e.data })),
    });
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    if (provider === 'cpu') throw new Error(`ONNX Runtime could not load the graph: ${reason}`);
    throw new Error(`${INSTALL_HINT[provider]} (ONNX Runtime said: ${reason})`);
  }
}

export class Runner {
  readonly inputs: ReadonlyMap<string, { dtype: DType; rank: number }>;
  readonly outputNames: readonly string[];
  private readonly initializerNames: ReadonlySet<string>;
  private readonly session: ort.InferenceSession;
  readonly device: 'cpu' | 'cuda' | 'webgpu';

  private constructor(session: ort.InferenceSession, model: BuiltModel, device: 'cpu' | 'cuda' | 'webgpu') {
    this.session = session;
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
    if (request !== 'auto') return new Runner(await createOrtSession(model, request, threads), model, request);
    // Only `auto` may fall back, and it says so.
    const log = options.log ?? ((m: string) => process.stderr.write(`${m}\n`));
    const reasons: string[] = [];
    for (const provider of ['cuda', 'webgpu'] as const) {
      try {
        return new Runner(await createOrtSession(model, provider, threads), model, provider);
      } catch (err) {
        reasons.push(`${provider}: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    log(`--device auto: no GPU provider could start, running on CPU.\n  ${reasons.join('\n  ')}`);
    return new Runner(await createOrtSession(model, 'cpu', threads), model, 'cpu');
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
