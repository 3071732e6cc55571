// `icl-lab finetune` end to end on tiny GPT-2 folders written here: loss goes down, only K/V values change
// (bit-identical elsewhere), one step is exactly SGD, the query record, names and dtypes, and every bad input.

import { describe, it, expect, beforeAll, afterAll, vi } from 'vitest';
import { mkdtemp, readdir, readFile, rm, writeFile, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../src/pipeline/cli.ts';
import { readHfModelFolder, writeHfModelFolder } from '../../src/pipeline/models/hf-folder.ts';
import { loadModel } from '../../src/pipeline/models/registry.ts';
import { ModelSession } from '../../src/pipeline/models/forward.ts';
import { TrainingSession } from '../../src/pipeline/models/training.ts';
import { encodeSequence } from '../../src/pipeline/models/tokens.ts';
import { readSafetensors, toFloat32, type TensorInput } from '../../src/pipeline/models/safetensors.ts';
import { byteLevelBpeTokenizerJson } from '../../src/pipeline/models/tokenizer-json.ts';
import { tinyGpt2, type TinyGpt2Options } from '../helpers/tiny-gpt2.ts';

let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'icl-lab-finetune-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});
let count = 0;
const fresh = (name = 'x') => join(tmp, `${name}${count++}`);

const D = 16;
const LINES = ['The movie was great. Label: positive', 'A dull, tired plot. Label: negative', 'Fun from start to end! Label: positive'];

/** A tiny byte-level GPT-2 folder (256 byte symbols + <|endoftext|> = 256 as BOS). */
async function modelFolder(options: TinyGpt2Options = {}, dtype: 'F32' | 'F16' = 'F32', poison = false): Promise<string> {
  const dir = fresh('model');
  const tiny = tinyGpt2({ nLayer: 2, nHead: 2, dModel: D, vocabSize: 257, positions: 64, ...options });
  if (poison) (tiny.tensors.find((t) => t.name === 'ln_f.bias')!.data as Float32Array)[0] = NaN;
  tiny.config.bos_token_id = 256;
  tiny.config.eos_token_id = 256;
  const tensors: TensorInput[] = tiny.tensors.map((t) => ({ ...t, dtype }));
  await writeHfModelFolder(dir, {
    config: tiny.config,
    tensors,
    metadata: { format: 'pt' },
    tokenizerJson: byteLevelBpeTokenizerJson({ specialTokens: ['<|endoftext|>'] }),
    tokenizerConfig: { bos_token: '<|endoftext|>', eos_token: '<|endoftext|>' },
  });
  return dir;
}

async function dataFile(content: string): Promise<string> {
  const file = `${fresh('data')}.jsonl`;
  await writeFile(file, content);
  return file;
}
const jsonl = (lines: string[]) => lines.map((text) => JSON.stringify({ text })).join('\n') + '\n';

async function run(args: string[]): Promise<{ code: number; stderr: string; stdout: string }> {
  let stderr = '';
  let stdout = '';
  const e = vi.spyOn(process.stderr, 'write').mockImplementation((s) => ((stderr += String(s)), true));
  const o = vi.spyOn(process.stdout, 'write').mockImplementation((s) => ((stdout += String(s)), true));
  try {
    return { code: await main(['finetune', ...args]), stderr, stdout };
  } finally {
    e.mockRestore();
    o.mockRestore();
  }
}

async function snapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const name of (await readdir(dir)).sort()) out[name] = (await readFile(join(dir, name))).toString('base64');
  return out;
}

const exists = (p: string) => stat(p).then(() => true, () => false);

/** Mean next-token NLL over the lines, each alone. */
async function meanLoss(dir: string, lines: string[]): Promise<number> {
  const model = await loadModel(dir);
  const session = await TrainingSession.create(model, { trainable: model.family.kvParamNames(model.config) }, { threads: 1 });
  let sum = 0;
  for (const text of lines) sum += await session.loss({ sequences: [encodeSequence(model, text)] });
  await session.release();
  return sum / lines.length;
}

