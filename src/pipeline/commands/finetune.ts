// `icl-lab finetune`: the paper's FT setting. Plain SGD, batch 1, one step per line of a JSONL file in file order,
// loss = mean next-token NLL of the line; by default only the attention key and value projections move.

import { access, mkdir, readFile, realpath, stat } from 'node:fs/promises';
import { constants } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { type Command, type OptionValues, UsageError } from './command.ts';
import type { DeviceRequest } from '../engine/runner.ts';
import { captureName } from '../models/family.ts';
import { readHfModelFolder, writeHfModelFolder } from '../models/hf-folder.ts';
import { modelFromFolder } from '../models/registry.ts';
import { type SafetensorsDtype, type TensorToWrite, writeSafetensors } from '../models/safetensors.ts';
import { encodeSequence } from '../models/tokens.ts';
import { TrainingSession, nonFinite, sgdStep } from '../models/training.ts';
import { checkMemoryBeforeLoading } from '../models/footprint.ts';
import { DEVICE_OPTION, MAX_MEMORY_OPTION, THREADS_OPTION, parseDevice, parseMaxMemory, parseThreads } from './common.ts';

export type TrainedParams = 'kv' | 'all';
export type OutputDtype = 'F32' | 'F16' | 'BF16' | 'input';
const DTYPES: readonly OutputDtype[] = ['F32', 'F16', 'BF16', 'input'];

export interface FinetuneOptions {
  modelDir: string;
  dataFile: string;
  lr: number;
  outDir: string;
  params?: TrainedParams;
  /** Dtype of the trained tensors in the output (untouched tensors keep theirs). Default F32. */
  dtype?: OutputDtype;
  /** A .safetensors file for every step's per-layer query vectors. */
  recordQueries?: string;
  device?: DeviceRequest;
  threads?: number;
  /** Refuse the model before loading when the memory estimate exceeds this (default: the memory available now). */
  maxMemoryBytes?: number;
  /** Progress lines (default: stderr). */
  log?: (line: string) => void;
}

export interface FinetuneResult {
  /** Loss of each line at its step, before its update. */
  losses: number[];
  /** Tensor names (as in the folder) that were rewritten. */
  trainedTensors: string[];
}

export async function finetune(o: FinetuneOptions): Promise<FinetuneResult> {
  const log = o.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const params = o.params ?? 'kv';
  const dtype = o.dtype ?? 'F32';
  if (!(Number.isFinite(o.lr) && o.lr > 0)) throw new UsageError(`--lr must be a positive finite number, got ${o.lr}`);
  if (await samePlace(o.modelDir, o.outDir)) {
    throw new UsageError(`--out ${o.outDir} is the input model folder; write the finetuned model elsewhere (the input is never modified)`);
  }
  await checkWritable(o.outDir, '--out');
  if (o.recordQueries !== undefined) {
    if (!o.recordQueries.endsWith('.safetensors')) {
      throw new UsageError(`--record-queries must name a .safetensors file, got "${o.recordQueries}"`);
    }
    await checkWritable(o.recordQueries, '--record-queries');
  }
  const texts = await readJsonlTexts(o.dataFile);

  // Byte-level tokenizers give at most one token per UTF-8 byte; +2 for BOS and a prefix-space token.
  const longest = Math.max(...texts.map((t) => Buffer.byteLength(t, 'utf8'))) + 2;
  await checkMemoryBeforeLoading(o.modelDir, {
    label: o.modelDir, command: 'finetune',
    workload: { kind: 'finetune', tokens: longest, lines: texts.length, params, recordQueries: o.recordQueries !== undefined },
    device: o.device, threads: o.threads, maxMemoryBytes: o.maxMemoryBytes, log,
  });
  const folder = await readHfModelFolder(o.modelDir);
  const model = modelFromFolder(folder);
  const { config, family } = model;
  const sequences = texts.map((text, i) => {
    const ids = encodeSequence(model, text);
    const where = `${o.dataFile}, line ${i + 1}`;
    if (ids.length > config.maxPositions) {
      throw new UsageError(`${where}: ${ids.length} tokens, more than the model's ${config.maxPositions} positions`);
    }
    if (ids.length < 2) throw new UsageError(`${where}: ${ids.length} token(s) give no next-token target to train on`);
    return ids;
  });

  const trainable = params === 'kv' ? family.kvParamNames(config) : [...model.params.keys()];
  const captures = o.recordQueries !== undefined ? (['attn.q'] as const) : [];
  const session = await TrainingSession.create(model, { trainable, captures }, { device: o.device, threads: o.threads });
  const losses: number[] = [];
  const queries: TensorToWrite[] = [];
  try {
    for (let i = 0; i < sequences.length; i++) {
      const ids = sequences[i];
      const result = await session.run({ sequences: [ids] });
      const bad = nonFinite(result);
      if (bad) {
        throw new UsageError(
          `${o.dataFile}, line ${i + 1}: ${bad} at step ${i + 1}/${sequences.length}; nothing was written ` +
            '(a smaller --lr may help)',
        );
      }
      if (o.recordQueries !== undefined) {
        queries.push({ name: `step.${i}.input_ids`, dtype: 'I64', shape: [ids.length], data: BigInt64Array.from(ids, (t) => BigInt(t)) });
        for (let l = 0; l < config.nLayer; l++) {
          const q = result.captures[captureName(l, 'attn.q')];
          queries.push({ name: `step.${i}.${captureName(l, 'attn.q')}`, dtype: 'F32', shape: q.shape.slice(1), data: q.data as Float32Array });
        }
      }
      sgdStep(model.params, result.grads, o.lr);
      losses.push(result.loss);
      log(`step ${i + 1}/${sequences.length}: loss ${result.loss.toFixed(4)} (${result.targets} targets)`);
    }
  } finally {
    await session.release();
  }

  // Trained HF tensors are rebuilt from the parameters (GPT-2's fused c_attn keeps its query columns' values);
  // every other tensor is copied byte for byte.
  const hf = family.toHfTensors(config, model.params);
  const trainedHf = new Set(trainable.map((p) => family.hfTensorOf(config, p)));
  const trainedNames = new Map([...trainedHf].map((h) => [model.hfNames.get(h) ?? h, h]));
  const tensors: TensorToWrite[] = [...folder.tensors].map(([name, entry]) => {
    const hfName = trainedNames.get(name);
    if (hfName === undefined) return entry;
    const t = hf.get(hfName)!;
    const out: SafetensorsDtype = dtype === 'input' ? entry.dtype : dtype;
    return { name, dtype: out, shape: entry.shape, data: t.data as Float32Array };
  });
  await writeHfModelFolder(o.outDir, { config: folder.config, tensors, metadata: { format: 'pt' }, copyFrom: o.modelDir });
  if (o.recordQueries !== undefined) {
    await mkdir(dirname(resolve(o.recordQueries)), { recursive: true });
    await writeSafetensors(o.recordQueries, queries, {
      format: 'pt',
      producer: 'icl-lab finetune',
      model: resolve(o.modelDir),
      data: resolve(o.dataFile),
      lr: String(o.lr),
      params,
      note: 'step.{i}.blocks.{l}.attn.q: query projection incl. bias (after rotary embedding in RoPE families), before 1/sqrt(head_dim) scaling, by the model before update i',
    });
  }
  return { losses, trainedTensors: [...trainedNames.keys()] };
}

