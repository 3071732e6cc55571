// The content-addressed store of stage results and the hashes its keys are made of.

export { canonicalJson, hashFile, hashFileWithSize, hashSourceFiles, moduleClosure, sha256Hex, stageKey } from './hash.ts';
export {
  type CacheEntry,
  CacheError,
  type CacheProblem,
  type CacheStatus,
  CacheStore,
  type FileSource,
  type GcOptions,
  type GcResult,
  type Manifest,
  defaultCacheRoot,
  openCache,
} from './store.ts';
