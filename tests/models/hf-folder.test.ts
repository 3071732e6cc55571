import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readHfModelFolder, writeHfModelFolder } from '../../src/pipeline/models/hf-folder.ts';
import {
  ModelFileError,
  type TensorInput,
  encodeSafetensors,
  toFloat32,
} from '../../src/pipeline/models/safetensors.ts';
import { byteLevelBpeTokenizerJson } from '../../src/pipeline/models/tokenizer-json.ts';

let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'icl-lab-hf-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

let count = 0;
const fresh = () => join(tmp, `m${count++}`);

const tokenizerJson = byteLevelBpeTokenizerJson({ merges: [['Ġ', 'w']], specialTokens: ['<|endoftext|>'] });
const config = { model_type: 'gpt2', n_layer: 1, n_embd: 4 };
const tensors = (scale: number): TensorInput[] => [
  { name: 'wte.weight', dtype: 'F32', shape: [2, 2], data: Float32Array.of(1, 2, 3, 4).map((x) => x * scale) },
  { name: 'h.0.ln_1.bias', dtype: 'F16', shape: [2], data: Float32Array.of(0.5, -1).map((x) => x * scale) },
];

/** A folder of hand-placed files (objects as JSON, Uint8Array as bytes). */
async function folder(files: Record<string, object | string | Uint8Array>): Promise<string> {
  const dir = fresh();
  await mkdir(dir);
  for (const [name, content] of Object.entries(files)) {
    const data = typeof content === 'string' || content instanceof Uint8Array ? content : JSON.stringify(content);
    await writeFile(join(dir, name), data);
  }
  return dir;
}

async function failure(promise: Promise<unknown>): Promise<ModelFileError> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(ModelFileError);
    return err as ModelFileError;
  }
  throw new Error('expected a failure');
}

async function snapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const name of (await readdir(dir)).sort()) out[name] = (await readFile(join(dir, name))).toString('base64');
  return out;
}

describe('writeHfModelFolder and readHfModelFolder', () => {
  it('round-trips config, weights and tokenizer', async () => {
    const dir = fresh();
    await writeHfModelFolder(dir, {
      config,
      tensors: tensors(1),
      metadata: { format: 'pt' },
      tokenizerJson,
      tokenizerConfig: { eos_token: '<|endoftext|>' },
    });
    expect((await readdir(dir)).sort()).toEqual(['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json']);
    const m = await readHfModelFolder(dir);
    expect(m.dir).toBe(dir);
    expect(m.config).toEqual(config);
    expect(m.modelType).toBe('gpt2');
    expect(Array.from(toFloat32(m.tensors.get('wte.weight')!))).toEqual([1, 2, 3, 4]);
    expect(m.tensors.get('h.0.ln_1.bias')!.dtype).toBe('F16');
    expect(Array.from(toFloat32(m.tensors.get('h.0.ln_1.bias')!))).toEqual([0.5, -1]);
    expect(m.tokenizer.eosTokenId).toBe(257);
    expect(m.tokenizer.encode('a w')).toEqual([64, 256]);
    expect((await readdir(tmp)).filter((n) => n.startsWith('.'))).toEqual([]);
  });

  it('copies the tokenizer and small files from another folder, and can rewrite a folder in place', async () => {
    const src = fresh();
    await writeHfModelFolder(src, { config, tensors: tensors(1), tokenizerJson, tokenizerConfig: { eos_token: '<|endoftext|>' } });
    await writeFile(join(src, 'README.md'), '# card');
    await writeFile(join(src, 'pytorch_model.bin'), 'weights that must not be copied');
    await writeFile(join(src, 'model-00001-of-00002.safetensors'), 'nor these');
    const dst = fresh();
    await writeHfModelFolder(dst, { config: { ...config, note: 'finetuned' }, tensors: tensors(2), copyFrom: src });
    expect((await readdir(dst)).sort()).toEqual(['README.md', 'config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json']);
    expect(await readFile(join(dst, 'tokenizer.json'), 'utf8')).toBe(await readFile(join(src, 'tokenizer.json'), 'utf8'));

    // In place: change one tensor, keep the other's bytes exactly (given as the entry that was read).
    const before = await readHfModelFolder(dst);
    const kept = before.tensors.get('h.0.ln_1.bias')!;
    const keptBytes = Buffer.from(kept.bytes);
    await writeHfModelFolder(dst, {
      config: before.config,
      tensors: [{ name: 'wte.weight', dtype: 'F32', shape: [2, 2], data: Float32Array.of(9, 9, 9, 9) }, kept],
      copyFrom: dst,
    });
    const after = await readHfModelFolder(dst);
    expect(Array.from(toFloat32(after.tensors.get('wte.weight')!))).toEqual([9, 9, 9, 9]);
    expect(Buffer.from(after.tensors.get('h.0.ln_1.bias')!.bytes).equals(keptBytes)).toBe(true);
    expect(after.config.note).toBe('finetuned');
    expect((await readdir(dst)).sort()).toEqual(['README.md', 'config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json']);
    expect((await readdir(tmp)).filter((n) => n.startsWith('.'))).toEqual([]);
  });

  it('leaves the old folder intact when a write fails', async () => {
    const dir = fresh();
    await writeHfModelFolder(dir, { config, tensors: tensors(1), tokenizerJson });
    const before = await snapshot(dir);
    const bad: TensorInput = { name: 'bad', dtype: 'F32', shape: [3, -1], data: new Float32Array(3) };
    await expect(writeHfModelFolder(dir, { config, tensors: [...tensors(2), bad], tokenizerJson })).rejects.toThrow(/"bad".*shape/);
    // Fails half-way, after files were copied into the temporary folder: a value JSON cannot hold.
    const src = await folder({ 'tokenizer.json': tokenizerJson, 'README.md': 'card' });
    await expect(
      writeHfModelFolder(dir, { config: { ...config, big: 1n }, tensors: tensors(2), copyFrom: src }),
    ).rejects.toThrow(/BigInt/);
    const noTokenizer = await folder({ 'README.md': 'x' });
    await expect(writeHfModelFolder(dir, { config, tensors: tensors(2), copyFrom: noTokenizer })).rejects.toThrow(
      /has no tokenizer.json to copy/,
    );
    await expect(writeHfModelFolder(dir, { config: { n_layer: 1 }, tensors: tensors(2), tokenizerJson })).rejects.toThrow(
      /model_type/,
    );
    await expect(writeHfModelFolder(dir, { config, tensors: tensors(2) })).rejects.toThrow(/needs a tokenizer/);
    expect(await snapshot(dir)).toEqual(before);
    expect((await readdir(tmp)).filter((n) => n.startsWith('.'))).toEqual([]);
  });

  it('names an unwritable destination', async () => {
    const blocker = join(tmp, 'plain-file');
    await writeFile(blocker, 'x');
    const err = await failure(writeHfModelFolder(join(blocker, 'model'), { config, tensors: tensors(1), tokenizerJson }));
    expect(err.message).toContain(blocker);
    expect(err.message).toMatch(/cannot create the folder/);
    const err2 = await failure(writeHfModelFolder(blocker, { config, tensors: tensors(1), tokenizerJson }));
    expect(err2.message).toMatch(new RegExp(`^${blocker}: is a file`));
    expect(await readFile(blocker, 'utf8')).toBe('x');
  });
});

