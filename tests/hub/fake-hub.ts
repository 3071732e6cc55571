// A local stand-in for the Hugging Face hub (node:http on 127.0.0.1), laid out like the real one:
//   /datasets/{id}/resolve/{revision}/{path}     /{model id}/resolve/{revision}/{path}
// Files registered as LFS answer with a 302 to a second server (the "CDN", another origin) and carry
// X-Linked-Etag (the SHA-256) and X-Linked-Size, as the hub does; other files answer 200 with a git-blob-like ETag.
// Every answer carries X-Repo-Commit. Supports Range (206), and faults: drop the connection after n bytes, send
// altered bytes, require a token.

import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeFile {
  bytes: Uint8Array;
  lfs?: boolean;
  /** The first `times` GETs of the body write only `bytes` bytes, then destroy the socket. */
  drop?: { bytes: number; times: number };
  /** Serve these bytes instead (the ETag still names the real ones). */
  corruptWith?: Uint8Array;
}

export interface LoggedRequest {
  server: 'hub' | 'cdn';
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
}

export const FAKE_COMMIT = '0123456789abcdef0123456789abcdef01234567';

export function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

export class FakeHub {
  readonly files = new Map<string, FakeFile>();
  readonly log: LoggedRequest[] = [];
  /** When set, the hub answers 401 to requests without `Authorization: Bearer <token>`. */
  requireToken?: string;
  private hub?: http.Server;
  private cdn?: http.Server;
  hubUrl = '';
  cdnUrl = '';

  /** Registers a file under its decoded URL path (e.g. '/gpt2/resolve/main/config.json'). */
  add(path: string, bytes: Uint8Array | string, options: Omit<FakeFile, 'bytes'> = {}): void {
    this.files.set(path, { bytes: typeof bytes === 'string' ? new TextEncoder().encode(bytes) : bytes, ...options });
  }

  async start(): Promise<this> {
    this.hub = http.createServer((req, res) => this.serveHub(req, res));
    this.cdn = http.createServer((req, res) => this.serveCdn(req, res));
    await Promise.all([listen(this.hub), listen(this.cdn)]);
    this.hubUrl = `http://127.0.0.1:${(this.hub.address() as AddressInfo).port}`;
    this.cdnUrl = `http://127.0.0.1:${(this.cdn.address() as AddressInfo).port}`;
    return this;
  }

  async stop(): Promise<void> {
    for (const s of [this.hub, this.cdn]) {
      if (!s) continue;
      s.closeAllConnections();
      await new Promise<void>((r) => s.close(() => r()));
    }
  }

  private serveHub(req: http.IncomingMessage, res: http.ServerResponse): void {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    this.log.push({ server: 'hub', method: req.method ?? '', path, headers: req.headers });
    if (this.requireToken && req.headers.authorization !== `Bearer ${this.requireToken}`) {
      res.writeHead(401, { 'content-type': 'text/plain' }).end('Unauthorized');
      return;
    }
    const file = this.files.get(path);
    res.setHeader('x-repo-commit', FAKE_COMMIT);
    if (!file) {
      res.writeHead(404, { 'content-type': 'text/plain', 'x-error-code': 'EntryNotFound' }).end('Entry not found');
      return;
    }
    if (file.lfs) {
      res.writeHead(302, {
        location: `${this.cdnUrl}/lfs/${sha256(file.bytes)}?path=${encodeURIComponent(path)}`,
        'x-linked-etag': `"${sha256(file.bytes)}"`,
        'x-linked-size': String(file.bytes.length),
        etag: `"${sha256(file.bytes)}"`,
      });
      res.end();
      return;
    }
    this.sendBody(req, res, file, `"${sha256(file.bytes).slice(0, 40)}"`);
  }

  private serveCdn(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://x');
    this.log.push({ server: 'cdn', method: req.method ?? '', path: url.pathname, headers: req.headers });
    const file = this.files.get(url.searchParams.get('path') ?? '');
    if (!file) {
      res.writeHead(404).end();
      return;
    }
    this.sendBody(req, res, file, `"cdn-${sha256(file.bytes).slice(0, 8)}"`);
  }

  private sendBody(req: http.IncomingMessage, res: http.ServerResponse, file: FakeFile, etag: string): void {
    const body = file.corruptWith ?? file.bytes;
    const total = body.length;
    let start = 0;
    const range = /^bytes=(\d+)-$/.exec(String(req.headers.range ?? ''));
    if (range) {
      start = Number(range[1]);
      if (start >= total) {
        res.writeHead(416, { 'content-range': `bytes */${total}` }).end();
        return;
      }
      res.writeHead(206, {
        'content-length': String(total - start),
        'content-range': `bytes ${start}-${total - 1}/${total}`,
        'accept-ranges': 'bytes',
        etag,
      });
    } else {
      res.writeHead(200, { 'content-length': String(total), 'accept-ranges': 'bytes', etag });
    }
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    const slice = body.subarray(start);
    if (file.drop && file.drop.times > 0) {
      file.drop.times--;
      res.write(slice.subarray(0, file.drop.bytes), () => {
        setTimeout(() => res.socket?.destroy(), 20);
      });
      return;
    }
    res.end(slice);
  }
}

function listen(server: http.Server): Promise<void> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
}

/** A port on 127.0.0.1 with nothing listening (bound, then closed). */
export async function closedPort(): Promise<number> {
  const s = http.createServer();
  await listen(s);
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}
