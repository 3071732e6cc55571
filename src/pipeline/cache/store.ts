// A content-addressed store of stage results. Layout under the root (by default `cache/`):
//   {stage}/{key}/manifest.json   {format, stage, key, files: {name: {size, sha256}}, meta}
//   {stage}/{key}/{name}          the entry's files
//   tmp/                          folders being written (and old entries being replaced); never read as entries
// `key` is the SHA-256 of the stage's inputs (see hash.ts `stageKey`). An entry is written into a folder under tmp/,
// every file flushed, then renamed into place in one step: a crash at any moment leaves no entry or a complete one
// (and maybe a stale folder under tmp/, which `gc` removes). A read checks every file against the manifest's sizes
// and SHA-256s; an entry that fails is reported through the warning callback and treated as missing, so the stage
// is computed again and its `put` replaces the broken entry.

import { lstat, mkdir, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fsError, syncFolder, writeFileDurably } from '../models/safetensors.ts';
import { hashFileWithSize, sha256Hex } from './hash.ts';
import { CACHE_FORMAT, MANIFEST, type Manifest, type ManifestFile, isEntryFileName, pidAlive } from './layout.ts';

export { CACHE_FORMAT, MANIFEST, type Manifest, type ManifestFile, defaultCacheRoot } from './layout.ts';

/** Folder names under the root that are not stages. `hub` is the download cache (tasks/hub-download.ts). */
const RESERVED = new Set(['tmp', 'hub']);
const STAGE_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const KEY_RE = /^[0-9a-f]{64}$/;

/** A verified entry: every file matched the manifest when `get` (or `put`) returned it. */
export interface CacheEntry {
  stage: string;
  key: string;
  dir: string;
  meta: unknown;
  files: Record<string, ManifestFile>;
  path(name: string): string;
  read(name: string): Promise<Uint8Array>;
  readText(name: string): Promise<string>;
  readJson<T = unknown>(name: string): Promise<T>;
}

/** A file's contents, or a function that produces them (called while the entry is being written). */
export type FileSource = Uint8Array | string | (() => Uint8Array | string | Promise<Uint8Array | string>);

export interface CacheProblem {
  stage: string;
  key: string;
  dir: string;
  problem: string;
}

export interface CacheStatus {
  root: string;
  stages: Record<string, { entries: number; bytes: number }>;
  entries: number;
  bytes: number;
  tempFolders: number;
}

export interface GcResult {
  removedEntries: Array<{ stage: string; key: string; bytes: number }>;
  removedTemp: string[];
  keptEntries: number;
  freedBytes: number;
}

export interface GcOptions {
  /** Report what would be removed without removing it. */
  dryRun?: boolean;
  /** A temp folder of a live process is removed only once it is this old (default one day). */
  tempMaxAgeMs?: number;
}

export interface OpenCacheOptions {
  /** Where problems found while reading (a corrupted entry about to be recomputed) are reported. */
  onWarning?: (message: string) => void;
}

export class CacheError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CacheError';
  }
}

function checkStage(stage: string): void {
  if (!STAGE_RE.test(stage) || RESERVED.has(stage)) {
    throw new CacheError(
      `cache stage name ${JSON.stringify(stage)} is not allowed: use letters, digits, ".", "_" or "-" ` +
        `(not ${[...RESERVED].join(' or ')})`,
    );
  }
}

function checkKey(key: string): void {
  if (!KEY_RE.test(key)) {
    throw new CacheError(`cache key ${JSON.stringify(key)} is not a SHA-256 (64 lower-case hex digits); use stageKey(inputs)`);
  }
}

function checkFileName(name: string): void {
  if (!isEntryFileName(name)) {
    throw new CacheError(
      `cache file name ${JSON.stringify(name)} is not allowed: a flat name of letters, digits, ".", "_" or "-", ` +
        `not starting with "." and not ${MANIFEST}`,
    );
  }
}

async function listDirs(dir: string): Promise<string[]> {
  try {
    const entries = await readdir(dir, { withFileTypes: true });
    return entries.filter((e) => e.isDirectory()).map((e) => e.name);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw fsError(err, dir, 'list the folder');
  }
}

async function folderBytes(dir: string): Promise<number> {
  let total = 0;
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return 0;
  }
  for (const e of entries) {
    const p = join(dir, e.name);
    if (e.isDirectory()) total += await folderBytes(p);
    else total += (await lstat(p).catch(() => ({ size: 0 }))).size;
  }
  return total;
}

function makeEntry(dir: string, manifest: Manifest): CacheEntry {
  const path = (name: string): string => {
    if (!Object.hasOwn(manifest.files, name)) {
      throw new CacheError(`cache entry ${manifest.stage}/${manifest.key} has no file "${name}" (it has: ${Object.keys(manifest.files).join(', ') || 'none'})`);
    }
    return join(dir, name);
  };
  const read = async (name: string): Promise<Uint8Array> => {
    const p = path(name);
    try {
      return new Uint8Array(await readFile(p));
    } catch (err) {
      throw fsError(err, p, 'read the cached file');
    }
  };
  return {
    stage: manifest.stage,
    key: manifest.key,
    dir,
    meta: manifest.meta,
    files: manifest.files,
    path,
    read,
    readText: async (name) => new TextDecoder().decode(await read(name)),
    readJson: async (name) => JSON.parse(new TextDecoder().decode(await read(name))),
  };
}

