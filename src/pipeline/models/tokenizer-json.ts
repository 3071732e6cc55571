// Builders of real `tokenizer.json` files (the Hugging Face tokenizers format, loadable by the Rust/Python library,
// transformers.js and our loadTokenizer). The project trains its own small models and ships a tokenizer with each;
// tests use tiny ones.

/** One entry of "added_tokens". */
export interface AddedTokenJson {
  id: number;
  content: string;
  single_word: boolean;
  lstrip: boolean;
  rstrip: boolean;
  normalized: boolean;
  special: boolean;
}

/** The top level of a tokenizer.json file. */
export interface TokenizerJson {
  version: string;
  truncation: null;
  padding: null;
  added_tokens: AddedTokenJson[];
  normalizer: Record<string, unknown> | null;
  pre_tokenizer: Record<string, unknown> | null;
  post_processor: Record<string, unknown> | null;
  decoder: Record<string, unknown> | null;
  model: Record<string, unknown>;
}

function specialToken(id: number, content: string): AddedTokenJson {
  return { id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true };
}

/** Adds `token` to `vocab` with the next id; a token given twice is an error. */
function addUnique(vocab: Record<string, number>, token: string, what: string): number {
  if (typeof token !== 'string' || token === '') throw new Error(`${what} must be a non-empty string, got ${JSON.stringify(token)}`);
  if (Object.hasOwn(vocab, token)) throw new Error(`${what} ${JSON.stringify(token)} appears twice in the vocabulary`);
  const id = Object.keys(vocab).length;
  vocab[token] = id;
  return id;
}

/**
 * A word-level tokenizer: text is split on whitespace and each piece is looked up whole; unknown pieces become
 * `unkToken`. Decoding joins tokens with single spaces (so text with single spaces between words round-trips).
 *
 * Ids: `specialTokens` first in the given order, then `unkToken` (unless it is one of the special tokens), then
 * `vocab` in the given order. All special tokens and the unknown token are "added tokens" marked special, so they
 * are matched in text before splitting.
 */
export function wordLevelTokenizerJson(options: {
  vocab: readonly string[];
  unkToken: string;
  specialTokens: readonly string[];
}): TokenizerJson {
  const vocab: Record<string, number> = Object.create(null);
  const added: AddedTokenJson[] = [];
  for (const t of options.specialTokens) added.push(specialToken(addUnique(vocab, t, 'special token'), t));
  if (!options.specialTokens.includes(options.unkToken)) {
    added.push(specialToken(addUnique(vocab, options.unkToken, 'unknown token'), options.unkToken));
  }
  for (const word of options.vocab) {
    if (/\s/.test(word)) {
      throw new Error(`vocabulary word ${JSON.stringify(word)} contains whitespace; splitting on whitespace never yields it`);
    }
    addUnique(vocab, word, 'vocabulary word');
  }
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: added,
    normalizer: null,
    pre_tokenizer: { type: 'WhitespaceSplit' },
    post_processor: null,
    decoder: null,
    model: { type: 'WordLevel', vocab: { ...vocab }, unk_token: options.unkToken },
  };
}

/**
 * The 256 byte-level symbols of GPT-2, in GPT-2's id order: the printable bytes ('!'..'~', '¡'..'¬', '®'..'ÿ') stand
 * for themselves and come first; the other bytes (space, control characters...) map to code points from U+0100 on,
 * in byte order (space is 'Ġ', newline 'Ċ'). `BYTE_LEVEL_SYMBOLS[i]` is the symbol with id i; `byteToSymbol[b]` the
 * symbol of byte b.
 */
export const { BYTE_LEVEL_SYMBOLS, byteToSymbol } = (() => {
  const printable: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) printable.push(b);
  for (let b = 0xa1; b <= 0xac; b++) printable.push(b);
  for (let b = 0xae; b <= 0xff; b++) printable.push(b);
  const symbols: string[] = printable.map((b) => String.fromCharCode(b));
  const ofByte: string[] = new Array(256);
  for (const b of printable) ofByte[b] = String.fromCharCode(b);
  let next = 0;
  for (let b = 0; b < 256; b++) {
    if (ofByte[b] === undefined) {
      ofByte[b] = String.fromCharCode(256 + next++);
      symbols.push(ofByte[b]);
    }
  }
  return { BYTE_LEVEL_SYMBOLS: symbols as readonly string[], byteToSymbol: ofByte as readonly string[] };
})();

/**
 * A GPT-2 style byte-level BPE tokenizer: text is split with GPT-2's regex (no prefix space added), each piece's
 * UTF-8 bytes become byte-level symbols, `merges` are applied by rank, and the ByteLevel decoder maps symbols back
 * to bytes. Any text round-trips exactly.
 *
 * Ids: the 256 byte-level symbols (GPT-2's ids: 'A' is 32, 'Ġ' (space) is 220), then the result of each merge in
 * order (a merge whose result already exists adds no id), then `specialTokens` in order (as special added tokens,
 * like GPT-2's "<|endoftext|>" at the end). Each merge's parts must be symbols or results of earlier merges.
 * Merges are written as "left right" strings, the form every version of the tokenizers library reads.
 */
export function byteLevelBpeTokenizerJson(options: {
  merges?: ReadonlyArray<readonly [string, string]>;
  specialTokens: readonly string[];
}): TokenizerJson {
  const vocab: Record<string, number> = Object.create(null);
  for (const s of BYTE_LEVEL_SYMBOLS) addUnique(vocab, s, 'byte-level symbol');
  const merges: string[] = [];
  const seenMerges = new Set<string>();
  for (const [i, pair] of (options.merges ?? []).entries()) {
    const [left, right] = pair;
    for (const part of [left, right]) {
      if (typeof part !== 'string' || !Object.hasOwn(vocab, part)) {
        throw new Error(
          `merge ${i} (${JSON.stringify(pair)}): ${JSON.stringify(part)} is neither a byte-level symbol nor the ` +
            'result of an earlier merge (write bytes as their symbols, e.g. "Ġ" for a space)',
        );
      }
    }
    const key = `${left} ${right}`;
    if (seenMerges.has(key)) throw new Error(`merge ${i} (${JSON.stringify(pair)}) is given twice`);
    seenMerges.add(key);
    merges.push(key);
    if (!Object.hasOwn(vocab, left + right)) vocab[left + right] = Object.keys(vocab).length;
  }
  const added: AddedTokenJson[] = [];
  for (const t of options.specialTokens) added.push(specialToken(addUnique(vocab, t, 'special token'), t));
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: added,
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: '',
      end_of_word_suffix: '',
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab: { ...vocab },
      merges,
    },
  };
}
