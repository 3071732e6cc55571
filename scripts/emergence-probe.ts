// A fast probe of in-context-learning emergence with the project's engine, for trying recipe ideas in minutes
// before committing to a long `lab train`. A 2-layer GPT-2 learns label sequences made of plain token ids (no
// tokenizer), optionally mixed with repeated random text, and prints the loss every 250 steps together with the
// label loss on pure label batches. Usage (all arguments optional, defaults in brackets):
//
//   npm exec -- node scripts/emergence-probe.ts --words-per-class 1 --max-words 1 --template 0 \
//     --steps 3000 --layers 2 --repeat-share 0.3 --repeat-length 0
//
//   --words-per-class W [1]  each class is a fixed cluster of W word tokens (48 clusters)
//   --max-words K [1]        an input is 1..K words of its class's cluster
//   --template 0|1 [0]       0: 'x y' pairs; 1: 'S : x L : y' (the paper-template shape, tokens as ids)
//   --repeat-share R [0]     share of sequences that are random text said twice (loss on the repeat)
//   --repeat-length N [0]    0: random length 2..48 (needs true induction); N: fixed (a positional head suffices)
//
// Findings from 2026-11-26 (1 thread): induction on variable-length repeats forms at ~1000 steps; 'x y' label loss
// stays at 1.63-1.65 for 2750 steps alone and leaves the plateau after ~2000 steps with 30% repeats; the template
// shape with 4-word clusters barely moves by 2750.

import { parseArgs } from 'node:util';
import { gpt2Family } from '../src/pipeline/models/gpt2.ts';
import { TrainingSession, type TrainingBatch } from '../src/pipeline/models/training.ts';
import { adamwStep, newAdamWState } from '../src/pipeline/training/adamw.ts';
import { Rng } from '../src/pipeline/util/random.ts';

const { values } = parseArgs({
  options: {
    'words-per-class': { type: 'string', default: '1' },
    'max-words': { type: 'string', default: '1' },
    template: { type: 'string', default: '0' },
    steps: { type: 'string', default: '3000' },
    layers: { type: 'string', default: '2' },
    'repeat-share': { type: 'string', default: '0' },
    'repeat-length': { type: 'string', default: '0' },
  },
});
const W = Number(values['words-per-class']);
const maxWords = Number(values['max-words']);
const template = values.template === '1';
const steps = Number(values.steps);
const repeatShare = Number(values['repeat-share']);
const repeatLength = Number(values['repeat-length']);

const CLUSTERS = 48;
const LABELS = 8;
const BOS = 0, NL = 1, S = 2, COLON = 3, L = 4, LABEL0 = 5, WORD0 = LABEL0 + LABELS;
const vocabSize = WORD0 + CLUSTERS * W;
const config = gpt2Family.parseConfig({
  model_type: 'gpt2', vocab_size: vocabSize, n_positions: 256, n_embd: 64, n_layer: Number(values.layers), n_head: 4, bos_token_id: BOS, eos_token_id: BOS,
}, 'emergence-probe');
const params = gpt2Family.initParams(config, 1);
const session = await TrainingSession.create({ family: gpt2Family, config, params }, { trainable: [...params.keys()], logits: 'targets' }, { threads: 1 });
const adam = newAdamWState(params);

function batch(rng: Rng, share: number): TrainingBatch {
  const sequences: number[][] = [];
  const targetMask: boolean[][] = [];
  for (let b = 0; b < 16; b++) {
    if (rng.uniform() < share) {
      const n = repeatLength > 0 ? repeatLength : 2 + rng.int(47);
      const xs = Array.from({ length: n }, () => WORD0 + rng.int(CLUSTERS * W));
      const seq = [BOS, ...xs, ...xs];
      sequences.push(seq);
      targetMask.push(seq.slice(1).map((_, t) => t + 1 > n + 1));
      continue;
    }
    const classes = 2 + rng.int(4);
    const clusters = rng.shuffle(Array.from({ length: CLUSTERS }, (_, i) => i)).slice(0, classes);
    const labels = rng.shuffle(Array.from({ length: LABELS }, (_, i) => LABEL0 + i)).slice(0, classes);
    const seq = [BOS];
    const labelPositions = new Set<number>();
    for (let i = 0, pairs = 8 + rng.int(9); i < pairs; i++) {
      const cls = rng.int(classes);
      const words = Array.from({ length: 1 + rng.int(maxWords) }, () => WORD0 + clusters[cls] * W + rng.int(W));
      seq.push(...(template ? [S, COLON, ...words, L, COLON] : words));
      labelPositions.add(seq.length);
      seq.push(labels[cls], NL);
    }
    sequences.push(seq);
    targetMask.push(seq.slice(1).map((_, t) => labelPositions.has(t + 1)));
  }
  return { sequences, targetMask };
}

const rng = new Rng(3);
let sum = 0;
for (let step = 1; step <= steps; step++) {
  const result = await session.runGrouped(batch(rng, repeatShare));
  adamwStep(params, result.grads, adam, 1e-3 * Math.min(1, step / 200), 1, { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1 });
  sum += result.loss;
  if (step % 250 === 0) {
    const probe = new Rng(99); // the same label batches at every report
    let label = 0;
    for (let i = 0; i < 4; i++) label += (await session.runGrouped(batch(probe, 0))).loss / 4;
    console.log(`step ${step}: loss ${(sum / 250).toFixed(3)}  label loss ${label.toFixed(3)}`);
    sum = 0;
  }
}
await session.release();