/** The "text" of every line of a JSONL file; errors name the file and line. */
export async function readJsonlTexts(file: string): Promise<string[]> {
  let raw: string;
  try {
    raw = await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new UsageError(`--data ${file}: ${code === 'ENOENT' ? 'no such file' : `cannot read it (${(err as Error).message})`}`);
  }
  const text = raw.replace(/^\uFEFF/, '').replace(/\s+$/, '');
  if (text === '') throw new UsageError(`--data ${file} is empty; it needs one JSON object per line, like {"text": "..."}`);
  return text.split(/\r?\n/).map((line, i) => {
    const where = `${file}, line ${i + 1}`;
    if (line.trim() === '') throw new UsageError(`${where}: empty line; every line must be a JSON object like {"text": "..."}`);
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (err) {
      throw new UsageError(`${where}: not valid JSON (${(err as Error).message})`);
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw new UsageError(`${where}: expected a JSON object like {"text": "..."}, got ${JSON.stringify(value).slice(0, 40)}`);
    }
    const t = (value as Record<string, unknown>).text;
    if (typeof t !== 'string' || t === '') {
      throw new UsageError(`${where}: "text" must be a non-empty string, got ${t === undefined ? 'no "text"' : JSON.stringify(t).slice(0, 40)}`);
    }
    return t;
  });
}

/** Whether two paths name the same place (resolving symbolic links where they exist). */
async function samePlace(a: string, b: string): Promise<boolean> {
  const real = async (p: string) => realpath(p).catch(() => resolve(p));
  return resolve(a) === resolve(b) || (await real(a)) === (await real(b));
}

/** Fail before any work if `path` cannot be created: its nearest existing ancestor must be a writable folder. */
async function checkWritable(path: string, option: string): Promise<void> {
  const target = resolve(path);
  let dir = dirname(target);
  for (;;) {
    try {
      const info = await stat(dir);
      if (!info.isDirectory()) throw new UsageError(`${option} ${path}: ${dir} is a file, not a folder`);
      break;
    } catch (err) {
      if (err instanceof UsageError) throw err;
      const code = (err as NodeJS.ErrnoException).code;
      if ((code !== 'ENOENT' && code !== 'ENOTDIR') || dirname(dir) === dir) {
        throw new UsageError(`${option} ${path}: cannot use ${dir} (${(err as Error).message})`);
      }
      dir = dirname(dir);
    }
  }
  try {
    await access(dir, constants.W_OK);
  } catch {
    throw new UsageError(`${option} ${path}: the folder ${dir} is not writable`);
  }
}

