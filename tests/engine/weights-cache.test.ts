import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync, readdirSync, rmSync, statSync, truncateSync, writeFileSync, mkdirSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Graph } from '../../src/pipeline/engine/graph.ts';
import { Runner, type RunnerOptions } from '../../src/pipeline/engine/runner.ts';
import { float32, type HostTensor } from '../../src/pipeline/engine/tensor.ts';
import { WEIGHTS_STAGE, weightsFolder, weightsKey } from '../../src/pipeline/engine/weights-cache.ts';
import { openCache } from '../../src/pipeline/cache/store.ts';
import { gpt2Family } from '../../src/pipeline/models/gpt2.ts';
import { ModelSession } from '../../src/pipeline/models/forward.ts';
import { TrainingSession } from '../../src/pipeline/models/training.ts';
import { tinyGpt2, tinyGpt2Entries } from '../helpers/tiny-gpt2.ts';

const roots: string[] = [];
function tempRoot(): string {
  const root = mkdtempSync(join(tmpdir(), 'icl-weights-cache-'));
  roots.push(root);
  return root;
}
afterEach(() => {
  for (const r of roots.splice(0)) rmSync(r, { recursive: true, force: true });
});

function tinyModel() {
  const tiny = tinyGpt2({ nLayer: 2, nHead: 2, dModel: 32, vocabSize: 60, positions: 32, untied: true, seed: 3 });
  const config = gpt2Family.parseConfig(tiny.config, 'config.json');
  return { family: gpt2Family, config, params: gpt2Family.loadParams(config, tinyGpt2Entries(tiny), 'tiny') };
}

function expectBitIdentical(a: Record<string, HostTensor>, b: Record<string, HostTensor>): void {
  expect(Object.keys(b).sort()).toEqual(Object.keys(a).sort());
  for (const name of Object.keys(a)) {
    expect(b[name].shape, name).toEqual(a[name].shape);
    const x = new Uint8Array(a[name].data.buffer, a[name].data.byteOffset, a[name].data.byteLength);
    const y = new Uint8Array(b[name].data.buffer, b[name].data.byteOffset, b[name].data.byteLength);
    expect(Buffer.compare(x, y), `${name} differs`).toBe(0);
  }
}

const entryDirs = (root: string) => (existsSync(join(root, WEIGHTS_STAGE)) ? readdirSync(join(root, WEIGHTS_STAGE)) : []);
const tempDirs = (root: string) => (existsSync(join(root, 'tmp')) ? readdirSync(join(root, 'tmp')) : []);

describe('sessions from weight files on disk', () => {
  const sequences = [[1, 5, 9, 2, 7, 3], [4, 8, 1]];

  it('give bit-identical forward outputs and captures to the in-memory session, and reuse the files', async () => {
    const model = tinyModel();
    const options = { captures: ['attn.q', 'attn.scores', 'attn.out', 'resid_post'] as const, withPast: true };
    const memory = await ModelSession.create(model, options, { threads: 1, weightsCache: false });
    const root = tempRoot();
    const onDisk: RunnerOptions = { threads: 1, weightsCache: root, weightsCacheMinBytes: 0 };
    const disk = await ModelSession.create(model, options, onDisk);
    const a = await memory.forward({ sequences });
    const b = await disk.forward({ sequences });
    expectBitIdentical(a.outputs, b.outputs);
    expectBitIdentical(
      Object.fromEntries(a.present!.keys.map((t, l) => [`k${l}`, t])),
      Object.fromEntries(b.present!.keys.map((t, l) => [`k${l}`, t])),
    );

    const [key] = entryDirs(root);
    expect(entryDirs(root)).toHaveLength(1);
    const shard = join(root, WEIGHTS_STAGE, key, 'weights-0.bin');
    const before = statSync(shard);
    // A second session with the same weights uses the entry as it is: nothing written.
    const again = await Runner.create(disk.built, onDisk);
    expect(again.weights).toEqual({ kind: 'files', dir: join(root, WEIGHTS_STAGE, key), reused: true });
    const after = statSync(shard);
    expect(after.mtimeMs).toBe(before.mtimeMs);
    expect(after.ino).toBe(before.ino);
    expect(tempDirs(root)).toEqual([]);
    // The entry is an ordinary store entry: `lab cache status|verify` count and re-hash it.
    const store = openCache(root);
    expect((await store.status()).stages[WEIGHTS_STAGE].entries).toBe(1);
    expect(await store.verify()).toEqual({ ok: 1, corrupted: [] });
    await Promise.all([memory.release(), disk.release(), again.release()]);
  });

  it('give bit-identical losses and gradients for training sessions (only frozen weights are baked)', async () => {
    const model = tinyModel();
    const trainable = gpt2Family.kvParamNames(model.config);
    const root = tempRoot();
    const memory = await TrainingSession.create(model, { trainable, captures: ['attn.q'] }, { threads: 1, weightsCache: false });
    const disk = await TrainingSession.create(model, { trainable, captures: ['attn.q'] }, { threads: 1, weightsCache: root, weightsCacheMinBytes: 0 });
    const a = await memory.run({ sequences }, { logits: true });
    const b = await disk.run({ sequences }, { logits: true });
    expect(b.loss).toBe(a.loss);
    expectBitIdentical(Object.fromEntries(a.grads), Object.fromEntries(b.grads));
    expectBitIdentical({ logits: a.logits!, ...a.captures }, { logits: b.logits!, ...b.captures });
    // Trainable parameters are graph inputs: none of them is in the written external data.
    expect(disk.built.initializerNames.filter((n) => trainable.includes(n))).toEqual([]);
    await Promise.all([memory.release(), disk.release()]);
  });

  it('small graphs stay in memory below the size threshold, and weightsCache: false always does', async () => {
    const root = tempRoot();
    const built = tinyGraph(1).build();
    const small = await Runner.create(built, { threads: 1, weightsCache: root });
    expect(small.weights).toEqual({ kind: 'memory' });
    const off = await Runner.create(built, { threads: 1, weightsCache: false, weightsCacheMinBytes: 0 });
    expect(off.weights).toEqual({ kind: 'memory' });
    expect(entryDirs(root)).toEqual([]);
    await Promise.all([small.release(), off.release()]);
  });
});

