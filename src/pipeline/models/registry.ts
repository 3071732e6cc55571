// Model families by `model_type`, and loading a Hugging Face-format folder into a ready model.

import { type HfModelFolder, readHfModelFolder } from './hf-folder.ts';
import { ModelFileError } from './safetensors.ts';
import type { TextTokenizer } from './tokenizer.ts';
import type { ArchConfig, ModelFamily, ParamStore } from './family.ts';
import { gpt2Family } from './gpt2.ts';
import { llamaFamily } from './llama.ts';
import { gptNeoxFamily } from './gpt-neox.ts';
import { gptNeoFamily } from './gpt-neo.ts';
import { xglmFamily } from './xglm.ts';

const FAMILIES: readonly ModelFamily[] = [gpt2Family, llamaFamily, gptNeoxFamily, gptNeoFamily, xglmFamily];

export function supportedModelTypes(): string[] {
  return FAMILIES.flatMap((f) => f.modelTypes);
}

export function familyFor(modelType: string, source: string): ModelFamily {
  const family = FAMILIES.find((f) => f.modelTypes.includes(modelType));
  if (!family) {
    throw new ModelFileError(
      `${source}: unsupported model_type "${modelType}"; this version of icl-lab supports: ${supportedModelTypes().join(', ')}`,
      source,
    );
  }
  return family;
}

export interface LoadedModel {
  dir: string;
  family: ModelFamily;
  config: ArchConfig;
  params: ParamStore;
  tokenizer: TextTokenizer;
  /** config.json as read, for copying into derived model folders. */
  rawConfig: Record<string, unknown>;
  /** The folder's own tensor names (e.g. with or without a `transformer.` prefix), keyed by the family's HF name. */
  hfNames: Map<string, string>;
}

export async function loadModel(dir: string): Promise<LoadedModel> {
  return modelFromFolder(await readHfModelFolder(dir));
}

/** A model from a folder already read (callers that also need the folder's raw tensors, e.g. to copy them). */
export function modelFromFolder(folder: HfModelFolder): LoadedModel {
  const dir = folder.dir;
  const configSource = `${dir}/config.json`;
  const family = familyFor(folder.modelType, configSource);
  const config = family.parseConfig(folder.config, configSource);
  const params = family.loadParams(config, folder.tensors, dir);
  const hfNames = new Map<string, string>();
  for (const name of folder.tensors.keys()) hfNames.set(name.replace(/^transformer\./, ''), name);
  return { dir, family, config, params, tokenizer: folder.tokenizer, rawConfig: folder.config, hfNames };
}
