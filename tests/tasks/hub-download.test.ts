import { describe, it, expect, beforeEach, afterEach } from 'vitest';
import { mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { downloadFile, headFile, HubDownloadError } from '../../src/pipeline/tasks/hub-download.ts';
import { closedPort, FAKE_COMMIT, FakeHub, sha256 } from '../hub/fake-hub.ts';

const DATA = new Uint8Array(200_000).map((_, i) => (i * 7 + (i >> 8)) & 255);
const PATH = '/datasets/org/ds/resolve/refs/convert/parquet/default/train/0000.parquet';
const TOKEN = 'hf_SECRET_token_value_123';

let hub: FakeHub;
let dir: string;

beforeEach(async () => {
  hub = await new FakeHub().start();
  dir = await mkdtemp(join(tmpdir(), 'icl-lab-dl-'));
});
afterEach(async () => {
  await hub.stop();
});

function url(path = PATH): string {
  return `${hub.hubUrl}${path.replace('refs/convert/parquet', 'refs%2Fconvert%2Fparquet')}`;
}

async function listAll(d: string): Promise<string[]> {
  return (await readdir(d, { recursive: true })).map(String).sort();
}

describe('downloadFile', () => {
  it('downloads an LFS file through a redirect, verifies it, writes meta, and reuses it without the network', async () => {
    hub.add(PATH, DATA, { lfs: true });
    const dest = join(dir, 'a', '0000.parquet');
    const progress: Array<[number, number | undefined]> = [];
    const r = await downloadFile({ url: url(), dest, what: 'dataset org/ds', onProgress: (b, t) => progress.push([b, t]) });
    expect(r.downloaded).toBe(true);
    expect(new Uint8Array(await readFile(dest))).toEqual(DATA);
    const meta = JSON.parse(await readFile(`${dest}.meta.json`, 'utf8'));
    expect(meta).toMatchObject({ url: url(), size: DATA.length, sha256: sha256(DATA), etag: sha256(DATA), commit: FAKE_COMMIT, origin: 'download' });
    expect(progress.at(-1)).toEqual([DATA.length, DATA.length]);
    expect(await listAll(join(dir, 'a'))).toEqual(['0000.parquet', '0000.parquet.meta.json']);

    await hub.stop();
    const again = await downloadFile({ url: url(), dest, what: 'dataset org/ds' });
    expect(again.downloaded).toBe(false);
    expect(again.meta.sha256).toBe(sha256(DATA));
  });

  it('resumes with a Range request after the server drops the connection mid-file', async () => {
    hub.add(PATH, DATA, { lfs: true, drop: { bytes: 50_000, times: 1 } });
    const dest = join(dir, 'f.parquet');
    await expect(downloadFile({ url: url(), dest, what: 'dataset org/ds', retries: 0 })).rejects.toThrow(
      /interrupted after 50000 of 200000 bytes.*run again to resume/,
    );
    expect(await listAll(dir)).toEqual(['f.parquet.part', 'f.parquet.part.json']); // nothing under the final name
    const r = await downloadFile({ url: url(), dest, what: 'dataset org/ds' });
    expect(r.downloaded).toBe(true);
    expect(new Uint8Array(await readFile(dest))).toEqual(DATA);
    const cdnGets = hub.log.filter((l) => l.server === 'cdn');
    expect(cdnGets.map((l) => l.headers.range)).toEqual([undefined, 'bytes=50000-']);
    expect(await listAll(dir)).toEqual(['f.parquet', 'f.parquet.meta.json']);
  });

  it('resumes within one call (retries) when the connection drops', async () => {
    hub.add(PATH, DATA, { drop: { bytes: 70_000, times: 2 } });
    const dest = join(dir, 'f.parquet');
    // A short idle timeout: on a loaded machine a dropped connection is sometimes only noticed as a stall, and the
    // downloader must then retry from where it was rather than wait the default minute.
    const r = await downloadFile({ url: url(), dest, what: 'dataset org/ds', idleTimeoutMs: 3000 });
    expect(new Uint8Array(await readFile(r.path))).toEqual(DATA);
    // Two drops, so three requests; each retry asks for the bytes after what reached the disk. Usually that is
    // exactly the drop point (bytes=70000-, then 140000-); on a loaded machine less may have been flushed when the
    // drop is noticed (once, nothing at all: that retry started again from 0).
    const ranges = hub.log.map((l) => l.headers.range);
    expect(ranges).toHaveLength(3);
    expect(ranges[0]).toBeUndefined();
    const offsets = ranges.slice(1).map((r) => (r === undefined ? 0 : Number(/^bytes=(\d+)-$/.exec(r)![1])));
    expect(offsets.some((o) => o > 0), `${ranges}`).toBe(true);
    for (const o of offsets) expect(o, `${ranges}`).toBeLessThanOrEqual(140_000);
    expect(offsets[1], `${ranges}`).toBeGreaterThanOrEqual(offsets[0]);
  });

  it('rejects altered bytes with a clear error and keeps nothing', async () => {
    const bad = DATA.slice();
    bad[1234] ^= 0xff;
    hub.add(PATH, DATA, { lfs: true, corruptWith: bad });
    const dest = join(dir, 'f.parquet');
    const err = await downloadFile({ url: url(), dest, what: 'dataset org/ds' }).catch((e) => e);
    expect(err).toBeInstanceOf(HubDownloadError);
    expect(err.kind).toBe('integrity');
    expect(err.message).toMatch(/dataset org\/ds .* is corrupt \(its SHA-256 is [0-9a-f]{64}, expected [0-9a-f]{64}\); nothing was kept/);
    expect(await listAll(dir)).toEqual([]);
  });

  it('rejects a short body of the wrong size', async () => {
    hub.add(PATH, DATA, { corruptWith: DATA.subarray(0, 1000) });
    const dest = join(dir, 'f.parquet');
    const err = await downloadFile({ url: url(), dest, what: 'x', expectedSize: DATA.length, retries: 0 }).catch((e) => e);
    expect(err).toBeInstanceOf(HubDownloadError);
    expect(await readdir(dir)).not.toContain('f.parquet');
  });

  it('fails fast when the server is unreachable, naming the file and where to pre-seed it', async () => {
    const port = await closedPort();
    const dest = join(dir, 'cache', 'datasets', 'glue', 'sst2', 'train', '0000.parquet');
    const t0 = Date.now();
    const err = await downloadFile({
      url: `http://127.0.0.1:${port}/datasets/glue/resolve/x/0000.parquet`,
      dest,
      what: 'dataset glue (sst2/train/0000.parquet)',
      connectTimeoutMs: 2000,
    }).catch((e) => e);
    expect(Date.now() - t0).toBeLessThan(3000);
    expect(err).toBeInstanceOf(HubDownloadError);
    expect(err.kind).toBe('unreachable');
    expect(err.message).toContain('cannot download dataset glue (sst2/train/0000.parquet)');
    expect(err.message).toContain(`put the file at ${dest}`);
    expect(err.message).toMatch(/ECONNREFUSED/);
    expect(await readdir(dir)).toEqual(['cache']); // only empty folders
    expect(await listAll(join(dir, 'cache'))).not.toContain('datasets/glue/sst2/train/0000.parquet');
  });

  it('fails fast when a server accepts the connection but never answers', async () => {
    const { createServer } = await import('node:net');
    const sockets: import('node:net').Socket[] = [];
    const silent = createServer((s) => sockets.push(s));
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()));
    const port = (silent.address() as import('node:net').AddressInfo).port;
    try {
      const t0 = Date.now();
      const err = await downloadFile({ url: `http://127.0.0.1:${port}/x`, dest: join(dir, 'x'), what: 'model x', idleTimeoutMs: 300 }).catch((e) => e);
      expect(Date.now() - t0).toBeLessThan(2000);
      expect(err).toBeInstanceOf(HubDownloadError);
      expect(err.kind).toBe('unreachable');
      expect(err.message).toMatch(/no answer within 0\.3 s.*put the file at/);
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => silent.close(() => r()));
    }
  });

  it('offline (HF_HUB_OFFLINE) touches no network', async () => {
    hub.add(PATH, DATA);
    const err = await downloadFile({ url: url(), dest: join(dir, 'f'), what: 'dataset org/ds', offline: true }).catch((e) => e);
    expect(err.kind).toBe('offline');
    expect(err.message).toContain(`put the file at ${join(dir, 'f')}`);
    expect(hub.log).toEqual([]);
  });

  it('sends HF_TOKEN to the hub only, and never writes or reports it', async () => {
    hub.requireToken = TOKEN;
    hub.add(PATH, DATA, { lfs: true });
    const dest = join(dir, 'f.parquet');
    const prev = process.env.HF_TOKEN;
    process.env.HF_TOKEN = TOKEN;
    try {
      await downloadFile({ url: url(), dest, what: 'dataset org/ds' });
      expect(hub.log.find((l) => l.server === 'hub')!.headers.authorization).toBe(`Bearer ${TOKEN}`);
      expect(hub.log.find((l) => l.server === 'cdn')!.headers.authorization).toBeUndefined();
      for (const f of await listAll(dir)) expect(await readFile(join(dir, f), 'latin1')).not.toContain(TOKEN);

      // A refused token: the error says so without showing it.
      hub.requireToken = 'another';
      const err = await downloadFile({ url: url(), dest: join(dir, 'g'), what: 'dataset org/ds' }).catch((e) => e);
      expect(err.kind).toBe('auth');
      expect(err.message).toMatch(/HF_TOKEN is set but the hub refused it/);
      expect(`${err.message}\n${err.stack}\n${JSON.stringify(err)}`).not.toContain(TOKEN);
      // Unreachable with a token set: not in the message either.
      const port = await closedPort();
      const err2 = await downloadFile({ url: `http://127.0.0.1:${port}/x`, dest: join(dir, 'h'), what: 'model x' }).catch((e) => e);
      expect(`${err2.message}\n${err2.stack}`).not.toContain(TOKEN);
      for (const f of await listAll(dir)) expect(await readFile(join(dir, f), 'latin1').catch(() => '')).not.toContain(TOKEN);
    } finally {
      if (prev === undefined) delete process.env.HF_TOKEN;
      else process.env.HF_TOKEN = prev;
    }
  });

  it('says 404 as not-found, and 401 without a token as a gated repository', async () => {
    const e404 = await downloadFile({ url: url('/nope'), dest: join(dir, 'n'), what: 'model m' }).catch((e) => e);
    expect(e404.kind).toBe('not-found');
    expect(e404.status).toBe(404);
    hub.requireToken = TOKEN;
    hub.add(PATH, DATA);
    const e401 = await downloadFile({ url: url(), dest: join(dir, 'n'), what: 'model m', token: '' }).catch((e) => e);
    expect(e401.kind).toBe('auth');
    expect(e401.message).toMatch(/set HF_TOKEN/);
    expect(await listAll(dir)).toEqual([]);
  });

  it('accepts a pre-seeded file without the network and records its hash; re-downloads a damaged one', async () => {
    const dest = join(dir, 'seeded.parquet');
    await writeFile(dest, DATA);
    const r = await downloadFile({ url: url(), dest, what: 'dataset org/ds' });
    expect(r.downloaded).toBe(false);
    expect(r.meta.origin).toBe('pre-seeded');
    expect(r.meta.sha256).toBe(sha256(DATA));
    expect(hub.log).toEqual([]);
    // Now damage it: the next call notices (against the meta file) and downloads it again.
    hub.add(PATH, DATA);
    await writeFile(dest, DATA.subarray(0, 10));
    const r2 = await downloadFile({ url: url(), dest, what: 'dataset org/ds' });
    expect(r2.downloaded).toBe(true);
    expect(new Uint8Array(await readFile(dest))).toEqual(DATA);
    // Damaged and offline: an error, not a silent bad file.
    await writeFile(dest, DATA.subarray(0, 10));
    await expect(downloadFile({ url: url(), dest, what: 'dataset org/ds', offline: true })).rejects.toThrow(/damaged/);
  });

  it('refuses to share a part file with a live process, and takes over a stale lock', async () => {
    hub.add(PATH, DATA);
    const dest = join(dir, 'f.parquet');
    await writeFile(`${dest}.part.lock`, String(process.ppid)); // a live process that is not us
    await expect(downloadFile({ url: url(), dest, what: 'dataset org/ds' })).rejects.toThrow(/process \d+ is downloading it already/);
    await writeFile(`${dest}.part.lock`, '999999999'); // no such process
    await downloadFile({ url: url(), dest, what: 'dataset org/ds' });
    expect(await listAll(dir)).toEqual(['f.parquet', 'f.parquet.meta.json']);
  });

  it('headFile reports the hub headers of an LFS file without following the CDN redirect', async () => {
    hub.add('/m/resolve/main/model.safetensors', DATA, { lfs: true });
    const h = await headFile({ url: `${hub.hubUrl}/m/resolve/main/model.safetensors`, dest: join(dir, 'x'), what: 'model m' });
    expect(h).toMatchObject({ size: DATA.length, sha256: sha256(DATA), commit: FAKE_COMMIT });
    expect(hub.log.filter((l) => l.server === 'cdn')).toEqual([]);
    expect((await headFile({ url: `${hub.hubUrl}/m/resolve/main/none`, dest: join(dir, 'x'), what: 'model m' })).status).toBe(404);
  });
});