/** y = x @ w1 @ w2 with 64 KB weights (external data: one 128 KB shard, checked at sampled windows on reuse). */
function tinyGraph(seed: number) {
  const n = 128;
  const g = new Graph();
  const x = g.input('x', 'float32', ['batch', n]);
  const w = (k: number) => float32(Array.from({ length: n * n }, (_, i) => Math.sin(seed * 1000 + k * n * n + i)), [n, n]);
  g.output(g.matmul(g.matmul(x, g.initializer('w1', w(1))), g.initializer('w2', w(2))), 'y');
  return g;
}

describe('the weights cache entry', () => {
  const x = { x: float32(Array.from({ length: 128 }, (_, i) => i / 128), [1, 128]) };

  it('detects a truncated or overwritten file, rewrites the entry and still gives the same outputs', async () => {
    const root = tempRoot();
    const built = tinyGraph(2).build();
    const opts: RunnerOptions = { threads: 1, weightsCache: root, weightsCacheMinBytes: 0 };
    const first = await Runner.create(built, opts);
    const want = await first.run(x, ['y']);
    await first.release();
    const { key } = weightsKey(built.externalData);
    const shard = join(root, WEIGHTS_STAGE, key, 'weights-0.bin');
    const size = statSync(shard).size;

    truncateSync(shard, size - 100);
    const warnings: string[] = [];
    const second = await Runner.create(built, { ...opts, log: (m) => warnings.push(m) });
    expect(warnings.join('\n')).toMatch(/is damaged \(file "weights-0.bin" has \d+ bytes, expected \d+ \(truncated\?\)\); writing it again/);
    expect(second.weights).toMatchObject({ kind: 'files', reused: false });
    expect(statSync(shard).size).toBe(size);
    expectBitIdentical(want, await second.run(x, ['y']));
    await second.release();

    // Same size, wrong bytes (e.g. zero-filled by a crash of whatever copied it): caught by the sampled comparison.
    writeFileSync(shard, new Uint8Array(size));
    warnings.length = 0;
    const third = await Runner.create(built, { ...opts, log: (m) => warnings.push(m) });
    expect(warnings.join('\n')).toMatch(/differs from the weights at byte \d+\); writing it again/);
    expectBitIdentical(want, await third.run(x, ['y']));
    await third.release();
    expect(await openCache(root).verify()).toEqual({ ok: 1, corrupted: [] });
    expect(tempDirs(root)).toEqual([]);
  });

  it('never uses a half-written entry: a folder without its manifest is rewritten, a temp folder is never read', async () => {
    const root = tempRoot();
    const built = tinyGraph(3).build();
    const { key } = weightsKey(built.externalData);
    // What a crash mid-write would leave if entries were written in place: the files without the manifest.
    const dir = join(root, WEIGHTS_STAGE, key);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'weights-0.bin'), built.externalData[0].data.subarray(0, 1000));
    const warnings: string[] = [];
    const made = await weightsFolder(built.externalData, root, (m) => warnings.push(m));
    expect(made.reused).toBe(false);
    expect(warnings.join('\n')).toMatch(/manifest.json is missing/);
    expect(await made.recheck()).toBe('ok');
  });

  it('two writers at once leave one complete entry and no temp folders', async () => {
    const root = tempRoot();
    const built = tinyGraph(4).build();
    const results = await Promise.all([1, 2, 3, 4].map(() => weightsFolder(built.externalData, root)));
    expect(new Set(results.map((r) => r.dir)).size).toBe(1);
    expect(results.filter((r) => !r.reused).length).toBeGreaterThanOrEqual(1);
    expect(entryDirs(root)).toHaveLength(1);
    expect(tempDirs(root)).toEqual([]);
    expect(await openCache(root).verify()).toEqual({ ok: 1, corrupted: [] });
  });

  it('removes temp folders of writers that died, and its own temp folder when a write fails', async () => {
    const root = tempRoot();
    const dead = join(root, 'tmp', `${WEIGHTS_STAGE}.0123456789abcdef.999999999.deadbeef`);
    mkdirSync(dead, { recursive: true });
    writeFileSync(join(dead, 'weights-0.bin'), new Uint8Array(10));
    const built = tinyGraph(5).build();
    await weightsFolder(built.externalData, root);
    expect(tempDirs(root)).toEqual([]);
    // `lab cache gc` knows these temp folders by their name too.
    mkdirSync(dead);
    expect((await openCache(root).gc([`${WEIGHTS_STAGE}/${weightsKey(built.externalData).key}`])).removedTemp).toEqual([dead]);

    // A write that fails (the stage folder is a file, so the entry cannot be moved into place) cleans up after itself.
    const other = tempRoot();
    writeFileSync(join(other, WEIGHTS_STAGE), 'not a folder');
    await expect(weightsFolder(built.externalData, other)).rejects.toThrow();
    expect(tempDirs(other)).toEqual([]);
    // The runner then falls back to memory and says why.
    const warnings: string[] = [];
    const runner = await Runner.create(built, { threads: 1, weightsCache: other, weightsCacheMinBytes: 0, log: (m) => warnings.push(m) });
    expect(runner.weights).toEqual({ kind: 'memory' });
    expect(warnings.join('\n')).toMatch(/weights cache under .* unusable/);
    await runner.release();
  });

});
