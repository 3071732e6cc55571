// A resumable, verified file downloader for the Hugging Face hub (datasets and models alike).
//
// - Bytes go to `<dest>.part`; an interrupted transfer resumes from there with an HTTP Range request (a few times
//   within one call, and again on the next run). The final name appears only by rename once the file is complete
//   and verified, so there is never a half file under it.
// - Verification: the size (X-Linked-Size, Content-Range or Content-Length) and, when the hub names one, the SHA-256
//   (`X-Linked-Etag`, or an `ETag` that is 64 hex digits: the hub's LFS object id). Beside the file goes
//   `<dest>.meta.json` {url, size, sha256, etag, commit}, so later runs verify the file without the network.
// - HF_TOKEN is sent as `Authorization: Bearer` to the hub's own origin only (not to a CDN it redirects to), and is
//   never written to disk, logs or error messages.
// - Offline (HF_HUB_OFFLINE=1) or an unreachable server fails fast (connect timeout, default 10 s) with an error
//   that names what was being downloaded and exactly where to put the file to pre-seed the cache.

import { createWriteStream } from 'node:fs';
import { mkdir, open, readFile, rename, rm, stat } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import { dirname } from 'node:path';
import { hashFileWithSize } from '../cache/hash.ts';
import { ModelFileError, syncFolder, writeFileAtomically } from '../models/safetensors.ts';

export type DownloadErrorKind = 'unreachable' | 'offline' | 'not-found' | 'auth' | 'http' | 'interrupted' | 'integrity';

/** A download that failed; `file` is where the file was to go. The message never contains the token. */
export class HubDownloadError extends ModelFileError {
  readonly kind: DownloadErrorKind;
  readonly status?: number;

  constructor(kind: DownloadErrorKind, message: string, file: string, options?: { cause?: unknown; status?: number }) {
    super(message, file, options);
    this.name = 'HubDownloadError';
    this.kind = kind;
    this.status = options?.status;
  }
}

/** The hub's base URL: $HF_ENDPOINT as huggingface_hub reads it, else https://huggingface.co (no trailing slash). */
export function hubEndpoint(env: NodeJS.ProcessEnv = process.env): string {
  return (env.HF_ENDPOINT || 'https://huggingface.co').replace(/\/+$/, '');
}

/** True when $HF_HUB_OFFLINE asks for no network (1, true, yes, on). */
export function hubOfflineFromEnv(env: NodeJS.ProcessEnv = process.env): boolean {
  return /^(1|true|yes|on)$/i.test(env.HF_HUB_OFFLINE ?? '');
}

export interface DownloadMeta {
  url: string;
  size: number;
  sha256: string;
  /** The hub's ETag for the file (LFS: its SHA-256; other files: the git blob id); null when pre-seeded. */
  etag: string | null;
  /** The commit the hub resolved the revision to (X-Repo-Commit), when it said. */
  commit?: string | null;
  /** 'download' or 'pre-seeded' (found in place without a meta file). */
  origin: 'download' | 'pre-seeded';
}

export interface DownloadOptions {
  url: string;
  dest: string;
  /** What is being downloaded, for messages: e.g. 'dataset glue (sst2/train/0000.parquet)'. */
  what: string;
  /** Default $HF_TOKEN. */
  token?: string;
  /** Default $HF_HUB_OFFLINE. Offline, a file not already in place is an error (with the pre-seed hint). */
  offline?: boolean;
  /** Default 10 000 ms, or $ICL_LAB_CONNECT_TIMEOUT_MS. */
  connectTimeoutMs?: number;
  /** No byte for this long aborts the transfer (it resumes on a retry); default 60 000 ms. */
  idleTimeoutMs?: number;
  /** Resumes after a dropped transfer within this call; default 3. */
  retries?: number;
  onProgress?: (bytes: number, total: number | undefined) => void;
  /** Default `<dest>.meta.json`. */
  metaPath?: string;
  /** Default `<dest>.part`. */
  partPath?: string;
  /** Known SHA-256 / size (checked in addition to what the server says). */
  expectedSha256?: string;
  expectedSize?: number;
  /** An extra sentence for the pre-seed message (e.g. other files that go with this one). */
  preseedHint?: string;
  /** How to check a file already in place that has a meta file: 'sha256' (default) re-hashes it, 'size' is quicker. */
  verifyExisting?: 'sha256' | 'size';
}

