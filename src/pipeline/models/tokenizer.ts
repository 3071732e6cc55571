// Loads a model folder's tokenizer (tokenizer.json, plus tokenizer_config.json when present) with
// @huggingface/tokenizers, behind a small interface with plain number ids and clear errors.

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { fileProblem, fsError } from './safetensors.ts';

export interface TextTokenizer {
  /** Token ids of `text`; never adds special tokens (BOS/EOS are the caller's business). */
  encode(text: string): number[];
  /** Text of `ids`, special tokens included as text; the exact inverse of encode for byte-level tokenizers. */
  decode(ids: number[]): string;
  tokenToId(token: string): number | undefined;
  idToToken(id: number): string | undefined;
  /** 1 + the largest token id, added tokens included: the row count an embedding table needs. */
  vocabSize: number;
  bosTokenId?: number;
  eosTokenId?: number;
  padTokenId?: number;
}

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

async function readTextIfExists(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw fsError(err, path, 'read the file');
  }
}

/** Parses a JSON file that must hold an object; says clearly when it does not. */
export function parseJsonObject(text: string, path: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw fileProblem(
      path,
      `not valid JSON (${(err as Error).message}); the file is garbled or truncated: download or write it again.`,
    );
  }
  if (!isObject(value)) throw fileProblem(path, 'must hold a JSON object; the file is garbled.');
  return value;
}

/** The token text of a tokenizer_config entry: "tok", or the AddedToken form {content: "tok", ...}; null = unset. */
function tokenText(value: unknown, key: string, path: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string') return value;
  if (isObject(value) && typeof value.content === 'string') return value.content;
  throw fileProblem(path, `"${key}" must be a token string or {"content": "..."}, got ${JSON.stringify(value)}.`);
}

/**
 * Loads the tokenizer of the model folder `dir`. BOS/EOS/PAD ids come from tokenizer_config.json (or, for older
 * folders, special_tokens_map.json); a named token that the tokenizer lacks is an error.
 */
export async function loadTokenizer(dir: string): Promise<TextTokenizer> {
  const jsonPath = join(dir, 'tokenizer.json');
  const jsonText = await readTextIfExists(jsonPath);
  if (jsonText === undefined) {
    const slow = (await readTextIfExists(join(dir, 'vocab.json'))) !== undefined;
    throw fileProblem(
      dir,
      'has no tokenizer.json; a model folder needs tokenizer.json (the Hugging Face tokenizers format)' +
        (slow ? '. It has vocab.json, the "slow" format: convert it (e.g. save it once with transformers).' : '.'),
    );
  }
  const tokenizerJson = parseJsonObject(jsonText, jsonPath);

  const configPath = join(dir, 'tokenizer_config.json');
  const configText = await readTextIfExists(configPath);
  const config: Record<string, unknown> = configText === undefined ? {} : parseJsonObject(configText, configPath);
  const mapPath = join(dir, 'special_tokens_map.json');
  const mapText = await readTextIfExists(mapPath);
  const specialMap = mapText === undefined ? {} : parseJsonObject(mapText, mapPath);
  return tokenizerFromJson(tokenizerJson, config, { jsonPath, configPath, mapPath, specialMap });
}

/**
 * A tokenizer from an already parsed tokenizer.json object and tokenizer_config (e.g. one the synthetic world
 * generates). `paths` name where the objects came from, for error messages.
 */