describe('sharded weights', () => {
  const shard1 = encodeSafetensors([tensors(1)[0]]);
  const shard2 = encodeSafetensors([tensors(1)[1], { name: 'lm_head.weight', dtype: 'F32', shape: [1], data: Float32Array.of(7) }]);
  const index = {
    metadata: { total_size: 0 },
    weight_map: {
      'wte.weight': 'model-00001-of-00002.safetensors',
      'h.0.ln_1.bias': 'model-00002-of-00002.safetensors',
      'lm_head.weight': 'model-00002-of-00002.safetensors',
    },
  };
  const base = { 'config.json': config, 'tokenizer.json': tokenizerJson };

  it('reads every tensor from its shard', async () => {
    const dir = await folder({
      ...base,
      'model.safetensors.index.json': index,
      'model-00001-of-00002.safetensors': shard1,
      'model-00002-of-00002.safetensors': shard2,
    });
    const m = await readHfModelFolder(dir);
    expect([...m.tensors.keys()].sort()).toEqual(['h.0.ln_1.bias', 'lm_head.weight', 'wte.weight']);
    expect(Array.from(toFloat32(m.tensors.get('lm_head.weight')!))).toEqual([7]);
    expect(Array.from(toFloat32(m.tensors.get('wte.weight')!))).toEqual([1, 2, 3, 4]);
  });

  it('takes special token ids from config.json when the tokenizer files name none', async () => {
    const dir = await folder({
      ...base,
      'config.json': { ...config, bos_token_id: 257, eos_token_id: 257, pad_token_id: 99999 },
      'model.safetensors': shard1,
    });
    const m = await readHfModelFolder(dir);
    expect([m.tokenizer.bosTokenId, m.tokenizer.eosTokenId, m.tokenizer.padTokenId]).toEqual([257, 257, undefined]);
    expect(m.tokenizer.decode(m.tokenizer.encode('a w'))).toBe('a w');
  });

  it('names a missing shard', async () => {
    const dir = await folder({ ...base, 'model.safetensors.index.json': index, 'model-00001-of-00002.safetensors': shard1 });
    const err = await failure(readHfModelFolder(dir));
    expect(err.file).toBe(join(dir, 'model-00002-of-00002.safetensors'));
    expect(err.message).toMatch(/model-00002-of-00002.safetensors: is missing, but .*index.json lists tensors in it/);
  });

  it('names a tensor the index puts in a shard that lacks it, and one the index does not list', async () => {
    const wrong = { weight_map: { ...index.weight_map, 'extra.weight': 'model-00001-of-00002.safetensors' } };
    let dir = await folder({
      ...base,
      'model.safetensors.index.json': wrong,
      'model-00001-of-00002.safetensors': shard1,
      'model-00002-of-00002.safetensors': shard2,
    });
    expect((await failure(readHfModelFolder(dir))).message).toMatch(
      /model-00001-of-00002.safetensors: has no tensor "extra.weight", but .*index.json says it is there/,
    );
    const { 'lm_head.weight': _dropped, ...fewer } = index.weight_map;
    dir = await folder({
      ...base,
      'model.safetensors.index.json': { weight_map: fewer },
      'model-00001-of-00002.safetensors': shard1,
      'model-00002-of-00002.safetensors': shard2,
    });
    expect((await failure(readHfModelFolder(dir))).message).toMatch(/holds tensor "lm_head.weight", which .* does not list/);
  });

  it('names a garbled index', async () => {
    let dir = await folder({ ...base, 'model.safetensors.index.json': { metadata: {} } });
    expect((await failure(readHfModelFolder(dir))).message).toMatch(/index.json: has no "weight_map"/);
    dir = await folder({ ...base, 'model.safetensors.index.json': { weight_map: { w: '../elsewhere.safetensors' } } });
    expect((await failure(readHfModelFolder(dir))).message).toMatch(/must be a file name in the folder/);
    dir = await folder({ ...base, 'model.safetensors.index.json': '{"weight_map": ' });
    expect((await failure(readHfModelFolder(dir))).message).toMatch(/index.json: not valid JSON/);
  });
});

