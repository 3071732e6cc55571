// The synthetic world the embedded models learn from: pseudo-words grouped into clusters ("concepts"), the
// paper's six prompt templates and label words, and a GPT-2 byte-level tokenizer in which every content word and
// label word is one token. Deterministic from a seed.
//
// Clusters are of two kinds. *Known* clusters carry fixed attributes (polarity, intensity, topic, a partner
// cluster) that pretraining teaches through a canonical mapping, so a model can classify their sentences zero-shot,
// as a pretrained LM does on SST-2. *Novel* clusters only ever appear with labels (and, in the relation task, partners)
// assigned at random per sequence, so only the demonstrations in the context can say what their class is.

import { Rng } from '../util/random.ts';
import { byteLevelBpeTokenizerJson, byteToSymbol, type TokenizerJson } from '../models/tokenizer-json.ts';

export interface WorldConfig {
  seed: number;
  /** Number of word clusters, half known, half novel. */
  clusters: number;
  wordsPerCluster: number;
  /** Uninformative words that may appear in any sentence. */
  fillerWords: number;
}

export const DEFAULT_WORLD: WorldConfig = { seed: 2023, clusters: 96, wordsPerCluster: 4, fillerWords: 16 };

export interface Cluster {
  id: number;
  words: string[];
  known: boolean;
  /** Attributes used by the canonical mappings (known clusters only; novel ones get per-task random classes). */
  polarity: number; // 0 negative, 1 positive
  intensity: number; // 0..4, terrible..great (polarity agrees: 0,1 negative; 3,4 positive; 2 neutral)
  topic: number; // 0..3, World / Sports / Business / Technology
  /** The cluster whose sentences contradict this one (known clusters pair up; novel ones: -1, paired per relation task). */
  partner: number;
}

/** A prompt template as the paper's code writes it: input text with slots, answer = ' ' + label word. */
export interface TemplateSpec {
  id: 'sst2' | 'sst5' | 'mr' | 'subj' | 'agnews' | 'cb';
  /** e.g. 'Sentence: {sentence} Label:' */
  input: string;
  labelWords: string[];
}

export const TEMPLATES: Record<TemplateSpec['id'], TemplateSpec> = {
  sst2: { id: 'sst2', input: 'Sentence: {sentence} Label:', labelWords: ['Negative', 'Positive'] },
  sst5: { id: 'sst5', input: 'Sentence: {sentence} Label:', labelWords: ['terrible', 'bad', 'neutral', 'good', 'great'] },
  mr: { id: 'mr', input: 'Review: {sentence} Sentiment:', labelWords: ['Negative', 'Positive'] },
  subj: { id: 'subj', input: 'Input: {sentence} Type:', labelWords: ['objective', 'subjective'] },
  agnews: {
    id: 'agnews',
    input: 'Classify the news articles into the categories of World, Sports, Business, and Technology. Article: {sentence} Answer:',
    labelWords: ['World', 'Sports', 'Business', 'Technology'],
  },
  cb: { id: 'cb', input: '{premise} Question: {hypothesis}. True, False, or Neither? Answer:', labelWords: ['True', 'False', 'Neither'] },
};

export interface World {
  config: WorldConfig;
  clusters: Cluster[];
  fillers: string[];
  tokenizerJson: TokenizerJson;
  /** Token id of ' word' for every content, filler, template and label word. */
  wordToken: Map<string, number>;
}

const CONSONANTS = 'bdfgklmnprstvz';
const VOWELS = 'aeiou';

/** Distinct two-syllable pseudo-words (CVCV), e.g. "bami". */
function pseudoWords(rng: Rng, n: number): string[] {
  const all: string[] = [];
  for (const c1 of CONSONANTS) for (const v1 of VOWELS) for (const c2 of CONSONANTS) for (const v2 of VOWELS) all.push(c1 + v1 + c2 + v2);
  if (n > all.length) throw new Error(`the synthetic world has at most ${all.length} pseudo-words, ${n} asked`);
  return rng.shuffle(all).slice(0, n);
}

/** BPE merges that make `piece` (already in byte-level symbols) a single token, built left to right. */
function chainMerges(piece: string, merges: Array<[string, string]>, seen: Set<string>): void {
  const symbols = [...piece];
  let prefix = symbols[0];
  for (const s of symbols.slice(1)) {
    const key = `${prefix} ${s}`;
    if (!seen.has(key)) {
      seen.add(key);
      merges.push([prefix, s]);
    }
    prefix += s;
  }
}

const asSymbols = (text: string): string => [...new TextEncoder().encode(text)].map((b) => byteToSymbol[b]).join('');

/** Every word of the templates that follows a space, as GPT-2's regex splits them (with its leading space). */
function spacedTemplateWords(): string[] {
  const words = new Set<string>();
  for (const t of Object.values(TEMPLATES)) {
    for (const m of t.input.replace(/\{\w+\}/g, ' ').matchAll(/ [A-Za-z]+/g)) words.add(m[0]);
    for (const w of t.labelWords) words.add(` ${w}`);
  }
  return [...words];
}

export function buildWorld(config: WorldConfig = DEFAULT_WORLD): World {
  if (config.clusters % 4 !== 0) throw new Error('the number of clusters must be a multiple of 4 (known clusters pair up)');
  const rng = new Rng(config.seed);
  const words = pseudoWords(rng, config.clusters * config.wordsPerCluster + config.fillerWords);
  const known = config.clusters / 2;
  const clusters: Cluster[] = [];
  for (let id = 0; id < config.clusters; id++) {
    const isKnown = id < known;
    // Balanced attributes over the known clusters; intensity decides polarity so the two sentiment tasks agree.
    const intensity = id % 5;
    clusters.push({
      id,
      words: words.slice(id * config.wordsPerCluster, (id + 1) * config.wordsPerCluster),
      known: isKnown,
      intensity,
      polarity: intensity < 2 ? 0 : intensity > 2 ? 1 : id % 2,
      topic: Math.floor(id / 5) % 4,
      partner: isKnown ? id ^ 1 : -1,
    });
  }
  const fillers = words.slice(config.clusters * config.wordsPerCluster);

  // Merges are chains that build each piece left to right. All space-led chains come first: their merges then
  // outrank every other, so no later chain can cut into a space-led word.
  const merges: Array<[string, string]> = [];
  const seen = new Set<string>();
  const spaced = [...words.map((w) => ` ${w}`), ...spacedTemplateWords()];
  for (const piece of spaced) chainMerges(asSymbols(piece), merges, seen);
  // Template-initial words ("Sentence", "Review"...) also appear without a space, after a newline.
  for (const t of Object.values(TEMPLATES)) {
    const first = /^[A-Za-z]+/.exec(t.input);
    if (first) chainMerges(asSymbols(first[0]), merges, seen);
  }
  const tokenizerJson = byteLevelBpeTokenizerJson({ merges, specialTokens: ['<|endoftext|>'] });
  const vocab = tokenizerJson.model.vocab as Record<string, number>;
  const wordToken = new Map<string, number>();
  for (const piece of spaced) {
    const id = vocab[asSymbols(piece)];
    if (id === undefined) throw new Error(`synthetic world: "${piece}" did not become a single token`);
    wordToken.set(piece.trim(), id);
  }
  return { config, clusters, fillers, tokenizerJson, wordToken };
}

export const knownClusters = (w: World): Cluster[] => w.clusters.filter((c) => c.known);
export const novelClusters = (w: World): Cluster[] => w.clusters.filter((c) => !c.known);