export function tokenizerFromJson(
  tokenizerJson: Record<string, unknown>,
  tokenizerConfig: Record<string, unknown>,
  paths: { jsonPath: string; configPath: string; mapPath?: string; specialMap?: Record<string, unknown> },
): TextTokenizer {
  const { jsonPath, configPath } = paths;
  const mapPath = paths.mapPath ?? configPath;
  const specialMap = paths.specialMap ?? {};
  let config = tokenizerConfig;
  if (!isObject(tokenizerJson.model)) {
    throw fileProblem(jsonPath, 'has no "model" object; it is not a tokenizer.json file, or it is garbled.');
  }

  const model = tokenizerJson.model as Record<string, unknown>;
  if (model.type === 'WordLevel' && config.unk_token === undefined && typeof model.unk_token === 'string') {
    // The library reads a word-level model's unknown token from the config, not from the model: pass it along.
    config = { ...config, unk_token: model.unk_token };
  }

  let tokenizer: Tokenizer;
  try {
    tokenizer = new Tokenizer(
      {
        // Optional parts of the pipeline; the library insists the keys exist.
        added_tokens: [],
        normalizer: null,
        pre_tokenizer: null,
        post_processor: null,
        decoder: null,
        ...tokenizerJson,
      },
      config,
    );
  } catch (err) {
    throw fileProblem(
      jsonPath,
      `the tokenizers library cannot load it: ${(err as Error).message}. Is it an unsupported tokenizer type, or garbled?`,
      { cause: err },
    );
  }

  // vocab holds every id, added tokens included (the library writes them in); it may have holes.
  const vocab = (tokenizer.model as unknown as { vocab: Array<string | undefined> }).vocab;
  const vocabSize = vocab.length;

  const resolve = (key: string): number | undefined => {
    let source = configPath;
    let text = tokenText(config[key], key, configPath);
    if (text === undefined) {
      text = tokenText(specialMap[key], key, mapPath);
      source = mapPath;
    }
    if (text === undefined) return undefined;
    const id = tokenizer.token_to_id(text);
    if (id === undefined) {
      throw fileProblem(source, `"${key}" is ${JSON.stringify(text)}, but ${jsonPath} has no such token.`);
    }
    return id;
  };

  return {
    encode(text: string): number[] {
      const { ids, tokens }: { ids: Array<number | undefined>; tokens: string[] } = tokenizer.encode(text, {
        add_special_tokens: false,
      });
      const missing = ids.findIndex((id) => id === undefined);
      if (missing >= 0) {
        throw new Error(
          `cannot encode ${JSON.stringify(tokens[missing])}: it is not in the vocabulary of ${jsonPath}, ` +
            'which has no unknown token',
        );
      }
      return ids as number[];
    },
    decode(ids: number[]): string {
      if (ids.length === 0) return '';
      for (const id of ids) {
        if (!Number.isInteger(id) || vocab[id] === undefined) {
          throw new RangeError(`cannot decode token id ${id}: ${jsonPath} has no token with that id`);
        }
      }
      // No "clean up" of spaces before punctuation: decode must give back the text that was encoded.
      return tokenizer.decode(ids, { skip_special_tokens: false, clean_up_tokenization_spaces: false });
    },
    tokenToId: (token) => tokenizer.token_to_id(token),
    idToToken: (id) => (Number.isInteger(id) && id >= 0 ? vocab[id] : undefined),
    vocabSize,
    bosTokenId: resolve('bos_token'),
    eosTokenId: resolve('eos_token'),
    padTokenId: resolve('pad_token'),
  };
}

// GPT-2's pre-tokenizer regex (the ByteLevel pre-tokenizer with use_regex splits text this way before BPE).
const GPT2_PIECES = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;

/**
 * `tokenizer` with a memory of the ids of every pre-token piece: for byte-level BPE tokenizers with GPT-2's split
 * regex and no normaliser (GPT-2's own, and the synthetic world's), BPE runs on each piece alone, so a text's ids
 * are the concatenation of its pieces' ids; texts built from a small set of words (pretraining streams) then encode
 * with a regex split and a few lookups instead of a trip through the tokenizers library. Texts that contain one of
 * `specialTokens` go to the library unchanged.
 */
export function withPieceCache(tokenizer: TextTokenizer, specialTokens: readonly string[]): TextTokenizer {
  const pieces = new Map<string, number[]>();
  return {
    ...tokenizer,
    encode(text: string): number[] {
      if (specialTokens.some((t) => text.includes(t))) return tokenizer.encode(text);
      const ids: number[] = [];
      for (const [piece] of text.matchAll(GPT2_PIECES)) {
        let hit = pieces.get(piece);
        if (!hit) pieces.set(piece, (hit = tokenizer.encode(piece)));
        for (const id of hit) ids.push(id);
      }
      return ids;
    },
  };
}