describe('lab finetune', () => {
  it('lowers the loss; only K/V columns of c_attn change, everything else is bit-identical; names, metadata, query record', async () => {
    const model = await modelFolder({ prefix: true });
    const before = await snapshot(model);
    const data = await dataFile(jsonl(LINES));
    const out = fresh('out');
    const queries = join(fresh('new-folder'), 'q.safetensors');
    const r = await run(['--model', model, '--data', data, '--lr', '0.05', '--out', out, '--record-queries', queries, '--threads', '1']);
    expect(r.stderr).toMatch(/step 1\/3: loss \d/);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/finetuned K\/V projections on 3 lines/);
    expect(await snapshot(model)).toEqual(before);
    expect(await meanLoss(out, LINES)).toBeLessThan(await meanLoss(model, LINES));

    const a = await readHfModelFolder(model);
    const b = await readHfModelFolder(out);
    expect([...b.tensors.keys()].sort()).toEqual([...a.tensors.keys()].sort());
    expect(b.tensors.has('transformer.h.0.attn.c_attn.weight')).toBe(true);
    expect((await readSafetensors(join(out, 'model.safetensors'))).metadata).toEqual({ format: 'pt' });
    expect(await readFile(join(out, 'tokenizer.json'), 'utf8')).toBe(await readFile(join(model, 'tokenizer.json'), 'utf8'));
    expect(b.config).toEqual(a.config);
    for (const [name, entry] of a.tensors) {
      const after = b.tensors.get(name)!;
      expect(after.dtype).toBe('F32');
      if (!name.includes('c_attn')) {
        expect(Buffer.compare(Buffer.from(after.bytes), Buffer.from(entry.bytes)), name).toBe(0);
        continue;
      }
      // c_attn: [d, 3d] weight or [3d] bias, columns q | k | v. The q columns keep their bits, K/V ones move.
      const x = new Uint32Array(toFloat32(entry).buffer);
      const y = new Uint32Array(toFloat32(after).buffer);
      const cols = 3 * D;
      let qChanged = 0;
      let kvChanged = 0;
      x.forEach((bits, i) => {
        if (bits === y[i]) return;
        if (i % cols < D) qChanged++;
        else kvChanged++;
      });
      expect(qChanged, name).toBe(0);
      expect(kvChanged, name).toBeGreaterThan(0);
    }

    // Query record: step i, layer l, [T_i, d]; step 0 is the input model's capture. K/V training never changes
    // layer 0's queries (they depend on embeddings, ln_1 and W_q only), but changes those of later layers.
    const rec = await readSafetensors(queries);
    const source = await loadModel(model);
    const session = await ModelSession.create(source, { captures: ['attn.q'], logits: 'none' }, { threads: 1 });
    for (let i = 0; i < LINES.length; i++) {
      const ids = encodeSequence(source, LINES[i]);
      expect(Array.from(new BigInt64Array(Uint8Array.from(rec.tensors.get(`step.${i}.input_ids`)!.bytes).buffer), Number)).toEqual(ids);
      const { outputs } = await session.forward({ sequences: [ids] });
      for (let l = 0; l < 2; l++) {
        const entry = rec.tensors.get(`step.${i}.blocks.${l}.attn.q`)!;
        expect(entry.shape).toEqual([ids.length, D]);
        const recorded = toFloat32(entry);
        const original = outputs[`blocks.${l}.attn.q`].data as Float32Array;
        const scale = Math.max(...original.map(Math.abs));
        const diff = Math.max(...recorded.map((v, j) => Math.abs(v - original[j]))) / scale;
        // Same values up to float32 kernel differences between the two graphs; moved by the updates otherwise.
        if (i === 0 || l === 0) expect(diff, `step ${i} layer ${l}`).toBeLessThan(1e-6);
        else expect(diff, `step ${i} layer ${l}`).toBeGreaterThan(1e-4);
      }
    }
    await session.release();
    expect(rec.tensors.size).toBe(LINES.length * 3);
  });

  it('one step is exactly plain SGD: new K/V = old - lr * gradient (float32)', async () => {
    const model = await modelFolder({ seed: 2 });
    const data = await dataFile(jsonl([LINES[0]]));
    const out = fresh('out');
    expect((await run(['--model', model, '--data', data, '--lr', '0.1', '--out', out])).code).toBe(0);
    const source = await loadModel(model);
    const trainable = source.family.kvParamNames(source.config);
    const session = await TrainingSession.create(source, { trainable }, { threads: 1 });
    const { grads } = await session.run({ sequences: [encodeSequence(source, LINES[0])] });
    await session.release();
    const after = await loadModel(out);
    for (const name of trainable) {
      const p0 = source.params.get(name)!.data as Float32Array;
      const p1 = after.params.get(name)!.data as Float32Array;
      const g = grads.get(name)!.data as Float32Array;
      const expected = p0.map((v, i) => v - 0.1 * g[i]);
      expect(Math.max(...p1.map((v, i) => Math.abs(v - expected[i]))), name).toBeLessThan(1e-7);
    }
  });

  it('--params all moves every tensor; --dtype input keeps F16 for trained tensors and bytes for the others', async () => {
    const model = await modelFolder({ seed: 3 }, 'F16');
    const data = await dataFile(jsonl(LINES.slice(0, 2)));
    const all = fresh('out');
    expect((await run(['--model', model, '--data', data, '--lr', '0.05', '--out', all, '--params', 'all'])).code).toBe(0);
    const a = await readHfModelFolder(model);
    const b = await readHfModelFolder(all);
    for (const [name, entry] of b.tensors) {
      expect(entry.dtype, name).toBe('F32');
      expect(Buffer.compare(Buffer.from(toFloat32(entry).buffer), Buffer.from(toFloat32(a.tensors.get(name)!).buffer)), name).not.toBe(0);
    }
    const kv = fresh('out');
    expect((await run(['--model', model, '--data', data, '--lr', '0.05', '--out', kv, '--dtype', 'input'])).code).toBe(0);
    const c = await readHfModelFolder(kv);
    for (const [name, entry] of a.tensors) {
      const after = c.tensors.get(name)!;
      expect(after.dtype, name).toBe('F16');
      if (!name.includes('c_attn')) expect(Buffer.compare(Buffer.from(after.bytes), Buffer.from(entry.bytes)), name).toBe(0);
    }
  });

  describe('bad input: a clear error, nothing written, the input model untouched', () => {
    let model: string;
    let before: Record<string, string>;
    beforeAll(async () => {
      model = await modelFolder({ seed: 4 });
      before = await snapshot(model);
    });

    async function fails(args: { data?: string; lr?: string; out?: string; extra?: string[] }, message: RegExp) {
      const data = args.data ?? (await dataFile(jsonl(LINES)));
      const out = args.out ?? fresh('out');
      const r = await run(['--model', model, '--data', data, `--lr=${args.lr ?? '0.05'}`, '--out', out, ...(args.extra ?? [])]);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(message);
      expect(r.stderr).not.toMatch(/\n\s+at /); // a message, not a stack trace
      if (out !== model) expect(await exists(out)).toBe(false);
      expect(await snapshot(model)).toEqual(before);
    }

    it('empty or whitespace-only JSONL', async () => {
      await fails({ data: await dataFile('') }, /is empty/);
      await fails({ data: await dataFile('\n  \n') }, /is empty/);
      await fails({ data: join(tmp, 'missing.jsonl') }, /no such file/);
    });

    it('malformed lines name the line', async () => {
      await fails({ data: await dataFile('{"text": "ok"}\n{"text": oops}\n') }, /line 2: not valid JSON/);
      await fails({ data: await dataFile('{"text": "ok"}\n\n{"text": "ok"}\n') }, /line 2: empty line/);
      await fails({ data: await dataFile('["text"]\n') }, /line 1: expected a JSON object/);
      await fails({ data: await dataFile('{"text": "ok"}\n{"label": 1}\n') }, /line 2: "text" must be a non-empty string/);
      await fails({ data: await dataFile('{"text": ""}\n') }, /line 1: "text" must be a non-empty string/);
      await fails({ data: await dataFile('{"text": 5}\n') }, /line 1: "text" must be a non-empty string/);
    });

    it('a line longer than the model\'s positions names the line', async () => {
      await fails({ data: await dataFile(jsonl(['short', 'x'.repeat(80)])) }, /line 2: 81 tokens, more than the model's 64 positions/);
    });

    it('a non-finite loss or gradient names the line', async () => {
      // K/V of 1e38 overflow the attention scores at the next step.
      await fails({ lr: '1e38' }, /line 2: the (loss is|gradient of \S+ has) (NaN|-?Infinity).* at step 2\/3; nothing was written/);
      const poisoned = await modelFolder({ seed: 5 }, 'F32', true);
      const data = await dataFile(jsonl(LINES));
      const out = fresh('out');
      const r = await run(['--model', poisoned, '--data', data, '--lr', '0.05', '--out', out]);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/line 1: the loss is NaN at step 1\/3/);
      expect(await exists(out)).toBe(false);
    });

    it('bad options', async () => {
      for (const lr of ['0', '-1', 'abc', 'Infinity', 'NaN']) await fails({ lr }, /--lr must be a positive finite number/);
      await fails({ extra: ['--params', 'q'] }, /--params must be kv or all/);
      await fails({ extra: ['--dtype', 'F8'] }, /--dtype must be one of/);
      await fails({ extra: ['--record-queries', join(tmp, 'q.bin')] }, /must name a .safetensors file/);
    });

    it('--out equal to --model, or unwritable', async () => {
      await fails({ out: model }, /is the input model folder/);
      const file = fresh('file');
      await writeFile(file, 'not a folder');
      await fails({ out: join(file, 'sub', 'out') }, /is a file, not a folder/);
    });
  });

  it('--help documents the query record names', async () => {
    let stdout = '';
    const o = vi.spyOn(process.stdout, 'write').mockImplementation((s) => ((stdout += String(s)), true));
    try {
      expect(await main(['finetune', '--help'])).toBe(0);
    } finally {
      o.mockRestore();
    }
    expect(stdout).toMatch(/step\.\{i\}\.blocks\.\{l\}\.attn\.q \[T_i, d\]/);
    expect(stdout).toMatch(/step\.\{i\}\.input_ids/);
  });
});
