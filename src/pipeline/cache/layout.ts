// What an entry of the content-addressed store looks like on disk, shared by the store (store.ts) and by the weights
// cache of ONNX Runtime sessions (engine/weights-cache.ts), which writes entries of its own in the same format. Kept
// apart from store.ts so that the engine, and with it the protocol's code hash, does not depend on the store's code.

import { resolve } from 'node:path';

export const MANIFEST = 'manifest.json';
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
