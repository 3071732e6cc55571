// `icl-lab inspect`: run a model on one text and write every captured activation ("run with cache").

import * as path from 'node:path';
import { type Command, UsageError } from './command.ts';
import type { DeviceRequest } from '../engine/runner.ts';
import { CAPTURE_KINDS, captureName } from '../models/family.ts';
import { ModelSession } from '../models/forward.ts';
import { loadModel } from '../models/registry.ts';
import { writeSafetensors, type TensorInput } from '../models/safetensors.ts';
import { encodeSequence } from '../models/tokens.ts';
import { checkMemoryBeforeLoading } from '../models/footprint.ts';
import { DEVICE_OPTION, MAX_MEMORY_OPTION, THREADS_OPTION, parseDevice, parseMaxMemory, parseThreads } from './common.ts';

export const inspectCommand: Command = {
  name: 'inspect',
  summary: 'Run a model on a text and write its logits and captured activations as safetensors',
  usage: 'inspect --model DIR --text TEXT --out FILE.safetensors [--device cpu] [--threads N] [--max-memory GB]',
  options: {
    model: { type: 'string', valueName: 'DIR', description: 'Hugging Face-format model folder (config.json, model.safetensors, tokenizer.json)' },
    text: { type: 'string', valueName: 'TEXT', description: 'Input text (tokenised with the family\'s BOS policy)' },
    out: { type: 'string', valueName: 'FILE', description: 'Output .safetensors file' },
    device: DEVICE_OPTION,
    threads: THREADS_OPTION,
    'max-memory': MAX_MEMORY_OPTION,
  },
  details: [
    'Before the weights are read, prints the parameter count and an estimate of peak memory and time; refuses a',
    'model whose estimate exceeds the memory available (or --max-memory).',
    '',
    'Tensors written (no batch dimension; T tokens, d model width, H heads):',
    '  input_ids [T] (I64); logits [T, vocab] (F32)',
    '  blocks.{l}.attn.q [T, d]          query projection incl. bias, before 1/sqrt(head_dim) scaling',
    '  blocks.{l}.attn.scores [H, T, T]  q.k/sqrt(head_dim), before the causal mask and softmax',
    '  blocks.{l}.attn.out [T, d]        attention sub-layer output after the output projection, before the residual add',
    '  blocks.{l}.resid_post [T, d]      residual stream after the block',
  ].join('\n'),
  async run(values) {
    const modelDir = required(values.model, 'model');
    const text = required(values.text, 'text');
    const out = required(values.out, 'out');
    if (!out.endsWith('.safetensors')) throw new UsageError(`--out must name a .safetensors file, got "${out}"`);
    const device: DeviceRequest = parseDevice(values.device);
    const threads = parseThreads(values.threads);
    // Byte-level tokenizers give at most one token per UTF-8 byte; +2 for BOS and a prefix-space token.
    await checkMemoryBeforeLoading(modelDir, {
      label: modelDir, command: 'inspect', workload: { kind: 'inspect', tokens: Buffer.byteLength(text, 'utf8') + 2 },
      device, threads, maxMemoryBytes: parseMaxMemory(values['max-memory']), log: (line) => process.stderr.write(`${line}\n`),
    });
    const model = await loadModel(modelDir);
    const ids = encodeSequence(model, text);
    if (ids.length === 0) throw new UsageError('--text gave no tokens; give a non-empty text');
    const session = await ModelSession.create(model, { captures: CAPTURE_KINDS, logits: 'all' }, { device, threads });
    const { outputs } = await session.forward({ sequences: [ids] });
    await session.release();
    const tensors: TensorInput[] = [
      { name: 'input_ids', dtype: 'I64', shape: [ids.length], data: BigInt64Array.from(ids, (i) => BigInt(i)) },
    ];
    const dropBatch = (name: string) => {
      const t = outputs[name];
      tensors.push({ name, dtype: 'F32', shape: t.shape.slice(1), data: t.data as Float32Array });
    };
    dropBatch('logits');
    for (let l = 0; l < model.config.nLayer; l++) for (const kind of CAPTURE_KINDS) dropBatch(captureName(l, kind));
    await writeSafetensors(out, tensors, {
      format: 'pt',
      producer: 'icl-lab inspect',
      model: path.resolve(modelDir),
      text,
      token_policy: model.family.tokenPolicy(model.config).description,
    });
    process.stdout.write(
      `wrote ${tensors.length} tensors for ${ids.length} tokens (${model.config.nLayer} layers, device ${session.device}) to ${out}\n`,
    );
  },
};

function required(value: unknown, name: string): string {
  if (typeof value !== 'string' || value === '') throw new UsageError(`--${name} is required`);
  return value;
}
