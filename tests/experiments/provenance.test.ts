// The frozen decision: a published result whose model is not in this checkout (a hub model absent from the local
// Hugging Face cache, a missing model folder) is frozen, with what would recompute it; one whose inputs are here is
// not. Nothing is downloaded: the hub cache is a temp folder.

import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  type Provenance, ProvenanceError, frozenStatus, provenanceName, readPublishedProvenance, rootRelative, weightsHash,
} from '../../src/pipeline/experiments/provenance.ts';

const tmp = mkdtempSync(join(tmpdir(), 'icl-provenance-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const COMMIT = 'a'.repeat(40);

/** The files a complete model folder has; only the weights' bytes matter to the decision (they are hashed). */
function modelFolder(dir: string, weights = '{}'): void {
  mkdirSync(dir, { recursive: true });
  for (const f of ['config.json', 'tokenizer.json']) writeFileSync(join(dir, f), '{}');
  writeFileSync(join(dir, 'model.safetensors'), weights);
}

// What `lab run` records for a folder made by modelFolder(): the runs below were computed from these weights.
modelFolder(join(tmp, 'reference'));
const FOLDER_HASH = await weightsHash(join(tmp, 'reference'));

function manifest(model: string, task: string, seed: number, source: Provenance['model']['source'], plan = 'content/plan.json'): Provenance {
  return {
    provenanceVersion: 1, inputsHash: `${model}-${task}-${seed}-inputs`.padEnd(64, '0'), model: { id: model, source, weightsHash: FOLDER_HASH },
    task: { id: task, dataHash: 'd'.repeat(64) }, seed, plan, producer: 'icl-lab 0.1.0', gitCommit: COMMIT, device: 'cpu', threads: 2,
    node: 'v22.23.3', wallSeconds: 2.5, createdAt: '2026-11-26T11:44:05.344Z',
  };
}

function publish(results: string, p: Provenance): void {
  const dir = join(results, p.model.id, p.task.id);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, provenanceName(p.seed)), JSON.stringify(p, null, 1));
}