export const finetuneCommand: Command = {
  name: 'finetune',
  summary: 'Finetune a model with plain SGD, one step per line of a JSONL file (the paper\'s FT setting)',
  usage:
    'finetune --model DIR --data FILE.jsonl --lr LR --out DIR [--params kv|all] [--dtype F32|F16|BF16|input] ' +
    '[--record-queries FILE.safetensors] [--device cpu] [--threads N] [--max-memory GB]',
  options: {
    model: { type: 'string', valueName: 'DIR', description: 'Hugging Face-format model folder (never modified)' },
    data: { type: 'string', valueName: 'FILE', description: 'JSONL training data: one {"text": "..."} per line, one SGD step each, in order' },
    lr: { type: 'string', valueName: 'LR', description: 'SGD learning rate (positive)' },
    out: { type: 'string', valueName: 'DIR', description: 'Output model folder (written atomically; must differ from --model)' },
    params: { type: 'string', valueName: 'kv|all', default: 'kv', description: 'Trained parameters: attention key/value projections of every layer, or all' },
    dtype: { type: 'string', valueName: DTYPES.join('|'), default: 'F32', description: 'Dtype of the trained tensors (input: as stored in --model)' },
    'record-queries': { type: 'string', valueName: 'FILE', description: 'Also write each step\'s per-layer query vectors (.safetensors)' },
    device: DEVICE_OPTION,
    threads: THREADS_OPTION,
    'max-memory': MAX_MEMORY_OPTION,
  },
  details: [
    'Before the weights are read, prints the parameter count and an estimate of peak memory and time; refuses a',
    'model whose estimate exceeds the memory available (or --max-memory).',
    '',
    'Each line is tokenised with the model family\'s BOS policy; its loss is the mean next-token negative',
    'log-likelihood over all of its targets; batch 1, momentum 0, weight decay 0, no clipping (Dai et al. 2023, FT).',
    'With --params kv only the K/V projection weights and biases change (for GPT-2: the K/V columns of c_attn;',
    'for Llama-style models: the whole k_proj / v_proj tensors).',
    'The output folder has the input\'s tensor names; untouched tensors keep their dtype and bytes; config and',
    'tokenizer files are copied; safetensors metadata {"format": "pt"}.',
    '',
    '--record-queries tensors (T_i tokens of line i, d model width; steps count from 0):',
    '  step.{i}.input_ids [T_i] (I64)       the tokens of line i',
    '  step.{i}.blocks.{l}.attn.q [T_i, d]  layer l query projection incl. bias (Llama-style: after rotary), before',
    '                                       1/sqrt(head_dim) scaling (d = heads * head_dim),',
    '                                       computed by the model as it is at step i (after i updates)',
  ].join('\n'),
  async run(values: OptionValues) {
    const modelDir = required(values.model, 'model');
    const dataFile = required(values.data, 'data');
    const outDir = required(values.out, 'out');
    const lrText = required(values.lr, 'lr');
    const lr = Number(lrText);
    if (!(Number.isFinite(lr) && lr > 0)) throw new UsageError(`--lr must be a positive finite number, got "${lrText}"`);
    const params = values.params ?? 'kv';
    if (params !== 'kv' && params !== 'all') throw new UsageError(`--params must be kv or all, got "${String(params)}"`);
    const dtype = values.dtype ?? 'F32';
    if (!DTYPES.includes(dtype as OutputDtype)) throw new UsageError(`--dtype must be one of ${DTYPES.join(', ')}, got "${String(dtype)}"`);
    const recordQueries = values['record-queries'];
    const { losses, trainedTensors } = await finetune({
      modelDir,
      dataFile,
      lr,
      outDir,
      params,
      dtype: dtype as OutputDtype,
      recordQueries: typeof recordQueries === 'string' ? recordQueries : undefined,
      device: parseDevice(values.device),
      threads: parseThreads(values.threads),
      maxMemoryBytes: parseMaxMemory(values['max-memory']),
    });
    process.stdout.write(
      `finetuned ${params === 'kv' ? 'K/V projections' : 'all parameters'} on ${losses.length} lines (lr ${lr}); ` +
        `loss of the first line ${losses[0].toFixed(4)}, of the last ${losses[losses.length - 1].toFixed(4)}; ` +
        `rewrote ${trainedTensors.length} tensors; wrote ${outDir}\n`,
    );
  },
};

function required(value: unknown, name: string): string {
  if (typeof value !== 'string' || value === '') throw new UsageError(`--${name} is required`);
  return value;
}
