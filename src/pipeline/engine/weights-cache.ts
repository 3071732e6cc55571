// Weight files for ONNX Runtime sessions, written once and reused. ONNX Runtime copies external data handed to it as
// buffers (seconds per gigabyte), but maps external data files that lie on disk. A built model's external data is
// therefore written, on first use, into a content-addressed entry of the result store (stage `onnx`):
//   {root}/onnx/{key}/manifest.json   the store's manifest: every file's size and SHA-256
//   {root}/onnx/{key}/weights-N.bin   the shards exactly as the graph's external data locations name them
// `key` is the SHA-256 of the shards' names, sizes and SHA-256s, so equal weights share an entry whatever graph bakes
// them (the protocol's analysis and training sessions bake the same frozen weights and share one). The graph itself
// is not written: the session reads the model bytes from memory and resolves external data in the entry's folder
// (ONNX Runtime's `session.model_external_initializers_file_folder_path`).
//
// An entry is written into a folder under {root}/tmp/ (files flushed), then renamed into place in one step, exactly
// as the store does, so `lab cache status|verify|gc` count, re-hash and clean these entries like any other. A crash
// leaves no entry or a complete one; a half-written folder under tmp/ is never read. Files of a published entry are
// never changed in place (a session may have them mapped): a damaged entry is moved aside whole and replaced.

import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, rm } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { sha256Hex, stageKey } from '../cache/hash.ts';
import { CACHE_FORMAT, MANIFEST, type Manifest, isEntryFileName, pidAlive } from '../cache/layout.ts';
import { syncFolder, writeFileDurably } from '../models/safetensors.ts';

export const WEIGHTS_STAGE = 'onnx';

export interface ExternalData {
  path: string;
  data: Uint8Array;
}

export interface WeightsFolder {
  /** The entry's folder: external data locations resolve there. */
  dir: string;
  key: string;
  /** True when a verified entry was already there (nothing written). */
  reused: boolean;
  /** Checks the entry again ('ok' or what is wrong), e.g. after ONNX Runtime failed to load from it. */
  recheck(): Promise<string>;
}

type ManifestFiles = Record<string, { size: number; sha256: string }>;

/** Bytes compared against the expected data at each sampled place of a reused file. */
const SAMPLE_BYTES = 4096;
const SAMPLES = 16;

/** The entry key and manifest files of a model's external data (hashing every byte once). */
export function weightsKey(external: readonly ExternalData[]): { key: string; files: ManifestFiles } {
  const files: ManifestFiles = {};
  for (const e of external) {
    if (!isEntryFileName(e.path)) {
      throw new Error(`external data location "${e.path}" cannot be a file name in the weights cache`);
    }
    if (Object.hasOwn(files, e.path)) throw new Error(`external data location "${e.path}" is used twice`);
    files[e.path] = { size: e.data.byteLength, sha256: sha256Hex(e.data) };
  }
  return { key: stageKey({ stage: WEIGHTS_STAGE, files }), files };
}

/**
 * Whether the entry in `dir` holds exactly `external` (whose key and manifest files weightsKey gave): 'ok',
 * 'missing', or what is wrong. Checked on every reuse: the manifest names this key and exactly these files with
 * these sizes and SHA-256s, every file on disk has its size (a truncated or partly copied file fails here), and
 * SAMPLES windows of 4 KiB of every file, first and last bytes included, equal the expected bytes (a zero-filled or
 * overwritten file fails here; small files are compared whole). A single altered byte elsewhere is not seen: that
 * needs a full re-read and re-hash (as much work per byte as computing the key), which `lab cache verify` does.
 * Entries only appear by an atomic rename of a complete, flushed folder, so this guards against damage afterwards.
 */