export interface DownloadResult {
  path: string;
  meta: DownloadMeta;
  /** False when the file was already in place (no network touched). */
  downloaded: boolean;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const UNREACHABLE = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNRESET', 'EPIPE', 'CONNECT_TIMEOUT', 'IDLE_TIMEOUT']);
const SHA256_RE = /^[0-9a-f]{64}$/;

function normalizeEtag(value: string | string[] | undefined): string | undefined {
  if (typeof value !== 'string' || value === '') return undefined;
  return value.replace(/^W\//, '').replace(/^"(.*)"$/, '$1');
}

function header(res: http.IncomingMessage, name: string): string | undefined {
  const v = res.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function defaultConnectTimeout(): number {
  const v = Number(process.env.ICL_LAB_CONNECT_TIMEOUT_MS);
  return Number.isFinite(v) && v > 0 ? v : 10_000;
}

async function fileSize(path: string): Promise<number | undefined> {
  try {
    const s = await stat(path);
    return s.isFile() ? s.size : undefined;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

async function readJsonFile<T>(path: string): Promise<T | undefined> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as T;
  } catch {
    return undefined;
  }
}

async function writeJsonAtomically(path: string, value: unknown): Promise<void> {
  await writeFileAtomically(path, `${JSON.stringify(value, null, 2)}\n`);
}

/** Facts gathered along a redirect chain (the hub's first answer carries them; a CDN's does not). */
interface HubHeaders {
  linkedEtag?: string;
  linkedSize?: number;
  etag?: string;
  commit?: string;
}

function gather(into: HubHeaders, res: http.IncomingMessage): void {
  into.linkedEtag ??= normalizeEtag(header(res, 'x-linked-etag'));
  const ls = Number(header(res, 'x-linked-size'));
  if (into.linkedSize === undefined && Number.isInteger(ls) && ls >= 0 && header(res, 'x-linked-size') !== undefined) into.linkedSize = ls;
  into.etag ??= normalizeEtag(header(res, 'etag'));
  into.commit ??= header(res, 'x-repo-commit');
}

function expectedHash(h: HubHeaders): string | undefined {
  for (const v of [h.linkedEtag, h.etag]) if (v && SHA256_RE.test(v.toLowerCase())) return v.toLowerCase();
  return undefined;
}

interface Ctx {
  opts: DownloadOptions;
  token?: string;
  connectTimeoutMs: number;
  idleTimeoutMs: number;
}

function preseedMessage(ctx: Ctx): string {
  const { dest, url, preseedHint } = ctx.opts;
  return (
    `To work without the network, put the file at ${dest} (it is ${url})` +
    `${preseedHint ? `; ${preseedHint}` : ''}` +
    ', or set HF_ENDPOINT to a reachable mirror.'
  );
}

function unreachable(ctx: Ctx, url: URL, err: NodeJS.ErrnoException): HubDownloadError {
  const why =
    err.code === 'CONNECT_TIMEOUT'
      ? `no connection within ${ctx.connectTimeoutMs / 1000} s`
      : err.code === 'IDLE_TIMEOUT'
        ? `no answer within ${ctx.idleTimeoutMs / 1000} s`
        : (err.code ?? err.message);
  return new HubDownloadError(
    'unreachable',
    `cannot download ${ctx.opts.what}: ${url.origin} is unreachable (${why}). ${preseedMessage(ctx)}`,
    ctx.opts.dest,
    { cause: err },
  );
}

/** One HTTP request; resolves with the response head (the body is the caller's to read or discard). */
function requestOnce(ctx: Ctx, url: URL, method: 'GET' | 'HEAD', headers: Record<string, string>): Promise<http.IncomingMessage> {
  return new Promise((resolve, reject) => {
    const lib = url.protocol === 'https:' ? https : url.protocol === 'http:' ? http : undefined;
    if (!lib) {
      reject(new HubDownloadError('http', `cannot download ${ctx.opts.what}: unsupported URL scheme ${url.protocol}`, ctx.opts.dest));
      return;
    }
    const req = lib.request(url, { method, headers, agent: false });
    let connectTimer: NodeJS.Timeout | undefined;
    req.on('socket', (socket) => {
      if (socket.connecting) {
        connectTimer = setTimeout(() => {
          const e = new Error('connect timeout') as NodeJS.ErrnoException;
          e.code = 'CONNECT_TIMEOUT';
          req.destroy(e);
        }, ctx.connectTimeoutMs);
        socket.once('connect', () => clearTimeout(connectTimer));
      }
    });
    req.setTimeout(ctx.idleTimeoutMs, () => {
      const e = new Error(`no answer within ${ctx.idleTimeoutMs / 1000} s`) as NodeJS.ErrnoException;
      e.code = 'IDLE_TIMEOUT';
      req.destroy(e);
    });
    req.on('response', (res) => {
      clearTimeout(connectTimer);
      resolve(res);
    });
    req.on('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(connectTimer);
      reject(err);
    });
    req.end();
  });
}

/**
 * Sends a request and follows redirects. The token goes only to the origin of the first URL. With
 * `crossOrigin: false` a redirect to another origin is not followed (as huggingface_hub's HEAD does): that answer is
 * returned, carrying the hub's headers.
 */
async function requestFollowing(
  ctx: Ctx,
  method: 'GET' | 'HEAD',
  extraHeaders: Record<string, string>,
  crossOrigin: boolean,
): Promise<{ res: http.IncomingMessage; hub: HubHeaders; url: URL }> {
  const first = new URL(ctx.opts.url);
  let url = first;
  const hub: HubHeaders = {};
  for (let hop = 0; hop <= 10; hop++) {
    const headers: Record<string, string> = { 'user-agent': 'icl-lab', 'accept-encoding': 'identity', ...extraHeaders };
    if (ctx.token && url.origin === first.origin) headers.authorization = `Bearer ${ctx.token}`;
    let res: http.IncomingMessage;
    try {
      res = await requestOnce(ctx, url, method, headers);
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      if (e instanceof HubDownloadError) throw e;
      if (UNREACHABLE.has(e.code ?? '')) throw unreachable(ctx, url, e);
      throw new HubDownloadError('interrupted', `cannot download ${ctx.opts.what}: ${e.code ?? e.message} from ${url.origin}`, ctx.opts.dest, { cause: e });
    }
    gather(hub, res);
    const status = res.statusCode ?? 0;
    const location = header(res, 'location');
    if (REDIRECTS.has(status) && location) {
      const next = new URL(location, url);
      if (!crossOrigin && next.origin !== url.origin) return { res, hub, url };
      res.resume();
      url = next;
      continue;
    }
    return { res, hub, url };
  }
  throw new HubDownloadError('http', `cannot download ${ctx.opts.what}: more than 10 redirects from ${ctx.opts.url}`, ctx.opts.dest);
}

function statusError(ctx: Ctx, res: http.IncomingMessage): HubDownloadError {
  const status = res.statusCode ?? 0;
  res.resume();
  const { what, url, dest } = ctx.opts;
  if (status === 404) {
    return new HubDownloadError('not-found', `cannot download ${what}: ${url} does not exist (HTTP 404)`, dest, { status });
  }
  if (status === 401 || status === 403) {
    const hint = ctx.token
      ? 'HF_TOKEN is set but the hub refused it: check that the token is valid and has access to this repository'
      : 'the repository is private or gated: accept its terms on the hub and set HF_TOKEN to an access token';
    return new HubDownloadError('auth', `cannot download ${what}: ${url} answered HTTP ${status}; ${hint}`, dest, { status });
  }
  return new HubDownloadError('http', `cannot download ${what}: ${url} answered HTTP ${status}`, dest, { status });
}

function makeCtx(opts: DownloadOptions): Ctx {
  return {
    opts,
    token: opts.token ?? (process.env.HF_TOKEN || undefined),
    connectTimeoutMs: opts.connectTimeoutMs ?? defaultConnectTimeout(),
    idleTimeoutMs: opts.idleTimeoutMs ?? 60_000,
  };
}

export interface HeadResult {
  status: number;
  size?: number;
  sha256?: string;
  etag?: string;
  commit?: string;
}

/**
 * Asks the hub about a file without downloading it (HEAD; cross-origin redirects are not followed). 404 gives
 * `{status: 404}`; unreachable / auth problems throw like downloadFile.
 */
export async function headFile(opts: Pick<DownloadOptions, 'url' | 'dest' | 'what' | 'token' | 'connectTimeoutMs' | 'idleTimeoutMs' | 'preseedHint'>): Promise<HeadResult> {
  const ctx = makeCtx({ ...opts });
  const { res, hub } = await requestFollowing(ctx, 'HEAD', {}, false);
  const status = res.statusCode ?? 0;
  res.resume();
  if (status === 404) return { status };
  if (status >= 400) throw statusError(ctx, res);
  const len = Number(header(res, 'content-length'));
  const size = hub.linkedSize ?? (REDIRECTS.has(status) || !Number.isInteger(len) ? undefined : len);
  return { status, size, sha256: expectedHash(hub), etag: hub.linkedEtag ?? hub.etag, commit: hub.commit };
}

interface PartMeta {
  url: string;
  etag: string | null;
  total: number | null;
}

/**
 * Downloads `url` to `dest` unless a verified copy is already there (then no network is touched). See the file
 * comment for what is checked and what is left behind on failure.
 */
export async function downloadFile(opts: DownloadOptions): Promise<DownloadResult> {
  const ctx = makeCtx(opts);
  const { dest } = opts;
  const metaPath = opts.metaPath ?? `${dest}.meta.json`;
  const partPath = opts.partPath ?? `${dest}.part`;
  const partMetaPath = `${partPath}.json`;
  const offline = opts.offline ?? hubOfflineFromEnv();

  // 1. Already there?
  const existing = await fileSize(dest);
  if (existing !== undefined) {
    const meta = await readJsonFile<DownloadMeta>(metaPath);
    if (meta && typeof meta.size === 'number' && typeof meta.sha256 === 'string') {
      let problem: string | undefined;
      if (existing !== meta.size) problem = `it has ${existing} bytes, ${metaPath} says ${meta.size}`;
      else if ((opts.verifyExisting ?? 'sha256') === 'sha256' && (await hashFileWithSize(dest)).sha256 !== meta.sha256) {
        problem = `its SHA-256 does not match ${metaPath}`;
      }
      if (opts.expectedSha256 && meta.sha256 !== opts.expectedSha256) problem ??= `its SHA-256 is not the expected ${opts.expectedSha256}`;
      if (!problem) return { path: dest, meta, downloaded: false };
      if (offline) {
        throw new HubDownloadError('integrity', `${opts.what}: the cached file ${dest} is damaged (${problem}) and the hub is off (HF_HUB_OFFLINE). ${preseedMessage(ctx)}`, dest);
      }
      await rm(dest, { force: true }); // damaged: download it again
    } else {
      // Pre-seeded by hand (or by an older run): accept it, and record what it is so later runs can verify it.
      const { sha256, size } = await hashFileWithSize(dest);
      if (opts.expectedSha256 && sha256 !== opts.expectedSha256) {
        throw new HubDownloadError('integrity', `${opts.what}: the file ${dest} has SHA-256 ${sha256}, expected ${opts.expectedSha256}; replace it, or delete it to download it again.`, dest);
      }
      if (opts.expectedSize !== undefined && size !== opts.expectedSize) {
        throw new HubDownloadError('integrity', `${opts.what}: the file ${dest} has ${size} bytes, expected ${opts.expectedSize}; replace it, or delete it to download it again.`, dest);
      }
      const seeded: DownloadMeta = { url: opts.url, size, sha256, etag: null, origin: 'pre-seeded' };
      await writeJsonAtomically(metaPath, seeded).catch(() => {}); // a read-only cache is fine
      return { path: dest, meta: seeded, downloaded: false };
    }
  }
  if (offline) {
    throw new HubDownloadError('offline', `cannot download ${opts.what}: the hub is off (HF_HUB_OFFLINE is set) and ${dest} is not there. ${preseedMessage(ctx)}`, dest);
  }

  // 2. Download (resuming a .part file), verify, rename.
  try {
    await mkdir(dirname(dest), { recursive: true });
    await mkdir(dirname(partPath), { recursive: true });
  } catch (err) {
    throw new HubDownloadError('http', `cannot download ${opts.what}: cannot create the folder of ${dest} (${(err as NodeJS.ErrnoException).code})`, dest, { cause: err });
  }
  const retries = opts.retries ?? 3;
  const release = await lockPart(ctx, partPath);
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        return await downloadAttempt(ctx, dest, metaPath, partPath, partMetaPath);
      } catch (err) {
        if (!(err instanceof HubDownloadError) || err.kind !== 'interrupted' || attempt >= retries) throw err;
      }
    }
  } finally {
    await release();
  }
}

