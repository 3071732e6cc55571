// Reading and writing model folders in the Hugging Face layout:
//   config.json                 hyperparameters, with a string "model_type"
//   model.safetensors           the weights, or shards listed by model.safetensors.index.json ({weight_map: {name: file}})
//   tokenizer.json              the tokenizer (+ optional tokenizer_config.json and other small files)
// Writes go to a temporary sibling folder that is renamed into place when complete, so a crash never leaves a
// half-written model where a model is expected.

import { copyFile, mkdir, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import {
  ModelFileError,
  type TensorEntry,
  type TensorToWrite,
  encodeSafetensors,
  fileProblem,
  fsError,
  readSafetensors,
  syncFolder,
  tempSibling,
  writeFileDurably,
} from './safetensors.ts';
import { type TextTokenizer, loadTokenizer, parseJsonObject } from './tokenizer.ts';

export interface HfModelFolder {
  dir: string;
  /** config.json as read. */
  config: Record<string, unknown>;
  modelType: string;
  /** Every tensor of the weights, whichever file (shard) it is in. */
  tensors: Map<string, TensorEntry>;
  tokenizer: TextTokenizer;
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw fsError(err, path, 'look at the file');
  }
}

async function readJsonObject(path: string, missing: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw fileProblem(path, missing);
    throw fsError(err, path, 'read the file');
  }
  return parseJsonObject(text, path);
}

/** Reads the weights of a sharded folder: each shard once, checked against the index both ways. */
async function readShardedWeights(dir: string, indexPath: string): Promise<Map<string, TensorEntry>> {
  const index = await readJsonObject(indexPath, 'missing');
  const weightMap = index.weight_map;
  if (typeof weightMap !== 'object' || weightMap === null || Array.isArray(weightMap)) {
    throw fileProblem(indexPath, 'has no "weight_map" object ({tensor name: shard file}); the index is garbled.');
  }
  const namesByShard = new Map<string, string[]>();
  for (const [name, shard] of Object.entries(weightMap as Record<string, unknown>)) {
    if (typeof shard !== 'string' || shard === '' || basename(shard) !== shard || shard === '..') {
      throw fileProblem(
        indexPath,
        `"weight_map" gives ${JSON.stringify(shard)} as the file of tensor "${name}"; it must be a file name in the folder.`,
      );
    }
    const names = namesByShard.get(shard) ?? [];
    names.push(name);
    namesByShard.set(shard, names);
  }
  const tensors = new Map<string, TensorEntry>();
  for (const [shard, names] of namesByShard) {
    const shardPath = join(dir, shard);
    if (!(await isFile(shardPath))) {
      throw fileProblem(
        shardPath,
        `is missing, but ${indexPath} lists tensors in it (e.g. "${names[0]}"): download the missing shard.`,
      );
    }
    const file = await readSafetensors(shardPath);
    const listed = new Set(names);
    for (const name of names) {
      const entry = file.tensors.get(name);
      if (!entry) {
        throw fileProblem(
          shardPath,
          `has no tensor "${name}", but ${indexPath} says it is there; the shards and the index do not match ` +
            '(download them again).',
        );
      }
      tensors.set(name, entry);
    }
    for (const name of file.tensors.keys()) {
      if (!listed.has(name)) {
        throw fileProblem(
          shardPath,
          `holds tensor "${name}", which ${indexPath} does not list there; the shards and the index do not match ` +
            '(download them again).',
        );
      }
    }
  }
  return tensors;
}

