// What every model family (GPT-2, later Llama-style, GPT-NeoX...) provides, so that experiments never need to know
// which architecture they run. Parameters live under family-neutral names (`blocks.{l}.attn.k.weight`...), so
// "the key and value projections" mean the same thing in every family.

import type { Graph, Value } from '../engine/graph.ts';
import type { HostTensor } from '../engine/tensor.ts';
import type { TensorEntry } from './safetensors.ts';

/** Parameters by family-neutral name, float32, in [in, out] layout for projections. */
export type ParamStore = Map<string, HostTensor>;

/** The architecture facts every family's config exposes; families keep their own extra fields beside these. */
export interface ArchConfig {
  modelType: string;
  nLayer: number;
  nHead: number;
  /** Heads of the key/value projections (fewer than nHead with grouped-query attention). */
  nKvHead: number;
  dModel: number;
  headDim: number;
  vocabSize: number;
  maxPositions: number;
  bosTokenId: number | undefined;
  eosTokenId: number | undefined;
}

/** Captured activations, named as in TransformerLens-style hooks (see README "Names"). */
export const CAPTURE_KINDS = ['attn.q', 'attn.scores', 'attn.out', 'resid_post'] as const;
export type CaptureKind = (typeof CAPTURE_KINDS)[number];
export const captureName = (layer: number, kind: CaptureKind): string => `blocks.${layer}.${kind}`;

export const pastKeyName = (layer: number): string => `past.${layer}.key`;
export const pastValueName = (layer: number): string => `past.${layer}.value`;
export const presentKeyName = (layer: number): string => `present.${layer}.key`;
export const presentValueName = (layer: number): string => `present.${layer}.value`;

export interface GraphOptions {
  /** Which captures to expose as outputs, for every layer. */
  captures?: readonly CaptureKind[];
  /** Gather captures at `capture_positions` [batch, n, 1] instead of returning every position. */
  capturePositions?: boolean;
  /** Logits at every position, only at `logit_positions` [batch, n, 1], or none (the output layer is costly). */
  logits?: 'all' | 'positions' | 'none';
  /** Inputs `past.{l}.key/value` and outputs `present.{l}.key/value`, so a shared prefix is computed once. */
  withPast?: boolean;
  /** Parameter names fed as graph inputs (they change between runs: finetuning, training) instead of baked. */
  trainable?: readonly string[];
  /** Activation dtype; float64 serves gradient checks. */
  floatType?: 'float32' | 'float64';
}

/** Where a graph reads its parameters: a baked initializer, or an input when the parameter is trainable. */
export type ParamSource = (name: string) => Value;

/** How a family turns text into a model's token sequence. */
export interface TokenPolicy {
  /** Token id put before every sequence (undefined: none). */
  bosTokenId: number | undefined;
  /** What separates demonstrations in an ICL prompt. */
  demoSeparator: { kind: 'text'; text: string } | { kind: 'token'; tokenId: number };
  /** A human-readable statement, recorded with results. */
  description: string;
}

export type NullModelKind = 'untrained' | 'trained-embeddings';
export const NULL_MODEL_KINDS: readonly NullModelKind[] = ['untrained', 'trained-embeddings'];

export interface ModelFamily {
  readonly name: string;
  /** `model_type` values in config.json that this family reads. */
  readonly modelTypes: readonly string[];
  parseConfig(raw: Record<string, unknown>, source: string): ArchConfig;
  /** HF tensors -> parameters, checking every name and shape against the config. */
  loadParams(config: ArchConfig, tensors: Map<string, TensorEntry>, source: string): ParamStore;
  /** Parameters -> HF tensor names and layouts (inverse of loadParams), for writing model folders. */
  toHfTensors(config: ArchConfig, params: ParamStore): Map<string, HostTensor>;
  /** Which HF tensor each parameter is stored in (several parameters may share one, e.g. GPT-2's c_attn). */
  hfTensorOf(config: ArchConfig, paramName: string): string;
  /** Emit the forward graph; inputs and outputs follow the shared convention of forward.ts. */
  buildForward(g: Graph, config: ArchConfig, params: ParamSource, options: GraphOptions): void;
  tokenPolicy(config: ArchConfig): TokenPolicy;
  /** A fresh initialisation, as the family's reference implementation does it, from a seed. */
  initParams(config: ArchConfig, seed: number): ParamStore;
  /** Names of the key and value projection parameters (weights and biases) of every layer. */
  kvParamNames(config: ArchConfig): string[];
  /** Parameters a "trained embeddings" null model keeps from the trained model. */
  embeddingParamNames(config: ArchConfig): string[];
}

/** Build the null-model twin of a trained model: deterministic from `seed`. */
export function nullTwin(
  family: ModelFamily,
  config: ArchConfig,
  trained: ParamStore,
  kind: NullModelKind,
  seed: number,
): ParamStore {
  const fresh = family.initParams(config, seed);
  if (kind === 'untrained') return fresh;
  for (const name of family.embeddingParamNames(config)) {
    const t = trained.get(name);
    if (t) fresh.set(name, t);
  }
  return fresh;
}
