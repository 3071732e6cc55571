import { describe, it, expect, beforeEach, afterEach } from 'vitest';
import { mkdir, mkdtemp, readdir, readFile, symlink, writeFile, copyFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultHfHubCache, hubModelRepoDir, resolveHubModel } from '../../src/pipeline/models/hub.ts';
import { loadModel } from '../../src/pipeline/models/registry.ts';
import { HubDownloadError } from '../../src/pipeline/tasks/hub-download.ts';
import { writeTinyGpt2Folder } from '../helpers/model-folder.ts';
import { closedPort, FAKE_COMMIT, FakeHub, sha256 } from './fake-hub.ts';

let hub: FakeHub;
let work: string;
let modelDir: string;

beforeEach(async () => {
  hub = await new FakeHub().start();
  work = await mkdtemp(join(tmpdir(), 'icl-lab-hubmodel-'));
  modelDir = join(work, 'source');
  await writeTinyGpt2Folder(modelDir, { nLayer: 1, nHead: 2, dModel: 8 });
});
afterEach(async () => {
  await hub.stop();
});

/** Serves the tiny model's files under /{id}/resolve/{rev}/ (weights as LFS), for rev = 'main' and the commit. */
async function serveModel(id: string): Promise<void> {
  for (const rev of ['main', FAKE_COMMIT]) {
    for (const f of await readdir(modelDir)) {
      hub.add(`/${id}/resolve/${rev}/${f}`, new Uint8Array(await readFile(join(modelDir, f))), { lfs: f.endsWith('.safetensors') });
    }
  }
}

describe('resolveHubModel', () => {
  it('downloads a model once into the HF cache layout, for loadModel, and then needs no network', async () => {
    await serveModel('org/tiny');
    const hubCache = join(work, 'hf', 'hub');
    const progress: string[] = [];
    const m = await resolveHubModel('org/tiny', { hubCache, endpoint: hub.hubUrl, onProgress: (f) => progress.push(f) });
    const repo = join(hubCache, 'models--org--tiny');
    expect(m.dir).toBe(join(repo, 'snapshots', FAKE_COMMIT));
    expect(m.commit).toBe(FAKE_COMMIT);
    expect(m.downloaded.sort()).toEqual(['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json']);
    expect(progress).toContain('model.safetensors');
    expect((await readFile(join(repo, 'refs', 'main'), 'utf8')).trim()).toBe(FAKE_COMMIT);
    expect((await readdir(m.dir)).sort()).toEqual(['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json']);
    // The files fetched were pinned to the commit, and optional files that 404 were fine.
    expect(hub.log.filter((l) => l.server === 'hub' && l.method === 'GET').every((l) => l.path.includes(FAKE_COMMIT))).toBe(true);
    const loaded = await loadModel(m.dir);
    expect(loaded.config.nLayer).toBe(1);
    expect(sha256(await readFile(join(m.dir, 'model.safetensors')))).toBe(sha256(await readFile(join(modelDir, 'model.safetensors'))));

    await hub.stop();
    const again = await resolveHubModel('org/tiny', { hubCache, endpoint: hub.hubUrl });
    expect(again).toMatchObject({ dir: m.dir, downloaded: [] });
  });

  it('reuses a cache populated by Python (refs + snapshots linked to blobs) with the server down', async () => {
    const hubCache = join(work, 'pyhf', 'hub');
    const repo = hubModelRepoDir('gpt2', hubCache);
    const commit = 'fedcba9876543210fedcba9876543210fedcba98';
    await mkdir(join(repo, 'blobs'), { recursive: true });
    await mkdir(join(repo, 'snapshots', commit), { recursive: true });
    await mkdir(join(repo, 'refs'), { recursive: true });
    await writeFile(join(repo, 'refs', 'main'), commit);
    for (const f of await readdir(modelDir)) {
      const bytes = await readFile(join(modelDir, f));
      const blob = sha256(bytes);
      await copyFile(join(modelDir, f), join(repo, 'blobs', blob));
      await symlink(join('..', '..', 'blobs', blob), join(repo, 'snapshots', commit, f));
    }
    const port = await closedPort();
    const prev = process.env.HF_HOME;
    process.env.HF_HOME = join(work, 'pyhf');
    try {
      expect(defaultHfHubCache()).toBe(hubCache);
      const m = await resolveHubModel('gpt2', { endpoint: `http://127.0.0.1:${port}` });
      expect(m).toMatchObject({ dir: join(repo, 'snapshots', commit), commit, downloaded: [] });
      expect((await loadModel(m.dir)).config.nLayer).toBe(1);
    } finally {
      if (prev === undefined) delete process.env.HF_HOME;
      else process.env.HF_HOME = prev;
    }
  });

  it('fetches the shards of an indexed model', async () => {
    const index = { metadata: {}, weight_map: { 'wte.weight': 'model-00001-of-00001.safetensors' } };
    hub.add(`/sharded/resolve/main/config.json`, await readFile(join(modelDir, 'config.json')));
    hub.add(`/sharded/resolve/${FAKE_COMMIT}/config.json`, await readFile(join(modelDir, 'config.json')));
    hub.add(`/sharded/resolve/${FAKE_COMMIT}/model.safetensors.index.json`, JSON.stringify(index));
    hub.add(`/sharded/resolve/${FAKE_COMMIT}/model-00001-of-00001.safetensors`, await readFile(join(modelDir, 'model.safetensors')), { lfs: true });
    hub.add(`/sharded/resolve/${FAKE_COMMIT}/tokenizer.json`, await readFile(join(modelDir, 'tokenizer.json')));
    const m = await resolveHubModel('sharded', { hubCache: join(work, 'c'), endpoint: hub.hubUrl });
    expect(m.downloaded.sort()).toEqual(['config.json', 'model-00001-of-00001.safetensors', 'model.safetensors.index.json', 'tokenizer.json']);
  });

  it('fails fast with where to put the files when the hub is unreachable, and offline', async () => {
    const port = await closedPort();
    const hubCache = join(work, 'empty');
    const err = await resolveHubModel('gpt2', { hubCache, endpoint: `http://127.0.0.1:${port}` }).catch((e) => e);
    expect(err).toBeInstanceOf(HubDownloadError);
    expect(err.kind).toBe('unreachable');
    expect(err.message).toContain('model gpt2 (config.json)');
    expect(err.message).toContain(join(hubCache, 'models--gpt2', 'snapshots', 'main'));
    const off = await resolveHubModel('gpt2', { hubCache, offline: true }).catch((e) => e);
    expect(off.kind).toBe('offline');
    expect(off.message).toMatch(/not in the cache .* the hub is off \(HF_HUB_OFFLINE\)/);
    expect(await readdir(hubCache).catch(() => [])).toEqual([]);
  });

  it('says clearly when the model does not exist, and checks the id', async () => {
    const err = await resolveHubModel('nobody/nothing', { hubCache: join(work, 'c'), endpoint: hub.hubUrl }).catch((e) => e);
    expect(err.kind).toBe('not-found');
    expect(err.message).toMatch(/model nobody\/nothing has no config\.json at revision main/);
    await expect(resolveHubModel('../evil', { hubCache: join(work, 'c') })).rejects.toThrow(/not a hub model id/);
  });
});