/** Reads a Hugging Face model folder: config, all weights (single file or shards) and tokenizer. */
export async function readHfModelFolder(dir: string): Promise<HfModelFolder> {
  let info;
  try {
    info = await stat(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw fileProblem(dir, 'the model folder does not exist; check the path (or download the model first).');
    }
    throw fsError(err, dir, 'open the model folder');
  }
  if (!info.isDirectory()) throw fileProblem(dir, 'is a file; a model must be a folder holding config.json, weights and tokenizer.');

  const configPath = join(dir, 'config.json');
  const config = await readJsonObject(
    configPath,
    'missing; a model folder needs config.json (the hyperparameters, with "model_type").',
  );
  const modelType = config.model_type;
  if (typeof modelType !== 'string' || modelType === '') {
    throw fileProblem(
      configPath,
      `needs a string "model_type" (like "gpt2"), got ${JSON.stringify(modelType)}; it is not a Hugging Face config.`,
    );
  }

  const singlePath = join(dir, 'model.safetensors');
  const indexPath = join(dir, 'model.safetensors.index.json');
  let tensors: Map<string, TensorEntry>;
  if (await isFile(singlePath)) {
    tensors = (await readSafetensors(singlePath)).tensors;
  } else if (await isFile(indexPath)) {
    tensors = await readShardedWeights(dir, indexPath);
  } else {
    const torch = (await isFile(join(dir, 'pytorch_model.bin'))) || (await isFile(join(dir, 'pytorch_model.bin.index.json')));
    throw fileProblem(
      dir,
      'has no weights: neither model.safetensors nor model.safetensors.index.json' +
        (torch ? ' (it has PyTorch .bin weights, which icl-lab does not read: convert them to safetensors).' : '.'),
    );
  }

  return { dir, config, modelType, tensors, tokenizer: withConfigTokenIds(await loadTokenizer(dir), config) };
}

/**
 * Fills BOS/EOS/PAD ids that the tokenizer files leave unset from config.json's `bos_token_id` / `eos_token_id` /
 * `pad_token_id` (the hub's gpt2 folder names its end-of-text token only there).
 */
function withConfigTokenIds(tokenizer: TextTokenizer, config: Record<string, unknown>): TextTokenizer {
  const fromConfig = (key: string): number | undefined => {
    const id = config[key];
    return Number.isInteger(id) && (id as number) >= 0 && (id as number) < tokenizer.vocabSize ? (id as number) : undefined;
  };
  return {
    ...tokenizer,
    bosTokenId: tokenizer.bosTokenId ?? fromConfig('bos_token_id'),
    eosTokenId: tokenizer.eosTokenId ?? fromConfig('eos_token_id'),
    padTokenId: tokenizer.padTokenId ?? fromConfig('pad_token_id'),
  };
}

/** Files of a source folder never copied by writeHfModelFolder: the config and weights it writes itself. */
function isWeightsOrConfig(name: string): boolean {
  return (
    name === 'config.json' ||
    name === 'model.safetensors.index.json' ||
    /\.(safetensors|bin|pt|pth|ckpt|h5|msgpack|onnx|onnx_data|gguf|npz)$/i.test(name) ||
    /\.bin\.index\.json$/i.test(name)
  );
}

export interface HfModelFolderContents {
  /** Written as config.json; must have a string "model_type". */
  config: Record<string, unknown>;
  /** Written as model.safetensors (see encodeSafetensors; entries read from a file are copied bit for bit). */
  tensors: readonly TensorToWrite[];
  /** The safetensors "__metadata__" (e.g. {format: 'pt'}). */
  metadata?: Record<string, string>;
  /**
   * A model folder to copy the tokenizer and other small files from (every regular, non-hidden file except
   * config.json and weight files). May be `dir` itself: it is read before anything is replaced.
   */
  copyFrom?: string;
  /** Written as tokenizer.json (overrides a copied one). */
  tokenizerJson?: object;
  /** Written as tokenizer_config.json (overrides a copied one). */
  tokenizerConfig?: object;
}

/**
 * Writes a complete model folder at `dir`: into a temporary sibling folder first, which replaces `dir` (if any) by
 * rename only once it is complete and flushed. If anything fails, `dir` is left as it was. (Between the two
 * renames of a replacement, a crash leaves the old folder under a hidden `.NAME.old-*` sibling.)
 */
