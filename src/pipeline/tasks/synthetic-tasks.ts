// The six evaluation tasks of the synthetic world, shaped like the paper's six, and the pretraining stream that
// teaches both in-weights knowledge (canonical mappings of known clusters) and in-context learning (sequences whose
// cluster-to-label mapping is drawn afresh, so only the demonstrations can solve them).

import { Rng } from '../util/random.ts';
import { type Cluster, type TemplateSpec, type World, TEMPLATES, knownClusters, novelClusters } from './synthetic-world.ts';

export interface SyntheticExample {
  fields: Record<string, string>;
  label: number;
  /** Cluster(s) the input was drawn from, for analysis. */
  clusters: number[];
}

export interface SyntheticTask {
  id: string;
  name: string;
  shapedLike: string;
  template: TemplateSpec;
  /** What is new at evaluation time, in words (shown in model cards and the report). */
  novelty: string;
  /** Expected zero-shot behaviour: 'above chance' (seen mapping) or 'chance' (only the context can solve it). */
  zeroShot: 'above chance' | 'chance';
  /** Draw one example (deterministic given the generator state). */
  sample(rng: Rng): SyntheticExample;
}

export interface SentenceShape {
  /** Sentences have 1..maxWords words of their cluster. */
  maxWords: number;
  /** Probability that a filler word is mixed in. */
  fillerRate: number;
}

export const DEFAULT_SENTENCE: SentenceShape = { maxWords: 3, fillerRate: 0.25 };

/** A sentence of 1..maxWords words of the cluster, sometimes with a filler word mixed in. */
export function sentence(world: World, cluster: Cluster, rng: Rng, shape: SentenceShape = DEFAULT_SENTENCE): string {
  const n = 1 + rng.int(shape.maxWords);
  const words = Array.from({ length: n }, () => cluster.words[rng.int(cluster.words.length)]);
  if (rng.uniform() < shape.fillerRate) words.splice(rng.int(words.length + 1), 0, world.fillers[rng.int(world.fillers.length)]);
  return words.join(' ');
}

/**
 * Classes of the novel clusters for one evaluation task: one novel cluster per class, drawn by the task's seed. As in
 * pretraining's context-only sequences, a class is one cluster, so demonstrations of a class share words with its
 * test inputs and the context can reveal the class.
 */
function novelAssignment(world: World, classes: number, seed: number): Map<number, number> {
  const rng = new Rng(seed);
  const novel = rng.shuffle(novelClusters(world).map((c) => c.id)).slice(0, classes);
  return new Map(novel.map((id, i) => [id, i]));
}

function singleSentenceTask(
  world: World,
  spec: {
    id: string; name: string; shapedLike: string; template: TemplateSpec; novelty: string;
    /** Class of a known cluster under the canonical mapping; undefined: known clusters are not used. */
    knownClass?: (c: Cluster) => number;
    taskSeed: number;
  },
): SyntheticTask {
  const classes = spec.template.labelWords.length;
  const novel = novelAssignment(world, classes, spec.taskSeed);
  const novelIds = [...novel.keys()];
  const known = knownClusters(world);
  return {
    id: spec.id,
    name: spec.name,
    shapedLike: spec.shapedLike,
    template: spec.template,
    novelty: spec.novelty,
    zeroShot: spec.knownClass ? 'above chance' : 'chance',
    sample(rng) {
      const useKnown = spec.knownClass !== undefined && rng.uniform() < 0.5;
      const cluster = useKnown ? known[rng.int(known.length)] : world.clusters[novelIds[rng.int(novelIds.length)]];
      const label = useKnown ? spec.knownClass!(cluster) : novel.get(cluster.id)!;
      return { fields: { sentence: sentence(world, cluster, rng) }, label, clusters: [cluster.id] };
    },
  };
}

