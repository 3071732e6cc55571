// Content hashes for cache keys: a canonical JSON of a stage's inputs, SHA-256 of bytes and (streamed) files, and the
// hash of a stage's own source files. A key depends only on content: never on wall time, paths, git commit or device.

import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * JSON with object keys sorted (by UTF-16 code units) at every depth and no whitespace, so equal values give equal
 * text whatever order their keys were written in. Only plain data is accepted: objects, arrays, strings, booleans,
 * null and finite numbers (-0 is written as 0). Object properties that are `undefined` are left out, as JSON.stringify
 * does; anything else that JSON cannot hold faithfully (NaN, Infinity, bigint, functions, undefined in an array,
 * Map/Set/Date/typed arrays, cycles) is an error naming its path, so a key never silently drops an input.
 */
export function canonicalJson(value: unknown): string {
  return write(value, '$', new Set());
}

function write(value: unknown, path: string, seen: Set<object>): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError(`canonicalJson: ${path} is ${value}, which JSON cannot hold`);
      return Object.is(value, -0) ? '0' : JSON.stringify(value);
    case 'object':
      break;
    default:
      throw new TypeError(`canonicalJson: ${path} is a ${typeof value}, which JSON cannot hold`);
  }
  const obj = value as object;
  if (seen.has(obj)) throw new TypeError(`canonicalJson: ${path} refers back to itself (a cycle)`);
  seen.add(obj);
  let out: string;
  if (Array.isArray(obj)) {
    out = `[${obj
      .map((item, i) => {
        if (item === undefined) throw new TypeError(`canonicalJson: ${path}[${i}] is undefined`);
        return write(item, `${path}[${i}]`, seen);
      })
      .join(',')}]`;
  } else {
    const proto = Object.getPrototypeOf(obj);
    if (proto !== Object.prototype && proto !== null) {
      const kind = (obj as { constructor?: { name?: string } }).constructor?.name ?? 'object';
      throw new TypeError(`canonicalJson: ${path} is a ${kind}; convert it to plain JSON data first`);
    }
    const entries = Object.entries(obj as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    out = `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${write(v, `${path}.${k}`, seen)}`).join(',')}}`;
  }
  seen.delete(obj);
  return out;
}

/** SHA-256 of bytes (a string is hashed as its UTF-8 bytes), as 64 lower-case hex digits. */
export function sha256Hex(data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/** The cache key of a stage: SHA-256 of the canonical JSON of its inputs. */
export function stageKey(inputs: unknown): string {
  return sha256Hex(canonicalJson(inputs));
}

/** SHA-256 and size of a file, read as a stream (fit for multi-gigabyte weight files). */
export async function hashFileWithSize(path: string): Promise<{ sha256: string; size: number }> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) {
    hash.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return { sha256: hash.digest('hex'), size };
}

/** SHA-256 of a file, read as a stream. */
export async function hashFile(path: string): Promise<string> {
  return (await hashFileWithSize(path)).sha256;
}

/**
 * The code version of a stage: a hash over the contents of its source files, given as paths or `file:` URLs (so a
 * module can pass `import.meta.url`). Each file counts by its base name and content, not its folder, and the order
 * given does not matter, so two clones of the repository in different places give the same hash.
 */
export async function hashSourceFiles(files: ReadonlyArray<string | URL>): Promise<string> {
  const parts: Array<[string, string]> = [];
  for (const f of files) {
    const path = f instanceof URL || f.startsWith('file:') ? fileURLToPath(f) : f;
    let bytes: Buffer;
    try {
      bytes = await readFile(path);
    } catch (err) {
      throw new Error(`hashSourceFiles: cannot read ${path}: ${(err as Error).message}`, { cause: err });
    }
    parts.push([basename(path), sha256Hex(bytes)]);
  }
  parts.sort((a, b) => (a[0] + a[1] < b[0] + b[1] ? -1 : 1));
  return stageKey(parts);
}

/**
 * Every project module `entry` imports, directly or through others (relative `.ts` imports only), itself included:
 * the code a stage runs, so that its hash changes whenever any of that code does.
 */
export async function moduleClosure(entry: string | URL): Promise<string[]> {
  const start = entry instanceof URL || entry.startsWith('file:') ? fileURLToPath(entry) : entry;
  const seen = new Set<string>();
  const todo = [start];
  const IMPORT = /(?:from|import)\s+'(\.{1,2}\/[^']+\.ts)'/g;
  while (todo.length) {
    const file = todo.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    const text = await readFile(file, 'utf8');
    for (const m of text.matchAll(IMPORT)) todo.push(resolve(dirname(file), m[1]));
  }
  return [...seen].sort();
}
