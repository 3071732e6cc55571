import { describe, it, expect } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { canonicalJson, hashFile, hashSourceFiles, sha256Hex, stageKey } from '../../src/pipeline/cache/hash.ts';
import { openCache } from '../../src/pipeline/cache/store.ts';
import { lab } from '../helpers/cli.ts';

async function tempRoot(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'icl-lab-cache-'));
}

function collecting() {
  const warnings: string[] = [];
  return { warnings, onWarning: (m: string) => warnings.push(m) };
}

const KEY = stageKey({ model: 'abc', task: 'sst2', seed: 1 });

describe('canonicalJson and keys', () => {
  it('ignores key order at every depth', () => {
    const a = { b: 1, a: { y: [1, { q: 2, p: 3 }], x: 'x' } };
    const b = { a: { x: 'x', y: [1, { p: 3, q: 2 }] }, b: 1 };
    expect(canonicalJson(a)).toBe(canonicalJson(b));
    expect(canonicalJson(a)).toBe('{"a":{"x":"x","y":[1,{"p":3,"q":2}]},"b":1}');
    expect(stageKey(a)).toBe(stageKey(b));
    expect(stageKey(a)).toMatch(/^[0-9a-f]{64}$/);
  });

  it('keeps array order and value differences significant', () => {
    expect(stageKey([1, 2])).not.toBe(stageKey([2, 1]));
    expect(stageKey({ lr: 0.001 })).not.toBe(stageKey({ lr: 0.0010001 }));
    expect(stageKey({ a: '1' })).not.toBe(stageKey({ a: 1 }));
  });

  it('drops undefined properties, writes -0 as 0, and refuses what JSON cannot hold', () => {
    expect(canonicalJson({ a: undefined, b: -0 })).toBe('{"b":0}');
    expect(() => canonicalJson({ x: [NaN] })).toThrow(/\$\.x\[0\] is NaN/);
    expect(() => canonicalJson({ x: 1n })).toThrow(/bigint/);
    expect(() => canonicalJson({ d: new Date(0) })).toThrow(/\$\.d is a Date/);
    expect(() => canonicalJson([undefined])).toThrow(/undefined/);
    const cyc: Record<string, unknown> = {};
    cyc.self = cyc;
    expect(() => canonicalJson(cyc)).toThrow(/cycle/);
  });

  it('hashes files by streaming, and source files by content only', async () => {
    const dir = await tempRoot();
    const bytes = new Uint8Array(3 << 20).map((_, i) => (i * 31) & 255); // > one stream chunk
    await writeFile(join(dir, 'w.bin'), bytes);
    expect(await hashFile(join(dir, 'w.bin'))).toBe(sha256Hex(bytes));
    await writeFile(join(dir, 'm.ts'), 'export const x = 1;\n');
    await writeFile(join(dir, 'n.ts'), 'export const y = 2;\n');
    const h1 = await hashSourceFiles([join(dir, 'm.ts'), join(dir, 'n.ts')]);
    const h2 = await hashSourceFiles([new URL(`file://${join(dir, 'n.ts')}`).href, join(dir, 'm.ts')]);
    expect(h1).toBe(h2);
    await writeFile(join(dir, 'n.ts'), 'export const y = 3;\n');
    expect(await hashSourceFiles([join(dir, 'm.ts'), join(dir, 'n.ts')])).not.toBe(h1);
    await expect(hashSourceFiles([join(dir, 'gone.ts')])).rejects.toThrow(/gone\.ts/);
  });
});

