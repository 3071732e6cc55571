// Synthetic results for the site tests: three models of different depth, two tasks, one or two seeds, one example
// text carrying a script tag, and model cards for two of the models. Written in the layout the pipeline writes.
// With the models folder, provenance manifests too: tiny-a is embedded and its model folder is there (not frozen), but
// one of its runs records older weights (outdated); tiny-c is a hub model absent from any HF cache (frozen), tiny-b has
// none (not recorded).

import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { stageKey } from '../../src/pipeline/cache/index.ts';
import { makeRunFixture } from '../../src/pipeline/metrics/examples-fixture.ts';
import { type Provenance, provenanceName } from '../../src/pipeline/experiments/provenance.ts';
import type { ModelCard } from '../../src/pipeline/report/model-card.ts';
import { writeRun } from '../../src/pipeline/report/results.ts';

export const XSS_TEXT = '<script>alert(1)</script> a film that <b>bolds</b> & "quotes"';

export const FIXTURE_MODELS = [
  { id: 'tiny-a', layers: 2, heads: 2, strength: 0.2, params: 1_200_000 },
  { id: 'tiny-b', layers: 4, heads: 2, strength: 0.4, params: 5_000_000 },
  { id: 'tiny-c', layers: 6, heads: 4, strength: 0.6, params: 20_000_000 },
] as const;

export const FIXTURE_TASKS = ['sst2', 'toy-topics'] as const;

/** The weights hash of tiny-a's fixture folder (one model.safetensors holding '{}'), as `lab run` records it. */
const FOLDER_WEIGHTS_HASH = stageKey({ 'model.safetensors': createHash('sha256').update('{}').digest('hex') });

/** The hub model tiny-c's manifests name; never in the HF cache of a test. */
export const FIXTURE_HUB_ID = 'example/tiny-c';

export function writeFixtureResults(resultsDir: string, contentModelsDir?: string): void {
  for (const m of FIXTURE_MODELS) {
    for (const task of FIXTURE_TASKS) {
      const seeds = task === 'sst2' && m.id !== 'tiny-a' ? [1, 2] : [1];
      for (const seed of seeds) {
        const { metrics, examples } = makeRunFixture({
          model: m.id, task, seed, numLayers: m.layers, numHeads: m.heads, numTestExamples: 30, numShown: 12,
          strength: m.strength, nullModels: m.id !== 'tiny-a', resamples: 100,
          labelWords: task === 'sst2' ? ['Negative', 'Positive'] : ['World', 'Sports', 'Business'],
          texts: task === 'sst2' ? [XSS_TEXT, 'a warm and funny film', 'dull, slow and empty'] : undefined,
        });
        // One run without per-example data: its diff intervals must say "unpaired".
        writeRun(resultsDir, metrics, m.id === 'tiny-c' && task === 'toy-topics' ? null : examples);
        if (contentModelsDir && m.id !== 'tiny-b') {
          const source: Provenance['model']['source'] = m.id === 'tiny-a' ? { kind: 'embedded', dir: path.join(contentModelsDir, m.id) } : { kind: 'hub', id: FIXTURE_HUB_ID };
          const provenance: Provenance = {
            provenanceVersion: 1, inputsHash: `${seed}${m.id}${task}`.replace(/[^0-9a-f]/g, 'e').padEnd(64, '7'),
            // tiny-a's toy-topics run was computed from older weights than its folder holds now: tiny-a is outdated.
            model: { id: m.id, source, weightsHash: m.id === 'tiny-a' && task === 'sst2' ? FOLDER_WEIGHTS_HASH : 'b'.repeat(64) }, task: { id: task, dataHash: 'c'.repeat(64) }, seed,
            plan: 'content/plan.json', producer: 'icl-lab 0.0.1', gitCommit: '0123456789abcdef0123456789abcdef01234567', device: 'cpu',
            threads: m.id === 'tiny-a' ? 2 : null, node: 'v22.0.0', wallSeconds: 1.25 * seed, createdAt: '2026-01-02T03:04:05.000Z',
          };
          fs.writeFileSync(path.join(resultsDir, m.id, task, provenanceName(seed)), JSON.stringify(provenance, null, 1));
        }
      }
    }
  }
  if (contentModelsDir) {
    const cards: Record<string, ModelCard> = {
      'tiny-a': {
        displayName: 'Tiny A (2 layers)', family: 'gpt2', parameters: 1_200_000, layers: 2, heads: 2, dModel: 64,
        description: 'A two-layer model trained by this project (synthetic fixture).', source: 'embedded',
        trainingCurve: [0, 100, 200, 300, 400].map((step, i) => ({ step, loss: 4 - i * 0.6, zslAcc: 0.4 + i * 0.05, iclAcc: 0.4 + i * 0.1 })),
      },
      'tiny-c': {
        displayName: 'Tiny C (6 layers)', family: 'gpt2', parameters: 20_000_000, layers: 6, heads: 4, dModel: 128,
        description: 'A six-layer hub model (synthetic fixture).', source: 'hub', hubId: 'example/tiny-c',
      },
    };
    for (const [id, card] of Object.entries(cards)) {
      fs.mkdirSync(path.join(contentModelsDir, id), { recursive: true });
      fs.writeFileSync(path.join(contentModelsDir, id, 'card.json'), JSON.stringify(card, null, 2));
    }
    // tiny-a's model folder (what the frozen decision looks for; its weights file is hashed: FOLDER_WEIGHTS_HASH).
    for (const f of ['config.json', 'tokenizer.json', 'model.safetensors']) fs.writeFileSync(path.join(contentModelsDir, 'tiny-a', f), '{}');
  }
}
