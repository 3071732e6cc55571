// Protocol speed for `npm run bench`: per-example cost of ICL (demonstrations reused as past keys/values) against
// ZSL, and the FT pass, on an embedded-size GPT-2 with random weights over the synthetic world's tokenizer.

import { gpt2Family } from '../models/gpt2.ts';
import { loadSyntheticTask, shippedWorld, worldTokenizer } from '../tasks/synthetic-provider.ts';
import { runProtocol } from './protocol.ts';

export interface ProtocolBenchLine {
  name: string;
  value: number;
  unit: string;
}

export async function protocolBench(threads?: number): Promise<ProtocolBenchLine[]> {
  const world = shippedWorld();
  const eos = world.tokenizerJson.added_tokens[0].id;
  const config = gpt2Family.parseConfig({
    model_type: 'gpt2', vocab_size: eos + 1, n_positions: 256, n_embd: 128, n_layer: 4, n_head: 4, bos_token_id: eos, eos_token_id: eos,
  }, 'bench model');
  const model = { id: 'bench', family: gpt2Family, config, params: gpt2Family.initParams(config, 1), tokenizer: worldTokenizer(world) };
  const task = loadSyntheticTask('synthetic-sentiment2');
  const n = 128;
  const r = await runProtocol(model, task, {
    seed: 1, k: 16, positions: ['label_token'], tests: task.eval.slice(0, n), selection: [], lrGrid: [0.01], fixedLr: 0.01,
    runner: { threads },
  });
  const prefixTokens = r.demoLengths.reduce((a, b) => a + b + 1, 1);
  return [
    { name: `protocol, 4 layers d=128: ZSL per test example (${n} examples)`, value: (1000 * r.timings.zsl) / n, unit: 'ms' },
    { name: `  ICL per test example (${r.demos.length} demonstrations, ${prefixTokens}-token prefix reused)`, value: (1000 * r.timings.icl) / n, unit: 'ms' },
    { name: '  ICL cost / ZSL cost per example (target <= 2)', value: r.timings.icl / r.timings.zsl, unit: 'x' },
    { name: `  FT: ${r.demos.length} SGD steps on K/V with query recording`, value: 1000 * r.timings.ft, unit: 'ms' },
  ];
}