/**
 * The novel half of a relation task (or stream sequence), drawn by `seed`: one premise cluster, the cluster that
 * contradicts it (False) and one unrelated cluster (Neither), all novel. With one premise cluster the label depends on
 * the hypothesis's cluster alone, so one demonstration with the same hypothesis cluster answers the query: the same
 * lookup that solves the new-class tasks. (Tried before: all 24 novel pairs, then two pairs, per task. A pair had to be
 * matched in the demonstrations by both its clusters, and the retrained models never learnt to: ICL trailed ZSL.)
 */
interface NovelRelation {
  premise: Cluster;
  /** The hypothesis cluster of each label: True (the premise's own), False (its partner), Neither (unrelated). */
  hypothesisOf: [Cluster, Cluster, Cluster];
}

function novelRelation(world: World, seed: number): NovelRelation {
  const [premise, partner, unrelated] = new Rng(seed).shuffle(novelClusters(world)).slice(0, 3);
  return { premise, hypothesisOf: [premise, partner, unrelated] };
}

/** The relation task; with `novelSeed`, half its examples come from the novel relation drawn by that seed. */
function relationTask(world: World, novelSeed?: number): SyntheticTask {
  const known = knownClusters(world);
  const novel = novelSeed === undefined ? undefined : novelRelation(world, novelSeed);
  return {
    id: 'synthetic-relation3',
    name: 'Relation (3-way)',
    shapedLike: 'CB',
    template: TEMPLATES.cb,
    novelty:
      'Half seen rule, half new relation: the hypothesis is True when its words come from the premise\'s cluster, ' +
      'False when from its partner cluster, Neither otherwise. Half the examples use known clusters, whose partners ' +
      'pretraining teaches; half have their premise from one novel cluster and their hypothesis from it, from its ' +
      'partner or from an unrelated novel cluster, drawn at random per task, so only the demonstrations reveal which ' +
      'of the two contradicts it.',
    zeroShot: 'above chance',
    sample(rng) {
      let premise: Cluster, label: number, other: Cluster;
      if (novel !== undefined && rng.uniform() < 0.5) {
        premise = novel.premise;
        label = rng.int(3);
        other = novel.hypothesisOf[label];
      } else {
        premise = known[rng.int(known.length)];
        label = rng.int(3);
        other = premise;
        if (label === 1) other = world.clusters[premise.partner];
        if (label === 2) {
          do other = known[rng.int(known.length)];
          while (other.id === premise.id || other.id === premise.partner);
        }
      }
      return {
        fields: { premise: sentence(world, premise, rng), hypothesis: sentence(world, other, rng) },
        label,
        clusters: [premise.id, other.id],
      };
    },
  };
}

const HALF_KNOWN =
  'Half the test inputs come from known clusters (seen mapping, new sentences), half from one novel cluster per class ' +
  'whose class only the demonstrations reveal.';
const ONLY_CONTEXT =
  'New classes: every test input comes from one novel cluster per class, a cluster that pretraining never labels ' +
  'the same way twice; only the demonstrations reveal its class.';

type SingleSentenceSpec = Parameters<typeof singleSentenceTask>[1];

/** The five single-sentence tasks; `taskSeed` decides which novel cluster stands for which class. */
const SINGLE_SENTENCE_SPECS: SingleSentenceSpec[] = [
  { id: 'synthetic-sentiment2', name: 'Sentiment (2-way)', shapedLike: 'SST-2', template: TEMPLATES.sst2, novelty: HALF_KNOWN, knownClass: (c) => c.polarity, taskSeed: 11 },
  { id: 'synthetic-ordinal5', name: 'Ordinal sentiment (5-way)', shapedLike: 'SST-5', template: TEMPLATES.sst5, novelty: HALF_KNOWN, knownClass: (c) => c.intensity, taskSeed: 12 },
  { id: 'synthetic-review2', name: 'Review (2-way)', shapedLike: 'MR', template: TEMPLATES.mr, novelty: ONLY_CONTEXT, taskSeed: 13 },
  { id: 'synthetic-subjectivity2', name: 'Subjectivity (2-way)', shapedLike: 'Subj', template: TEMPLATES.subj, novelty: ONLY_CONTEXT, taskSeed: 14 },
  { id: 'synthetic-topic4', name: 'Topic (4-way)', shapedLike: 'AGNews', template: TEMPLATES.agnews, novelty: HALF_KNOWN, knownClass: (c) => c.topic, taskSeed: 15 },
];