export class CacheStore {
  readonly root: string;
  private readonly warn: (message: string) => void;

  constructor(root: string, options: OpenCacheOptions = {}) {
    this.root = resolve(root);
    this.warn = options.onWarning ?? ((m) => process.stderr.write(`icl-lab cache: ${m}\n`));
  }

  get tmpDir(): string {
    return join(this.root, 'tmp');
  }

  entryDir(stage: string, key: string): string {
    checkStage(stage);
    checkKey(key);
    return join(this.root, stage, key);
  }

  /**
   * Reads and verifies an entry. Returns undefined when there is none, or when it is damaged (missing or altered
   * files, a garbled manifest): that is reported through the warning callback, and the caller recomputes.
   */
  async get(stage: string, key: string): Promise<CacheEntry | undefined> {
    const dir = this.entryDir(stage, key);
    const checked = await this.check(stage, key, dir);
    if (checked === 'missing') return undefined;
    if (typeof checked === 'string') {
      this.warn(`entry ${stage}/${key} is damaged (${checked}); it will be computed again`);
      return undefined;
    }
    return makeEntry(dir, checked);
  }

  /** True when a complete, verified entry exists (same checks as get, without the warning). */
  async has(stage: string, key: string): Promise<boolean> {
    return typeof (await this.check(stage, key, this.entryDir(stage, key))) === 'object';
  }

  /** The verified manifest, 'missing', or what is wrong with the entry. */
  private async check(stage: string, key: string, dir: string): Promise<Manifest | 'missing' | string> {
    let text: string;
    try {
      text = await readFile(join(dir, MANIFEST), 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') {
        const exists = await stat(dir).then(() => true, () => false);
        return exists ? `${MANIFEST} is missing` : 'missing';
      }
      return `cannot read ${MANIFEST}: ${(err as Error).message}`;
    }
    let manifest: Manifest;
    try {
      manifest = JSON.parse(text) as Manifest;
    } catch {
      return `${MANIFEST} is not valid JSON`;
    }
    if (
      manifest?.format !== CACHE_FORMAT ||
      manifest.stage !== stage ||
      manifest.key !== key ||
      typeof manifest.files !== 'object' ||
      manifest.files === null
    ) {
      return `${MANIFEST} does not describe ${stage}/${key} in format ${CACHE_FORMAT}`;
    }
    for (const [name, want] of Object.entries(manifest.files)) {
      const p = join(dir, name);
      let got;
      try {
        got = await hashFileWithSize(p);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        return code === 'ENOENT' ? `file "${name}" is missing` : `cannot read "${name}": ${(err as Error).message}`;
      }
      if (got.size !== want.size) return `file "${name}" has ${got.size} bytes, the manifest says ${want.size} (truncated?)`;
      if (got.sha256 !== want.sha256) return `file "${name}" does not match its SHA-256 (altered or corrupted)`;
    }
    return manifest;
  }

  /**
   * Writes an entry atomically and returns it. A file's source may be a function: it is called while the entry is
   * being written (if it throws, nothing is left behind but a temp folder that is removed at once, or by gc after a
   * crash). An existing entry under the same key is replaced.
   */
  async put(
    stage: string,
    key: string,
    files: Record<string, FileSource>,
    meta: unknown = null,
  ): Promise<CacheEntry> {
    const target = this.entryDir(stage, key);
    for (const name of Object.keys(files)) checkFileName(name);
    // The manifest must round-trip: reject what JSON cannot hold before writing anything.
    const metaJson = JSON.stringify(meta ?? null);
    const tmpRoot = this.tmpDir;
    await mkdir(tmpRoot, { recursive: true }).catch((err) => {
      throw fsError(err, tmpRoot, 'create the cache temp folder');
    });
    const temp = join(tmpRoot, `${stage}.${key.slice(0, 16)}.${process.pid}.${sha256Hex(String(Math.random())).slice(0, 8)}`);
    await mkdir(temp).catch((err) => {
      throw fsError(err, temp, 'create a temp folder for a cache entry');
    });
    try {
      const manifest: Manifest = { format: CACHE_FORMAT, stage, key, files: {}, meta: JSON.parse(metaJson) };
      for (const name of Object.keys(files).sort()) {
        const source = files[name];
        const data = typeof source === 'function' ? await source() : source;
        const bytes = typeof data === 'string' ? new TextEncoder().encode(data) : data;
        await writeFileDurably(join(temp, name), bytes);
        manifest.files[name] = { size: bytes.byteLength, sha256: sha256Hex(bytes) };
      }
      await writeFileDurably(join(temp, MANIFEST), `${JSON.stringify(manifest, null, 2)}\n`);
      await syncFolder(temp);
      await mkdir(join(this.root, stage), { recursive: true });
      await this.moveIntoPlace(temp, target);
      return makeEntry(target, manifest);
    } catch (err) {
      await rm(temp, { recursive: true, force: true }).catch(() => {});
      throw err;
    }
  }