/**
 * Takes `<part>.lock` (holding our pid) so that two processes never append to the same part file. A lock whose
 * process is gone is taken over; a live one is an error.
 */
async function lockPart(ctx: Ctx, partPath: string): Promise<() => Promise<void>> {
  const lockPath = `${partPath}.lock`;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const handle = await open(lockPath, 'wx');
      await handle.writeFile(String(process.pid));
      await handle.close();
      return () => rm(lockPath, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const pid = Number((await readFile(lockPath, 'utf8').catch(() => '')).trim());
    let alive = false;
    if (Number.isInteger(pid) && pid > 0 && pid !== process.pid) {
      try {
        process.kill(pid, 0);
        alive = true;
      } catch (e) {
        alive = (e as NodeJS.ErrnoException).code === 'EPERM';
      }
    }
    if (alive) {
      throw new HubDownloadError(
        'http',
        `cannot download ${ctx.opts.what}: process ${pid} is downloading it already (lock ${lockPath}); wait for it, or delete the lock if that process is not icl-lab`,
        ctx.opts.dest,
      );
    }
    await rm(lockPath, { force: true }); // stale (its process is gone), or our own from an earlier failure
  }
  throw new HubDownloadError('http', `cannot download ${ctx.opts.what}: cannot take the lock ${lockPath}`, ctx.opts.dest);
}

