// Writes tiny GPT-2 model folders (config.json, model.safetensors, tokenizer.json) for command-level tests.

import { mkdtemp, open, truncate } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeHfModelFolder } from '../../src/pipeline/models/hf-folder.ts';
import { byteLevelBpeTokenizerJson } from '../../src/pipeline/models/tokenizer-json.ts';
import { tinyGpt2, type TinyGpt2, type TinyGpt2Options } from './tiny-gpt2.ts';

export async function tempDir(prefix = 'icl-lab-test-'): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

/** A tiny byte-level GPT-2 folder: 256 byte symbols + <|endoftext|> (id 256) as BOS/EOS. */
export async function writeTinyGpt2Folder(dir: string, options: TinyGpt2Options = {}): Promise<TinyGpt2> {
  const tiny = tinyGpt2({ vocabSize: 257, positions: 64, ...options });
  tiny.config.bos_token_id = 256;
  tiny.config.eos_token_id = 256;
  await writeHfModelFolder(dir, {
    config: tiny.config,
    tensors: tiny.tensors,
    metadata: { format: 'pt' },
    tokenizerJson: byteLevelBpeTokenizerJson({ specialTokens: ['<|endoftext|>'] }),
    tokenizerConfig: { bos_token: '<|endoftext|>', eos_token: '<|endoftext|>' },
  });
  return tiny;
}

/**
 * Cuts a safetensors file after its header: the header (names, dtypes, shapes) still reads, the tensor data is gone,
 * so any reader of the weights fails (the loader says the file is truncated).
 */
export async function cutAfterHeader(file: string): Promise<void> {
  const handle = await open(file, 'r');
  const head = new Uint8Array(8);
  try {
    await handle.read(head, 0, 8, 0);
  } finally {
    await handle.close();
  }
  await truncate(file, 8 + Number(new DataView(head.buffer).getBigUint64(0, true)));
}
