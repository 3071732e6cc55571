import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ModelFileError } from '../../src/pipeline/models/safetensors.ts';
import { loadTokenizer } from '../../src/pipeline/models/tokenizer.ts';
import {
  BYTE_LEVEL_SYMBOLS,
  byteLevelBpeTokenizerJson,
  byteToSymbol,
  wordLevelTokenizerJson,
} from '../../src/pipeline/models/tokenizer-json.ts';

let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'icl-lab-tok-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

let folders = 0;
/** A fresh folder holding the given files (objects are written as JSON). */
async function folder(files: Record<string, object | string>): Promise<string> {
  const dir = join(tmp, `f${folders++}`);
  await mkdir(dir);
  for (const [name, content] of Object.entries(files)) {
    await writeFile(join(dir, name), typeof content === 'string' ? content : JSON.stringify(content));
  }
  return dir;
}

const TEXT = 'Sentence: hello world Label: Positive';

describe('word-level tokenizer', () => {
  const json = wordLevelTokenizerJson({
    vocab: ['Sentence:', 'hello', 'world', 'Label:', 'Positive', 'Negative'],
    unkToken: '<unk>',
    specialTokens: ['<pad>', '<s>', '</s>'],
  });

  it('round-trips text with the documented ids', async () => {
    const tok = await loadTokenizer(
      await folder({
        'tokenizer.json': json,
        'tokenizer_config.json': { bos_token: '<s>', eos_token: { content: '</s>', __type: 'AddedToken' }, pad_token: '<pad>' },
      }),
    );
    // specials 0..2, unk 3, vocab from 4 on
    const ids = tok.encode(TEXT);
    expect(ids).toEqual([4, 5, 6, 7, 8]);
    expect(tok.decode(ids)).toBe(TEXT);
    expect([tok.padTokenId, tok.bosTokenId, tok.eosTokenId]).toEqual([0, 1, 2]);
    expect(tok.vocabSize).toBe(10);
    expect(tok.tokenToId('Negative')).toBe(9);
    expect(tok.tokenToId('nope')).toBeUndefined();
    expect(tok.idToToken(3)).toBe('<unk>');
    expect(tok.idToToken(10)).toBeUndefined();
    // Unknown words become <unk>; special tokens in the text are recognised; none are added.
    expect(tok.encode('hello there')).toEqual([5, 3]);
    expect(tok.encode('<s> hello </s>')).toEqual([1, 5, 2]);
    expect(tok.encode('')).toEqual([]);
    expect(tok.decode([])).toBe('');
    expect(() => tok.decode([99])).toThrow(/token id 99/);
  });

  it('has no BOS/EOS/PAD without a tokenizer_config.json', async () => {
    const tok = await loadTokenizer(await folder({ 'tokenizer.json': json }));
    expect([tok.bosTokenId, tok.eosTokenId, tok.padTokenId]).toEqual([undefined, undefined, undefined]);
    expect(tok.encode('world Negative zzz')).toEqual([6, 9, 3]);
  });

  it('rejects a vocabulary it could never produce or with duplicates', () => {
    expect(() => wordLevelTokenizerJson({ vocab: ['a b'], unkToken: '<unk>', specialTokens: [] })).toThrow(/whitespace/);
    expect(() => wordLevelTokenizerJson({ vocab: ['a', 'a'], unkToken: '<unk>', specialTokens: [] })).toThrow(/"a" appears twice/);
    expect(() => wordLevelTokenizerJson({ vocab: ['<s>'], unkToken: '<unk>', specialTokens: ['<s>'] })).toThrow(/twice/);
  });
});