describe('cache store', () => {
  it('puts and gets a verified entry', async () => {
    const root = await tempRoot();
    const store = openCache(root);
    expect(await store.get('runs', KEY)).toBeUndefined();
    await store.put('runs', KEY, { 'metrics.json': '{"acc":0.5}', 'x.bin': new Uint8Array([1, 2, 3]) }, { seed: 1 });
    const e = await store.get('runs', KEY);
    expect(e).toBeDefined();
    expect(e!.meta).toEqual({ seed: 1 });
    expect(await e!.readJson('metrics.json')).toEqual({ acc: 0.5 });
    expect(Array.from(await e!.read('x.bin'))).toEqual([1, 2, 3]);
    expect(e!.files['x.bin']).toEqual({ size: 3, sha256: sha256Hex(new Uint8Array([1, 2, 3])) });
    expect(() => e!.path('nope')).toThrow(/no file "nope"/);
    expect(await readdir(join(root, 'tmp'))).toEqual([]);
  });

  it('detects a truncated file, warns, treats it as missing and recomputes', async () => {
    const root = await tempRoot();
    const { warnings, onWarning } = collecting();
    const store = openCache(root, { onWarning });
    await store.put('runs', KEY, { 'a.bin': new Uint8Array(100).fill(1) });
    await truncate(join(root, 'runs', KEY, 'a.bin'), 40);
    expect(await store.get('runs', KEY)).toBeUndefined();
    expect(warnings.join('\n')).toMatch(/runs\/[0-9a-f]{64} is damaged \(file "a\.bin" has 40 bytes, the manifest says 100/);
    let calls = 0;
    const { entry, computed } = await store.getOrCompute('runs', KEY, async () => {
      calls++;
      return { files: { 'a.bin': new Uint8Array(100).fill(1) } };
    });
    expect(computed).toBe(true);
    expect(calls).toBe(1);
    expect((await entry.read('a.bin')).length).toBe(100);
    const again = await store.getOrCompute('runs', KEY, async () => {
      calls++;
      return { files: {} };
    });
    expect(again.computed).toBe(false);
    expect(calls).toBe(1);
  });

  it('detects an altered byte (same size) and a missing file or manifest', async () => {
    const root = await tempRoot();
    const { warnings, onWarning } = collecting();
    const store = openCache(root, { onWarning });
    await store.put('runs', KEY, { 'a.bin': new Uint8Array(64).fill(5), 'b.txt': 'hello' });
    const p = join(root, 'runs', KEY, 'a.bin');
    const bytes = await readFile(p);
    bytes[10] ^= 1;
    await writeFile(p, bytes);
    expect(await store.get('runs', KEY)).toBeUndefined();
    expect(warnings.at(-1)).toMatch(/"a\.bin" does not match its SHA-256/);
    const v = await store.verify();
    expect(v.ok).toBe(0);
    expect(v.corrupted.map((c) => c.key)).toEqual([KEY]);

    await store.put('runs', KEY, { 'a.bin': new Uint8Array(64).fill(5), 'b.txt': 'hello' }); // replaces the damaged one
    expect(await store.has('runs', KEY)).toBe(true);
    await rm(join(root, 'runs', KEY, 'b.txt'));
    expect(await store.get('runs', KEY)).toBeUndefined();
    expect(warnings.at(-1)).toMatch(/"b\.txt" is missing/);
    await store.put('runs', KEY, { 'b.txt': 'hello' });
    await writeFile(join(root, 'runs', KEY, 'manifest.json'), '{"format":');
    expect(await store.get('runs', KEY)).toBeUndefined();
    expect(warnings.at(-1)).toMatch(/manifest\.json is not valid JSON/);
  });

  it('leaves no entry when the writer throws mid-put', async () => {
    const root = await tempRoot();
    const store = openCache(root, collecting());
    await expect(
      store.put('runs', KEY, {
        'a.bin': new Uint8Array(10),
        'b.bin': () => {
          throw new Error('boom in the middle');
        },
      }),
    ).rejects.toThrow(/boom/);
    expect(await store.get('runs', KEY)).toBeUndefined();
    expect(await readdir(join(root, 'tmp'))).toEqual([]);
    expect((await store.status()).entries).toBe(0);
  });

  it('keeps the old complete entry when a replacing put fails', async () => {
    const root = await tempRoot();
    const store = openCache(root, collecting());
    await store.put('runs', KEY, { 'a.txt': 'old' });
    await expect(store.put('runs', KEY, { 'a.txt': () => Promise.reject(new Error('fail')) })).rejects.toThrow('fail');
    expect(await (await store.get('runs', KEY))!.readText('a.txt')).toBe('old');
  });

  it('stays consistent when the writing process is killed (SIGKILL) between two file writes', async () => {
    const root = await tempRoot();
    const child = spawn(process.execPath, [fileURLToPath(new URL('./crash-child.ts', import.meta.url)), root, KEY], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += String(d)));
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (d) => {
        if (String(d).includes('READY')) resolve();
      });
      child.on('exit', (code) => reject(new Error(`child exited (${code}) before READY: ${stderr}`)));
    });
    const exited = new Promise((r) => child.on('exit', r));
    child.kill('SIGKILL');
    await exited;
    const store = openCache(root, collecting());
    expect(await store.get('runs', KEY)).toBeUndefined();
    const temps = await readdir(join(root, 'tmp'));
    expect(temps.length).toBe(1); // the half-written folder, with a.bin only
    expect(await readdir(join(root, 'tmp', temps[0]))).toEqual(['a.bin']);
    expect((await store.verify()).corrupted).toEqual([]);
    const gc = await store.gc([]);
    expect(gc.removedTemp.length).toBe(1); // its process is gone
    expect(await readdir(join(root, 'tmp'))).toEqual([]);
    await store.put('runs', KEY, { 'a.bin': 'x', 'b.bin': 'y' });
    expect(await store.has('runs', KEY)).toBe(true);
  });

  it('gc removes entries not kept and keeps temp folders of live processes', async () => {
    const root = await tempRoot();
    const store = openCache(root, collecting());
    const k1 = stageKey(1);
    const k2 = stageKey(2);
    const k3 = stageKey(3);
    await store.put('runs', k1, { f: 'a' });
    await store.put('runs', k2, { f: 'b' });
    await store.put('metrics', k3, { f: 'c' });
    const { mkdir } = await import('node:fs/promises');
    const live = join(root, 'tmp', `runs.${k1.slice(0, 16)}.${process.pid}.abcdef01`);
    await mkdir(live);
    const dry = await store.gc([k1, `metrics/${k3}`], { dryRun: true });
    expect(dry.removedEntries.map((e) => e.key)).toEqual([k2]);
    expect(await store.has('runs', k2)).toBe(true);
    const gc = await store.gc([k1, `metrics/${k3}`]);
    expect(gc.removedEntries.map((e) => `${e.stage}/${e.key}`)).toEqual([`runs/${k2}`]);
    expect(gc.keptEntries).toBe(2);
    expect(gc.removedTemp).toEqual([]);
    expect(await store.has('runs', k2)).toBe(false);
    const gcOld = await store.gc([k1, k3], { tempMaxAgeMs: -1 });
    expect(gcOld.removedTemp).toEqual([live]);
    const s = await store.status();
    expect(s.entries).toBe(2);
    expect(Object.keys(s.stages).sort()).toEqual(['metrics', 'runs']);
  });

  it('refuses bad stage names, keys and file names', async () => {
    const store = openCache(await tempRoot(), collecting());
    await expect(store.put('tmp', KEY, {})).rejects.toThrow(/stage name "tmp"/);
    await expect(store.put('../x', KEY, {})).rejects.toThrow(/stage name/);
    await expect(store.put('runs', 'abc', {})).rejects.toThrow(/not a SHA-256/);
    await expect(store.put('runs', KEY, { 'manifest.json': 'x' })).rejects.toThrow(/file name/);
    await expect(store.put('runs', KEY, { '../evil': 'x' })).rejects.toThrow(/file name/);
  });
});

describe('lab cache', () => {
  it('status, verify and gc through the CLI', async () => {
    const root = await tempRoot();
    const store = openCache(root, collecting());
    const k1 = stageKey('one');
    const k2 = stageKey('two');
    await store.put('runs', k1, { f: 'a' });
    await store.put('runs', k2, { f: 'bb' });
    let r = await lab(['cache', 'status', '--cache', root]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/2 entries/);
    expect(r.stdout).toMatch(/runs\s+2 entries/);
    r = await lab(['cache', 'verify', '--cache', root]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/2 entries verified, 0 damaged/);
    await writeFile(join(root, 'runs', k2, 'f'), 'xx');
    r = await lab(['cache', 'verify', '--cache', root]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(`DAMAGED runs/${k2}`);
    const keep = join(root, 'keep.txt');
    await writeFile(keep, `# plan keys\n${k1}\n`);
    r = await lab(['cache', 'gc', '--cache', root, '--keep', keep]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/removed 1 entries/);
    expect(await store.has('runs', k1)).toBe(true);
    expect(await store.has('runs', k2)).toBe(false);
    r = await lab(['cache', 'frobnicate', '--cache', root]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/unknown cache action/);
  });
});