/** The evaluation relation task's novel premise, partner and unrelated clusters (pretraining never sees them fixed). */
const EVALUATION_RELATION_SEED = 16;

/** The six evaluation tasks, shaped like SST-2, SST-5, MR, Subj, AGNews and CB. */
export function syntheticTasks(world: World): SyntheticTask[] {
  const [sst2, sst5, mr, subj, agnews] = SINGLE_SENTENCE_SPECS.map((spec) => singleSentenceTask(world, spec));
  return [sst2, sst5, mr, subj, agnews, relationTask(world, EVALUATION_RELATION_SEED)];
}

/**
 * A single-sentence evaluation task with its novel classes drawn afresh by `taskSeed`: the same mixture of known
 * clusters (canonical classes) and novel clusters (classes only the context reveals) as the evaluation, with a
 * mapping no other sequence shares.
 */
export function withFreshNovelClasses(world: World, taskId: string, taskSeed: number): SyntheticTask {
  const spec = SINGLE_SENTENCE_SPECS.find((s) => s.id === taskId);
  if (!spec) throw new Error(`no single-sentence synthetic task "${taskId}"`);
  return singleSentenceTask(world, { ...spec, taskSeed });
}

/** Fill a template's slots. */
export function formatInput(template: TemplateSpec, fields: Record<string, string>): string {
  return template.input.replace(/\{(\w+)\}/g, (_, key: string) => {
    const v = fields[key];
    if (v === undefined) throw new Error(`template "${template.input}" needs field "${key}"`);
    return v;
  });
}

// --- pretraining stream ---

export interface PretrainingOptions {
  /** Share of sequences whose mapping is drawn afresh (only the context solves them). */
  contextOnlyShare: number;
  minDemos: number;
  maxDemos: number;
  /** Shape of context-only sentences (short ones without fillers make the copying circuit easier to find). */
  contextOnlySentence?: SentenceShape;
  /**
   * The mixed stream. Off (the first recipe): canonical sequences hold known clusters only, and context-only
   * sequences relabel any cluster, known ones included. On: canonical single-sentence sequences mix known clusters
   * (canonical classes) with one fresh novel cluster per class, exactly as the evaluation tasks do, and context-only
   * sequences use novel clusters only. Then one rule fits every sequence (a known cluster keeps its class, a novel
   * one takes the class its demonstrations show), where the first recipe taught the model to distrust the context
   * whenever a known cluster appears.
   */
  mixKnownAndNovel?: boolean;
  /**
   * Share of context-only sequences written bare, ' {sentence} {label}', without the template's words: the
   * label then follows its sentence directly, the classic item-then-label format of the emergence literature.
   * Measured here it did not make in-context learning emerge sooner on its own (scripts/emergence-probe.ts).
   */
  bareShare?: number;
  /** Share of all sequences that are a random string of words said twice (see training/corpus.ts). */
  repeatShare?: number;
}

/** The bare format of context-only sequences (see PretrainingOptions.bareShare); label words are drawn per sequence. */
const BARE_INPUT = ' {sentence}';

export const DEFAULT_PRETRAINING: PretrainingOptions = { contextOnlyShare: 0.75, minDemos: 4, maxDemos: 16 };

export interface PretrainingSequence {
  /** Demonstrations then the query, each as (input text, label word); the last one is the query. */
  demos: Array<{ input: string; label: string }>;
  /** True when the mapping was drawn afresh for this sequence. */
  contextOnly: boolean;
}

