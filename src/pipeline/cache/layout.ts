// What an entry of the content-addressed store looks like on disk, shared by the store (store.ts) and by the weights
// cache of ONNX Runtime sessions (engine/weights-cache.ts), which writes entries of its own in the same format. Kept
// apart from store.ts so that the engine, and with it the protocol's code hash, does not depend on the store's code.

import { resolve } from 'node:path';

export const MANIFEST = 'manifest.json';
/** A file name inside an entry: flat, letters, digits, '.', '_' or '-', not starting with '.'. */
const ENTRY_FILE_RE = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,199}$/;

/** Whether `name` can be a file of an entry (a flat allowed name that is not the manifest's). */
export function isEntryFileName(name: string): boolean {
  return ENTRY_FILE_RE.test(name) && name !== MANIFEST;
}

/** Whether the process that wrote a temp folder is still running (EPERM: it runs, as another user). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The manifest format of every entry. */
export const CACHE_FORMAT = 'icl-lab-cache/1';

export interface ManifestFile {
  size: number;
  sha256: string;
}

export interface Manifest {
  format: string;
  stage: string;
  key: string;
  files: Record<string, ManifestFile>;
  meta: unknown;
}

/** The default store root: $ICL_LAB_CACHE, else `cache/` under the current (project) folder. */
export function defaultCacheRoot(env: NodeJS.ProcessEnv = process.env): string {
  return resolve(env.ICL_LAB_CACHE || 'cache');
}
