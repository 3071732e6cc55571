// Exports a synthetic world as token ids for scripts/recipe-search/sweep.py, which searches pretraining recipes on
// a GPU with PyTorch (the device machine has no node). Every word of the world is one token, so sequences are built
// from ids there; this script checks that composing ids as the sweep does equals the real tokenizer's output.
//
//   npm exec -- node scripts/recipe-search/export-world.ts OUT.json [--clusters 96] [--words-per-cluster 4] [--fillers 16] [--seed 2023]

import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { Rng } from '../../src/pipeline/util/random.ts';
import { TEMPLATES, buildWorld } from '../../src/pipeline/tasks/synthetic-world.ts';
import { formatInput, syntheticTasks } from '../../src/pipeline/tasks/synthetic-tasks.ts';
import { worldTokenizer } from '../../src/pipeline/tasks/synthetic-provider.ts';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    clusters: { type: 'string', default: '96' },
    'words-per-cluster': { type: 'string', default: '4' },
    fillers: { type: 'string', default: '16' },
    seed: { type: 'string', default: '2023' },
  },
});
if (positionals.length !== 1) throw new Error('usage: export-world.ts OUT.json [--clusters N] [--words-per-cluster W] [--fillers F] [--seed S]');
const world = buildWorld({
  seed: Number(values.seed), clusters: Number(values.clusters), wordsPerCluster: Number(values['words-per-cluster']), fillerWords: Number(values.fillers),
});
const tokenizer = worldTokenizer(world);
const word = (w: string) => world.wordToken.get(w)!;

type Segment = { lit: number[] } | { slot: string };
/** A template as literal token runs and slots; a slot's words are space-led tokens, except first in the text. */
function segments(input: string): Segment[] {
  const out: Segment[] = [];
  const parts = input.split(/\{(\w+)\}/);
  parts.forEach((p, i) => {
    if (i % 2 === 1) out.push({ slot: p });
    else if (p.trimEnd() !== '') out.push({ lit: tokenizer.encode(p.trimEnd()) });
  });
  return out;
}
const templates = Object.fromEntries(Object.values(TEMPLATES).map((t) => [t.id, { segments: segments(t.input), labels: t.labelWords.map(word) }]));
const allWords = [...world.clusters.flatMap((c) => c.words), ...world.fillers];
const bareWord = Object.fromEntries(allWords.map((w) => [word(w), tokenizer.encode(w)]));

function compose(templateId: keyof typeof TEMPLATES, fields: Record<string, string>): number[] {
  const ids: number[] = [];
  for (const s of templates[templateId].segments) {
    if ('lit' in s) ids.push(...s.lit);
    else fields[s.slot].split(' ').forEach((w, i) => ids.push(...(i === 0 && ids.length === 0 ? bareWord[word(w)] : [word(w)])));
  }
  return ids;
}
const rng = new Rng(5);
for (const task of syntheticTasks(world)) {
  for (let i = 0; i < 200; i++) {
    const ex = task.sample(rng);
    const want = tokenizer.encode(formatInput(task.template, ex.fields)).join(',');
    const got = compose(task.template.id, ex.fields).join(',');
    if (want !== got) throw new Error(`${task.id}: composed ids ${got} differ from the tokenizer's ${want}`);
  }
}
const bos = world.tokenizerJson.added_tokens[0].id;
writeFileSync(positionals[0], JSON.stringify({
  config: world.config,
  vocabSize: bos + 1,
  bos,
  separator: tokenizer.encode('\n'),
  clusters: world.clusters.map((c) => ({ ...c, words: c.words.map(word) })),
  fillers: world.fillers.map(word),
  bareWord,
  templates,
}));
console.log(`wrote ${positionals[0]}: ${world.clusters.length} clusters, vocabulary ${bos + 1}; composed ids match the tokenizer on 1200 examples`);