  /** get, or compute + put when the entry is missing or damaged. */
  async getOrCompute(
    stage: string,
    key: string,
    compute: () => Promise<{ files: Record<string, FileSource>; meta?: unknown }>,
  ): Promise<{ entry: CacheEntry; computed: boolean }> {
    const found = await this.get(stage, key);
    if (found) return { entry: found, computed: false };
    const { files, meta } = await compute();
    return { entry: await this.put(stage, key, files, meta), computed: true };
  }

  private async moveIntoPlace(temp: string, target: string): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        await rename(temp, target);
        await syncFolder(join(target, '..'));
        return;
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if ((code !== 'ENOTEMPTY' && code !== 'EEXIST' && code !== 'EPERM') || attempt >= 5) {
          throw fsError(err, target, 'move the finished cache entry into place');
        }
      }
      // An entry is there already (damaged, or written meanwhile by another process): move it aside, then retry.
      const aside = join(this.tmpDir, `replaced.${process.pid}.${sha256Hex(String(Math.random())).slice(0, 8)}`);
      try {
        await rename(target, aside);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw fsError(err, target, 'move the old cache entry aside');
      }
      await rm(aside, { recursive: true, force: true }).catch(() => {});
    }
  }

  /** Every entry folder (stage, key) present under the root, verified or not. */
  async listEntries(): Promise<Array<{ stage: string; key: string; dir: string }>> {
    const out: Array<{ stage: string; key: string; dir: string }> = [];
    for (const stage of (await listDirs(this.root)).sort()) {
      if (RESERVED.has(stage) || !STAGE_RE.test(stage)) continue;
      for (const key of (await listDirs(join(this.root, stage))).sort()) {
        if (KEY_RE.test(key)) out.push({ stage, key, dir: join(this.root, stage, key) });
      }
    }
    return out;
  }

  async status(): Promise<CacheStatus> {
    const stages: CacheStatus['stages'] = {};
    let bytes = 0;
    const entries = await this.listEntries();
    for (const e of entries) {
      const b = await folderBytes(e.dir);
      const s = (stages[e.stage] ??= { entries: 0, bytes: 0 });
      s.entries++;
      s.bytes += b;
      bytes += b;
    }
    return { root: this.root, stages, entries: entries.length, bytes, tempFolders: (await listDirs(this.tmpDir)).length };
  }

  /** Checks every entry; returns the damaged ones (nothing is changed). */
  async verify(): Promise<{ ok: number; corrupted: CacheProblem[] }> {
    let ok = 0;
    const corrupted: CacheProblem[] = [];
    for (const e of await this.listEntries()) {
      const checked = await this.check(e.stage, e.key, e.dir);
      if (typeof checked === 'object') ok++;
      else corrupted.push({ ...e, problem: checked === 'missing' ? 'vanished while checking' : checked });
    }
    return { ok, corrupted };
  }

  /**
   * Removes entries that the current plan does not reference and stale temp folders (of processes that are gone, or
   * older than tempMaxAgeMs). `keep` holds keys, or `stage/key` strings to keep a key in one stage only.
   */
  async gc(keep: Iterable<string>, options: GcOptions = {}): Promise<GcResult> {
    const keepSet = new Set(keep);
    const maxAge = options.tempMaxAgeMs ?? 24 * 3600 * 1000;
    const result: GcResult = { removedEntries: [], removedTemp: [], keptEntries: 0, freedBytes: 0 };
    for (const e of await this.listEntries()) {
      if (keepSet.has(e.key) || keepSet.has(`${e.stage}/${e.key}`)) {
        result.keptEntries++;
        continue;
      }
      const bytes = await folderBytes(e.dir);
      if (!options.dryRun) await rm(e.dir, { recursive: true, force: true });
      result.removedEntries.push({ stage: e.stage, key: e.key, bytes });
      result.freedBytes += bytes;
    }
    const now = Date.now();
    for (const name of await listDirs(this.tmpDir)) {
      const dir = join(this.tmpDir, name);
      const pid = Number(name.split('.').at(-2));
      const age = now - (await stat(dir).then((s) => s.mtimeMs, () => now));
      const stale = !(Number.isInteger(pid) && pid > 0 && pidAlive(pid)) || age > maxAge;
      if (!stale) continue;
      result.freedBytes += await folderBytes(dir);
      if (!options.dryRun) await rm(dir, { recursive: true, force: true });
      result.removedTemp.push(dir);
    }
    return result;
  }
}

/** Opens (without creating anything yet) the store at `root`. */
export function openCache(root: string, options: OpenCacheOptions = {}): CacheStore {
  return new CacheStore(root, options);
}
