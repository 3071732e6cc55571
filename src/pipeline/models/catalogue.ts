// Known hub models worth running the protocol on, by family and size (`lab models`). Parameter counts are the
// models' published sizes; `supported` follows the families registered in registry.ts. Memory and time are
// footprint.ts's estimates for `lab run` with the default plan's settings (DEFAULT_RUN_WORKLOAD); where the entry
// gives the architecture (from the model's config.json) they include activations and the run's captures, otherwise
// they count the weights only (a lower bound).

import os from 'node:os';
import { type ArchShape, DEFAULT_RUN_WORKLOAD, estimateFootprint } from './footprint.ts';
import { supportedModelTypes } from './registry.ts';

export interface CatalogueEntry {
  /** Hugging Face hub id. */
  id: string;
  /** config.json's model_type. */
  modelType: string;
  /** Published parameter count. */
  parameters: number;
  /** The config.json shape, where entered (the estimate then includes activations). */
  arch?: ArchShape;
  note?: string;
}

const M = 1e6;
const B = 1e9;

/** Multi-head attention shape: layers, width, heads, vocabulary, context. */
const mha = (nLayer: number, dModel: number, nHead: number, vocabSize: number, maxPositions: number): ArchShape => ({
  nLayer, dModel, nHead, nKvHead: nHead, headDim: dModel / nHead, vocabSize, maxPositions,
});

export const CATALOGUE: readonly CatalogueEntry[] = [
  { id: 'openai-community/gpt2', modelType: 'gpt2', parameters: 124 * M, arch: mha(12, 768, 12, 50257, 1024) },
  { id: 'openai-community/gpt2-medium', modelType: 'gpt2', parameters: 355 * M, arch: mha(24, 1024, 16, 50257, 1024) },
  { id: 'openai-community/gpt2-large', modelType: 'gpt2', parameters: 774 * M, arch: mha(36, 1280, 20, 50257, 1024) },
  { id: 'openai-community/gpt2-xl', modelType: 'gpt2', parameters: 1.5 * B, arch: mha(48, 1600, 25, 50257, 1024) },
  { id: 'EleutherAI/pythia-70m', modelType: 'gpt_neox', parameters: 70 * M, arch: mha(6, 512, 8, 50304, 2048), note: 'training checkpoints as revisions step0..step143000' },
  { id: 'EleutherAI/pythia-160m', modelType: 'gpt_neox', parameters: 160 * M, arch: mha(12, 768, 12, 50304, 2048) },
  { id: 'EleutherAI/pythia-410m', modelType: 'gpt_neox', parameters: 410 * M, arch: mha(24, 1024, 16, 50304, 2048) },
  { id: 'EleutherAI/pythia-1b', modelType: 'gpt_neox', parameters: 1 * B, arch: mha(16, 2048, 8, 50304, 2048) },
  { id: 'EleutherAI/pythia-1.4b', modelType: 'gpt_neox', parameters: 1.4 * B, arch: mha(24, 2048, 16, 50304, 2048) },
  { id: 'EleutherAI/pythia-2.8b', modelType: 'gpt_neox', parameters: 2.8 * B, arch: mha(32, 2560, 32, 50304, 2048) },
  { id: 'EleutherAI/pythia-6.9b', modelType: 'gpt_neox', parameters: 6.9 * B, arch: mha(32, 4096, 32, 50432, 2048) },
  { id: 'EleutherAI/pythia-12b', modelType: 'gpt_neox', parameters: 12 * B, arch: mha(36, 5120, 40, 50688, 2048) },
  { id: 'HuggingFaceTB/SmolLM2-135M', modelType: 'llama', parameters: 135 * M },
  { id: 'HuggingFaceTB/SmolLM2-360M', modelType: 'llama', parameters: 360 * M },
  { id: 'HuggingFaceTB/SmolLM2-1.7B', modelType: 'llama', parameters: 1.7 * B },
  { id: 'Qwen/Qwen2.5-0.5B', modelType: 'qwen2', parameters: 0.5 * B },
  { id: 'Qwen/Qwen2.5-1.5B', modelType: 'qwen2', parameters: 1.5 * B },
  { id: 'Qwen/Qwen2.5-3B', modelType: 'qwen2', parameters: 3 * B },
  { id: 'Qwen/Qwen2.5-7B', modelType: 'qwen2', parameters: 7 * B },
  { id: 'meta-llama/Llama-3.2-1B', modelType: 'llama', parameters: 1.2 * B, note: 'gated: needs HF_TOKEN' },
  { id: 'meta-llama/Llama-3.2-3B', modelType: 'llama', parameters: 3.2 * B, note: 'gated: needs HF_TOKEN' },
  { id: 'EleutherAI/gpt-neo-125m', modelType: 'gpt_neo', parameters: 125 * M, arch: mha(12, 768, 12, 50257, 2048) },
  { id: 'EleutherAI/gpt-neo-1.3B', modelType: 'gpt_neo', parameters: 1.3 * B, arch: mha(24, 2048, 16, 50257, 2048), note: 'the paper\'s sizes' },
  { id: 'EleutherAI/gpt-neo-2.7B', modelType: 'gpt_neo', parameters: 2.7 * B, arch: mha(32, 2560, 20, 50257, 2048), note: 'the paper\'s sizes' },
  { id: 'KoboldAI/fairseq-dense-1.3B', modelType: 'xglm', parameters: 1.3 * B, arch: mha(24, 2048, 32, 50261, 2048), note: 'the paper\'s own 1.3B model, converted' },
  { id: 'KoboldAI/fairseq-dense-2.7B', modelType: 'xglm', parameters: 2.7 * B, arch: mha(32, 2560, 32, 50261, 2048), note: 'the paper\'s own 2.7B model, converted' },
];

export interface CatalogueRow extends CatalogueEntry {
  supported: boolean;
  /** `lab run` peak memory on the CPU (bytes, host). */
  runMemoryCpu: number;
  /** `lab run` with --device cuda: host and GPU bytes. */
  runMemoryGpu: { host: number; device: number };
  /** False: weights only, a lower bound (no architecture entered). */
  complete: boolean;
  /** Seconds per test example at the nominal CPU rate with `threads` threads. */
  secondsPerTestExample: number;
  threads: number;
}

export function catalogueRows(threads = os.availableParallelism()): CatalogueRow[] {
  const types = new Set(supportedModelTypes());
  return CATALOGUE.map((e) => {
    const size = { parameters: e.parameters, arch: e.arch };
    const cpu = estimateFootprint(size, DEFAULT_RUN_WORKLOAD, { device: 'cpu', threads });
    const gpu = estimateFootprint(size, DEFAULT_RUN_WORKLOAD, { device: 'gpu', threads });
    return {
      ...e, supported: types.has(e.modelType), runMemoryCpu: cpu.peak.host, runMemoryGpu: gpu.peak, complete: cpu.complete,
      secondsPerTestExample: cpu.time.perItem, threads,
    };
  });
}