async function downloadAttempt(ctx: Ctx, dest: string, metaPath: string, partPath: string, partMetaPath: string): Promise<DownloadResult> {
  const { opts } = ctx;
  let offset = (await fileSize(partPath)) ?? 0;
  const partMeta = await readJsonFile<PartMeta>(partMetaPath);
  if (offset > 0 && (!partMeta || partMeta.url !== opts.url)) {
    offset = 0; // a part file we cannot vouch for
  }
  const { res, hub } = await requestFollowing(ctx, 'GET', offset > 0 ? { range: `bytes=${offset}-` } : {}, true);
  const status = res.statusCode ?? 0;
  if (status === 416 && offset > 0) {
    res.resume();
    await rm(partPath, { force: true });
    await rm(partMetaPath, { force: true });
    throw new HubDownloadError('interrupted', `${opts.what}: the partial download did not fit the file; starting over`, dest);
  }
  if (status !== 200 && status !== 206) throw statusError(ctx, res);

  const etag = hub.linkedEtag ?? hub.etag ?? null;
  let total: number | undefined = hub.linkedSize;
  if (status === 206) {
    const m = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(header(res, 'content-range') ?? '');
    if (!m || Number(m[1]) !== offset || (partMeta?.etag && etag && partMeta.etag !== etag)) {
      res.resume();
      await rm(partPath, { force: true });
      await rm(partMetaPath, { force: true });
      throw new HubDownloadError('interrupted', `${opts.what}: the server resumed at the wrong place or the file changed; starting over`, dest);
    }
    if (m[3] !== '*') total ??= Number(m[3]);
  } else {
    offset = 0; // the server sent the whole file
    const len = Number(header(res, 'content-length'));
    if (header(res, 'content-length') !== undefined && Number.isInteger(len)) total ??= len;
  }
  if (offset === 0) await writeJsonAtomically(partMetaPath, { url: opts.url, etag, total: total ?? null } satisfies PartMeta);

  // Stream the body into the part file.
  let received = offset;
  opts.onProgress?.(received, total);
  const out = createWriteStream(partPath, { flags: offset > 0 ? 'a' : 'w' });
  try {
    await new Promise<void>((resolve, reject) => {
      let done = false;
      const fail = (err: Error) => {
        if (done) return;
        done = true;
        res.destroy();
        out.destroy();
        reject(err);
      };
      res.on('data', (chunk: Buffer) => {
        received += chunk.length;
        if (!out.write(chunk)) {
          res.pause();
          out.once('drain', () => res.resume());
        }
        opts.onProgress?.(received, total);
      });
      res.on('error', fail);
      res.on('aborted', () => fail(new Error('the connection was dropped')));
      res.on('close', () => {
        if (!res.complete) fail(new Error('the connection was dropped'));
      });
      out.on('error', fail);
      res.on('end', () => {
        if (done) return;
        out.end((err?: Error | null) => {
          if (err) return fail(err);
          done = true;
          resolve();
        });
      });
    });
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.syscall === 'write' || e.syscall === 'open') {
      throw new HubDownloadError('http', `cannot download ${opts.what}: cannot write ${partPath} (${e.code ?? e.message})`, dest, { cause: e });
    }
    throw new HubDownloadError(
      'interrupted',
      `download of ${opts.what} was interrupted after ${received}${total !== undefined ? ` of ${total}` : ''} bytes (${e.code ?? e.message}); ` +
        `run again to resume from ${partPath}`,
      dest,
      { cause: e },
    );
  }

  // Verify, then move into place.
  const size = (await fileSize(partPath)) ?? 0;
  const wantSize = opts.expectedSize ?? total;
  if (wantSize !== undefined && size < wantSize) {
    throw new HubDownloadError('interrupted', `download of ${opts.what} stopped at ${size} of ${wantSize} bytes; run again to resume from ${partPath}`, dest);
  }
  const { sha256 } = await hashFileWithSize(partPath);
  const wantSha = opts.expectedSha256 ?? expectedHash(hub);
  let problem: string | undefined;
  if (wantSize !== undefined && size !== wantSize) problem = `got ${size} bytes, expected ${wantSize}`;
  else if (wantSha && sha256 !== wantSha) problem = `its SHA-256 is ${sha256}, expected ${wantSha}`;
  if (problem) {
    await rm(partPath, { force: true });
    await rm(partMetaPath, { force: true });
    throw new HubDownloadError(
      'integrity',
      `download of ${opts.what} from ${opts.url} is corrupt (${problem}); nothing was kept. Try again; if it persists, ` +
        `the server or a proxy is altering the file. ${preseedMessage(ctx)}`,
      dest,
    );
  }
  const handle = await open(partPath, 'r+');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
  const meta: DownloadMeta = { url: opts.url, size, sha256, etag, commit: hub.commit ?? null, origin: 'download' };
  await mkdir(dirname(metaPath), { recursive: true });
  await writeJsonAtomically(metaPath, meta);
  await rename(partPath, dest);
  await syncFolder(dirname(dest));
  await rm(partMetaPath, { force: true });
  return { path: dest, meta, downloaded: true };
}

/** Removes a partial download of `dest` (the next download starts from scratch). */
export async function discardPartial(dest: string, partPath = `${dest}.part`): Promise<void> {
  await rm(partPath, { force: true });
  await rm(`${partPath}.json`, { force: true });
}