// The evaluation tasks hold no state (each draw takes the caller's generator): built once per world, not per sequence.
const tasksByWorld = new WeakMap<World, SyntheticTask[]>();
function evaluationTasks(world: World): SyntheticTask[] {
  let tasks = tasksByWorld.get(world);
  if (!tasks) tasksByWorld.set(world, (tasks = syntheticTasks(world)));
  return tasks;
}

const CANONICAL_TASK_IDS = ['synthetic-sentiment2', 'synthetic-ordinal5', 'synthetic-topic4', 'synthetic-relation3'];

/** One pretraining sequence. Context-only sequences draw classes, clusters and label order at random. */
export function samplePretrainingSequence(world: World, rng: Rng, options: PretrainingOptions = DEFAULT_PRETRAINING): PretrainingSequence {
  const n = options.minDemos + rng.int(options.maxDemos - options.minDemos + 1);
  if (rng.uniform() >= options.contextOnlyShare) return canonicalSequence(world, rng, n, options.mixKnownAndNovel ?? false);
  const templates = [TEMPLATES.sst2, TEMPLATES.sst5, TEMPLATES.mr, TEMPLATES.subj, TEMPLATES.agnews];
  const picked = templates[rng.int(templates.length)];
  // A bare sequence keeps the picked template's label words and drops its other words.
  // (No draw at all without bare sequences, so the first recipe's stream stays draw for draw what it was.)
  const bare = (options.bareShare ?? 0) > 0 && rng.uniform() < options.bareShare!;
  const template = bare ? { ...picked, input: BARE_INPUT } : picked;
  const classes = 2 + rng.int(template.labelWords.length - 1);
  const labels = rng.shuffle([...template.labelWords]).slice(0, classes);
  const pool = options.mixKnownAndNovel ? novelClusters(world) : world.clusters;
  const clusterIds = rng.shuffle(pool.map((c) => c.id)).slice(0, classes);
  const shape = options.contextOnlySentence ?? DEFAULT_SENTENCE;
  const demos: Array<{ input: string; label: string; cls: number }> = [];
  for (let i = 0; i < n; i++) {
    const cls = rng.int(classes);
    demos.push({ input: formatInput(template, { sentence: sentence(world, world.clusters[clusterIds[cls]], rng, shape) }), label: labels[cls], cls });
  }
  // The query's class must appear among the demonstrations, or nothing in the context could solve it.
  const seen = [...new Set(demos.slice(0, -1).map((d) => d.cls))];
  const q = seen[rng.int(seen.length)];
  demos[n - 1] = { input: formatInput(template, { sentence: sentence(world, world.clusters[clusterIds[q]], rng, shape) }), label: labels[q], cls: q };
  return { demos: demos.map(({ input, label }) => ({ input, label })), contextOnly: true };
}

/** A sequence of one canonical task: known clusters keep their classes (mixed stream: novel ones are drawn afresh). */
function canonicalSequence(world: World, rng: Rng, n: number, mixKnownAndNovel: boolean): PretrainingSequence {
  const id = CANONICAL_TASK_IDS[rng.int(CANONICAL_TASK_IDS.length)];
  const relation = id === 'synthetic-relation3';
  let task: SyntheticTask;
  // Mixed stream: novel classes (or the novel relation) drawn afresh per sequence. First stream: known clusters only.
  if (mixKnownAndNovel) task = relation ? relationTask(world, rng.int(2 ** 31)) : withFreshNovelClasses(world, id, rng.int(2 ** 31));
  else task = relation ? relationTask(world) : evaluationTasks(world).find((t) => t.id === id)!;
  const demos = Array.from({ length: n }, () => {
    let ex: SyntheticExample;
    // Without the mixed stream, canonical sequences use known clusters only: novel clusters never get a fixed class.
    do ex = task.sample(rng);
    while (!mixKnownAndNovel && ex.clusters.some((c) => !world.clusters[c].known));
    return { input: formatInput(task.template, ex.fields), label: task.template.labelWords[ex.label] };
  });
  return { demos, contextOnly: false };
}