describe('readHfModelFolder errors name the folder or file', () => {
  const weights = encodeSafetensors(tensors(1));

  it('reports a missing folder, or a file given as the folder', async () => {
    const dir = join(tmp, 'does-not-exist');
    const err = await failure(readHfModelFolder(dir));
    expect(err.message).toBe(`${dir}: the model folder does not exist; check the path (or download the model first).`);
    const file = join(await folder({ x: 'x' }), 'x');
    expect((await failure(readHfModelFolder(file))).message).toMatch(new RegExp(`^${file}: is a file`));
  });

  it('reports a missing, garbled or untyped config.json', async () => {
    let dir = await folder({ 'model.safetensors': weights, 'tokenizer.json': tokenizerJson });
    let err = await failure(readHfModelFolder(dir));
    expect(err.file).toBe(join(dir, 'config.json'));
    expect(err.message).toMatch(/config.json: missing; a model folder needs config.json/);
    dir = await folder({ 'config.json': '{"model_type": "gp', 'model.safetensors': weights, 'tokenizer.json': tokenizerJson });
    expect((await failure(readHfModelFolder(dir))).message).toMatch(/config.json: not valid JSON/);
    dir = await folder({ 'config.json': { n_layer: 2 }, 'model.safetensors': weights, 'tokenizer.json': tokenizerJson });
    err = await failure(readHfModelFolder(dir));
    expect(err.message).toMatch(/config.json: needs a string "model_type"/);
  });

  it('reports missing weights, broken weights and a missing tokenizer', async () => {
    let dir = await folder({ 'config.json': config, 'tokenizer.json': tokenizerJson });
    expect((await failure(readHfModelFolder(dir))).message).toMatch(/has no weights: neither model.safetensors/);
    dir = await folder({ 'config.json': config, 'tokenizer.json': tokenizerJson, 'pytorch_model.bin': 'x' });
    expect((await failure(readHfModelFolder(dir))).message).toMatch(/PyTorch .bin weights/);
    dir = await folder({ 'config.json': config, 'tokenizer.json': tokenizerJson, 'model.safetensors': weights.subarray(0, 40) });
    const err = await failure(readHfModelFolder(dir));
    expect(err.file).toBe(join(dir, 'model.safetensors'));
    expect(err.message).toMatch(/truncated/);
    dir = await folder({ 'config.json': config, 'model.safetensors': weights });
    expect((await failure(readHfModelFolder(dir))).message).toMatch(new RegExp(`^${dir}: has no tokenizer.json`));
  });
});