export async function checkWeightsEntry(dir: string, key: string, files: ManifestFiles, external: readonly ExternalData[]): Promise<string> {
  let text: string;
  try {
    text = await readFile(join(dir, MANIFEST), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') return `cannot read ${MANIFEST}: ${(err as Error).message}`;
    const exists = await readdir(dir).then(() => true, () => false);
    return exists ? `${MANIFEST} is missing` : 'missing';
  }
  let manifest: Manifest;
  try {
    manifest = JSON.parse(text) as Manifest;
  } catch {
    return `${MANIFEST} is not valid JSON`;
  }
  if (manifest?.format !== CACHE_FORMAT || manifest.stage !== WEIGHTS_STAGE || manifest.key !== key || typeof manifest.files !== 'object' || !manifest.files) {
    return `${MANIFEST} does not describe ${WEIGHTS_STAGE}/${key}`;
  }
  const listed = Object.keys(manifest.files).sort();
  if (listed.join('/') !== Object.keys(files).sort().join('/')) return `${MANIFEST} lists the files ${listed.join(', ')}`;
  for (const e of external) {
    const got = manifest.files[e.path];
    if (got.size !== files[e.path].size || got.sha256 !== files[e.path].sha256) return `${MANIFEST} gives "${e.path}" another size or SHA-256`;
    const problem = await sampleFile(join(dir, e.path), e.data);
    if (problem) return problem;
  }
  return 'ok';
}

async function sampleFile(path: string, expected: Uint8Array): Promise<string | undefined> {
  const name = basename(path);
  let handle;
  try {
    handle = await open(path, 'r');
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ENOENT' ? `file "${name}" is missing` : `cannot open "${name}": ${(err as Error).message}`;
  }
  try {
    const { size } = await handle.stat();
    if (size !== expected.byteLength) return `file "${name}" has ${size} bytes, expected ${expected.byteLength} (truncated?)`;
    const window = Math.min(SAMPLE_BYTES, size);
    const buffer = new Uint8Array(window);
    // Small files are compared whole; others at SAMPLES evenly spaced windows from the first byte to the last.
    const whole = size <= SAMPLE_BYTES * SAMPLES;
    const places = whole ? Math.ceil(size / SAMPLE_BYTES) : SAMPLES;
    for (let i = 0; i < places; i++) {
      const at = whole ? Math.min(i * SAMPLE_BYTES, size - window) : Math.floor((i * (size - window)) / (places - 1));
      const { bytesRead } = await handle.read(buffer, 0, window, at);
      if (bytesRead !== window) return `file "${name}" ended early at byte ${at + bytesRead}`;
      const want = expected.subarray(at, at + window);
      for (let j = 0; j < window; j++) {
        if (buffer[j] !== want[j]) return `file "${name}" differs from the weights at byte ${at + j}`;
      }
    }
    return undefined;
  } catch (err) {
    return `cannot read "${name}": ${(err as Error).message}`;
  } finally {
    await handle.close();
  }
}

/** Temp folders of weights entries left by processes that are gone (a killed run mid-write): removed. */
async function removeDeadTemps(tmpDir: string): Promise<void> {
  let names: string[];
  try {
    names = await readdir(tmpDir);
  } catch {
    return;
  }
  for (const name of names) {
    if (!name.startsWith(`${WEIGHTS_STAGE}.`)) continue;
    const pid = Number(name.split('.').at(-2));
    if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && !pidAlive(pid)) {
      await rm(join(tmpDir, name), { recursive: true, force: true }).catch(() => {});
    }
  }
}

/**
 * The folder holding `external` as files under the store at `root`: a verified existing entry, or a new one written
 * atomically. Safe against other processes doing the same at once (the first complete entry wins; the others discard
 * their copy) and against a damaged entry (reported through `warn`, moved aside, written again).
 */
export async function weightsFolder(
  external: readonly ExternalData[],
  root: string,
  warn: (message: string) => void = () => {},
): Promise<WeightsFolder> {
  const { key, files } = weightsKey(external);
  const stageDir = join(root, WEIGHTS_STAGE);
  const dir = join(stageDir, key);
  const recheck = () => checkWeightsEntry(dir, key, files, external);
  const found = await recheck();
  if (found === 'ok') return { dir, key, reused: true, recheck };
  if (found !== 'missing') warn(`weights cache entry ${WEIGHTS_STAGE}/${key} is damaged (${found}); writing it again`);

  const tmpDir = join(root, 'tmp');
  await mkdir(tmpDir, { recursive: true });
  await removeDeadTemps(tmpDir);
  const tag = () => randomBytes(4).toString('hex');
  // Named as the store names its temp folders ({stage}.{key}.{pid}.{random}), so `lab cache gc` knows whose it is.
  const temp = join(tmpDir, `${WEIGHTS_STAGE}.${key.slice(0, 16)}.${process.pid}.${tag()}`);
  await mkdir(temp);
  try {
    for (const e of external) await writeFileDurably(join(temp, e.path), e.data);
    const manifest: Manifest = {
      format: CACHE_FORMAT, stage: WEIGHTS_STAGE, key, files,
      meta: { what: 'external data of ONNX Runtime sessions (recreated on demand)', bytes: external.reduce((s, e) => s + e.data.byteLength, 0) },
    };
    await writeFileDurably(join(temp, MANIFEST), `${JSON.stringify(manifest, null, 2)}\n`);
    await syncFolder(temp);
    await mkdir(stageDir, { recursive: true });
    for (let attempt = 0; ; attempt++) {
      try {
        await rename(temp, dir);
        await syncFolder(stageDir);
        return { dir, key, reused: false, recheck };
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if ((code !== 'ENOTEMPTY' && code !== 'EEXIST' && code !== 'EPERM') || attempt >= 5) throw err;
      }
      // Something is there: another process's complete entry (use it, keep ours out), or the damaged one.
      if ((await recheck()) === 'ok') {
        await rm(temp, { recursive: true, force: true });
        return { dir, key, reused: true, recheck };
      }
      const aside = join(tmpDir, `replaced.${process.pid}.${tag()}`);
      await rename(dir, aside).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') throw err;
      });
      await rm(aside, { recursive: true, force: true }).catch(() => {});
    }
  } catch (err) {
    await rm(temp, { recursive: true, force: true }).catch(() => {});
    throw err;
  }
}
