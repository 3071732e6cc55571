// Session creation for `npm run bench`: a GPT-2-small-shape forward graph (random weights, ~500 MB of float32
// external data) loaded by ONNX Runtime from buffers, against loaded from the weights cache's files (engine/
// weights-cache.ts): the first time (hash, write, flush), and reused (hash, check, load).

import { mkdtemp, rm } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import type { BenchLine } from './bench.ts';
import { Runner, type RunnerOptions } from './engine/runner.ts';
import { weightsKey } from './engine/weights-cache.ts';
import { gpt2Family } from './models/gpt2.ts';
import { buildForwardGraph } from './models/forward.ts';

export async function weightsCacheBench(threads?: number): Promise<BenchLine[]> {
  const config = gpt2Family.parseConfig(
    { model_type: 'gpt2', vocab_size: 50257, n_positions: 1024, n_embd: 768, n_layer: 12, n_head: 12 },
    'bench',
  );
  const { built } = buildForwardGraph({ family: gpt2Family, config, params: gpt2Family.initParams(config, 1) }, { logits: 'positions' });
  const mb = built.externalData.reduce((s, e) => s + e.data.byteLength, 0) / 2 ** 20;
  const root = await mkdtemp(path.join(os.tmpdir(), 'icl-lab-bench-weights-'));
  const create = async (options: RunnerOptions) => {
    const start = performance.now();
    const runner = await Runner.create(built, { threads, ...options });
    const seconds = (performance.now() - start) / 1000;
    await runner.release();
    return seconds;
  };
  try {
    const memory = await create({ weightsCache: false });
    const first = await create({ weightsCache: root });
    const reused = Math.min(await create({ weightsCache: root }), await create({ weightsCache: root }));
    const start = performance.now();
    weightsKey(built.externalData);
    const hashing = (performance.now() - start) / 1000;
    return [
      { name: `session creation, GPT-2-small shape (${mb.toFixed(0)} MB), from memory`, value: memory * 1000, unit: 'ms' },
      { name: '  from weight files, first time (hash + write + flush)', value: first * 1000, unit: 'ms' },
      {
        name: '  from weight files, reused (hash + check + load)', value: reused * 1000, unit: 'ms',
        note: `${(memory / reused).toFixed(1)}x faster than from memory`,
      },
      { name: '  of which hashing the weights (the entry key)', value: hashing * 1000, unit: 'ms' },
    ];
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}
