// A tiny static file server for a built site mounted under a sub-path, like a plain static host: directories serve
// their index.html, anything outside the sub-path or missing is a 404.

import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.mjs': 'text/javascript', '.css': 'text/css',
  '.json': 'application/json', '.csv': 'text/csv; charset=utf-8', '.svg': 'image/svg+xml', '.png': 'image/png',
  '.woff2': 'font/woff2', '.woff': 'font/woff', '.ttf': 'font/ttf',
};

export interface StaticServer {
  origin: string;
  /** Every path requested, with its status. */
  log: { path: string; status: number }[];
  close(): Promise<void>;
}

export async function serveStatic(root: string, base: string): Promise<StaticServer> {
  const log: { path: string; status: number }[] = [];
  const server = http.createServer((req, res) => {
    const urlPath = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    const send = (status: number, body: string | Buffer, type = 'text/plain') => {
      log.push({ path: urlPath, status });
      res.writeHead(status, { 'Content-Type': type });
      res.end(body);
    };
    if (!urlPath.startsWith(base)) return send(404, 'outside the site');
    let file = path.join(root, urlPath.slice(base.length));
    if (!file.startsWith(root)) return send(404, 'outside the site');
    if (fs.existsSync(file) && fs.statSync(file).isDirectory()) file = path.join(file, 'index.html');
    if (!fs.existsSync(file)) return send(404, 'not found');
    send(200, fs.readFileSync(file), TYPES[path.extname(file)] ?? 'application/octet-stream');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    log,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