export async function writeHfModelFolder(dir: string, contents: HfModelFolderContents): Promise<void> {
  const target = resolve(dir);
  const { config } = contents;
  if (typeof config?.model_type !== 'string' || config.model_type === '') {
    throw fileProblem(target, 'cannot write a model without a string "model_type" in its config.');
  }
  if (contents.tokenizerJson === undefined && contents.copyFrom === undefined) {
    throw fileProblem(target, 'a model folder needs a tokenizer: pass tokenizerJson, or copyFrom a folder that has one.');
  }
  // Validate and encode before touching the disk: a bad tensor leaves everything as it was.
  const weights = encodeSafetensors(contents.tensors, contents.metadata);

  const copies: string[] = [];
  if (contents.copyFrom !== undefined) {
    const from = contents.copyFrom;
    let entries;
    try {
      entries = await readdir(from, { withFileTypes: true });
    } catch (err) {
      throw fsError(err, from, 'list the folder to copy the tokenizer from');
    }
    for (const e of entries) {
      if (e.isFile() && !e.name.startsWith('.') && !isWeightsOrConfig(e.name)) copies.push(e.name);
    }
    if (contents.tokenizerJson === undefined && !copies.includes('tokenizer.json')) {
      throw fileProblem(from, `has no tokenizer.json to copy into ${target}.`);
    }
  }

  const parent = dirname(target);
  try {
    await mkdir(parent, { recursive: true });
  } catch (err) {
    throw fsError(err, parent, `create the folder to hold ${target}`);
  }
  const temp = tempSibling(target, 'tmp');
  try {
    try {
      await mkdir(temp);
    } catch (err) {
      throw fsError(err, target, `write the model folder (creating ${temp} failed)`);
    }
    for (const name of copies) {
      try {
        await copyFile(join(contents.copyFrom!, name), join(temp, name));
      } catch (err) {
        throw fsError(err, join(contents.copyFrom!, name), `copy it into ${target}`);
      }
    }
    const json = (value: unknown): string => `${JSON.stringify(value, null, 2)}\n`;
    const writes: Array<[string, Uint8Array | string]> = [
      ['config.json', json(config)],
      ['model.safetensors', weights],
    ];
    if (contents.tokenizerJson !== undefined) writes.push(['tokenizer.json', json(contents.tokenizerJson)]);
    if (contents.tokenizerConfig !== undefined) writes.push(['tokenizer_config.json', json(contents.tokenizerConfig)]);
    for (const [name, data] of writes) {
      await rm(join(temp, name), { force: true }); // a copied file being overridden
      await writeFileDurably(join(temp, name), data);
    }
    await syncFolder(temp);
    await moveIntoPlace(temp, target);
  } catch (err) {
    await rm(temp, { recursive: true, force: true }).catch(() => {});
    if (err instanceof ModelFileError && err.file.startsWith(temp)) {
      throw fileProblem(target, `could not write the model folder (${err.message})`, { cause: err });
    }
    throw err;
  }
}

/** Renames the finished folder `temp` onto `target`, replacing an existing folder only after the swap succeeds. */
async function moveIntoPlace(temp: string, target: string): Promise<void> {
  let existing = false;
  try {
    const info = await stat(target);
    if (!info.isDirectory()) throw fileProblem(target, 'is a file; refusing to replace it with a model folder.');
    existing = true;
  } catch (err) {
    if (err instanceof ModelFileError) throw err;
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw fsError(err, target, 'look at the destination');
  }
  if (!existing) {
    try {
      await rename(temp, target);
    } catch (err) {
      throw fsError(err, target, 'move the finished model folder into place');
    }
    await syncFolder(dirname(target));
    return;
  }
  const old = tempSibling(target, 'old');
  try {
    await rename(target, old);
  } catch (err) {
    throw fsError(err, target, 'move the old model folder aside');
  }
  try {
    await rename(temp, target);
  } catch (err) {
    await rename(old, target).catch(() => {}); // put the old folder back
    throw fsError(err, target, 'move the finished model folder into place');
  }
  await syncFolder(dirname(target));
  await rm(old, { recursive: true, force: true }).catch(() => {});
}
