// Known hub models worth running the protocol on, by family and size (`lab models`). Parameter counts are the
// models' published sizes; `supported` follows the families registered in registry.ts.

import { supportedModelTypes } from './registry.ts';

export interface CatalogueEntry {
  /** Hugging Face hub id. */
  id: string;
  /** config.json's model_type. */
  modelType: string;
  /** Published parameter count. */
  parameters: number;
  note?: string;
}

const M = 1e6;
const B = 1e9;

export const CATALOGUE: readonly CatalogueEntry[] = [
  { id: 'openai-community/gpt2', modelType: 'gpt2', parameters: 124 * M },
  { id: 'openai-community/gpt2-medium', modelType: 'gpt2', parameters: 355 * M },
  { id: 'openai-community/gpt2-large', modelType: 'gpt2', parameters: 774 * M },
  { id: 'openai-community/gpt2-xl', modelType: 'gpt2', parameters: 1.5 * B },
  { id: 'EleutherAI/pythia-70m', modelType: 'gpt_neox', parameters: 70 * M, note: 'training checkpoints as revisions step0..step143000' },
  { id: 'EleutherAI/pythia-160m', modelType: 'gpt_neox', parameters: 160 * M },
  { id: 'EleutherAI/pythia-410m', modelType: 'gpt_neox', parameters: 410 * M },
  { id: 'EleutherAI/pythia-1b', modelType: 'gpt_neox', parameters: 1 * B },
  { id: 'EleutherAI/pythia-1.4b', modelType: 'gpt_neox', parameters: 1.4 * B },
  { id: 'EleutherAI/pythia-2.8b', modelType: 'gpt_neox', parameters: 2.8 * B },
  { id: 'EleutherAI/pythia-6.9b', modelType: 'gpt_neox', parameters: 6.9 * B },
  { id: 'EleutherAI/pythia-12b', modelType: 'gpt_neox', parameters: 12 * B },
  { id: 'HuggingFaceTB/SmolLM2-135M', modelType: 'llama', parameters: 135 * M },
  { id: 'HuggingFaceTB/SmolLM2-360M', modelType: 'llama', parameters: 360 * M },
  { id: 'HuggingFaceTB/SmolLM2-1.7B', modelType: 'llama', parameters: 1.7 * B },
  { id: 'Qwen/Qwen2.5-0.5B', modelType: 'qwen2', parameters: 0.5 * B },
  { id: 'Qwen/Qwen2.5-1.5B', modelType: 'qwen2', parameters: 1.5 * B },
  { id: 'Qwen/Qwen2.5-3B', modelType: 'qwen2', parameters: 3 * B },
  { id: 'Qwen/Qwen2.5-7B', modelType: 'qwen2', parameters: 7 * B },
  { id: 'meta-llama/Llama-3.2-1B', modelType: 'llama', parameters: 1.2 * B, note: 'gated: needs HF_TOKEN' },
  { id: 'meta-llama/Llama-3.2-3B', modelType: 'llama', parameters: 3.2 * B, note: 'gated: needs HF_TOKEN' },
  { id: 'EleutherAI/gpt-neo-125m', modelType: 'gpt_neo', parameters: 125 * M },
  { id: 'EleutherAI/gpt-neo-1.3B', modelType: 'gpt_neo', parameters: 1.3 * B, note: 'the paper\'s sizes' },
  { id: 'EleutherAI/gpt-neo-2.7B', modelType: 'gpt_neo', parameters: 2.7 * B, note: 'the paper\'s sizes' },
  { id: 'KoboldAI/fairseq-dense-1.3B', modelType: 'xglm', parameters: 1.3 * B, note: 'the paper\'s own 1.3B model, converted' },
  { id: 'KoboldAI/fairseq-dense-2.7B', modelType: 'xglm', parameters: 2.7 * B, note: 'the paper\'s own 2.7B model, converted' },
];

/** fp32 weights, plus the same again that ONNX Runtime holds while a session is built from memory. */
export function memoryEstimateBytes(parameters: number): number {
  return parameters * 4 * 2;
}

export function catalogueRows(): Array<CatalogueEntry & { supported: boolean; memoryGiB: number }> {
  const types = new Set(supportedModelTypes());
  return CATALOGUE.map((e) => ({ ...e, supported: types.has(e.modelType), memoryGiB: memoryEstimateBytes(e.parameters) / 2 ** 30 }));
}