describe('frozen results', () => {
  it('a hub model absent from the HF cache is frozen; an embedded model whose folder is here is not', async () => {
    const root = join(tmp, 'checkout1');
    const results = join(root, 'cache', 'results');
    const hubCache = join(tmp, 'hf1', 'hub');
    mkdirSync(hubCache, { recursive: true });
    modelFolder(join(root, 'content', 'models', 'emb'));
    publish(results, manifest('fairseq', 'sst2', 1, { kind: 'hub', id: 'KoboldAI/fairseq-dense-1.3B', revision: 'main' }));
    publish(results, manifest('fairseq', 'sst2', 2, { kind: 'hub', id: 'KoboldAI/fairseq-dense-1.3B', revision: 'main' }));
    publish(results, manifest('emb', 'synthetic-sentiment2', 1, { kind: 'embedded', dir: 'content/models/emb' }));

    const status = await frozenStatus(results, { root, hubCache, models: ['emb', 'fairseq', 'no-manifest'] });
    const hub = status.get('fairseq')!;
    expect(hub.status).toBe('frozen');
    expect(hub.runs.map((r) => [r.task, r.seed, r.inputs.present])).toEqual([['sst2', 1, false], ['sst2', 2, false]]);
    expect(hub.recompute!.inputs).toMatch(new RegExp(`^the weights of KoboldAI/fairseq-dense-1\\.3B at revision main \\(weights hash ${FOLDER_HASH.slice(0, 12)}\\) in the Hugging Face cache`));
    // Not in a plan here: named by its hub id.
    expect(hub.recompute!.command).toBe('npm run lab -- run --models KoboldAI/fairseq-dense-1.3B');

    const emb = status.get('emb')!;
    expect(emb.status).toBe('present');
    expect(emb.recompute).toBeNull();
    expect(emb.runs[0].inputs).toEqual({ source: { kind: 'embedded', dir: 'content/models/emb' }, present: true, dir: join(root, 'content', 'models', 'emb'), weightsHash: FOLDER_HASH });
    expect(emb.runs[0].state).toBe('current');
    expect(emb.runs[0].file).toBe('emb/synthetic-sentiment2/seed-1.provenance.json');

    // Results without any manifest: not known, so not called frozen.
    expect(status.get('no-manifest')).toMatchObject({ status: 'unrecorded', runs: [], recompute: null });

    // The same hub model once its snapshot is in the cache (refs/main -> a commit): no longer frozen.
    const repo = join(hubCache, 'models--KoboldAI--fairseq-dense-1.3B');
    mkdirSync(join(repo, 'refs'), { recursive: true });
    writeFileSync(join(repo, 'refs', 'main'), COMMIT);
    modelFolder(join(repo, 'snapshots', COMMIT));
    const after = await frozenStatus(results, { root, hubCache });
    expect(after.get('fairseq')!.status).toBe('present');
    expect(after.get('fairseq')!.runs[0].inputs.dir).toBe(join(repo, 'snapshots', COMMIT));
  });

  it('an incomplete folder is absent; a folder recorded by another checkout is found where the plan puts it', async () => {
    const root = join(tmp, 'checkout2');
    const results = join(root, 'results');
    mkdirSync(join(root, 'content', 'models', 'half'), { recursive: true });
    writeFileSync(join(root, 'content', 'models', 'half', 'config.json'), '{}'); // no weights, no tokenizer
    modelFolder(join(root, 'content', 'models', 'moved'));
    mkdirSync(join(root, 'content', 'training'), { recursive: true });
    writeFileSync(join(root, 'content', 'training', 'half.json'), '{}');
    writeFileSync(join(root, 'content', 'my-plan.json'), JSON.stringify({
      models: [{ id: 'moved', source: { kind: 'embedded', dir: 'content/models/moved' } }, { id: 'half', source: { kind: 'embedded', dir: 'content/models/half' } }],
    }));
    publish(results, manifest('moved', 't', 1, { kind: 'embedded', dir: '/elsewhere/icl-lab/content/models/moved' }, 'content/my-plan.json'));
    publish(results, manifest('half', 't', 1, { kind: 'embedded', dir: '/elsewhere/icl-lab/content/models/half' }, 'content/my-plan.json'));

    const status = await frozenStatus(results, { root, hubCache: join(tmp, 'no-hub-cache') });
    expect(status.get('moved')!.status).toBe('present');
    const half = status.get('half')!;
    expect(half.status).toBe('frozen');
    expect(half.recompute).toEqual({
      inputs: `the model folder content/models/half (config.json, tokenizer.json and its safetensors weights, weights hash ${FOLDER_HASH.slice(0, 12)}), ` +
        'which `npm run lab -- train --config content/training/half.json` trains',
      command: 'npm run lab -- run --plan content/my-plan.json --models half',
    });
  });

  it('weights here that are not the ones a run used make the model outdated, with the command that recomputes it', async () => {
    const root = join(tmp, 'checkout3');
    const results = join(root, 'cache', 'results');
    const dir = join(root, 'content', 'models', 'retrained');
    modelFolder(dir);
    publish(results, manifest('retrained', 't', 1, { kind: 'embedded', dir: 'content/models/retrained' }));
    publish(results, manifest('retrained', 't', 2, { kind: 'embedded', dir: 'content/models/retrained' }));
    const options = { root, hubCache: join(tmp, 'no-hub-cache') };
    expect((await frozenStatus(results, options)).get('retrained')!.status).toBe('present');

    // Retrained in place: same files, other bytes.
    modelFolder(dir, '{"retrained": true}');
    const here = await weightsHash(dir);
    const status = (await frozenStatus(results, options)).get('retrained')!;
    expect(status.status).toBe('outdated');
    expect(status.runs.map((r) => [r.seed, r.state, r.inputs.weightsHash])).toEqual([[1, 'outdated', here], [2, 'outdated', here]]);
    expect(status.recompute).toEqual({
      inputs: `the weights now in content/models/retrained (weights hash ${here.slice(0, 12)}; the published results were computed from ${FOLDER_HASH.slice(0, 12)})`,
      command: 'npm run lab -- run --models retrained',
    });

    // One run recomputed from the new weights: the model stays outdated until every run is.
    publish(results, { ...manifest('retrained', 't', 2, { kind: 'embedded', dir: 'content/models/retrained' }), model: { id: 'retrained', source: { kind: 'embedded', dir: 'content/models/retrained' }, weightsHash: here } });
    const partly = (await frozenStatus(results, options)).get('retrained')!;
    expect(partly.runs.map((r) => r.state)).toEqual(['outdated', 'current']);
    expect(partly.status).toBe('outdated');
    publish(results, { ...manifest('retrained', 't', 1, { kind: 'embedded', dir: 'content/models/retrained' }), model: { id: 'retrained', source: { kind: 'embedded', dir: 'content/models/retrained' }, weightsHash: here } });
    expect((await frozenStatus(results, options)).get('retrained')!.status).toBe('present');
  });

  it('no results folder has no manifests; a manifest that contradicts its path or schema fails naming the file', async () => {
    expect(readPublishedProvenance(join(tmp, 'nothing-here'))).toEqual([]);
    expect((await frozenStatus(join(tmp, 'nothing-here'), { models: [] })).size).toBe(0);

    const results = join(tmp, 'bad', 'results');
    publish(results, manifest('m', 't', 1, { kind: 'folder', dir: '/x' }));
    const file = join(results, 'm', 't', provenanceName(2));
    writeFileSync(file, JSON.stringify(manifest('m', 't', 1, { kind: 'folder', dir: '/x' })));
    expect(() => readPublishedProvenance(results)).toThrow(ProvenanceError);
    expect(() => readPublishedProvenance(results)).toThrow(`${file}: names seed 1 but the file's path says 2`);
    writeFileSync(file, JSON.stringify({ ...manifest('m', 't', 2, { kind: 'folder', dir: '/x' }), wallSeconds: 'slow' }));
    expect(() => readPublishedProvenance(results)).toThrow(/provenance\.json: not a provenance manifest: wallSeconds/);
  });

  it('paths inside the project are recorded relative to it', () => {
    expect(rootRelative('/p/icl/content/models/emb-s', '/p/icl')).toBe('content/models/emb-s');
    expect(rootRelative('/q/models/x', '/p/icl')).toBe('/q/models/x');
    expect(rootRelative('/p/icl', '/p/icl')).toBe('/p/icl');
  });
});