describe('byte-level BPE tokenizer', () => {
  it('has GPT-2 byte symbols and ids', () => {
    expect(BYTE_LEVEL_SYMBOLS.length).toBe(256);
    expect(new Set(BYTE_LEVEL_SYMBOLS).size).toBe(256);
    expect(BYTE_LEVEL_SYMBOLS.indexOf('A')).toBe(32);
    expect(BYTE_LEVEL_SYMBOLS.indexOf('Ġ')).toBe(220);
    expect(byteToSymbol[0x20]).toBe('Ġ');
    expect(byteToSymbol[0x0a]).toBe('Ċ');
    expect(byteToSymbol[0x41]).toBe('A');
  });

  it('without merges: one token per byte, any text round-trips', async () => {
    const tok = await loadTokenizer(await folder({ 'tokenizer.json': byteLevelBpeTokenizerJson({ specialTokens: ['<|endoftext|>'] }) }));
    expect(tok.encode('A')).toEqual([32]);
    expect(tok.encode('A b')).toEqual([32, 220, BYTE_LEVEL_SYMBOLS.indexOf('b')]);
    expect(tok.vocabSize).toBe(257);
    expect(tok.tokenToId('<|endoftext|>')).toBe(256);
    for (const text of [TEXT, 'héllo wörld 🌍\n\ttabs  and  spaces . , !', ' leading and trailing ', '']) {
      const ids = tok.encode(text);
      expect(ids.length).toBe(new TextEncoder().encode(text).length);
      expect(tok.decode(ids)).toBe(text);
    }
  });

  it('applies merges by rank and keeps special tokens whole', async () => {
    const json = byteLevelBpeTokenizerJson({
      merges: [
        ['Ġ', 'w'],
        ['l', 'l'],
        ['Ġw', 'o'],
        ['e', 'll'],
      ],
      specialTokens: ['<|endoftext|>'],
    });
    const tok = await loadTokenizer(
      await folder({ 'tokenizer.json': json, 'tokenizer_config.json': { eos_token: '<|endoftext|>', bos_token: '<|endoftext|>' } }),
    );
    expect([tok.tokenToId('Ġw'), tok.tokenToId('ll'), tok.tokenToId('Ġwo'), tok.tokenToId('ell')]).toEqual([256, 257, 258, 259]);
    expect([tok.eosTokenId, tok.bosTokenId, tok.vocabSize]).toEqual([260, 260, 261]);
    const ids = tok.encode('hello world<|endoftext|>');
    expect(ids.map((i) => tok.idToToken(i))).toEqual(['h', 'ell', 'o', 'Ġwo', 'r', 'l', 'd', '<|endoftext|>']);
    expect(tok.decode(ids)).toBe('hello world<|endoftext|>');
    expect(tok.decode(tok.encode(TEXT))).toBe(TEXT);
  });

  it('rejects merges of parts that do not exist yet', () => {
    expect(() => byteLevelBpeTokenizerJson({ merges: [['Ġw', 'o']], specialTokens: [] })).toThrow(/"Ġw" is neither/);
    expect(() => byteLevelBpeTokenizerJson({ merges: [[' ', 'w']], specialTokens: [] })).toThrow(/" " is neither/);
    expect(() =>
      byteLevelBpeTokenizerJson({
        merges: [
          ['a', 'b'],
          ['a', 'b'],
        ],
        specialTokens: [],
      }),
    ).toThrow(/twice/);
  });
});

describe('loadTokenizer errors', () => {
  async function failure(promise: Promise<unknown>): Promise<ModelFileError> {
    try {
      await promise;
    } catch (err) {
      expect(err).toBeInstanceOf(ModelFileError);
      return err as ModelFileError;
    }
    throw new Error('expected a failure');
  }
  const good = byteLevelBpeTokenizerJson({ specialTokens: ['<|endoftext|>'] });

  it('names the folder without tokenizer.json', async () => {
    const dir = await folder({ 'config.json': {} });
    const err = await failure(loadTokenizer(dir));
    expect(err.file).toBe(dir);
    expect(err.message).toMatch(new RegExp(`^${dir}: .*needs tokenizer.json`));
    const slow = await folder({ 'vocab.json': {}, 'merges.txt': '' });
    expect((await failure(loadTokenizer(slow))).message).toMatch(/vocab.json, the "slow" format/);
  });

  it('names a garbled tokenizer.json or tokenizer_config.json', async () => {
    let dir = await folder({ 'tokenizer.json': '{"model": {"type": "BPE", "vo' });
    expect((await failure(loadTokenizer(dir))).message).toMatch(new RegExp(`^${dir}/tokenizer.json: not valid JSON.*garbled`));
    dir = await folder({ 'tokenizer.json': '[1]' });
    expect((await failure(loadTokenizer(dir))).message).toMatch(/tokenizer.json: must hold a JSON object/);
    dir = await folder({ 'tokenizer.json': { version: '1.0' } });
    expect((await failure(loadTokenizer(dir))).message).toMatch(/tokenizer.json: has no "model" object/);
    dir = await folder({ 'tokenizer.json': { ...good, model: { type: 'Mystery' } } });
    expect((await failure(loadTokenizer(dir))).message).toMatch(/tokenizer.json: the tokenizers library cannot load it: Unknown/);
    dir = await folder({ 'tokenizer.json': good, 'tokenizer_config.json': '{bad' });
    expect((await failure(loadTokenizer(dir))).message).toMatch(new RegExp(`^${dir}/tokenizer_config.json: not valid JSON`));
  });

  it('names a special token the tokenizer lacks, or one given in a wrong form', async () => {
    let dir = await folder({ 'tokenizer.json': good, 'tokenizer_config.json': { eos_token: '</s>' } });
    expect((await failure(loadTokenizer(dir))).message).toMatch(/tokenizer_config.json: "eos_token" is "<\/s>", but .*tokenizer.json has no such token/);
    dir = await folder({ 'tokenizer.json': good, 'tokenizer_config.json': { pad_token: 3 } });
    expect((await failure(loadTokenizer(dir))).message).toMatch(/"pad_token" must be a token string/);
  });

  it('falls back to special_tokens_map.json', async () => {
    const dir = await folder({
      'tokenizer.json': good,
      'tokenizer_config.json': { model_max_length: 1024 },
      'special_tokens_map.json': { eos_token: { content: '<|endoftext|>' } },
    });
    expect((await loadTokenizer(dir)).eosTokenId).toBe(256);
  });
});
