// Models from the Hugging Face hub, downloaded once into the Hugging Face cache layout that Python's huggingface_hub
// uses, so either can reuse what the other fetched:
//   {hubCache}/models--{org}--{name}/refs/{revision}            the commit a branch or tag resolved to
//   {hubCache}/models--{org}--{name}/snapshots/{commit}/{file}  the files (Python links them into blobs/; we write
//                                                               them in place, which Python reads as well)
// hubCache = $HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub. When the snapshot of the revision
// already holds a complete model (config.json, tokenizer.json, weights), no network is touched. Our own bookkeeping
// (partial downloads, per-file .meta.json) stays out of snapshots/: it goes under the repo folder's `.icl-lab/`.

import { mkdir, readFile, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import {
  type DownloadOptions,
  downloadFile,
  headFile,
  HubDownloadError,
  hubEndpoint,
  hubOfflineFromEnv,
} from '../tasks/hub-download.ts';
import { writeFileAtomically } from './safetensors.ts';

export interface ResolveHubModelOptions {
  /** Branch, tag or commit (default 'main'). */
  revision?: string;
  /** The hub cache folder (default: defaultHfHubCache()). */
  hubCache?: string;
  /** Default $HF_ENDPOINT or https://huggingface.co. */
  endpoint?: string;
  /** Default $HF_TOKEN. */
  token?: string;
  /** Default $HF_HUB_OFFLINE. */
  offline?: boolean;
  connectTimeoutMs?: number;
  onProgress?: (file: string, bytes: number, total: number | undefined) => void;
}

export interface HubModel {
  /** The local model folder, ready for loadModel. */
  dir: string;
  id: string;
  revision: string;
  /** The commit the snapshot is of, when known. */
  commit?: string;
  /** Files fetched by this call (empty when the cache already had everything). */
  downloaded: string[];
}

/** $HF_HUB_CACHE, else $HF_HOME/hub, else $XDG_CACHE_HOME/huggingface/hub, else ~/.cache/huggingface/hub. */
export function defaultHfHubCache(env: NodeJS.ProcessEnv = process.env): string {
  if (env.HF_HUB_CACHE) return resolve(env.HF_HUB_CACHE);
  if (env.HF_HOME) return resolve(env.HF_HOME, 'hub');
  const xdg = env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return resolve(xdg, 'huggingface', 'hub');
}

const MODEL_ID_RE = /^[A-Za-z0-9][A-Za-z0-9._-]*(\/[A-Za-z0-9][A-Za-z0-9._-]*)?$/;
const COMMIT_RE = /^[0-9a-f]{40}$/;

/** The repo folder of a model in the hub cache: models--{org}--{name}. */
export function hubModelRepoDir(id: string, hubCache = defaultHfHubCache()): string {
  if (!MODEL_ID_RE.test(id) || id.includes('..')) {
    throw new Error(`"${id}" is not a hub model id (like "gpt2" or "openai-community/gpt2")`);
  }
  return join(hubCache, `models--${id.split('/').join('--')}`);
}

const OPTIONAL_FILES = ['tokenizer_config.json', 'special_tokens_map.json', 'generation_config.json'];

async function isFile(path: string): Promise<boolean> {
  return stat(path).then((s) => s.isFile(), () => false);
}

/** The weights files a snapshot folder needs, or undefined if it has neither single-file nor indexed weights. */
async function weightFiles(dir: string): Promise<string[] | undefined> {
  if (await isFile(join(dir, 'model.safetensors'))) return ['model.safetensors'];
  const indexPath = join(dir, 'model.safetensors.index.json');
  if (!(await isFile(indexPath))) return undefined;
  try {
    const index = JSON.parse(await readFile(indexPath, 'utf8')) as { weight_map?: Record<string, string> };
    return ['model.safetensors.index.json', ...new Set(Object.values(index.weight_map ?? {}))];
  } catch {
    return undefined;
  }
}

/** True when a model folder (a snapshot, or any HF-format folder) has config.json, tokenizer.json and all its weights. */
export async function isCompleteModelFolder(dir: string): Promise<boolean> {
  if (!(await isFile(join(dir, 'config.json'))) || !(await isFile(join(dir, 'tokenizer.json')))) return false;
  const weights = await weightFiles(dir);
  if (!weights) return false;
  for (const f of weights) if (!(await isFile(join(dir, f)))) return false;
  return true;
}

/** The local snapshot folder of a revision, if the cache knows one (refs/{revision}, or the name itself). */
async function localSnapshot(repoDir: string, revision: string): Promise<{ dir: string; commit?: string } | undefined> {
  const candidates: Array<{ dir: string; commit?: string }> = [];
  if (COMMIT_RE.test(revision)) candidates.push({ dir: join(repoDir, 'snapshots', revision), commit: revision });
  const ref = await readFile(join(repoDir, 'refs', revision), 'utf8').then((t) => t.trim(), () => undefined);
  if (ref && COMMIT_RE.test(ref)) candidates.push({ dir: join(repoDir, 'snapshots', ref), commit: ref });
  candidates.push({ dir: join(repoDir, 'snapshots', revision) });
  for (const c of candidates) if (await isCompleteModelFolder(c.dir)) return c;
  return undefined;
}

/**
 * The complete local snapshot of a hub model's revision in the hub cache, if there is one. Never touches the network
 * (the same look-up resolveHubModel makes before it would download).
 */
export async function localHubModel(id: string, options: { revision?: string; hubCache?: string } = {}): Promise<{ dir: string; commit?: string } | undefined> {
  return localSnapshot(hubModelRepoDir(id, options.hubCache ?? defaultHfHubCache()), options.revision ?? 'main');
}

function preseedHint(id: string, repoDir: string, revision: string): string {
  return (
    `model ${id} needs config.json, model.safetensors (or model.safetensors.index.json and its shards) and tokenizer.json ` +
    `(tokenizer_config.json too, if the model has one) in ${join(repoDir, 'snapshots', revision)}/ — or copy a ` +
    'Hugging Face cache where Python fetched it (e.g. `huggingface-cli download ' + id + '`) and point HF_HOME at it'
  );
}

/**
 * Returns the local folder of a hub model, downloading what is missing once (config, weights, tokenizer files).
 * Optional files may be absent on the hub.
 */
export async function resolveHubModel(id: string, options: ResolveHubModelOptions = {}): Promise<HubModel> {
  const revision = options.revision ?? 'main';
  if (revision === '' || revision.includes('..') || revision.startsWith('/')) throw new Error(`bad revision "${revision}" for model ${id}`);
  const hubCache = options.hubCache ?? defaultHfHubCache();
  const repoDir = hubModelRepoDir(id, hubCache);
  const found = await localSnapshot(repoDir, revision);
  if (found) return { dir: found.dir, id, revision, commit: found.commit, downloaded: [] };

  const hint = preseedHint(id, repoDir, revision);
  const offline = options.offline ?? hubOfflineFromEnv();
  if (offline) {
    throw new HubDownloadError(
      'offline',
      `model ${id} (revision ${revision}) is not in the cache ${hubCache} and the hub is off (HF_HUB_OFFLINE). To work offline, ${hint}.`,
      join(repoDir, 'snapshots', revision),
    );
  }

  const endpoint = options.endpoint ?? hubEndpoint();
  const repoPath = id.split('/').map(encodeURIComponent).join('/');
  const fileUrl = (rev: string, file: string) => `${endpoint}/${repoPath}/resolve/${encodeURIComponent(rev)}/${file}`;
  const common = { token: options.token, connectTimeoutMs: options.connectTimeoutMs, preseedHint: hint };

  // Which commit does the revision name? (The hub says so in X-Repo-Commit.)
  const probe = await headFile({
    ...common,
    url: fileUrl(revision, 'config.json'),
    dest: join(repoDir, 'snapshots', revision, 'config.json'),
    what: `model ${id} (config.json)`,
  });
  if (probe.status === 404) {
    throw new HubDownloadError(
      'not-found',
      `model ${id} has no config.json at revision ${revision} on ${endpoint} (HTTP 404): check the model id and revision`,
      join(repoDir, 'snapshots', revision),
      { status: 404 },
    );
  }
  const commit = probe.commit && COMMIT_RE.test(probe.commit) ? probe.commit : undefined;
  const snapshot = commit ?? revision;
  const dir = join(repoDir, 'snapshots', snapshot);
  const downloaded: string[] = [];

  if (!(await isCompleteModelFolder(dir))) {
    const fetch = async (file: string, required: boolean): Promise<boolean> => {
      const opts: DownloadOptions = {
        ...common,
        url: fileUrl(snapshot, file),
        dest: join(dir, file),
        what: `model ${id} (${file})`,
        offline: false,
        partPath: join(repoDir, '.icl-lab', snapshot, `${file}.part`),
        metaPath: join(repoDir, '.icl-lab', snapshot, `${file}.meta.json`),
        verifyExisting: 'size',
        onProgress: options.onProgress ? (b, t) => options.onProgress!(file, b, t) : undefined,
      };
      try {
        const r = await downloadFile(opts);
        if (r.downloaded) downloaded.push(file);
        return true;
      } catch (err) {
        if (!required && err instanceof HubDownloadError && err.kind === 'not-found') return false;
        throw err;
      }
    };
    await fetch('config.json', true);
    if (!(await fetch('model.safetensors', false))) {
      if (!(await fetch('model.safetensors.index.json', false))) {
        throw new HubDownloadError(
          'not-found',
          `model ${id} (revision ${revision}) has neither model.safetensors nor model.safetensors.index.json on the hub; ` +
            'icl-lab reads safetensors weights only',
          dir,
        );
      }
      const shards = (await weightFiles(dir)) ?? [];
      for (const shard of shards.slice(1)) {
        if (!/^[A-Za-z0-9._-]+$/.test(shard)) throw new HubDownloadError('integrity', `model ${id}: the weight index names a bad shard file "${shard}"`, dir);
        await fetch(shard, true);
      }
    }
    try {
      await fetch('tokenizer.json', true);
    } catch (err) {
      if (err instanceof HubDownloadError && err.kind === 'not-found') {
        throw new HubDownloadError('not-found', `model ${id} has no tokenizer.json on the hub; icl-lab needs the tokenizers format (tokenizer.json)`, dir, { cause: err });
      }
      throw err;
    }
    for (const f of OPTIONAL_FILES) await fetch(f, false);
  }

  if (commit && revision !== commit) {
    const refPath = join(repoDir, 'refs', revision);
    await mkdir(join(refPath, '..'), { recursive: true });
    await writeFileAtomically(refPath, commit);
  }
  return { dir, id, revision, commit, downloaded };
}
